/**
 * `RedisLimiter`: the `Limiter` interface with its state in Redis, so every
 * process that uses the same key shares one concurrency limit and every true
 * sliding window (requests, total, input and output tokens, learned limits).
 * Each check-and-take is one Lua script over all of them, timed by Redis's
 * clock (`scripts/`); concurrency slots are leases a
 * live process renews (`leases.ts`); waiters sleep until the time the store
 * names or a pub/sub wake-up (`wake-ups.ts`), never on a fixed polling
 * interval. This file holds the public API and the process's waiter queue.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { checkCount, checkPositive } from "../../validate.js";
import { HeaderLimits, parseRateLimitHeaders } from "../headers.js";
import { type AcquireOptions, type Limiter, type TokenUsage, type Weight, ZERO_WEIGHT } from "../limiter.js";
import { acquireWeight, maxWaitMsOf, settledWeight } from "../weights.js";
import { becauseOf, changeReason, limiterChannel, publishLimiter } from "../../observe/channels.js";
import { type LimiterMetrics, metricsOf, RefusalCounts, windowUse } from "../metrics.js";
import { type LearnedLimits, learnedRules, neverFits, replaceRules, type WindowLimit } from "../windows.js";
import { RedisBudgetStore } from "./budget.js";
import { Fallback, LocalView } from "./fallback.js";
import { Leases, type PermitOwner, type RedisPermit, type StorePermit } from "./leases.js";
import { checkRedisOptions, declaredLimits, type RedisLimiterOptions } from "./options.js";
import { WaiterQueue } from "./queue.js";
import { INSPECT } from "./scripts/inspect.js";
import { type KeyLayout, keyLayout } from "./scripts/layout.js";
import { RELEASE } from "./scripts/release.js";
import { ANSWERED, LEARN, PAUSE, RESET, SET_CONCURRENCY, SETTLE } from "./scripts/settings.js";
import { Server } from "./serve.js";
import { type RedisLimiterState, type RedisLimiterStats, SharedState } from "./shared.js";
import { describeStore, RedisStore } from "./store.js";
import { WakeUps } from "./wake-ups.js";
import { encodeRules } from "./windows.js";

export type { RedisLimiterState, RedisLimiterStats } from "./shared.js";

let instances = 0;

/**
 * A `Limiter` whose limits hold across every process that uses the same
 * `key` on the same Redis: shared concurrency (leased slots), several true
 * sliding windows of starts, of total, input and output tokens and of cost
 * (checked together in one atomic step; a budget window, `onExceed: "fail"`,
 * refuses with `BudgetExceeded`), limits learned from the provider, shared
 * `pause`, `observe` and `setConcurrency`. Waiters are first come, first
 * served within a process. Call `close()` (or `await using`) when done so the
 * process can exit.
 *
 * @example
 * const limiter = new RedisLimiter({ redis: "redis://127.0.0.1:6379", key: "openai", maxConcurrent: 10, windows: [{ seconds: 60, maxRequests: 500 }, { seconds: 1, maxRequests: 9 }] });
 * const answer = await limiter.run(() => client.chat.completions.create(request), { inputTokens: 800, outputTokens: 200 });
 * await limiter.close();
 */
export class RedisLimiter implements Limiter, AsyncDisposable, PermitOwner {
  /** The Redis key the processes sharing these limits use. */
  readonly key: string;
  /** The shorthand window's length in seconds. */
  readonly windowSeconds: number;
  /** How long each start stays in its windows beyond their `seconds`. */
  readonly arrivalMarginSeconds: number;
  /** Whether, with no window configured, one request runs alone until the provider's first answer. */
  readonly learnLimits: boolean;
  private readonly _headerLimits = new HeaderLimits();
  /** How long a slot outlives a process that stopped renewing it. */
  readonly leaseSeconds: number;
  /** What a store failure does: reject (`"error"`) or go on locally (`"local"`). */
  readonly onStoreError: "error" | "local";
  /** The store in messages: the URL (password hidden) or host:port of the given client. */
  readonly store: string;

  private readonly _declared: [string, string, string, string];
  private readonly _store: RedisStore;
  private readonly _keys: KeyLayout;
  private readonly _maxWaitMs: number;
  /** Settles go to Redis only when some token window is or may come in force. */
  private readonly _settles: boolean;
  private readonly _shared: SharedState;
  private readonly _queue = new WaiterQueue();
  private readonly _refusals = new RefusalCounts();
  private readonly _leases: Leases;
  private readonly _wakeUps: WakeUps;
  private readonly _view: LocalView;
  private readonly _fallback: Fallback;
  private readonly _server: Server;
  private _closed = false;

  constructor(options: RedisLimiterOptions) {
    const o = checkRedisOptions(options);
    this.key = o.key;
    this.windowSeconds = o.windowSeconds;
    this.arrivalMarginSeconds = o.arrivalMarginSeconds;
    this.learnLimits = o.learnLimits;
    this.leaseSeconds = o.leaseSeconds;
    this.onStoreError = o.onStoreError;
    this.store = describeStore(o.redis);
    this._maxWaitMs = (o.maxWaitSeconds ?? Number.POSITIVE_INFINITY) * 1000;
    this._settles = o.learnLimits || o.rules.some((r) => r.kind !== "maxRequests");
    const view = new LocalView(o.arrivalMarginSeconds * 1000, o.rules);
    this._view = view;
    this._shared = new SharedState(o.maxConcurrent, o.rules, o.learnLimits, (rules) => view.setRules(rules));
    this._declared = declaredLimits(o, this._shared.windows.configuredText);
    const leaseUs = Math.round(o.leaseSeconds * 1_000_000);
    this._keys = keyLayout(o.key);
    this._store = new RedisStore(o.redis, this.store, o.key, o.storeTimeoutMs);
    this._leases = new Leases(this._store, this._keys, leaseUs);
    this._wakeUps = new WakeUps(this._store.client, this._keys.channel, o.storeTimeoutMs, (value) => {
      this._shared.concurrency = value;
    });
    this._fallback = new Fallback(o.onStoreError === "local", this._store, this._keys, () => this._wakeUps.wake());
    this._server = new Server({
      key: o.key,
      queue: this._queue,
      view,
      shared: this._shared,
      leases: this._leases,
      wakeUps: this._wakeUps,
      fallback: this._fallback,
      store: this._store,
      keys: this._keys,
      declared: this._declared,
      leaseUs,
      windowSeconds: o.windowSeconds,
      idPrefix: `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}:${++instances}:`,
      owner: this,
      isClosed: () => this._closed,
      background: (what, send) => this._background(what, send),
    });
  }

  /** The concurrency in force across processes (the latest value this process has seen). */
  get maxConcurrent(): number {
    return this._shared.concurrency;
  }

  /** At most this many starts in any `windowSeconds` (the shorthand window in force; undefined: none configured). */
  get maxPerWindow(): number | undefined {
    return this._shared.windows.shorthand("maxPerWindow", "maxRequests", this.windowSeconds);
  }

  /** At most this many estimated tokens in any `windowSeconds` (the shorthand window in force; undefined: none configured). */
  get maxTokensPerWindow(): number | undefined {
    return this._shared.windows.shorthand("maxTokensPerWindow", "maxTokens", this.windowSeconds);
  }

  /** The windows in force, configured and learned (as of this process's last store answer), one per period. */
  get windows(): readonly WindowLimit[] {
    return this._shared.windows.windows;
  }

  /** Starts in the shorthand window as of this process's last store answer (see `inspect()` for a fresh count). */
  get currentWindowCount(): number {
    return this._shared.windowCount;
  }

  /** Permits this process holds now. */
  get active(): number {
    return this._leases.held.size;
  }

  /** Acquisitions of this process waiting now. */
  get pending(): number {
    return this._queue.size;
  }

  /** True while Redis is unreachable and `onStoreError: "local"` has this process on its own view of the limits. */
  get usingLocalFallback(): boolean {
    return this._fallback.using;
  }

  get stats(): RedisLimiterStats {
    return { ...this._queue.stats(this.active), leasesLost: this._leases.lost };
  }

  /** This process's requests, waits and refusals; the shorthand window's use as of the last store answer. */
  metrics(): LimiterMetrics {
    const limit = this.maxPerWindow;
    const windows = limit === undefined ? [] : [windowUse(this.windowSeconds, "maxRequests", this.currentWindowCount, limit)];
    return metricsOf(this.stats, this._queue.waits, this._refusals, windows);
  }

  noteRefusal(kind: string): void {
    this._refusals.add(kind);
  }

  async acquire(options?: AcquireOptions): Promise<RedisPermit> {
    return this._enqueue(acquireWeight("acquire", options, ZERO_WEIGHT), options);
  }

  async run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    const permit = await this._enqueue(acquireWeight("run", options, ZERO_WEIGHT), options);
    try {
      return await fn();
    } finally {
      permit.release();
    }
  }

  /** Changes the concurrency for every process sharing the key (stored in Redis). */
  setConcurrency(maxConcurrent: number): void {
    const from = this._shared.concurrency;
    this._shared.concurrency = checkCount("maxConcurrent", maxConcurrent);
    if (limiterChannel.hasSubscribers && from !== maxConcurrent) {
      publishLimiter({ event: "concurrency", limiter: this, from, to: maxConcurrent, reason: changeReason() });
    }
    const k = this._keys;
    this._background("setConcurrency", async () => {
      const reply = await this._store.call(SET_CONCURRENCY, [k.config], [...this._declared, maxConcurrent, k.channel]);
      if (Array.isArray(reply) && reply[0] === "mismatch") throw this._server.mismatchError(reply.slice(1).map(String));
    });
    this._wakeUps.wake();
  }

  /** No new start in any process for `seconds` (waiters keep their place); `cause` goes on this process's resulting `LimiterTimeout`s. */
  pause(seconds: number, cause?: unknown): void {
    checkPositive("seconds", seconds, true);
    const until = performance.now() + seconds * 1000;
    this._shared.notePause(until, cause);
    if (limiterChannel.hasSubscribers) publishLimiter({ event: "pause", limiter: this, seconds, reason: changeReason() });
    this._view.pauseUntil(until);
    const k = this._keys;
    this._background("pause", () => this._store.call(PAUSE, [k.state], [seconds * 1000, k.channel]));
    this._wakeUps.wake(); // a waiter bounded by maxWaitSeconds learns of the pause now
  }

  /** Reads provider rate-limit headers; when none remain, pauses every process until the reset. Ends the lone first request of `learnLimits`. */
  observe(headers: unknown): void {
    const info = parseRateLimitHeaders(headers);
    // With learnLimits, the limits the headers state become windows for every process (once per change).
    const limits = this.learnLimits ? this._headerLimits.changed(info) : undefined;
    if (limits !== undefined) this.learn(limits);
    this._markAnswered();
    if (info.holdSeconds > 0) becauseOf("headers", () => this.pause(info.holdSeconds));
  }

  /**
   * Puts the provider's limits in force for every process sharing the key:
   * each becomes a window of its kind (per-minute ones with a per-second
   * window of `ceil(limit / 60)` beside them), replacing configured and
   * earlier learned windows of the same kind and period, until `reset()`.
   */
  learn(limits: LearnedLimits): void {
    const given = learnedRules(limits);
    this._shared.answered = true;
    this._shared.windows.setLearned(encodeRules(replaceRules(this._shared.windows.learned, given)));
    if (limiterChannel.hasSubscribers) publishLimiter({ event: "learned", limiter: this, windows: this.windows });
    const k = this._keys;
    this._background("learn", async () => {
      this._shared.windows.setLearned(String(await this._store.call(LEARN, [k.state], [encodeRules(given), k.channel])));
    });
    this._wakeUps.wake();
  }

  /** Forgets the shared window history, learned limits, the first answer and any pause, for every process (leases in flight are kept). */
  reset(): void {
    this._view.reset();
    this._shared.forget();
    this._headerLimits.forget();
    const k = this._keys;
    this._background("reset", () => this._store.call(RESET, [k.state, k.starts, k.weights], [k.channel]));
    this._wakeUps.wake();
  }

  /** Resolves once every change this process sent (release, settle, pause, learn, setConcurrency, reset) reached Redis; rejects with the first that failed. */
  async flush(): Promise<void> {
    for (;;) {
      const pending = this._store.pendingOps();
      if (this._server.inflight) pending.push(this._server.inflight);
      if (pending.length === 0) break;
      await Promise.allSettled(pending);
      await new Promise((r) => setImmediate(r)); // lets the queue act on a reply (e.g. give a lease back)
    }
    const error = this._store.takeOpError();
    if (error !== undefined) throw error;
  }

  /** Budget periods in this key's Redis, shared by every process (nodes' `budget` option). @internal */
  budgetStore(): RedisBudgetStore {
    return new RedisBudgetStore(this._store, this.key);
  }

  /** What Redis holds for the key now (all processes). */
  async inspect(): Promise<RedisLimiterState> {
    const k = this._keys;
    const span = this.windowSeconds + this.arrivalMarginSeconds;
    const reply = (await this._store.call(INSPECT, [k.config, k.state, k.leases, k.starts, k.weights], [span])) as unknown[];
    return {
      active: Number(reply[0]),
      concurrency: Number(reply[1]) || this._shared.concurrency,
      windowCount: Number(reply[2]),
      windowTokens: Number(reply[3]),
      pausedMs: Number(reply[4]),
    };
  }

  /**
   * Stops renewing, rejects waiters, and ends the connections this limiter
   * opened (a client you passed in stays open). A take still on its way is
   * awaited and, if granted, given back. Permits still held keep their slot
   * until their lease lapses.
   */
  async close(): Promise<void> {
    if (this._closed) return;
    this._closed = true;
    const error = new Error(`RedisLimiter "${this.key}" was closed while waiting`);
    this._queue.rejectAll(error);
    this._leases.stop();
    this._fallback.close();
    this._store.stopWaiting();
    const wakeUps = this._wakeUps.close();
    await this._server.pump; // a take on the wire: its grant is given back before the connection ends
    await Promise.all([wakeUps, this._store.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toString(): string {
    return `RedisLimiter(key=${this.key}, maxConcurrent=${this.maxConcurrent}, windows=${JSON.stringify(this.windows)})`;
  }

  /** Frees a permit's slot: at once in this process, in Redis in the background. @internal */
  releasePermit(permit: StorePermit): void {
    this._leases.delete(permit);
    if (!permit.local) {
      const k = this._keys;
      this._background("release", async () => {
        const removed = await this._store.call(RELEASE, [k.leases], [permit.id, k.channel]);
        if (Number(removed) === 0) this._leases.markLost(permit);
      });
    }
    this._wakeUps.wake(); // the release is ahead of any later take on the same connection
  }

  /** Replaces a permit's estimate by the actual usage (a total or its parts), here and in Redis. @internal */
  settlePermit(permit: StorePermit, actual: number | TokenUsage): void {
    const w = settledWeight(actual, permit.weight);
    if (!this._settles) return;
    if (this._view.settle(permit.seq, w)) this._wakeUps.wake();
    if (permit.local) return;
    const k = this._keys;
    this._background("settle", () =>
      this._store.call(SETTLE, [k.starts, k.weights], [permit.id, w.tokens, w.inputTokens, w.outputTokens, w.costUsd, k.channel]),
    );
  }

  private _enqueue(weight: Weight, options: AcquireOptions | undefined): Promise<RedisPermit> {
    const rule = this._shared.windows.neverFits(weight);
    if (rule !== undefined) throw neverFits(rule, weight); // a request above a window's limit of its kind
    if (this._closed) throw new Error(`RedisLimiter "${this.key}" is closed`);
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    const maxWaitMs = maxWaitMsOf(options) ?? this._maxWaitMs;
    const granted = this._queue.add(
      weight,
      signal,
      maxWaitMs,
      () => this._wakeUps.wake(),
      (waiter) => this._server.deadlinePassed(waiter),
    );
    this._server.start();
    return granted;
  }

  private _markAnswered(): void {
    if (!this._shared.solo || this._shared.answered) return;
    this._shared.answered = true;
    const k = this._keys;
    this._background("observe", () => this._store.call(ANSWERED, [k.state], [k.channel]));
    this._wakeUps.wake();
  }

  /** Sends a change without making the caller wait; a lost release heals when its lease lapses, a lost pause or setting warns. */
  private _background(what: string, send: () => Promise<unknown>): void {
    this._store.background(send, (error) => {
      if (what !== "release" && !this._fallback.using) console.warn(`RedisLimiter "${this.key}": ${what} did not reach Redis: ${error.message}`);
    });
  }
}
