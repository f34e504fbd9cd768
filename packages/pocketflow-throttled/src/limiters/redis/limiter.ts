/**
 * `RedisLimiter`: the `Limiter` interface with its state in Redis, so every
 * process that uses the same key shares one concurrency limit, one true
 * sliding window of starts and one of tokens. Each check-and-take is one Lua
 * script timed by Redis's clock (`scripts/`); concurrency slots are leases a
 * live process renews (`leases.ts`); waiters sleep until the time the store
 * names or a pub/sub wake-up (`wake-ups.ts`), never on a fixed polling
 * interval. This file holds the public API and the process's waiter queue.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { checkCount, checkPositive, checkRequestTokens, checkTokenCount } from "../../validate.js";
import { parseRateLimitHeaders } from "../headers.js";
import type { AcquireOptions, Limiter, LimiterStats } from "../limiter.js";
import { Fallback, LocalView } from "./fallback.js";
import { Leases, type PermitOwner, type RedisPermit, StorePermit } from "./leases.js";
import { checkRedisOptions, limitsMismatchError, type RedisLimiterOptions } from "./options.js";
import { INSPECT } from "./scripts/inspect.js";
import { type KeyLayout, keyLayout } from "./scripts/layout.js";
import { RELEASE } from "./scripts/release.js";
import { PAUSE, RESET, SET_CONCURRENCY, SETTLE } from "./scripts/settings.js";
import { parseTake, TAKE, type TakeReply } from "./scripts/take.js";
import { describeStore, isNotSent, isReplyError, RedisStore } from "./store.js";
import { type Waiter, WaiterQueue } from "./queue.js";
import { WakeUps } from "./wake-ups.js";

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

let instances = 0;

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
export class RedisLimiter implements Limiter, AsyncDisposable, PermitOwner {
  /** The Redis key the processes sharing these limits use. */
  readonly key: string;
  /** At most this many starts in any `windowSeconds` (undefined: no request window). */
  readonly maxPerWindow: number | undefined;
  /** The window length in seconds. */
  readonly windowSeconds: number;
  /** At most this many estimated tokens started per window (undefined: no token window). */
  readonly maxTokensPerWindow: number | undefined;
  /** How long a slot outlives a process that stopped renewing it. */
  readonly leaseSeconds: number;
  /** What a store failure does: reject (`"error"`) or go on locally (`"local"`). */
  readonly onStoreError: "error" | "local";
  /** The store in messages: the URL (password hidden) or host:port of the given client. */
  readonly store: string;

  private readonly _declared: [string, string, string, string];
  private readonly _store: RedisStore;
  private readonly _keys: KeyLayout;
  private readonly _leaseUs: number;
  private readonly _idPrefix: string;
  private _nextId = 0;
  private _concurrency: number;
  private _windowCount = 0;

  private readonly _queue = new WaiterQueue();
  private readonly _leases: Leases;
  private readonly _wakeUps: WakeUps;
  private readonly _view: LocalView;
  private readonly _fallback: Fallback;
  private _pump: Promise<void> | undefined;
  private _pumping = false;
  private _inflight: Promise<unknown> | undefined;
  private _closed = false;

  constructor(options: RedisLimiterOptions) {
    const o = checkRedisOptions(options);
    this.key = o.key;
    this.maxPerWindow = o.maxPerWindow;
    this.windowSeconds = o.windowSeconds;
    this.maxTokensPerWindow = o.maxTokensPerWindow;
    this.leaseSeconds = o.leaseSeconds;
    this.onStoreError = o.onStoreError;
    this.store = describeStore(o.redis);
    this._concurrency = o.maxConcurrent;
    this._declared = [String(o.maxConcurrent), String(o.maxPerWindow ?? ""), String(o.windowSeconds), String(o.maxTokensPerWindow ?? "")];
    this._leaseUs = Math.round(o.leaseSeconds * 1_000_000);
    this._keys = keyLayout(o.key);
    this._idPrefix = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}:${++instances}:`;
    this._store = new RedisStore(o.redis, this.store, o.key, o.storeTimeoutMs);
    this._leases = new Leases(this._store, this._keys, this._leaseUs);
    this._wakeUps = new WakeUps(this._store.client, this._keys.channel, o.storeTimeoutMs, (value) => {
      this._concurrency = value;
    });
    this._view = new LocalView(o.maxPerWindow, o.windowSeconds, o.maxTokensPerWindow);
    this._fallback = new Fallback(o.onStoreError === "local", this._store, this._keys, () => this._wakeUps.wake());
  }

  /** The concurrency in force across processes (the latest value this process has seen). */
  get maxConcurrent(): number {
    return this._concurrency;
  }

  /** Starts in the shared window as of this process's last store answer (see `inspect()` for a fresh count). */
  get currentWindowCount(): number {
    return this._windowCount;
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

  async acquire(options: AcquireOptions = {}): Promise<RedisPermit> {
    const tokens = checkRequestTokens(options.tokens, this.maxTokensPerWindow);
    const { signal } = options;
    if (this._closed) throw new Error(`RedisLimiter "${this.key}" is closed`);
    if (signal?.aborted) throw signal.reason;
    const granted = this._queue.add(tokens, signal, () => this._wakeUps.wake());
    if (!this._pumping) {
      this._pumping = true;
      this._pump = this._serve();
    }
    return granted;
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
    const k = this._keys;
    this._background("setConcurrency", async () => {
      const reply = await this._store.call(SET_CONCURRENCY, [k.config], [...this._declared, maxConcurrent, k.channel]);
      if (Array.isArray(reply) && reply[0] === "mismatch") throw this._mismatchError(reply.slice(1).map(String));
    });
    this._wakeUps.wake();
  }

  /** No new start in any process for `seconds` (waiters keep their place). */
  pause(seconds: number): void {
    checkPositive("seconds", seconds, true);
    this._view.pauseUntil(performance.now() + seconds * 1000);
    const k = this._keys;
    this._background("pause", () => this._store.call(PAUSE, [k.state], [seconds * 1000, k.channel]));
  }

  /** Reads provider rate-limit headers; when none remain, pauses every process until the reset. */
  observe(headers: unknown): void {
    const holdSeconds = parseRateLimitHeaders(headers).holdSeconds;
    if (holdSeconds > 0) this.pause(holdSeconds);
  }

  /** Forgets the shared window history and any pause (leases in flight are kept). */
  reset(): void {
    this._view.reset();
    const k = this._keys;
    this._background("reset", () => this._store.call(RESET, [k.state, k.starts, k.weights], [k.channel]));
    this._wakeUps.wake();
  }

  /** Resolves once every change this process sent (release, settle, pause, setConcurrency, reset) reached Redis; rejects with the first that failed. */
  async flush(): Promise<void> {
    for (;;) {
      const pending = this._store.pendingOps();
      if (this._inflight) pending.push(this._inflight);
      if (pending.length === 0) break;
      await Promise.allSettled(pending);
      await new Promise((r) => setImmediate(r)); // lets the queue act on a reply (e.g. give a lease back)
    }
    const error = this._store.takeOpError();
    if (error !== undefined) throw error;
  }

  /** What Redis holds for the key now (all processes). */
  async inspect(): Promise<RedisLimiterState> {
    const k = this._keys;
    const reply = (await this._store.call(INSPECT, [k.config, k.state, k.leases, k.starts], [this.windowSeconds])) as unknown[];
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
    await this._pump; // a take on the wire: its grant is given back before the connection ends
    await Promise.all([wakeUps, this._store.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toString(): string {
    return `RedisLimiter(key=${this.key}, maxConcurrent=${this.maxConcurrent}, maxPerWindow=${this.maxPerWindow}, windowSeconds=${this.windowSeconds})`;
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

  /** Replaces a permit's token estimate by the actual usage, here and in Redis. @internal */
  settlePermit(permit: StorePermit, actual: number): void {
    checkTokenCount("settle(actualTokens)", actual);
    if (this.maxTokensPerWindow === undefined) return;
    if (this._view.settle(permit.seq, actual)) this._wakeUps.wake();
    if (permit.local) return;
    const k = this._keys;
    this._background("settle", () => this._store.call(SETTLE, [k.state, k.weights], [permit.id, actual, k.channel]));
  }

  /**
   * Serves the queue head by head. The process's own view (its permits and
   * starts) is checked first, so the limits hold in this process across a
   * switch to the fallback and back; then one take in Redis (or, on the
   * fallback, the view alone); then sleep until the store's time or a wake-up.
   */
  private async _serve(): Promise<void> {
    try {
      while (this._queue.size > 0 && !this._closed) {
        const waiter = this._queue.head as Waiter;
        this._wakeUps.woken = false;
        const local = this._fallback.using;
        // On Redis, Redis counts the slots (the fallback's permits as `reserved`); the view adds this process's own starts.
        const active = local ? this._leases.held.size : 0;
        const delay = this._view.delay(performance.now(), waiter.tokens, active, this._concurrency, local);
        if (delay > 0) {
          waiter.waited = true;
          await this._wakeUps.sleep(delay);
        } else if (local) {
          this._grant(waiter, `${this._idPrefix}${++this._nextId}`, undefined);
        } else {
          await this._takeFor(waiter);
        }
      }
    } catch (error) {
      this._queue.rejectAll(error);
    } finally {
      this._pumping = false; // in the same turn as the loop's last check, so a new waiter is never left unserved
    }
  }

  private async _takeFor(waiter: Waiter): Promise<void> {
    const id = `${this._idPrefix}${++this._nextId}`;
    let reply: TakeReply;
    try {
      const take = this._take(id, waiter.tokens);
      this._inflight = take;
      reply = await take;
    } catch (error) {
      if (!isReplyError(error) && !isNotSent(error)) this._giveBack(id); // a take that timed out may still run: hand its lease back
      this._storeFailed(error);
      return;
    } finally {
      this._inflight = undefined;
    }
    if (reply.kind === "mismatch") {
      const error = this._mismatchError(reply.stored);
      this._queue.rejectAll(error);
      return;
    }
    this._concurrency = reply.concurrency;
    if (reply.windowCount >= 0) this._windowCount = reply.windowCount;
    if (reply.kind === "granted") {
      if (waiter.done) this._giveBack(id); // aborted or closed while the store granted it: the lease goes back, the start stays in the window
      else this._grant(waiter, id, reply.nowUs / 1000);
      return;
    }
    waiter.waited = true;
    if (reply.paused) this._view.pauseUntil(performance.now() + reply.delayMs); // kept if Redis goes away meanwhile
    if (waiter.done || this._wakeUps.woken || this._closed) return;
    if (!this._wakeUps.tried) {
      await this._wakeUps.subscribe(); // a release published before the subscription took effect is caught by re-taking now
      return;
    }
    await this._wakeUps.sleep(reply.delayMs + 1);
  }

  private _grant(waiter: Waiter, id: string, startedAt: number | undefined): void {
    const seq = this._view.record(performance.now(), waiter.tokens);
    const permit = new StorePermit(this, id, waiter.tokens, seq, startedAt);
    this._leases.add(permit);
    this._queue.grant(waiter, permit);
  }

  private async _take(id: string, tokens: number): Promise<TakeReply> {
    const k = this._keys;
    const args = [...this._declared, id, tokens, this._leaseUs, this._leases.localHeld];
    return parseTake(await this._store.call(TAKE, [k.config, k.state, k.leases, k.starts, k.weights], args));
  }

  private _giveBack(id: string): void {
    const k = this._keys;
    this._background("release", () => this._store.call(RELEASE, [k.leases], [id, k.channel]));
  }

  /** Redis unreachable: move to the fallback (waiters keep their place), or reject every waiter with a clear error. */
  private _storeFailed(cause: unknown): void {
    const error = this._store.error(cause);
    if (this._fallback.covers(cause)) {
      this._fallback.enter(error);
      return;
    }
    this._queue.rejectAll(error);
  }

  private _mismatchError(stored: string[]): Error {
    return limitsMismatchError(this.key, this._keys.config, this._declared, stored);
  }

  /** Sends a change without making the caller wait; a lost release heals when its lease lapses, a lost pause or setting warns. */
  private _background(what: string, send: () => Promise<unknown>): void {
    this._store.background(send, (error) => {
      if (what !== "release" && !this._fallback.using) console.warn(`RedisLimiter "${this.key}": ${what} did not reach Redis: ${error.message}`);
    });
  }
}
