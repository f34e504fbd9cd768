/**
 * A durable run of a batch node: saved items take their places without
 * running, the rest run through the node's engine, and each finished item
 * is saved as it comes in. Only used when a node has `checkpoint` set.
 */
import { createHash } from "node:crypto";
import { type CheckpointStore, shown } from "./store.js";

/**
 * The `checkpoint` option of a batch node.
 *
 * @example
 * checkpoint: { store: new FileCheckpointStore("./run.jsonl"), runKey: "translate-2026-12", itemKey: (doc) => doc.id }
 */
export interface CheckpointOptions<Item = never, Result = unknown> {
  // The functions are methods, not properties: bivariant parameters let a node's typed options fit the constructor's.
  /** Where finished items are saved (`FileCheckpointStore`, `RedisCheckpointStore`, or your own). */
  store: CheckpointStore;
  /** The run's identity: a re-run with the same key skips every item saved under it. */
  runKey: string;
  /**
   * An item's identity within the run; items of equal keys share one result.
   * @default a SHA-1 of the item's JSON
   */
  itemKey?(item: Item, index: number): string;
  /**
   * Turns a result into the saved string.
   * @default JSON.stringify
   */
  serialize?(result: Result): string;
  /**
   * Turns a saved string back into a result.
   * @default JSON.parse
   */
  deserialize?(text: string): Result;
}

/** What the runner needs of a node. */
export interface CheckpointHost<Item, Result> {
  _resumed: number;
  _runItems(items: Item[], signal: AbortSignal | undefined, onResult: (index: number, result: Result) => void): Promise<Result[]>;
}

/** Checks the `checkpoint` option: a TypeError naming the field and quoting the value. */
export function checkCheckpoint(value: unknown): unknown {
  if (value === undefined) return value;
  if (value === null || typeof value !== "object") {
    throw new TypeError(`checkpoint must be { store, runKey, itemKey?, serialize?, deserialize? }, got ${shown(value)}`);
  }
  const c = value as Record<string, unknown>;
  const store = c.store as Record<string, unknown> | undefined;
  if (store === null || typeof store !== "object" || !["load", "save", "clear"].every((m) => typeof store[m] === "function")) {
    throw new TypeError(`checkpoint.store must be a CheckpointStore (load, save, clear), got ${shown(store)}`);
  }
  if (typeof c.runKey !== "string" || c.runKey === "") {
    throw new TypeError(`checkpoint.runKey must be a non-empty string, got ${shown(c.runKey)}`);
  }
  for (const name of ["itemKey", "serialize", "deserialize"]) {
    if (c[name] !== undefined && typeof c[name] !== "function") {
      throw new TypeError(`checkpoint.${name} must be a function, got ${shown(c[name])}`);
    }
  }
  return value;
}

function hashKey(item: unknown): string {
  const json = JSON.stringify(item);
  return createHash("sha1")
    .update(json === undefined ? String(item) : json)
    .digest("base64url");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs `items` on `node` under `options`: resumes saved items, saves the rest as they finish. */
export async function runCheckpointed<Item, Result>(
  node: CheckpointHost<Item, Result>,
  options: CheckpointOptions<Item, Result>,
  list: Iterable<Item>,
  signal: AbortSignal | undefined,
): Promise<Result[]> {
  const { store, runKey } = options;
  const items = Array.isArray(list) ? (list as Item[]) : Array.from(list);
  const keyOf = options.itemKey?.bind(options) ?? hashKey;
  const serialize = options.serialize?.bind(options) ?? (JSON.stringify as (result: Result) => string);
  const deserialize = options.deserialize?.bind(options) ?? (JSON.parse as (text: string) => Result);
  const keys = new Array<string>(items.length);
  for (let i = 0; i < items.length; i++) {
    const key = keyOf(items[i] as Item, i);
    if (typeof key !== "string") throw new TypeError(`checkpoint.itemKey must return a string, got ${shown(key)} for item ${i}`);
    keys[i] = key;
  }
  const saved = new Map<string, string>();
  for await (const entry of store.load(runKey)) saved.set(entry.key, entry.value);

  const results = new Array<Result>(items.length);
  const pending: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const text = saved.get(keys[i] as string);
    if (text === undefined) {
      pending.push(i);
      continue;
    }
    try {
      results[i] = deserialize(text);
    } catch (error) {
      throw new Error(`checkpoint.deserialize failed on the saved result of item ${i} (key ${shown(keys[i])}, runKey ${shown(runKey)}): ${messageOf(error)}`, { cause: error });
    }
  }
  node._resumed = items.length - pending.length;
  if (pending.length === 0) return results;

  // A failed save stops the run: going on would pay for results nobody keeps.
  const controller = new AbortController();
  const forward = () => controller.abort(signal?.reason);
  if (signal?.aborted) forward();
  else signal?.addEventListener("abort", forward, { once: true });
  const saves = new Set<Promise<void>>();
  let saveError: { error: unknown } | undefined;
  let serializeError: Error | undefined;
  const onResult = (index: number, result: Result): void => {
    const i = pending[index] as number;
    results[i] = result;
    let text: unknown;
    try {
      text = serialize(result);
      if (typeof text !== "string") throw new TypeError(`returned ${shown(text)}, not a string`);
    } catch (error) {
      // This item fails (it is not saved, so a re-run retries it); the others go on.
      serializeError ??= new Error(`checkpoint.serialize failed for item ${i} (key ${shown(keys[i])}): ${messageOf(error)}`, { cause: error });
      return;
    }
    const save = store.save(runKey, [{ key: keys[i] as string, value: text }]);
    if (saves.has(save)) return; // one promise per write batch
    saves.add(save);
    save.then(
      () => saves.delete(save),
      (error: unknown) => {
        saves.delete(save);
        saveError ??= { error };
        controller.abort(error);
      },
    );
  };
  try {
    await node._runItems(
      pending.map((i) => items[i] as Item),
      controller.signal,
      onResult,
    );
  } finally {
    signal?.removeEventListener("abort", forward);
    await store.flush?.().catch(() => undefined);
    await Promise.allSettled([...saves]);
  }
  if (saveError) throw saveError.error;
  if (serializeError) throw serializeError;
  return results;
}
