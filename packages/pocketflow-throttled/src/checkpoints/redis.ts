/**
 * `RedisCheckpointStore`: checkpoints in one Redis hash per run, for runs
 * spread over several processes or machines. Saves of the same moment go
 * out as one HSET; a load streams the hash with HSCAN.
 */
import { loadIoredis } from "../limiters/redis/store.js";
import { WriteBatcher } from "./batcher.js";
import { type CheckpointEntry, type CheckpointStore, shown } from "./store.js";

/** The part of an `ioredis` client this store uses (an `ioredis` `Redis` instance fits). */
export interface CheckpointRedisClient {
  hset(key: string, ...fieldsAndValues: string[]): Promise<unknown>;
  hscan(key: string, cursor: string, countToken: "COUNT", count: number): Promise<[cursor: string, fields: string[]]>;
  del(key: string): Promise<unknown>;
  quit(): Promise<unknown>;
}

/** Options of a `RedisCheckpointStore`. */
export interface RedisCheckpointStoreOptions {
  /**
   * An `ioredis` client (left open by `close()`), or a URL such as
   * `redis://127.0.0.1:6379` (then `ioredis` must be installed, and
   * `close()` closes the connection the store opened).
   */
  redis: CheckpointRedisClient | string;
  /**
   * Prefix of the keys: a run lives in the hash `${prefix}${runKey}`.
   * @default "pocketflow:checkpoint:"
   */
  prefix?: string;
  /**
   * Milliseconds a finished item waits so that one HSET carries many items.
   * @default 0 (items finished in the same tick share one HSET)
   */
  flushMs?: number;
}

/**
 * Checkpoints in Redis, shared by every process that uses the same prefix.
 *
 * @example
 * const store = new RedisCheckpointStore({ redis: "redis://127.0.0.1:6379", prefix: "myapp:ckpt:" });
 */
export class RedisCheckpointStore implements CheckpointStore {
  readonly prefix: string;
  private readonly _client: CheckpointRedisClient;
  private readonly _owns: boolean;
  private readonly _flushMs: number;
  private readonly _batchers = new Map<string, WriteBatcher>();

  constructor(options: RedisCheckpointStoreOptions) {
    const { redis, prefix = "pocketflow:checkpoint:", flushMs = 0 } = options ?? ({} as RedisCheckpointStoreOptions);
    if (typeof prefix !== "string") throw new TypeError(`RedisCheckpointStore prefix must be a string, got ${shown(prefix)}`);
    if (typeof flushMs !== "number" || !Number.isFinite(flushMs) || flushMs < 0) {
      throw new TypeError(`RedisCheckpointStore flushMs must be a number >= 0, got ${shown(flushMs)}`);
    }
    this.prefix = prefix;
    this._flushMs = flushMs;
    if (typeof redis === "string") {
      if (!/^rediss?:\/\//.test(redis)) {
        throw new TypeError(`RedisCheckpointStore redis must be a Redis URL such as "redis://127.0.0.1:6379" or an ioredis client, got ${shown(redis)}`);
      }
      this._client = openClient(redis);
      this._owns = true;
    } else {
      if (redis === null || typeof redis !== "object" || typeof redis.hset !== "function") {
        throw new TypeError(`RedisCheckpointStore redis must be a Redis URL or an ioredis client, got ${shown(redis)}`);
      }
      this._client = redis;
      this._owns = false;
    }
  }

  async *load(runKey: string): AsyncIterable<CheckpointEntry> {
    const key = this.prefix + runKey;
    let cursor = "0";
    do {
      const [next, fields] = await this._client.hscan(key, cursor, "COUNT", 1000);
      for (let i = 0; i + 1 < fields.length; i += 2) yield { key: fields[i] as string, value: fields[i + 1] as string };
      cursor = next;
    } while (cursor !== "0");
  }

  save(runKey: string, entries: readonly CheckpointEntry[]): Promise<void> {
    let batcher = this._batchers.get(runKey);
    if (batcher === undefined) {
      const key = this.prefix + runKey;
      batcher = new WriteBatcher(async (batch) => {
        const args: string[] = [];
        for (const entry of batch) args.push(entry.key, entry.value);
        await this._client.hset(key, ...args);
      }, this._flushMs);
      this._batchers.set(runKey, batcher);
    }
    return batcher.add(entries);
  }

  async flush(): Promise<void> {
    await Promise.all([...this._batchers.values()].map((b) => b.flush()));
  }

  async clear(runKey: string): Promise<void> {
    this._batchers.get(runKey)?.drop(new Error(`RedisCheckpointStore: runKey ${shown(runKey)} was cleared before this save was written`));
    await this._client.del(this.prefix + runKey);
  }

  /** Writes what is batched; closes the connection if the store opened it from a URL. */
  async close(): Promise<void> {
    await this.flush();
    if (this._owns) await this._client.quit();
  }
}

function openClient(url: string): CheckpointRedisClient {
  const Redis = loadIoredis<CheckpointRedisClient>("RedisCheckpointStore", url);
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
}
