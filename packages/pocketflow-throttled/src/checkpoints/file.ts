/**
 * `FileCheckpointStore`: the embedded default. An append-only JSON Lines
 * journal: a header line naming the run, then one line per finished item.
 * Writes are batched; a crash can tear only the last line, which the next
 * load ignores (and cuts off, so appends start on a clean line).
 */
import { open, readFile, rm, truncate } from "node:fs/promises";
import { WriteBatcher } from "./batcher.js";
import { type CheckpointEntry, type CheckpointStore, shown } from "./store.js";

/** Options of a `FileCheckpointStore`. */
export interface FileCheckpointStoreOptions {
  /**
   * Milliseconds a finished item waits for its line to be written, so one
   * write carries many items. A crash loses at most this window's items
   * (they run again).
   * @default 100
   */
  flushMs?: number;
  /**
   * `fdatasync` after each write, so a saved item survives a power loss, not
   * only a crash of the process.
   * @default false
   */
  fsync?: boolean;
}

const FORMAT = 1;

/** A journal that cannot be trusted: names the file and the line. */
export class CheckpointJournalError extends Error {
  override readonly name = "CheckpointJournalError";
}

interface Scan {
  /** The run the journal belongs to (undefined: empty or no journal). */
  runKey: string | undefined;
  entries: CheckpointEntry[];
}

/**
 * Checkpoints in one file, for one run at a time.
 *
 * @example
 * const store = new FileCheckpointStore("./checkpoints/translate.jsonl", { flushMs: 100 });
 */
export class FileCheckpointStore implements CheckpointStore {
  readonly flushMs: number;
  readonly fsync: boolean;
  private readonly _batcher: WriteBatcher;
  /** Set once the journal on disk was checked (and a torn tail cut) by this store. */
  private _checked: { runKey: string | undefined } | undefined;
  private _runKey: string | undefined;

  constructor(
    readonly path: string,
    options: FileCheckpointStoreOptions = {},
  ) {
    if (typeof path !== "string" || path === "") {
      throw new TypeError(`FileCheckpointStore path must be a non-empty string, got ${shown(path)}`);
    }
    const flushMs = options.flushMs ?? 100;
    if (typeof flushMs !== "number" || !Number.isFinite(flushMs) || flushMs < 0) {
      throw new TypeError(`FileCheckpointStore flushMs must be a number >= 0, got ${shown(flushMs)}`);
    }
    if (options.fsync !== undefined && typeof options.fsync !== "boolean") {
      throw new TypeError(`FileCheckpointStore fsync must be a boolean, got ${shown(options.fsync)}`);
    }
    this.flushMs = flushMs;
    this.fsync = options.fsync ?? false;
    this._batcher = new WriteBatcher((entries) => this._append(entries), flushMs);
  }

  async *load(runKey: string): AsyncIterable<CheckpointEntry> {
    const scan = await this._scan(runKey);
    for (const entry of scan.entries) yield entry; // a plain loop: \`yield*\` costs three times as much per entry
  }

  save(runKey: string, entries: readonly CheckpointEntry[]): Promise<void> {
    if (this._runKey !== undefined && this._runKey !== runKey) return Promise.reject(this._otherRun(this._runKey, runKey));
    this._runKey = runKey;
    return this._batcher.add(entries);
  }

  flush(): Promise<void> {
    return this._batcher.flush();
  }

  async clear(runKey: string): Promise<void> {
    await this._batcher.flush().catch(() => undefined);
    const text = await this._read();
    if (text !== undefined) {
      const owner = this._header(text.slice(0, text.indexOf("\n") >>> 0), false);
      if (owner !== undefined && owner !== runKey) throw this._otherRun(owner, runKey);
    }
    await rm(this.path, { force: true });
    this._checked = undefined;
    this._runKey = undefined;
  }

  private _otherRun(owner: string, runKey: string): CheckpointJournalError {
    return new CheckpointJournalError(
      `FileCheckpointStore: ${this.path} line 1 belongs to runKey ${shown(owner)}, not ${shown(runKey)}: use another path for this run, or clear(${shown(owner)}) first`,
    );
  }

  private async _read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /** The header's runKey; `strict` throws on a bad header, else undefined. */
  private _header(line: string, strict: boolean): string | undefined {
    let header: unknown;
    try {
      header = JSON.parse(line);
    } catch {
      header = undefined;
    }
    const h = header as { checkpoint?: unknown; runKey?: unknown } | undefined;
    if (h?.checkpoint === FORMAT && typeof h.runKey === "string") return h.runKey;
    if (!strict) return undefined;
    throw new CheckpointJournalError(
      `FileCheckpointStore: ${this.path} line 1 is not a checkpoint journal header (got ${line.slice(0, 80)}): is this the right file?`,
    );
  }

  /** Reads and checks the whole journal; cuts a torn last line off the file. */
  private async _scan(runKey: string): Promise<Scan> {
    const text = await this._read();
    const entries: CheckpointEntry[] = [];
    if (text === undefined || text === "") return this._checkedAs(runKey, undefined, entries);
    let owner: string | undefined;
    let start = 0;
    let line = 0;
    while (start < text.length) {
      const end = text.indexOf("\n", start);
      line++;
      if (end === -1) {
        // A torn last line: the crash came mid-write. Its item was never saved; cut it so the next append is clean.
        await truncate(this.path, Buffer.byteLength(text.slice(0, start)));
        break;
      }
      const body = text.slice(start, end);
      start = end + 1;
      if (line === 1) {
        owner = this._header(body, true);
        if (owner !== runKey) throw this._otherRun(owner as string, runKey);
        continue;
      }
      entries.push(this._entry(body, line));
    }
    return this._checkedAs(runKey, owner, entries);
  }

  private _checkedAs(runKey: string, owner: string | undefined, entries: CheckpointEntry[]): Scan {
    this._checked = { runKey: owner };
    this._runKey ??= runKey;
    return { runKey: owner, entries };
  }

  private _entry(body: string, line: number): CheckpointEntry {
    let parsed: unknown;
    let reason = "not an object with string fields k and v";
    try {
      parsed = JSON.parse(body);
    } catch (error) {
      reason = (error as Error).message;
    }
    const p = parsed as { k?: unknown; v?: unknown } | undefined;
    if (p !== null && typeof p === "object" && typeof p.k === "string" && typeof p.v === "string") {
      return { key: p.k, value: p.v };
    }
    throw new CheckpointJournalError(
      `FileCheckpointStore: ${this.path} line ${line} is corrupt (${reason}): ${body.slice(0, 80)}; only a torn last line is ignored, so fix or remove this line`,
    );
  }

  private async _append(entries: CheckpointEntry[]): Promise<void> {
    const runKey = this._runKey as string;
    if (this._checked === undefined) await this._scan(runKey);
    let text = this._checked?.runKey === undefined ? `${JSON.stringify({ checkpoint: FORMAT, runKey })}\n` : "";
    for (const entry of entries) text += `${JSON.stringify({ k: entry.key, v: entry.value })}\n`;
    const handle = await open(this.path, "a");
    try {
      await handle.write(text);
      if (this.fsync) await handle.datasync();
    } finally {
      await handle.close();
    }
    this._checked = { runKey };
  }
}
