/**
 * The one interface a checkpoint store implements: the saved results of a
 * run, by item key. A store only keeps strings; what they mean is the
 * node's `serialize` / `deserialize`.
 */

/** One saved item: its key (`itemKey`) and its serialized result. */
export interface CheckpointEntry {
  readonly key: string;
  readonly value: string;
}

/**
 * Where a durable run keeps its finished items.
 *
 * @example
 * const store = new FileCheckpointStore("./run-42.jsonl");
 * new Summarize({ checkpoint: { store, runKey: "run-42" } });
 */
export interface CheckpointStore {
  /** Every entry saved under `runKey` (none for an unknown key). A later entry of the same key wins. */
  load(runKey: string): AsyncIterable<CheckpointEntry>;
  /** Saves entries under `runKey`; resolves once they are durable as far as the store promises. */
  save(runKey: string, entries: readonly CheckpointEntry[]): Promise<void>;
  /** Forgets everything saved under `runKey`. */
  clear(runKey: string): Promise<void>;
  /** Writes what is batched now instead of at the next flush (stores that batch writes). */
  flush?(): Promise<void>;
}

/** `value`, quoted when a string, for error messages. */
export function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
