/**
 * The `Limiter` interface and the in-process machinery every local algorithm
 * shares: a concurrency gate, one FIFO queue of waiters, pauses, bounded
 * waits, permits and counters. An algorithm (sliding windows, token bucket)
 * only answers "how long until a start of this weight may happen?" and
 * records the starts it admits.
 */
import { LimiterTimeout } from "../errors.js";
import { checkCount, checkPositive, checkWaitSeconds } from "../validate.js";
import { parseRateLimitHeaders, type RateLimitHeaderInfo } from "./headers.js";
import { type Waiter, WaitQueue } from "./queue.js";
import { LocalPermit } from "./permit.js";
import type { AcquireOptions, Limiter, LimiterStats, LocalGate, Permit, Weight } from "./types.js";
import { acquireWeight, checkWeight, maxWaitMsOf } from "./weights.js";
import { becauseOf, changeReason, limiterChannel, publishLimiter } from "../observe/channels.js";
import { type LimiterMetrics, metricsOf, RefusalCounts, WaitSamples } from "./metrics.js";

export { checkLimiterOption, isLimiter } from "./types.js";
export type { AcquireOptions, LearnedLimits, Limiter, LimiterStats, LocalGate, Permit, TokenUsage, Weight, WindowLimit } from "./types.js";

/** The weight of a start that counts no tokens (the run engine's fast path passes it, allocation-free). */
export const ZERO_WEIGHT: Weight = Object.freeze({ tokens: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 });

/** setTimeout's longest delay; a longer wait (a far-off reset) re-arms when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The shared part of the in-process limiters. Subclasses implement the rate
 * gate (`_delayFor`, `_record`, `_settle`); this class owns concurrency, the
 * FIFO queue, pauses, bounded waits and the single timer that wakes the head
 * of the queue (no polling).
 *
 * Its `LocalGate` methods are the allocation-free path the run engine uses;
 * `acquire` / `run` wrap them for everyone else.
 */
export abstract class LocalLimiter implements Limiter, LocalGate {
  protected _maxConcurrent: number;
  /** The concurrency in force: `_maxConcurrent`, or 1 while one request runs alone. */
  private _cap: number;
  private _solo = false;
  private _active = 0;
  private readonly _queue = new WaitQueue((signal) => this._abortAll(signal));
  /** `_queue.size`, kept here so the fast path reads one field of its own. */
  private _waiting = 0;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _timerAt = Number.POSITIVE_INFINITY;
  private _pausedUntil = 0;
  private _pauseCause: unknown;
  private readonly _maxWaitMs: number;
  private _acquired = 0;
  private _throttled = 0;
  private _totalWaitMs = 0;
  private _aborted = 0;
  private _timedOut = 0;
  private readonly _waits = new WaitSamples();
  private readonly _refusals = new RefusalCounts();

  /** True when the rate gate needs the clock (a window or bucket is in force). */
  protected _timed = false;

  constructor(maxConcurrent: number | undefined, maxWaitSeconds?: number) {
    this._maxConcurrent = checkCount("maxConcurrent", maxConcurrent ?? 5);
    this._cap = this._maxConcurrent;
    this._maxWaitMs = (checkWaitSeconds("maxWaitSeconds", maxWaitSeconds) ?? Number.POSITIVE_INFINITY) * 1000;
  }

  /** Milliseconds until a start of `weight` may happen (0: now; Infinity: never, see `_neverFits`). */
  protected abstract _delayFor(now: number, weight: Weight): number;
  /** Records an admitted start; returns its sequence number for `settle`. */
  protected abstract _record(now: number, weight: Weight): number;
  /** Replaces a start's weight by the (checked) actual usage. */
  protected abstract _settle(seq: number, actual: Weight): void;
  /** Clears the algorithm's history. */
  protected abstract _resetRate(): void;

  /** The error for a weight `_delayFor` says can never start: a budget it would cross, or a RangeError. */
  protected _neverFits(_weight: Weight): Error {
    return new RangeError("a request of this weight can never start under this limiter");
  }

  /** An answer from the provider arrived (`observe`); learning limiters end their lone first request. */
  protected _answered(): void {}

  /** Takes the limits an answer's headers state (limiters with `learnLimits`). */
  protected _learnFrom(_info: RateLimitHeaderInfo): void {}

  /** While on, one request runs alone (the limits are not known yet). */
  protected _setSolo(on: boolean): void {
    if (this._solo === on) return;
    this._solo = on;
    this._cap = on ? 1 : this._maxConcurrent;
    if (!on) this._drain();
  }

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
    return this._queue.size;
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
      timedOut: this._timedOut,
      active: this._active,
      pending: this._queue.size,
    };
  }

  metrics(): LimiterMetrics {
    return metricsOf(this.stats, this._waits, this._refusals, []);
  }

  noteRefusal(kind: string): void {
    this._refusals.add(kind);
  }

  /**
   * Takes a start at once if every gate admits it and nobody waits; returns
   * its sequence number, or -1 (then call `waitStart`).
   */
  tryStart(weight: Weight): number {
    if (this._waiting !== 0 || this._active >= this._cap) return -1;
    if (!this._timed && this._pausedUntil === 0) {
      this._active++;
      this._acquired++;
      return 0;
    }
    const now = performance.now();
    if (this._pausedDelay(now) > 0) return -1;
    if (!this._timed) {
      this._active++;
      this._acquired++;
      return 0;
    }
    if (this._delayFor(now, weight) > 0) return -1;
    this._active++;
    this._acquired++;
    return this._record(now, weight);
  }

  /** Queues for a start (FIFO); resolves with its sequence number. */
  waitStart(weight: Weight, signal?: AbortSignal, maxWaitMs?: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const w = weight;
      const now = performance.now();
      const limitMs = maxWaitMs ?? this._maxWaitMs;
      // What is known now is a lower bound of the wait: the windows only fill up for those ahead.
      const paused = this._pausedDelay(now);
      const known = this._timed ? Math.max(paused, this._delayFor(now, w)) : paused;
      if (known === Number.POSITIVE_INFINITY) {
        reject(this._neverFits(w));
        return;
      }
      if (known > limitMs) {
        this._timedOut++;
        reject(this._timeout(known, limitMs, paused >= known));
        return;
      }
      const waiter: Waiter = {
        weight: w,
        since: now,
        deadline: now + limitMs,
        resolve,
        reject,
        signal,
        timer: undefined,
        prev: null,
        next: null,
      };
      this._queue.push(waiter);
      this._waiting++;
      if (waiter.deadline !== Number.POSITIVE_INFINITY) this._armDeadline(waiter, now);
      this._drain();
    });
  }

  /** Replaces a start's estimate by the actual usage. */
  settleStart(seq: number, _estimate: Weight, actual: Weight): void {
    this._settle(seq, checkWeight("settle", actual));
  }

  /** Frees one concurrency slot. */
  finishStart(): void {
    this._active--;
    if (this._waiting !== 0) this._drain();
  }

  async acquire(options?: AcquireOptions): Promise<Permit> {
    const weight = acquireWeight("acquire", options, ZERO_WEIGHT);
    const signal = options?.signal;
    signal?.throwIfAborted(); // an already-aborted signal never takes a slot, even a free one
    let seq = this.tryStart(weight);
    if (seq < 0) seq = await this.waitStart(weight, signal, maxWaitMsOf(options));
    return new LocalPermit(this, seq, weight);
  }

  async run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    const weight = acquireWeight("run", options, ZERO_WEIGHT);
    const signal = options?.signal;
    signal?.throwIfAborted();
    if (this.tryStart(weight) < 0) await this.waitStart(weight, signal, maxWaitMsOf(options));
    try {
      return await fn();
    } finally {
      this.finishStart();
    }
  }

  setConcurrency(maxConcurrent: number): void {
    const from = this._maxConcurrent;
    this._maxConcurrent = checkCount("maxConcurrent", maxConcurrent);
    if (limiterChannel.hasSubscribers && from !== maxConcurrent) publishLimiter({ event: "concurrency", limiter: this, from, to: maxConcurrent, reason: changeReason() });
    this._cap = this._solo ? 1 : this._maxConcurrent;
    this._drain();
  }

  /** No new start for `seconds` (finite, >= 0; a wait beyond setTimeout's range arms one clamped timer). */
  pause(seconds: number, cause?: unknown): void {
    checkPositive("pause(seconds)", seconds, true);
    const until = performance.now() + seconds * 1000;
    if (until > this._pausedUntil) {
      this._pausedUntil = until;
      this._pauseCause = cause;
      if (limiterChannel.hasSubscribers) publishLimiter({ event: "pause", limiter: this, seconds, reason: changeReason() });
    }
    this._drain();
  }

  observe(headers: unknown): void {
    const info = parseRateLimitHeaders(headers);
    this._learnFrom(info);
    this._answered();
    if (info.holdSeconds > 0) becauseOf("headers", () => this.pause(info.holdSeconds));
  }

  reset(): void {
    this._resetRate();
    this._pausedUntil = 0;
    this._pauseCause = undefined;
    this._drain();
  }

  /** Wakes the queue: new room in the rate gate (a refund, a reset) takes effect at once. */
  protected _drain(): void {
    const queue = this._queue;
    while (queue.head !== null) {
      if (this._active >= this._cap) return; // a release will drain again
      const head = queue.head;
      const now = performance.now();
      const paused = this._pausedDelay(now);
      const delay = paused === 0 && this._timed ? this._delayFor(now, head.weight) : paused;
      if (delay === Number.POSITIVE_INFINITY) {
        this._leave(head); // learned limits shrank below its weight
        head.reject(this._neverFits(head.weight));
        continue;
      }
      if (delay > 0) {
        // Nobody starts before the head: a waiter whose deadline comes first cannot make it.
        if (now + delay > queue.earliestDeadline) {
          this._expireBefore(now + delay, paused > 0);
          continue;
        }
        this._wakeIn(delay, now);
        return;
      }
      this._leave(head);
      this._active++;
      this._acquired++;
      this._throttled++;
      this._totalWaitMs += now - head.since;
      this._waits.add(now - head.since);
      head.resolve(this._timed ? this._record(now, head.weight) : 0);
    }
    this._clearTimer();
  }

  private _pausedDelay(now: number): number {
    if (this._pausedUntil === 0) return 0;
    if (now >= this._pausedUntil) {
      this._pausedUntil = 0;
      this._pauseCause = undefined;
      return 0;
    }
    return this._pausedUntil - now;
  }

  private _timeout(waitMs: number, limitMs: number, byPause: boolean): LimiterTimeout {
    const waitSeconds = Math.max(waitMs, limitMs) / 1000;
    const message = `no start within maxWaitSeconds ${limitMs / 1000}: the limiter needs about ${Number(waitSeconds.toPrecision(4))} s${byPause ? " (paused)" : ""}`;
    return new LimiterTimeout(message, byPause && this._pauseCause !== undefined ? { waitSeconds, cause: this._pauseCause } : { waitSeconds });
  }

  /** Rejects every waiter whose deadline falls before `at`, the head's earliest start. */
  private _expireBefore(at: number, byPause: boolean): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (let w = this._queue.head; w !== null; ) {
      const next = w.next;
      if (w.deadline < at) {
        this._leave(w);
        this._timedOut++;
        w.reject(this._timeout(at - w.since, w.deadline - w.since, byPause));
      } else if (w.deadline < earliest) earliest = w.deadline;
      w = next;
    }
    this._queue.earliestDeadline = earliest;
  }

  /** A waiter's own timer for its deadline (clamped to setTimeout's range, re-armed until due). */
  private _armDeadline(waiter: Waiter, now: number): void {
    waiter.timer = setTimeout(
      () => {
        waiter.timer = undefined;
        const at = performance.now();
        if (waiter.deadline - at > 1) {
          this._armDeadline(waiter, at);
          return;
        }
        const paused = this._pausedDelay(at);
        const more = this._timed ? Math.max(paused, this._delayFor(at, waiter.weight)) : paused;
        this._leave(waiter);
        this._timedOut++;
        waiter.reject(this._timeout(at - waiter.since + more, waiter.deadline - waiter.since, paused > 0 && paused >= more));
        this._drain();
      },
      Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(waiter.deadline - now))),
    );
  }

  /** Every waiter on `signal` leaves at once with exactly its reason. */
  private _abortAll(signal: AbortSignal): void {
    for (let w = this._queue.head; w !== null; ) {
      const next = w.next;
      if (w.signal === signal) {
        this._leave(w);
        this._aborted++;
        w.reject(signal.reason);
      }
      w = next;
    }
    // Drain after this abort's other listeners ran: waiters of other limiters on this signal leave first.
    queueMicrotask(() => this._drain());
  }

  private _leave(waiter: Waiter): void {
    this._queue.remove(waiter);
    this._waiting--;
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
