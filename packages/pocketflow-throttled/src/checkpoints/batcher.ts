/**
 * Batched writes: entries saved within `flushMs` go out in one write, and
 * every save of that batch resolves (or rejects) with it. Writes never
 * overlap. The timer runs only while something waits to be written, so it
 * never keeps a finished process alive.
 */
import type { CheckpointEntry } from "./store.js";

interface Pending {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function pending(): Pending {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** At most this many entries wait for the timer; more are written at once. */
const MAX_BATCH = 4096;

export class WriteBatcher {
  private _entries: CheckpointEntry[] = [];
  private _batch: Pending | undefined;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly _write: (entries: CheckpointEntry[]) => Promise<void>,
    private readonly _flushMs: number,
  ) {}

  /** Queues entries; resolves when the write that carries them is done. */
  add(entries: readonly CheckpointEntry[]): Promise<void> {
    for (const entry of entries) this._entries.push(entry);
    this._batch ??= pending();
    const promise = this._batch.promise;
    if (this._entries.length >= MAX_BATCH) void this.flush().catch(() => undefined);
    else if (this._timer === undefined) {
      // The rejection reaches the savers through `promise`; this branch only keeps it from being unhandled.
      this._timer = setTimeout(() => void this.flush().catch(() => undefined), this._flushMs);
    }
    return promise;
  }

  /** Writes what is queued now; resolves once every write so far is done. */
  flush(): Promise<void> {
    clearTimeout(this._timer);
    this._timer = undefined;
    const batch = this._batch;
    if (batch === undefined) return this._writing;
    const entries = this._entries;
    this._entries = [];
    this._batch = undefined;
    this._writing = this._writing.then(() => this._write(entries)).then(batch.resolve, batch.reject);
    return batch.promise;
  }

  /** Drops what is queued (its saves reject with `reason`). */
  drop(reason: Error): void {
    clearTimeout(this._timer);
    this._timer = undefined;
    this._batch?.reject(reason);
    this._batch = undefined;
    this._entries = [];
  }
}
