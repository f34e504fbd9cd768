/**
 * The `Limiter` interface and the in-process machinery every local algorithm
 * shares: a concurrency gate, one FIFO queue of waiters, pauses, permits and
 * counters. An algorithm (sliding window, token bucket) only answers "how long
 * until a start of this weight may happen?" and records the starts it admits.
 */
import { checkCount, checkPositive, checkRequestTokens } from "../validate.js";
import { parseRateLimitHeaders } from "./headers.js";

/** Options of one acquisition. */
export interface AcquireOptions {
  /** Aborting leaves the queue at once and rejects with exactly `signal.reason`. */
  signal?: AbortSignal;
  /** Estimated tokens this start will use (counts against a token budget). */
  tokens?: number;
}

/** Counters a limiter keeps. */
export interface LimiterStats {
  /** Acquisitions granted. */
  acquired: number;
  /** Acquisitions that had to wait at some gate. */
  throttled: number;
  /** Sum of those waits, in milliseconds. */
  totalWaitMs: number;
  /** `totalWaitMs / throttled` (0 when nothing waited). */
  averageWaitMs: number;
  /** Acquisitions that left the queue because their signal aborted. */
  aborted: number;
  /** Running now. */
  active: number;
  /** Waiting now. */
  pending: number;
}

/** A granted start: release it when the work ends (idempotent); settle it with the real token usage. */
export interface Permit extends AsyncDisposable, Disposable {
  /** Frees the concurrency slot; later calls do nothing. */
  release(): void;
  /** Replaces this start's token estimate by the actual usage (a refund or a charge). */
  settle(actualTokens: number): void;
  /** The token estimate this permit reserved. */
  readonly tokens: number;
}

/**
 * What nodes, flows and the registry accept: an in-process `RateLimiter`,
 * a `TokenBucket`, or a shared `RedisLimiter`.
 *
 * @example
 * const permit = await limiter.acquire({ signal, tokens: 800 });
 * try { const r = await callLlm(); permit.settle(r.usage.total_tokens); } finally { permit.release(); }
 */
export interface Limiter {
  /** At most this many running at once. */
  readonly maxConcurrent: number;
  /** Running now. */
  readonly active: number;
  /** Waiting for a start now. */
  readonly pending: number;
  /** At most this many starts in any `windowSeconds` (`undefined`: no request window). */
  readonly maxPerWindow?: number | undefined;
  /** The request window's length in seconds (`undefined` for limiters without one). */
  readonly windowSeconds?: number | undefined;
  /**
   * At most this many estimated tokens started per window (`undefined`: no
   * token budget, so callers need not compute estimates for it).
   */
  readonly maxTokensPerWindow?: number | undefined;
  /** Waits (first come, first served) until every gate admits one start. */
  acquire(options?: AcquireOptions): Promise<Permit>;
  /** Runs `fn` under the limiter and releases when it settles. */
  run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T>;
  /** Changes the concurrency live; in-flight work and window history are kept. */
  setConcurrency(maxConcurrent: number): void;
  /** No new start for `seconds` (waiters keep their place). */
  pause(seconds: number): void;
  /** Reads provider rate-limit headers; when none remain, holds new starts until the reset. */
  observe(headers: unknown): void;
  /** Forgets the window history and any pause. */
  reset(): void;
  /** Changes `maxPerWindow` live (adaptive rates); absent on limiters without a request window. */
  setMaxPerWindow?(maxPerWindow: number): void;
  /** Frees what the limiter holds (connections, timers); the registry calls it on what it drops. */
  close?(): Promise<void>;
  readonly stats: LimiterStats;
  /**
   * The allocation-free start path of an in-process limiter, used by the run
   * engine; `undefined` for limiters reached over a store. @internal
   */
  readonly gate?: LocalGate | undefined;
}

/**
 * Starts without a permit object: `tryStart` or `waitStart` take a slot and
 * return the start's sequence number, `settleStart` corrects its token
 * estimate, `finishStart` frees the slot. The run engine's path; public in the
 * declarations because `LocalLimiter` implements it.
 */
export interface LocalGate {
  /** Takes a start at once if every gate admits it and nobody waits; its sequence number, or -1 (then `waitStart`). */
  tryStart(tokens: number): number;
  /** Queues for a start (FIFO); resolves with its sequence number. */
  waitStart(tokens: number, signal?: AbortSignal): Promise<number>;
  /** Replaces a start's estimate by the actual usage. */
  settleStart(seq: number, estimate: number, actual: number): void;
  /** Frees one concurrency slot. */
  finishStart(): void;
}

/** setTimeout's longest delay; a longer wait (a far-off reset) re-arms when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

/** True for anything with the `Limiter` shape (an in-process, Redis or custom limiter). */
export function isLimiter(value: unknown): value is Limiter {
  return typeof value === "object" && value !== null && typeof (value as Limiter).acquire === "function";
}

/** The `limiter` option of nodes and flows: a `Limiter`, a `LimiterRegistry` name, or unset. */
export function checkLimiterOption(value: unknown): Limiter | string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string" || isLimiter(value)) return value;
  throw new TypeError(`limiter must be a Limiter (e.g. a RateLimiter) or a LimiterRegistry name, got ${String(value)}`);
}

interface Waiter {
  readonly tokens: number;
  readonly since: number;
  resolve: (seq: number) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  prev: Waiter | null;
  next: Waiter | null;
}

class LocalPermit implements Permit {
  private released = false;
  constructor(
    private readonly limiter: LocalLimiter,
    private readonly seq: number,
    readonly tokens: number,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.limiter.finishStart();
  }

  settle(actualTokens: number): void {
    this.limiter.settleStart(this.seq, this.tokens, actualTokens);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}

/**
 * The shared part of the in-process limiters. Subclasses implement the rate
 * gate (`_delayFor`, `_record`); this class owns concurrency, the FIFO queue,
 * pauses and the single timer that wakes the head of the queue (no polling).
 *
 * Its `LocalGate` methods are the allocation-free path the run engine uses;
 * `acquire` / `run` wrap them for everyone else.
 */
export abstract class LocalLimiter implements Limiter, LocalGate {
  protected _maxConcurrent: number;
  private _active = 0;
  private _pending = 0;
  private _head: Waiter | null = null;
  private _tail: Waiter | null = null;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _timerAt = Number.POSITIVE_INFINITY;
  private _pausedUntil = 0;
  private _acquired = 0;
  private _throttled = 0;
  private _totalWaitMs = 0;
  private _aborted = 0;

  /** True when the rate gate needs the clock (a window or bucket is configured). */
  protected abstract readonly _timed: boolean;

  constructor(maxConcurrent: number | undefined) {
    this._maxConcurrent = checkCount("maxConcurrent", maxConcurrent ?? 5);
  }

  /** Milliseconds until a start of `tokens` may happen (0: now). Throws if it never could. */
  protected abstract _delayFor(now: number, tokens: number): number;
  /** Records an admitted start; returns its sequence number for `settle`. */
  protected abstract _record(now: number, tokens: number): number;
  /** Replaces a start's estimate by the actual usage. */
  abstract settleStart(seq: number, estimate: number, actual: number): void;
  /** Clears the algorithm's history. */
  protected abstract _resetRate(): void;

  get maxConcurrent(): number {
    return this._maxConcurrent;
  }

  /** This limiter itself: its start path needs no permit object. @internal */
  get gate(): LocalGate {
    return this;
  }

  get active(): number {
    return this._active;
  }

  get pending(): number {
    return this._pending;
  }

  /** Epoch-free milliseconds until which new starts are paused (0: not paused). */
  get pausedUntil(): number {
    return this._pausedUntil > performance.now() ? this._pausedUntil : 0;
  }

  get stats(): LimiterStats {
    return {
      acquired: this._acquired,
      throttled: this._throttled,
      totalWaitMs: this._totalWaitMs,
      averageWaitMs: this._throttled === 0 ? 0 : this._totalWaitMs / this._throttled,
      aborted: this._aborted,
      active: this._active,
      pending: this._pending,
    };
  }

  /**
   * Takes a start at once if every gate admits it and nobody waits; returns
   * its sequence number, or -1 (then call `waitStart`).
   */
  tryStart(tokens: number): number {
    if (this._head !== null || this._active >= this._maxConcurrent) return -1;
    if (!this._timed && this._pausedUntil === 0) {
      this._active++;
      this._acquired++;
      return 0;
    }
    const now = performance.now();
    if (this._pausedDelay(now) > 0 || (this._timed && this._delayFor(now, tokens) > 0)) return -1;
    this._active++;
    this._acquired++;
    return this._timed ? this._record(now, tokens) : 0;
  }

  /** Queues for a start (FIFO); resolves with its sequence number. */
  waitStart(tokens: number, signal?: AbortSignal): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const waiter: Waiter = {
        tokens,
        since: performance.now(),
        resolve,
        reject,
        signal,
        onAbort: undefined,
        prev: this._tail,
        next: null,
      };
      if (signal) {
        waiter.onAbort = () => {
          this._unlink(waiter);
          this._aborted++;
          reject(signal.reason);
          // Drain after this abort's other listeners ran: waiters on the same signal must leave, not be granted.
          queueMicrotask(() => this._drain());
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      if (this._tail) this._tail.next = waiter;
      else this._head = waiter;
      this._tail = waiter;
      this._pending++;
      this._drain();
    });
  }

  /** Frees one concurrency slot. */
  finishStart(): void {
    this._active--;
    if (this._head !== null) this._drain();
  }

  async acquire(options: AcquireOptions = {}): Promise<Permit> {
    const tokens = this._checkTokens(options.tokens);
    options.signal?.throwIfAborted(); // an already-aborted signal never takes a slot, even a free one
    let seq = this.tryStart(tokens);
    if (seq < 0) seq = await this.waitStart(tokens, options.signal);
    return new LocalPermit(this, seq, tokens);
  }

  async run<T>(fn: () => T | PromiseLike<T>, options: AcquireOptions = {}): Promise<T> {
    const tokens = this._checkTokens(options.tokens);
    options.signal?.throwIfAborted();
    if (this.tryStart(tokens) < 0) await this.waitStart(tokens, options.signal);
    try {
      return await fn();
    } finally {
      this.finishStart();
    }
  }

  setConcurrency(maxConcurrent: number): void {
    this._maxConcurrent = checkCount("maxConcurrent", maxConcurrent);
    this._drain();
  }

  pause(seconds: number): void {
    checkPositive("seconds", seconds, true);
    const until = performance.now() + seconds * 1000;
    if (until > this._pausedUntil) this._pausedUntil = until;
    this._drain();
  }

  observe(headers: unknown): void {
    const holdSeconds = parseRateLimitHeaders(headers).holdSeconds;
    if (holdSeconds > 0) this.pause(holdSeconds);
  }

  reset(): void {
    this._resetRate();
    this._pausedUntil = 0;
    this._drain();
  }

  /** Validates a request's token estimate (an algorithm with a token budget also checks that it fits). */
  protected _checkTokens(tokens: number | undefined): number {
    return checkRequestTokens(tokens, undefined);
  }

  /** Wakes the queue: new room in the rate gate (a refund, a reset) takes effect at once. */
  protected _drain(): void {
    while (this._head !== null) {
      if (this._active >= this._maxConcurrent) return; // a release will drain again
      const head = this._head;
      const now = performance.now();
      let delay = this._pausedDelay(now);
      if (delay === 0 && this._timed) {
        try {
          delay = this._delayFor(now, head.tokens);
        } catch (error) {
          this._unlink(head);
          head.reject(error);
          continue;
        }
      }
      if (delay > 0) {
        this._wakeIn(delay, now);
        return;
      }
      this._unlink(head);
      this._active++;
      this._acquired++;
      this._throttled++;
      this._totalWaitMs += now - head.since;
      head.resolve(this._timed ? this._record(now, head.tokens) : 0);
    }
    this._clearTimer();
  }

  private _pausedDelay(now: number): number {
    if (this._pausedUntil === 0) return 0;
    if (now >= this._pausedUntil) {
      this._pausedUntil = 0;
      return 0;
    }
    return this._pausedUntil - now;
  }

  private _unlink(waiter: Waiter): void {
    if (waiter.prev) waiter.prev.next = waiter.next;
    else this._head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    else this._tail = waiter.prev;
    waiter.prev = waiter.next = null;
    this._pending--;
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
  }

  /** One timer at most, set for the head's next possible start; it exists only while someone waits. */
  private _wakeIn(delay: number, now: number): void {
    const at = now + delay;
    if (this._timer !== undefined && this._timerAt <= at) return;
    this._clearTimer();
    this._timerAt = at;
    // Timers may fire up to 1 ms early against performance.now(); _drain re-checks and re-arms.
    this._timer = setTimeout(
      () => {
        this._timer = undefined;
        this._timerAt = Number.POSITIVE_INFINITY;
        this._drain();
      },
      Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(delay))),
    );
  }

  private _clearTimer(): void {
    if (this._timer === undefined) return;
    clearTimeout(this._timer);
    this._timer = undefined;
    this._timerAt = Number.POSITIVE_INFINITY;
  }
}
