/**
 * `TokenBucket`: bursts up to `burst` starts at once, then refills steadily at
 * `ratePerSecond`. It counts starts (one per acquire), not LLM tokens.
 */
import { checkCount, checkOptions, checkPositive } from "../validate.js";
import { LocalLimiter } from "./limiter.js";

/** Options of a `TokenBucket`. */
export interface TokenBucketOptions {
  /** Steady refill rate, in starts per second. */
  ratePerSecond: number;
  /** Bucket size: how many starts may happen back to back (default: one second's worth, at least 1). */
  burst?: number;
  /** At most this many running at once (default 5). */
  maxConcurrent?: number;
}

/**
 * A token-bucket limiter with a concurrency gate, FIFO and no polling.
 *
 * @example
 * const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, maxConcurrent: 8 });
 * await bucket.run(() => fetch(url));
 */
export class TokenBucket extends LocalLimiter {
  readonly ratePerSecond: number;
  readonly burst: number;
  protected readonly _timed = true;
  private _level: number;
  private _refilledAt: number;

  constructor(options: TokenBucketOptions) {
    checkOptions("TokenBucket", options, ["ratePerSecond", "burst", "maxConcurrent"]);
    super(options?.maxConcurrent);
    this.ratePerSecond = checkPositive("ratePerSecond", options?.ratePerSecond);
    this.burst = checkCount("burst", options.burst ?? Math.max(1, Math.floor(this.ratePerSecond)));
    this._level = this.burst;
    this._refilledAt = performance.now();
  }

  /** Starts available right now. */
  get available(): number {
    this._refill(performance.now());
    return Math.floor(this._level);
  }

  protected _delayFor(now: number, _tokens: number): number {
    this._refill(now);
    return this._level >= 1 ? 0 : ((1 - this._level) / this.ratePerSecond) * 1000;
  }

  protected _record(now: number, _tokens: number): number {
    this._refill(now);
    this._level -= 1;
    return 0;
  }

  /** Token weights do not apply to a bucket of starts. */
  settleStart(_seq: number, _estimate: number, _actual: number): void {}

  protected _resetRate(): void {
    this._level = this.burst;
    this._refilledAt = performance.now();
  }

  private _refill(now: number): void {
    const elapsed = now - this._refilledAt;
    if (elapsed <= 0) return;
    this._level = Math.min(this.burst, this._level + (elapsed / 1000) * this.ratePerSecond);
    this._refilledAt = now;
  }
}
