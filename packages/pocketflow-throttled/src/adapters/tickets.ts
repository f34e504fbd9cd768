/**
 * The core of the adapters for limiters you already have (Bottleneck,
 * p-limit). Such a limiter runs *jobs*; a `Limiter` hands out *permits*. A
 * held permit is a running job: the job starts when the other limiter admits
 * it and ends when the permit is released.
 *
 * Neither Bottleneck nor p-limit can withdraw one queued job, so jobs are not
 * bound to callers: each job is a ticket that serves whoever is first in this
 * adapter's own FIFO when it starts, and at most one ticket is queued at a
 * time. An aborted caller leaves that FIFO at once; a ticket that starts with
 * nobody waiting ends at once.
 */
import { parseRateLimitHeaders } from "../limiters/headers.js";
import type { AcquireOptions, Limiter, LimiterStats, Permit, TokenUsage } from "../limiters/types.js";

/** What an adapter supplies: how to run one job, and the concurrency it reads and sets. */
export interface TicketSource {
  /** Runs `job` once the other limiter admits it; the job holds its slot until its promise settles. */
  schedule(job: () => Promise<void>): Promise<unknown>;
  /** The concurrency in force. */
  readonly maxConcurrent: number;
  setConcurrency(maxConcurrent: number): void;
  /** Running now, as the other limiter counts them. */
  readonly running: number;
  /** Queued in the other limiter now (this adapter's ticket included). */
  readonly queued: number;
}

interface Waiter {
  readonly resolve: (permit: Permit) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  readonly since: number;
}

class JobPermit implements Permit {
  private done = false;
  readonly tokens = 0;
  constructor(private readonly end: () => void) {}

  release(): void {
    if (this.done) return;
    this.done = true;
    this.end();
  }

  /** Nothing to settle: the other limiter counts jobs, not tokens. */
  settle(_actual: number | TokenUsage): void {}

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}

/** A `Limiter` over a job-running limiter (see the file comment). */
export class TicketLimiter implements Limiter {
  readonly maxPerWindow = undefined;
  readonly windowSeconds = undefined;
  readonly maxTokensPerWindow = undefined;
  readonly windows = undefined;
  readonly gate = undefined;
  private readonly waiters: Waiter[] = [];
  private ticketOut = false;
  private held = 0;
  private pausedUntil = 0;
  private pauseTimer: ReturnType<typeof setTimeout> | undefined;
  private acquired = 0;
  private throttled = 0;
  private totalWaitMs = 0;
  private aborted = 0;

  constructor(private readonly source: TicketSource) {}

  get maxConcurrent(): number {
    return this.source.maxConcurrent;
  }

  /** Running now under the other limiter (work outside this adapter included). */
  get active(): number {
    return Math.max(this.source.running, this.held);
  }

  /** Waiting here, plus jobs queued in the other limiter other than this adapter's ticket. */
  get pending(): number {
    return this.waiters.length + Math.max(0, this.source.queued - (this.ticketOut ? 1 : 0));
  }

  get stats(): LimiterStats {
    return {
      acquired: this.acquired,
      throttled: this.throttled,
      totalWaitMs: this.totalWaitMs,
      averageWaitMs: this.throttled === 0 ? 0 : this.totalWaitMs / this.throttled,
      aborted: this.aborted,
      active: this.active,
      pending: this.pending,
    };
  }

  acquire(options: AcquireOptions = {}): Promise<Permit> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        since: performance.now(),
        onAbort: () => {
          const at = this.waiters.indexOf(waiter);
          if (at < 0) return;
          this.waiters.splice(at, 1);
          this.aborted++;
          if (this.waiters.length === 0) this.clearPauseTimer();
          reject(signal?.reason);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.pump();
    });
  }

  async run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    const permit = await this.acquire(options);
    try {
      return await fn();
    } finally {
      permit.release();
    }
  }

  setConcurrency(maxConcurrent: number): void {
    this.source.setConcurrency(maxConcurrent);
  }

  /** Holds new grants of this adapter (not of other users of the limiter) for `seconds`. */
  pause(seconds: number, _cause?: unknown): void {
    if (!(seconds > 0)) return;
    this.pausedUntil = Math.max(this.pausedUntil, performance.now() + seconds * 1000);
    this.pump();
  }

  observe(headers: unknown): void {
    const hold = parseRateLimitHeaders(headers).holdSeconds;
    if (hold > 0) this.pause(hold);
  }

  /** Ends a pause; the other limiter's own state (minTime, reservoir) is its own. */
  reset(): void {
    this.pausedUntil = 0;
    this.clearPauseTimer();
    this.pump();
  }

  /** Queues one ticket when someone waits and none is queued; while paused, arms one timer instead. */
  private pump(): void {
    if (this.ticketOut || this.waiters.length === 0) return;
    const wait = this.pausedUntil - performance.now();
    if (wait > 0) {
      this.pauseTimer ??= setTimeout(() => {
        this.pauseTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    this.ticketOut = true;
    this.source.schedule(() => this.serve()).catch((error: unknown) => {
      // The other limiter refused the job (stopped, dropped): the caller it would have served hears why.
      if (this.ticketOut) {
        this.ticketOut = false;
        const waiter = this.waiters.shift();
        if (waiter) this.fail(waiter, error);
      }
      this.pump();
    });
  }

  /** A ticket started: hand its slot to the first waiter, held until that permit is released. */
  private serve(): Promise<void> {
    this.ticketOut = false;
    const waiter = this.pausedUntil > performance.now() ? undefined : this.waiters.shift();
    if (waiter === undefined) {
      this.pump();
      return Promise.resolve();
    }
    waiter.signal?.removeEventListener("abort", waiter.onAbort);
    const waited = performance.now() - waiter.since;
    this.acquired++;
    if (waited >= 1) {
      this.throttled++;
      this.totalWaitMs += waited;
    }
    this.held++;
    return new Promise<void>((end) => {
      waiter.resolve(
        new JobPermit(() => {
          this.held--;
          end();
        }),
      );
      this.pump();
    });
  }

  private fail(waiter: Waiter, error: unknown): void {
    waiter.signal?.removeEventListener("abort", waiter.onAbort);
    waiter.reject(error);
  }

  private clearPauseTimer(): void {
    if (this.pauseTimer !== undefined) clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
  }
}
