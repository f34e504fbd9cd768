/** A process's waiters for a `RedisLimiter` start, first come first served, their deadlines (`maxWaitSeconds`), and the counters of how they fared. */
import { LimiterTimeout } from "../../errors.js";
import type { LimiterStats, Weight } from "../limiter.js";
import { WaitSamples } from "../metrics.js";
import type { RedisPermit } from "./leases.js";
import { longTimeout } from "./timer.js";

export interface Waiter {
  readonly weight: Weight;
  readonly since: number;
  /** `performance.now()` ms after which it fails with `LimiterTimeout` (Infinity: unbounded). */
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  resolve: (permit: RedisPermit) => void;
  reject: (reason: unknown) => void;
  onAbort: (() => void) | undefined;
  /** Cancels the deadline timer. */
  cancelDeadline: (() => void) | undefined;
  /** It had to wait at some gate (counts in `throttled`). */
  waited: boolean;
  /** Granted, rejected or aborted: a grant arriving now is given back. */
  done: boolean;
}

/** The `LimiterTimeout` of a start that needs `waitMs` and may wait `limitMs`; `cause` when a pause with one is why. */
export function timeoutError(waitMs: number, limitMs: number, why: "pause" | "window" | "wait", cause?: unknown): LimiterTimeout {
  const waitSeconds = Math.max(waitMs, limitMs) / 1000;
  const reason = why === "wait" ? "" : ` (${why === "pause" ? "paused" : "windows full"})`;
  const message = `no start within maxWaitSeconds ${limitMs / 1000}: the limiter needs about ${Number(waitSeconds.toPrecision(4))} s${reason}`;
  return new LimiterTimeout(message, cause === undefined ? { waitSeconds } : { waitSeconds, cause });
}

export class WaiterQueue {
  private readonly _waiters = new Set<Waiter>();
  acquired = 0;
  throttled = 0;
  totalWaitMs = 0;
  /** Recent waits, for `metrics().p95WaitMs`. */
  readonly waits = new WaitSamples();
  aborted = 0;
  timedOut = 0;

  get size(): number {
    return this._waiters.size;
  }

  /** The first waiter (undefined when none). */
  get head(): Waiter | undefined {
    return this._waiters.values().next().value;
  }

  /**
   * Queues one acquisition. An abort takes it out at once with `signal.reason`
   * and calls `onLeave`; past `maxWaitMs` (one clamped timer for any length)
   * `onDeadline` decides its fate.
   */
  add(
    weight: Weight,
    signal: AbortSignal | undefined,
    maxWaitMs: number,
    onLeave: () => void,
    onDeadline: (waiter: Waiter) => void,
  ): Promise<RedisPermit> {
    return new Promise<RedisPermit>((resolve, reject) => {
      const since = performance.now();
      const waiter: Waiter = {
        weight,
        since,
        deadline: since + maxWaitMs,
        signal,
        resolve,
        reject,
        onAbort: undefined,
        cancelDeadline: undefined,
        waited: this._waiters.size > 0,
        done: false,
      };
      if (signal) {
        waiter.onAbort = () => {
          if (waiter.done) return;
          this.remove(waiter);
          this.aborted++;
          reject(signal.reason);
          onLeave();
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      if (maxWaitMs !== Number.POSITIVE_INFINITY) waiter.cancelDeadline = longTimeout(() => onDeadline(waiter), maxWaitMs);
      this._waiters.add(waiter);
    });
  }

  /** Hands `permit` to `waiter` and counts the start. */
  grant(waiter: Waiter, permit: RedisPermit): void {
    this.remove(waiter);
    this.acquired++;
    if (waiter.waited) {
      this.throttled++;
      const waited = performance.now() - waiter.since;
      this.totalWaitMs += waited;
      this.waits.add(waited);
    }
    waiter.resolve(permit);
  }

  /** Fails a waiter with its `LimiterTimeout`. */
  timeOut(waiter: Waiter, error: LimiterTimeout): void {
    if (waiter.done) return;
    this.remove(waiter);
    this.timedOut++;
    waiter.reject(error);
  }

  /** Fails every waiter whose deadline falls before `at` (nobody in this process starts before the head). */
  expireBefore(at: number, error: (waiter: Waiter) => LimiterTimeout): void {
    for (const waiter of [...this._waiters]) if (waiter.deadline < at) this.timeOut(waiter, error(waiter));
  }

  remove(waiter: Waiter): void {
    waiter.done = true;
    this._waiters.delete(waiter);
    waiter.cancelDeadline?.();
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
  }

  /** Rejects one waiter (e.g. a weight that can never fit). */
  rejectOne(waiter: Waiter, error: unknown): void {
    this.remove(waiter);
    waiter.reject(error);
  }

  rejectAll(error: unknown): void {
    for (const waiter of [...this._waiters]) this.rejectOne(waiter, error);
  }

  stats(active: number): LimiterStats {
    return {
      acquired: this.acquired,
      throttled: this.throttled,
      totalWaitMs: this.totalWaitMs,
      averageWaitMs: this.throttled === 0 ? 0 : this.totalWaitMs / this.throttled,
      aborted: this.aborted,
      timedOut: this.timedOut,
      active,
      pending: this._waiters.size,
    };
  }
}
