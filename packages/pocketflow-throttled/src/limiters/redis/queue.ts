/** A process's waiters for a `RedisLimiter` start, first come first served, and the counters of how they fared. */
import type { LimiterStats } from "../limiter.js";
import type { RedisPermit } from "./leases.js";

export interface Waiter {
  readonly tokens: number;
  readonly since: number;
  readonly signal: AbortSignal | undefined;
  resolve: (permit: RedisPermit) => void;
  reject: (reason: unknown) => void;
  onAbort: (() => void) | undefined;
  /** It had to wait at some gate (counts in `throttled`). */
  waited: boolean;
  /** Granted, rejected or aborted: a grant arriving now is given back. */
  done: boolean;
}

export class WaiterQueue {
  private readonly _waiters = new Set<Waiter>();
  acquired = 0;
  throttled = 0;
  totalWaitMs = 0;
  aborted = 0;

  get size(): number {
    return this._waiters.size;
  }

  /** The first waiter (undefined when none). */
  get head(): Waiter | undefined {
    return this._waiters.values().next().value;
  }

  /** Queues one acquisition; an abort takes it out at once with `signal.reason` and calls `onLeave`. */
  add(tokens: number, signal: AbortSignal | undefined, onLeave: () => void): Promise<RedisPermit> {
    return new Promise<RedisPermit>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        since: performance.now(),
        signal,
        resolve,
        reject,
        onAbort: undefined,
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
      this._waiters.add(waiter);
    });
  }

  /** Hands `permit` to `waiter` and counts the start. */
  grant(waiter: Waiter, permit: RedisPermit): void {
    this.remove(waiter);
    this.acquired++;
    if (waiter.waited) {
      this.throttled++;
      this.totalWaitMs += performance.now() - waiter.since;
    }
    waiter.resolve(permit);
  }

  remove(waiter: Waiter): void {
    waiter.done = true;
    this._waiters.delete(waiter);
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
  }

  rejectAll(error: unknown): void {
    for (const waiter of [...this._waiters]) {
      this.remove(waiter);
      waiter.reject(error);
    }
  }

  stats(active: number): LimiterStats {
    return {
      acquired: this.acquired,
      throttled: this.throttled,
      totalWaitMs: this.totalWaitMs,
      averageWaitMs: this.throttled === 0 ? 0 : this.totalWaitMs / this.throttled,
      aborted: this.aborted,
      active,
      pending: this._waiters.size,
    };
  }
}
