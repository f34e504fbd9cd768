/**
 * `RedisLimiter`: the `Limiter` interface with its state in Redis, so every
 * process that uses the same key shares one concurrency limit, one true
 * sliding window of starts and one of tokens. Each check-and-take is one Lua
 * script timed by Redis's clock; concurrency slots are leases that a live
 * process renews and a dead one loses; waiters sleep until the time the store
 * names or a pub/sub wake-up, never on a fixed polling interval.
 *
 * Redis layout for key K: `K:config` (hash: the limits, the live
 * `concurrency`), `K:state` (hash: `pausedUntil`, window token sum),
 * `K:leases` (sorted set: lease id → expiry), `K:starts` (sorted set: start id
 * → start time), `K:weights` (hash: start id → tokens), channel `K:wake`.
 * Times are Redis `TIME` in microseconds.
 */
import { createHash, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { hostname } from "node:os";
import { LimiterRegistry } from "../registry.js";
import { checkCount, checkOptionalCount, checkPositive, checkRequestTokens, checkTokenCount } from "../validate.js";
import { parseRateLimitHeaders } from "./headers.js";
import type { AcquireOptions, Limiter, LimiterStats, Permit } from "./limiter.js";
import { RateLimiter } from "./sliding-window.js";

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

/** Options of a `RedisLimiter`. */
export interface RedisLimiterOptions {
  /** An `ioredis` client (left open by `close()`), or a URL such as `redis://127.0.0.1:6379` (then `ioredis` must be installed). */
  redis: string | RedisClientLike;
  /** The Redis key every process sharing these limits uses, e.g. `pocketflow:limiter:openai`. */
  key: string;
  /** At most this many running at once across all processes (default 5). */
  maxConcurrent?: number;
  /** At most this many starts in any `windowSeconds`, across all processes (undefined: unlimited). */
  maxPerWindow?: number;
  /** The window length in seconds (default 60). */
  windowSeconds?: number;
  /** At most this many estimated tokens started in any `windowSeconds` (undefined: unlimited). */
  maxTokensPerWindow?: number;
  /** A slot not renewed for this long (its process died) comes back (default 30). */
  leaseSeconds?: number;
  /** `"error"` (default): Redis unreachable rejects `acquire`. `"local"`: fall back to an in-process limiter until Redis answers. */
  onStoreError?: "error" | "local";
  /** How long a store call may take before it counts as unreachable, in ms (default 2000). */
  storeTimeoutMs?: number;
}

/** `LimiterStats` plus the leases that lapsed while their job still ran. */
export interface RedisLimiterStats extends LimiterStats {
  /** Leases that expired in Redis before their permit was released (their slot may have been given to another start). */
  leasesLost: number;
}

/** What Redis holds for the key right now (`RedisLimiter.inspect()`). */
export interface RedisLimiterState {
  /** Live leases held by all processes. */
  active: number;
  /** The concurrency in force (after any `setConcurrency`). */
  concurrency: number;
  /** Starts inside the current window. */
  windowCount: number;
  /** Tokens of the starts inside the current window. */
  windowTokens: number;
  /** Milliseconds until a pause ends (0: not paused). */
  pausedMs: number;
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

// ---------------------------------------------------------------- Lua scripts

interface Script {
  readonly src: string;
  readonly sha: string;
}

function script(src: string): Script {
  return { src, sha: createHash("sha1").update(src).digest("hex") };
}

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`;

// KEYS[1] = config; ARGV[1..4] = maxConcurrent, maxPerWindow, windowSeconds, maxTokensPerWindow ('' = unset).
// Creates the config on first use; any difference from the stored limits returns them instead.
const CONFIG = `
local stored = redis.call('HMGET', KEYS[1], 'maxConcurrent', 'maxPerWindow', 'windowSeconds', 'maxTokensPerWindow', 'concurrency')
if not stored[1] then
  redis.call('HSET', KEYS[1], 'maxConcurrent', ARGV[1], 'maxPerWindow', ARGV[2], 'windowSeconds', ARGV[3], 'maxTokensPerWindow', ARGV[4], 'concurrency', ARGV[1])
  stored = {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[1]}
elseif stored[1] ~= ARGV[1] or stored[2] ~= ARGV[2] or stored[3] ~= ARGV[3] or stored[4] ~= ARGV[4] then
  return {'mismatch', stored[1], stored[2], stored[3], stored[4]}
end
local conc = tonumber(stored[5] or stored[1])
`;

// KEYS: config, state, leases, starts, weights. ARGV: limits (1..4), id, tokens, leaseUs.
// Returns {1, nowUs, concurrency, windowCount} or {0, delayMs, concurrency, windowCount} or a mismatch.
const TAKE = script(`${NOW}${CONFIG}
local id, tokens, leaseUs = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') or 0
if paused > now then return {0, math.ceil((paused - now) / 1000), conc, -1} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local active = redis.call('ZCARD', KEYS[3])
if active >= conc then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {0, math.ceil((tonumber(first[2]) - now) / 1000), conc, -1}
end
local maxPer, maxTok = tonumber(stored[2]), tonumber(stored[4])
local count = 0
local windowUs = tonumber(stored[3]) * 1000000
if maxPer or maxTok then
  local cutoff = now - windowUs
  local sum = 0
  if maxTok then
    sum = tonumber(redis.call('HGET', KEYS[2], 'tokens') or '0') or 0
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', cutoff)) do
      sum = sum - (tonumber(redis.call('HGET', KEYS[5], old) or '0') or 0)
      redis.call('HDEL', KEYS[5], old)
    end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cutoff)
  count = redis.call('ZCARD', KEYS[4])
  if maxTok then
    if count == 0 then sum = 0 end
    redis.call('HSET', KEYS[2], 'tokens', sum)
  end
  local delay = 0
  if maxPer and count >= maxPer then
    local e = redis.call('ZRANGE', KEYS[4], count - maxPer, count - maxPer, 'WITHSCORES')
    delay = tonumber(e[2]) + windowUs - now
  end
  if maxTok and sum + tokens > maxTok then
    -- the oldest starts that must leave the window before this one fits
    local excess, at, i = sum + tokens - maxTok, now, 0
    while excess > 0 and i < count do
      local batch = redis.call('ZRANGE', KEYS[4], i, i + 99, 'WITHSCORES')
      for j = 1, #batch, 2 do
        excess = excess - (tonumber(redis.call('HGET', KEYS[5], batch[j]) or '0') or 0)
        at = tonumber(batch[j + 1])
        if excess <= 0 then break end
      end
      i = i + 100
    end
    delay = math.max(delay, at + windowUs - now)
  end
  if delay > 0 then return {0, math.ceil(delay / 1000), conc, count} end
end
redis.call('ZADD', KEYS[3], now + leaseUs, id)
redis.call('PEXPIRE', KEYS[3], math.ceil(leaseUs / 1000) + 1000)
if maxPer or maxTok then
  local ttl = math.ceil(windowUs / 1000) + 1000
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('PEXPIRE', KEYS[4], ttl)
  if maxTok then
    redis.call('HSET', KEYS[5], id, tokens)
    redis.call('PEXPIRE', KEYS[5], ttl)
    redis.call('HINCRBYFLOAT', KEYS[2], 'tokens', tokens)
  end
  count = count + 1
end
return {1, string.format('%.0f', now), conc, count}
`);

// KEYS: leases. ARGV: id, channel. Frees a slot; 1 if the lease was still live, 0 if it had lapsed.
const RELEASE = script(`${NOW}
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'r')
if s and tonumber(s) > now then return 1 end
return 0
`);

// KEYS: leases. ARGV: leaseUs, channel, ids... Extends live leases; returns the ids that had lapsed.
const RENEW = script(`${NOW}
local leaseUs = tonumber(ARGV[1])
local lost = {}
for i = 3, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) > now then
    redis.call('ZADD', KEYS[1], now + leaseUs, ARGV[i])
  else
    if s then redis.call('ZREM', KEYS[1], ARGV[i]) end
    lost[#lost + 1] = ARGV[i]
  end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(leaseUs / 1000) + 1000)
if #lost > 0 then redis.call('PUBLISH', ARGV[2], 'r') end
return lost
`);

// KEYS: config. ARGV: limits (1..4), concurrency, channel.
const SET_CONCURRENCY = script(`${CONFIG}
redis.call('HSET', KEYS[1], 'concurrency', ARGV[5])
redis.call('PUBLISH', ARGV[6], 'c:' .. ARGV[5])
return {'ok'}
`);

// KEYS: state. ARGV: ms, channel. Pauses until max(current pause, now + ms).
const PAUSE = script(`${NOW}
local untilUs = now + tonumber(ARGV[1]) * 1000
local current = tonumber(redis.call('HGET', KEYS[1], 'pausedUntil') or '0') or 0
if untilUs > current then redis.call('HSET', KEYS[1], 'pausedUntil', string.format('%.0f', untilUs)) end
redis.call('PUBLISH', ARGV[2], 'p')
return 1
`);

// KEYS: state, starts, weights. ARGV: channel. Forgets the window and any pause (leases stay).
const RESET = script(`
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'tokens', 0, 'pausedUntil', 0)
redis.call('PUBLISH', ARGV[1], 'x')
return 1
`);

// KEYS: state, weights. ARGV: id, actual, channel. Replaces a start's token estimate while it is in the window.
const SETTLE = script(`
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
local diff = tonumber(ARGV[2]) - tonumber(old)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBYFLOAT', KEYS[1], 'tokens', diff)
if diff < 0 then redis.call('PUBLISH', ARGV[3], 'x') end
return 1
`);

// KEYS: config, state, leases, starts. ARGV: windowSeconds.
const INSPECT = script(`${NOW}
local window = tonumber(ARGV[1]) * 1000000
local conc = redis.call('HGET', KEYS[1], 'concurrency') or '0'
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') or 0
local tokens = redis.call('HGET', KEYS[2], 'tokens') or '0'
local active = redis.call('ZCOUNT', KEYS[3], '(' .. string.format('%.0f', now), '+inf')
local count = redis.call('ZCOUNT', KEYS[4], '(' .. string.format('%.0f', now - window), '+inf')
return {active, conc, count, tokens, math.max(0, math.ceil((paused - now) / 1000))}
`);

// ------------------------------------------------------------------ helpers

type TakeReply =
  | { kind: "granted"; nowUs: number; concurrency: number; windowCount: number }
  | { kind: "wait"; delayMs: number; concurrency: number; windowCount: number }
  | { kind: "mismatch"; stored: string[] };

interface Waiter {
  readonly tokens: number;
  readonly since: number;
  readonly signal: AbortSignal | undefined;
  resolve: (permit: Permit) => void;
  reject: (reason: unknown) => void;
  onAbort: (() => void) | undefined;
  waited: boolean;
  done: boolean;
}

/** The store's name for messages: the URL without its password, or the client's host:port. */
function describeStore(redis: string | RedisClientLike): string {
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

function loadIoredis(url: string): new (url: string, options: Record<string, unknown>) => RedisClientLike {
  const require = createRequire(import.meta.url);
  let mod: unknown;
  try {
    mod = require("ioredis");
  } catch (error) {
    throw new Error(
      `RedisLimiter needs the "ioredis" package to connect to ${describeStore(url)}: install it with \`npm install ioredis\` (an optional peer dependency of pocketflow-throttled), or pass an ioredis client as \`redis\``,
      { cause: error },
    );
  }
  const m = mod as { Redis?: unknown; default?: unknown };
  return (m.Redis ?? m.default ?? mod) as new (url: string, options: Record<string, unknown>) => RedisClientLike;
}

/** Waits for `promise` to settle, or `ms` at most; leaves no timer behind (so the process can exit). */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** A store call that failed before its command was sent (no connection). */
class NotSentError extends Error {}

function isNotSent(error: unknown): boolean {
  return error instanceof NotSentError;
}

function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === "ReplyError";
}

function limitsText(values: readonly string[]): string {
  const [maxConcurrent, maxPerWindow, windowSeconds, maxTokensPerWindow] = values;
  const parts = [`maxConcurrent: ${maxConcurrent}`, `maxPerWindow: ${maxPerWindow || "unlimited"}`, `windowSeconds: ${windowSeconds}`];
  if (maxTokensPerWindow) parts.push(`maxTokensPerWindow: ${maxTokensPerWindow}`);
  return `{ ${parts.join(", ")} }`;
}

let instances = 0;
const MISMATCH = "RedisLimitsMismatchError";

/** A start granted by a `RedisLimiter`. */
export interface RedisPermit extends Permit {
  /** When the store granted this start, in epoch milliseconds of Redis's clock (undefined from the local fallback). */
  readonly startedAt?: number;
}

class StorePermit implements RedisPermit {
  released = false;
  lost = false;
  constructor(
    private readonly limiter: RedisLimiter,
    readonly id: string,
    readonly tokens: number,
    /** When the store granted this start, in epoch milliseconds of Redis's clock. */
    readonly startedAt: number,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.limiter._release(this);
  }

  settle(actualTokens: number): void {
    this.limiter._settle(this.id, actualTokens);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}

// ------------------------------------------------------------------ limiter

/**
 * A `Limiter` whose limits hold across every process that uses the same
 * `key` on the same Redis: shared concurrency (leased slots), a true sliding
 * window of starts and of tokens, shared `pause`, `observe` and
 * `setConcurrency`. Waiters are first come, first served within a process.
 * Call `close()` (or `await using`) when done so the process can exit.
 *
 * @example
 * const limiter = new RedisLimiter({ redis: "redis://127.0.0.1:6379", key: "openai", maxConcurrent: 10, maxPerWindow: 500, windowSeconds: 60 });
 * const answer = await limiter.run(() => client.chat.completions.create(request));
 * await limiter.close();
 */
export class RedisLimiter implements Limiter, AsyncDisposable {
  readonly key: string;
  readonly windowSeconds: number;
  readonly maxTokensPerWindow: number | undefined;
  readonly leaseSeconds: number;
  readonly onStoreError: "error" | "local";
  /** The store in messages: the URL (password hidden) or host:port of the given client. */
  readonly store: string;

  private readonly _maxPerWindow: number | undefined;
  private readonly _declared: [string, string, string, string];
  private readonly _client: RedisClientLike;
  private readonly _ownsClient: boolean;
  private readonly _timeoutMs: number;
  private readonly _leaseUs: number;
  private readonly _keys: { config: string; state: string; leases: string; starts: string; weights: string; channel: string };
  private readonly _idPrefix: string;
  private _nextId = 0;
  private _concurrency: number;
  private _windowCount = 0;

  private readonly _queue = new Set<Waiter>();
  private readonly _held = new Map<string, StorePermit>();
  private _pumping = false;
  private _woken = false;
  private _wakeUp: (() => void) | undefined;
  private _sleepTimer: ReturnType<typeof setTimeout> | undefined;

  private _sub: RedisClientLike | undefined;
  private _subscribeTried = false;
  private _renewTimer: ReturnType<typeof setInterval> | undefined;
  private _renewing = false;
  private _lastError: unknown;
  private readonly _onClientError = (error: unknown): void => {
    this._lastError = error;
  };

  private _fallback: RateLimiter | undefined;
  private _usingFallback = false;
  private _warned = false;
  private _probeTimer: ReturnType<typeof setTimeout> | undefined;

  private readonly _ops = new Set<Promise<unknown>>();
  private _inflight: Promise<unknown> | undefined;
  private _opError: unknown;
  private _closed = false;
  /** Ends connection waits early when the limiter closes. */
  private readonly _onClose = new Set<() => void>();

  private _acquired = 0;
  private _throttled = 0;
  private _totalWaitMs = 0;
  private _aborted = 0;
  private _leasesLost = 0;

  constructor(options: RedisLimiterOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("RedisLimiter needs options { redis, key, ... }");
    const { redis, key } = options;
    if (typeof redis !== "string" && (redis === null || typeof redis !== "object" || typeof redis.evalsha !== "function")) {
      throw new TypeError(`redis must be a Redis URL or an ioredis client, got ${String(redis)}`);
    }
    if (typeof key !== "string" || key.length === 0) throw new TypeError(`key must be a non-empty string, got ${String(key)}`);
    const maxConcurrent = checkCount("maxConcurrent", options.maxConcurrent ?? 5);
    this._maxPerWindow = checkOptionalCount("maxPerWindow", options.maxPerWindow);
    this.windowSeconds = checkPositive("windowSeconds", options.windowSeconds ?? 60);
    this.maxTokensPerWindow = checkOptionalCount("maxTokensPerWindow", options.maxTokensPerWindow);
    this.leaseSeconds = checkPositive("leaseSeconds", options.leaseSeconds ?? 30);
    this._timeoutMs = checkPositive("storeTimeoutMs", options.storeTimeoutMs ?? 2000);
    const onStoreError = options.onStoreError ?? "error";
    if (onStoreError !== "error" && onStoreError !== "local") {
      throw new RangeError(`onStoreError must be "error" or "local", got ${JSON.stringify(onStoreError)}`);
    }
    this.onStoreError = onStoreError;
    this.key = key;
    this.store = describeStore(redis);
    this._concurrency = maxConcurrent;
    this._declared = [String(maxConcurrent), String(this._maxPerWindow ?? ""), String(this.windowSeconds), String(this.maxTokensPerWindow ?? "")];
    this._leaseUs = Math.round(this.leaseSeconds * 1_000_000);
    this._keys = {
      config: `${key}:config`,
      state: `${key}:state`,
      leases: `${key}:leases`,
      starts: `${key}:starts`,
      weights: `${key}:weights`,
      channel: `${key}:wake`,
    };
    this._idPrefix = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}:${++instances}:`;
    if (typeof redis === "string") {
      const Redis = loadIoredis(redis);
      this._client = new Redis(redis, {
        lazyConnect: true,
        enableOfflineQueue: false, // a command sent while Redis is away fails now instead of running late
        maxRetriesPerRequest: 1,
        connectTimeout: this._timeoutMs,
        retryStrategy: (times: number) => Math.min(100 * times, 1000),
      });
      this._client.on("error", this._onClientError);
      this._ownsClient = true;
    } else {
      this._client = redis;
      this._ownsClient = false;
    }
  }

  /** The concurrency in force across processes (the latest value this process has seen). */
  get maxConcurrent(): number {
    return this._concurrency;
  }

  /** At most this many starts in any window (undefined: unlimited). */
  get maxPerWindow(): number | undefined {
    return this._maxPerWindow;
  }

  /** Starts in the shared window as of this process's last store answer (see `inspect()` for a fresh count). */
  get currentWindowCount(): number {
    return this._windowCount;
  }

  /** Permits this process holds now. */
  get active(): number {
    return this._held.size + (this._fallback?.active ?? 0);
  }

  /** Acquisitions of this process waiting now. */
  get pending(): number {
    return this._queue.size + (this._fallback?.pending ?? 0);
  }

  /** True while Redis is unreachable and `onStoreError: "local"` has this process on its in-process limiter. */
  get usingLocalFallback(): boolean {
    return this._usingFallback;
  }

  get stats(): RedisLimiterStats {
    return {
      acquired: this._acquired,
      throttled: this._throttled,
      totalWaitMs: this._totalWaitMs,
      averageWaitMs: this._throttled === 0 ? 0 : this._totalWaitMs / this._throttled,
      aborted: this._aborted,
      active: this.active,
      pending: this.pending,
      leasesLost: this._leasesLost,
    };
  }

  async acquire(options: AcquireOptions = {}): Promise<RedisPermit> {
    const tokens = this._checkTokens(options.tokens);
    const { signal } = options;
    if (this._closed) throw new Error(`RedisLimiter "${this.key}" is closed`);
    if (signal?.aborted) throw signal.reason;
    if (this._usingFallback) return this._acquireLocally(tokens, signal);
    return new Promise<RedisPermit>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        since: performance.now(),
        signal,
        resolve,
        reject,
        onAbort: undefined,
        waited: this._queue.size > 0,
        done: false,
      };
      if (signal) {
        waiter.onAbort = () => {
          if (waiter.done) return;
          this._settleWaiter(waiter);
          this._aborted++;
          reject(signal.reason);
          this._wake();
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this._queue.add(waiter);
      void this._pump();
    });
  }

  async run<T>(fn: () => T | PromiseLike<T>, options: AcquireOptions = {}): Promise<T> {
    const permit = await this.acquire(options);
    try {
      return await fn();
    } finally {
      permit.release();
    }
  }

  /** Changes the concurrency for every process sharing the key (stored in Redis). */
  setConcurrency(maxConcurrent: number): void {
    this._concurrency = checkCount("maxConcurrent", maxConcurrent);
    this._fallback?.setConcurrency(maxConcurrent);
    const k = this._keys;
    this._background("setConcurrency", () =>
      this._eval(SET_CONCURRENCY, [k.config], [...this._declared, maxConcurrent, k.channel]).then((reply) => {
        if (Array.isArray(reply) && reply[0] === "mismatch") throw this._mismatchError(reply.slice(1).map(String));
      }),
    );
    this._wake();
  }

  /** No new start in any process for `seconds` (waiters keep their place). */
  pause(seconds: number): void {
    checkPositive("seconds", seconds, true);
    this._fallback?.pause(seconds);
    const k = this._keys;
    this._background("pause", () => this._eval(PAUSE, [k.state], [seconds * 1000, k.channel]));
  }

  /** Reads provider rate-limit headers; when none remain, pauses every process until the reset. */
  observe(headers: unknown): void {
    const holdSeconds = parseRateLimitHeaders(headers).holdSeconds;
    if (holdSeconds > 0) this.pause(holdSeconds);
  }

  /** Forgets the shared window history and any pause (leases in flight are kept). */
  reset(): void {
    this._fallback?.reset();
    const k = this._keys;
    this._background("reset", () => this._eval(RESET, [k.state, k.starts, k.weights], [k.channel]));
  }

  /** Resolves once every change this process sent (release, settle, pause, setConcurrency, reset) reached Redis; rejects with the first that failed. */
  async flush(): Promise<void> {
    for (;;) {
      const pending: Promise<unknown>[] = [...this._ops];
      if (this._inflight) pending.push(this._inflight);
      if (pending.length === 0) break;
      await Promise.allSettled(pending);
      await new Promise((r) => setImmediate(r)); // lets the queue act on a reply (e.g. give a lease back)
    }
    const error = this._opError;
    this._opError = undefined;
    if (error !== undefined) throw error;
  }

  /** What Redis holds for the key now (all processes). */
  async inspect(): Promise<RedisLimiterState> {
    const k = this._keys;
    const reply = (await this._call(() => this._eval(INSPECT, [k.config, k.state, k.leases, k.starts], [this.windowSeconds]))) as unknown[];
    return {
      active: Number(reply[0]),
      concurrency: Number(reply[1]) || this._concurrency,
      windowCount: Number(reply[2]),
      windowTokens: Number(reply[3]),
      pausedMs: Number(reply[4]),
    };
  }

  /**
   * Stops renewing, rejects waiters, and ends the connections this limiter
   * opened (a client you passed in stays open). Permits still held keep their
   * slot until their lease lapses.
   */
  async close(): Promise<void> {
    if (this._closed) return;
    this._closed = true;
    const error = new Error(`RedisLimiter "${this.key}" was closed while waiting`);
    for (const waiter of [...this._queue]) {
      this._settleWaiter(waiter);
      waiter.reject(error);
    }
    this._wake();
    this._stopRenewing();
    clearTimeout(this._probeTimer);
    for (const end of [...this._onClose]) end(); // calls still waiting for a connection give up now
    await Promise.allSettled([...this._ops]);
    const connections = this._ownsClient ? [this._sub, this._client] : [this._sub];
    await Promise.all(
      connections.map(async (c) => {
        if (!c) return;
        if (c.status === "ready") await settleWithin(c.quit(), 500);
        c.disconnect();
      }),
    );
    this._client.off("error", this._onClientError);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toString(): string {
    return `RedisLimiter(key=${this.key}, maxConcurrent=${this.maxConcurrent}, maxPerWindow=${this.maxPerWindow}, windowSeconds=${this.windowSeconds})`;
  }

  // ------------------------------------------------------------ internals

  /** @internal */
  _release(permit: StorePermit): void {
    this._held.delete(permit.id);
    if (this._held.size === 0) this._stopRenewing();
    const k = this._keys;
    this._background("release", () =>
      this._eval(RELEASE, [k.leases], [permit.id, k.channel]).then((removed) => {
        if (Number(removed) === 0 && !permit.lost) {
          permit.lost = true;
          this._leasesLost++;
        }
      }),
    );
    this._wake(); // the release is ahead of any later take on the same connection
  }

  /** @internal */
  _settle(id: string, actual: number): void {
    checkTokenCount("settle(actualTokens)", actual);
    if (this.maxTokensPerWindow === undefined) return;
    const k = this._keys;
    this._background("settle", () => this._eval(SETTLE, [k.state, k.weights], [id, actual, k.channel]));
  }

  private _checkTokens(tokens: number | undefined): number {
    return checkRequestTokens(tokens, this.maxTokensPerWindow);
  }

  /** Serves the queue head by head: one take per attempt, then sleep until the store's time or a wake-up. */
  private async _pump(): Promise<void> {
    if (this._pumping) return;
    this._pumping = true;
    try {
      while (this._queue.size > 0 && !this._closed) {
        const waiter = this._queue.values().next().value as Waiter;
        const id = `${this._idPrefix}${++this._nextId}`;
        this._woken = false;
        let reply: TakeReply;
        try {
          const take = this._take(id, waiter.tokens);
          this._inflight = take;
          reply = await take;
        } catch (error) {
          this._inflight = undefined;
          if (!isReplyError(error) && !isNotSent(error)) this._giveBack(id); // a take that timed out may still run: hand its lease back
          this._storeFailed(error);
          continue;
        }
        this._inflight = undefined;
        if (reply.kind === "mismatch") {
          const error = this._mismatchError(reply.stored);
          for (const w of [...this._queue]) {
            this._settleWaiter(w);
            w.reject(error);
          }
          continue;
        }
        this._concurrency = reply.concurrency;
        if (reply.windowCount >= 0) this._windowCount = reply.windowCount;
        if (reply.kind === "granted") {
          if (waiter.done) {
            this._giveBack(id); // aborted while the store granted it: the lease goes back, the start stays in the window
            continue;
          }
          this._grant(waiter, id, reply.nowUs);
          continue;
        }
        waiter.waited = true;
        if (waiter.done || this._woken) continue;
        if (!this._subscribeTried) {
          await this._subscribe(); // a release published before the subscription took effect is caught by re-taking now
          continue;
        }
        await this._sleep(reply.delayMs + 1);
      }
    } finally {
      this._pumping = false;
    }
  }

  private _grant(waiter: Waiter, id: string, nowUs: number): void {
    this._settleWaiter(waiter);
    this._acquired++;
    if (waiter.waited) {
      this._throttled++;
      this._totalWaitMs += performance.now() - waiter.since;
    }
    const permit = new StorePermit(this, id, waiter.tokens, nowUs / 1000);
    this._held.set(id, permit);
    this._startRenewing();
    waiter.resolve(permit);
  }

  private _settleWaiter(waiter: Waiter): void {
    waiter.done = true;
    this._queue.delete(waiter);
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
  }

  private async _take(id: string, tokens: number): Promise<TakeReply> {
    const k = this._keys;
    const reply = (await this._call(() =>
      this._eval(TAKE, [k.config, k.state, k.leases, k.starts, k.weights], [...this._declared, id, tokens, this._leaseUs]),
    )) as unknown[];
    if (reply[0] === "mismatch") return { kind: "mismatch", stored: reply.slice(1).map(String) };
    const concurrency = Number(reply[2]);
    const windowCount = Number(reply[3]);
    if (Number(reply[0]) === 1) return { kind: "granted", nowUs: Number(reply[1]), concurrency, windowCount };
    return { kind: "wait", delayMs: Number(reply[1]), concurrency, windowCount };
  }

  private _giveBack(id: string): void {
    const k = this._keys;
    this._background("release", () => this._eval(RELEASE, [k.leases], [id, k.channel]));
  }

  /** Redis unreachable: reject every waiter with a clear error, or move them all to the in-process fallback. */
  private _storeFailed(cause: unknown): void {
    const error = this._storeError(cause);
    const waiters = [...this._queue];
    for (const w of waiters) this._settleWaiter(w);
    if (this.onStoreError === "local" && !isReplyError(cause)) {
      this._enterFallback(error);
      for (const w of waiters) this._acquireLocally(w.tokens, w.signal).then(w.resolve, w.reject);
      return;
    }
    for (const w of waiters) w.reject(error);
  }

  private _enterFallback(error: Error): void {
    if (this._usingFallback) return;
    this._usingFallback = true;
    if (!this._warned) {
      this._warned = true;
      console.warn(`${error.message} Falling back to an in-process limiter (limits now hold per process) until Redis answers again.`);
    }
    this._scheduleProbe();
  }

  /** While on the fallback, asks Redis once a second whether it answers again (the one periodic call, only during an outage). */
  private _scheduleProbe(): void {
    clearTimeout(this._probeTimer);
    this._probeTimer = setTimeout(() => {
      const k = this._keys;
      this._call(() => this._eval(INSPECT, [k.config, k.state, k.leases, k.starts], [this.windowSeconds])).then(
        () => {
          this._usingFallback = false;
          this._warned = false; // a later outage warns again
        },
        () => {
          if (!this._closed) this._scheduleProbe();
        },
      );
    }, 1000);
    this._probeTimer.unref?.();
  }

  private _acquireLocally(tokens: number, signal: AbortSignal | undefined): Promise<Permit> {
    this._fallback ??= new RateLimiter({
      maxConcurrent: this._concurrency,
      maxPerWindow: this._maxPerWindow,
      windowSeconds: this.windowSeconds,
      maxTokensPerWindow: this.maxTokensPerWindow,
    });
    const options: AcquireOptions = signal ? { tokens, signal } : { tokens };
    return this._fallback.acquire(options).then(
      (permit) => {
        this._acquired++;
        return permit;
      },
      (error: unknown) => {
        if (signal?.aborted && error === signal.reason) this._aborted++;
        throw error;
      },
    );
  }

  private _storeError(cause: unknown): RedisStoreError {
    if (cause instanceof RedisStoreError) return cause;
    if (isReplyError(cause)) {
      return new RedisStoreError(
        `Redis store ${this.store} answered RedisLimiter "${this.key}" with an error: ${(cause as Error).message}`,
        this.store,
        { cause },
      );
    }
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new RedisStoreError(
      `Redis store ${this.store} is unreachable (${detail}); RedisLimiter "${this.key}" starts nothing it cannot count there.`,
      this.store,
      { cause },
    );
  }

  private _mismatchError(stored: string[]): Error {
    const error = new Error(
      `RedisLimiter "${this.key}": this process's limits ${limitsText(this._declared)} differ from the limits stored in Redis at "${this._keys.config}" ${limitsText(stored)}. Every process sharing a key must use the same limits: fix the options, use another key, or delete "${this._keys.config}" to redefine them.`,
    );
    error.name = MISMATCH;
    return error;
  }

  /** Runs one store call within the store timeout, waiting for the connection if it is not ready. */
  private async _call<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = performance.now() + this._timeoutMs;
    if (this._client.status !== "ready") await this._waitReady(deadline);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${this._timeoutMs} ms`)),
            Math.max(1, deadline - performance.now()),
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private _waitReady(deadline: number): Promise<void> {
    const client = this._client;
    if (this._closed) return Promise.reject(new NotSentError(`RedisLimiter "${this.key}" is closed`));
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
          reject(new NotSentError(`no connection within ${this._timeoutMs} ms: ${why}`));
        },
        Math.max(1, deadline - performance.now()),
      );
      const onClose = () => {
        cleanup();
        reject(new NotSentError(`RedisLimiter "${this.key}" is closed`));
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

  private async _eval(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this._client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return await this._client.eval(s.src, keys.length, ...keys, ...args);
    }
  }

  /** Sends a change without making the caller wait; `flush()` reports failures, and changes a user asked for warn. */
  private _background(what: string, send: () => Promise<unknown>): void {
    const op = this._call(send).catch((cause: unknown) => {
      const error = cause instanceof Error && cause.name === MISMATCH ? cause : this._storeError(cause);
      this._opError ??= error;
      // a lost release or renewal heals itself when the lease lapses; a lost pause or setting is worth saying
      if (what !== "release" && !this._usingFallback) console.warn(`RedisLimiter "${this.key}": ${what} did not reach Redis: ${error.message}`);
    });
    this._ops.add(op);
    void op.finally(() => this._ops.delete(op));
  }

  private async _subscribe(): Promise<void> {
    this._subscribeTried = true;
    try {
      const sub = this._client.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null });
      this._sub = sub;
      sub.on("error", () => undefined); // reconnects on its own; the main connection reports outages
      sub.on("message", (_channel: unknown, payload: unknown) => {
        const message = String(payload);
        if (message.startsWith("c:")) this._concurrency = Number(message.slice(2)) || this._concurrency;
        this._wake();
      });
      const subscribed = sub.subscribe(this._keys.channel).catch(() => undefined); // queued until the connection is up
      await settleWithin(subscribed, this._timeoutMs);
    } catch {
      // without wake-ups waiters still wake at the time the store named
    }
  }

  private _sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this._wakeUp = resolve;
      this._sleepTimer = setTimeout(() => this._wake(), ms);
    });
  }

  private _wake(): void {
    this._woken = true;
    clearTimeout(this._sleepTimer);
    this._sleepTimer = undefined;
    const wakeUp = this._wakeUp;
    this._wakeUp = undefined;
    wakeUp?.();
  }

  private _startRenewing(): void {
    if (this._renewTimer !== undefined) return;
    this._renewTimer = setInterval(() => void this._renew(), Math.max(10, (this.leaseSeconds * 1000) / 3));
    this._renewTimer.unref?.();
  }

  private _stopRenewing(): void {
    clearInterval(this._renewTimer);
    this._renewTimer = undefined;
  }

  private async _renew(): Promise<void> {
    if (this._renewing || this._held.size === 0) return;
    this._renewing = true;
    const k = this._keys;
    try {
      const lost = (await this._call(() => this._eval(RENEW, [k.leases], [this._leaseUs, k.channel, ...this._held.keys()]))) as string[];
      for (const id of lost) {
        const permit = this._held.get(id);
        if (permit && !permit.lost) {
          permit.lost = true;
          this._leasesLost++;
        }
      }
    } catch {
      // Redis away: leases lapse on their own; the next renewal that gets through counts them as lost
    } finally {
      this._renewing = false;
    }
  }
}

LimiterRegistry._setStoreFactory(
  (name, options) =>
    new RedisLimiter({ ...(options as unknown as RedisLimiterOptions), key: (options.key as string | undefined) ?? `pocketflow:limiter:${name}` }),
);
