/**
 * The connection to Redis: opening it (ioredis loads only when a URL is
 * given), one store call within `storeTimeoutMs`, changes sent in the
 * background, the errors a caller sees (`RedisStoreError`), and closing.
 */
import { createRequire } from "node:module";
import type { Script } from "./scripts/layout.js";

/**
 * The part of an `ioredis` client this limiter uses (an `ioredis` `Redis`
 * instance fits). Declared here so the package's types do not require
 * `ioredis` to be installed.
 */
export interface RedisClientLike {
  readonly status: string;
  readonly options: { host?: string; port?: number; path?: string | null };
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  duplicate(override?: Record<string, unknown>): RedisClientLike;
  subscribe(...channels: string[]): Promise<unknown>;
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Redis could not be reached, or answered with an error. `store` names it (URL or host:port). */
export class RedisStoreError extends Error {
  override readonly name = "RedisStoreError";
  constructor(
    message: string,
    readonly store: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown for limits that differ from those stored with the key. */
export const MISMATCH = "RedisLimitsMismatchError";

/** A store call that failed before its command was sent (no connection): it cannot have taken anything. */
export class NotSentError extends Error {}

export function isNotSent(error: unknown): boolean {
  return error instanceof NotSentError;
}

export function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === "ReplyError";
}

/** A replica (or a failover in progress) refusing writes: an outage for this limiter, not a wrong command. */
export function isReadOnlyError(error: unknown): boolean {
  return isReplyError(error) && (error as Error).message.startsWith("READONLY");
}

/** The store's name for messages: the URL without its password, or the client's host:port. */
export function describeStore(redis: string | RedisClientLike): string {
  if (typeof redis === "string") {
    try {
      const url = new URL(redis);
      if (url.password) url.password = "***";
      return url.toString().replace(/\/$/, "");
    } catch {
      return redis;
    }
  }
  const { host, port, path } = redis.options ?? {};
  if (path) return path;
  return `${host ?? "127.0.0.1"}:${port ?? 6379}`;
}

type RedisConstructor<C> = new (url: string, options: Record<string, unknown>) => C;

/**
 * The optional `ioredis` peer's client class, loaded only when a URL is
 * given; `owner` names who needs it in the error when it is missing. The one
 * place that resolves it (the CommonJS build rewrites its module URL).
 */
export function loadIoredis<C = RedisClientLike>(owner: string, url: string): RedisConstructor<C> {
  const require = createRequire(import.meta.url);
  let mod: unknown;
  try {
    mod = require("ioredis");
  } catch (error) {
    throw new Error(
      `${owner} needs the "ioredis" package to connect to ${describeStore(url)}: install it with \`npm install ioredis\` (an optional peer dependency of pocketflow-throttled), or pass an ioredis client as \`redis\``,
      { cause: error },
    );
  }
  const m = mod as { Redis?: unknown; default?: unknown };
  return (m.Redis ?? m.default ?? mod) as RedisConstructor<C>;
}

/** Waits for `promise` to settle, or `ms` at most; leaves no timer behind (so the process can exit). */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** One limiter's connection and the calls it makes. */
export class RedisStore {
  readonly client: RedisClientLike;
  private readonly _ownsClient: boolean;
  private _lastError: unknown;
  private readonly _onClientError = (error: unknown): void => {
    this._lastError = error;
  };
  private readonly _ops = new Set<Promise<unknown>>();
  private _opError: unknown;
  private _closing = false;
  /** Ends connection waits early when the limiter closes. */
  private readonly _onClose = new Set<() => void>();

  constructor(
    redis: string | RedisClientLike,
    /** The store in messages: the URL (password hidden) or host:port. */
    readonly name: string,
    /** The limiter key, for messages. */
    private readonly _key: string,
    readonly timeoutMs: number,
  ) {
    if (typeof redis === "string") {
      const Redis = loadIoredis("RedisLimiter", redis);
      this.client = new Redis(redis, {
        lazyConnect: true,
        enableOfflineQueue: false, // a command sent while Redis is away fails now instead of running late
        maxRetriesPerRequest: 1,
        connectTimeout: timeoutMs,
        retryStrategy: (times: number) => Math.min(100 * times, 1000),
      });
      this.client.on("error", this._onClientError);
      this._ownsClient = true;
    } else {
      this.client = redis;
      this._ownsClient = false;
    }
  }

  /** Runs one script within the store timeout, waiting for the connection if it is not ready. */
  async call(s: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const deadline = performance.now() + this.timeoutMs;
    if (this.client.status !== "ready") await this._waitReady(deadline);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        this._eval(s, keys, args),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${this.timeoutMs} ms`)),
            Math.max(1, deadline - performance.now()),
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends a change without making the caller wait. `onError` sees a failure
   * (already a `RedisStoreError`); `flush()` reports the first one.
   */
  background(send: () => Promise<unknown>, onError: (error: Error) => void): void {
    const op = send().catch((cause: unknown) => {
      const error = cause instanceof Error && cause.name === MISMATCH ? cause : this.error(cause);
      this._opError ??= error;
      onError(error);
    });
    this._ops.add(op);
    void op.finally(() => this._ops.delete(op));
  }

  /** Background changes still on their way. */
  pendingOps(): Promise<unknown>[] {
    return [...this._ops];
  }

  /** The first background failure since the last call, cleared. */
  takeOpError(): unknown {
    const error = this._opError;
    this._opError = undefined;
    return error;
  }

  /** The error a caller sees for a failed store call. */
  error(cause: unknown): RedisStoreError {
    if (cause instanceof RedisStoreError) return cause;
    if (isReplyError(cause)) {
      return new RedisStoreError(
        `Redis store ${this.name} answered RedisLimiter "${this._key}" with an error: ${(cause as Error).message}`,
        this.name,
        { cause },
      );
    }
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new RedisStoreError(
      `Redis store ${this.name} is unreachable (${detail}); RedisLimiter "${this._key}" starts nothing it cannot count there.`,
      this.name,
      { cause },
    );
  }

  /** Calls waiting for a connection give up now; calls on a ready connection still go out (a give-back must). */
  stopWaiting(): void {
    this._closing = true;
    for (const end of [...this._onClose]) end();
  }

  /** Waits for background changes, then ends the connection if this store opened it. */
  async close(): Promise<void> {
    this.stopWaiting();
    await Promise.allSettled([...this._ops]);
    if (this._ownsClient) await endConnection(this.client);
    this.client.off("error", this._onClientError);
  }

  private _waitReady(deadline: number): Promise<void> {
    const client = this.client;
    if (this._closing) return Promise.reject(new NotSentError(`RedisLimiter "${this._key}" is closed`));
    return new Promise<void>((resolve, reject) => {
      let lastError: unknown = this._lastError;
      const onError = (error: unknown) => {
        lastError = error;
      };
      const onReady = () => {
        cleanup();
        resolve();
      };
      const timer = setTimeout(
        () => {
          cleanup();
          const why = lastError instanceof Error ? lastError.message : `connection ${client.status}`;
          reject(new NotSentError(`no connection within ${this.timeoutMs} ms: ${why}`));
        },
        Math.max(1, deadline - performance.now()),
      );
      const onClose = () => {
        cleanup();
        reject(new NotSentError(`RedisLimiter "${this._key}" is closed`));
      };
      this._onClose.add(onClose);
      const cleanup = () => {
        this._onClose.delete(onClose);
        clearTimeout(timer);
        client.off("ready", onReady);
        client.off("error", onError);
      };
      client.on("ready", onReady);
      client.on("error", onError);
      if (client.status === "wait" || client.status === "end") client.connect().catch(() => undefined);
    });
  }

  private async _eval(s: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return await this.client.eval(s.src, keys.length, ...keys, ...args);
    }
  }
}

/** QUIT when connected (so Redis sees a clean exit), then drop the socket either way. */
export async function endConnection(client: RedisClientLike): Promise<void> {
  if (client.status === "ready") await settleWithin(client.quit(), 500);
  client.disconnect();
}
