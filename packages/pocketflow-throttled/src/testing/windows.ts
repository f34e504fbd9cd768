/**
 * The counting the simulated provider enforces: a true sliding window, a
 * continuously refilling token bucket, and a fixed period (a "day"). Each
 * answers the same three questions: how long until an amount fits, take it,
 * and where it stands (for the rate-limit headers). Times are
 * `performance.now()` milliseconds.
 */

/** One enforced limit of one kind, as the provider keeps it. */
export interface Meter {
  /** The limit (requests or tokens) this meter enforces. */
  readonly limit: number;
  /** Ms until `amount` more fits (0: now; `Infinity`: never). */
  waitFor(amount: number, now: number): number;
  /** Charges `amount`; returns a handle for {@link Meter.settle}. */
  take(amount: number, now: number): number;
  /** Replaces the `charged` amount of `handle` by `actual` (a refund when smaller, more debt when larger). */
  settle(handle: number, charged: number, actual: number, now: number): void;
  /** What is left of the limit now (never below 0). */
  remaining(now: number): number;
  /** Ms until the meter is back to its full limit. */
  resetMs(now: number): number;
}

/**
 * At most `limit` in any interval of `windowMs`. With `oversizeAlone`, an
 * amount above the whole limit fits once the window is empty (a per-second
 * share of a per-minute token limit must not refuse a large request forever).
 */
export class SlidingWindow implements Meter {
  private readonly times: number[] = [];
  private readonly amounts: number[] = [];
  /** Sequence number of `times[0]`, so handles survive expiry. */
  private base = 0;
  private sum = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly oversizeAlone = false,
  ) {}

  private expire(now: number): void {
    let drop = 0;
    while (drop < this.times.length && now - this.times[drop]! >= this.windowMs) {
      this.sum -= this.amounts[drop]!;
      drop++;
    }
    if (drop > 0) {
      this.times.splice(0, drop);
      this.amounts.splice(0, drop);
      this.base += drop;
    }
  }

  waitFor(amount: number, now: number): number {
    this.expire(now);
    if (amount > this.limit) {
      if (!this.oversizeAlone) return Number.POSITIVE_INFINITY;
      return this.times.length === 0 ? 0 : this.times.at(-1)! + this.windowMs - now;
    }
    let excess = this.sum + amount - this.limit;
    if (excess <= 0) return 0;
    for (let index = 0; index < this.times.length; index++) {
      excess -= this.amounts[index]!;
      if (excess <= 0) return this.times[index]! + this.windowMs - now;
    }
    return this.times.at(-1)! + this.windowMs - now;
  }

  take(amount: number, now: number): number {
    this.expire(now);
    this.times.push(now);
    this.amounts.push(amount);
    this.sum += amount;
    return this.base + this.times.length - 1;
  }

  settle(handle: number, _charged: number, actual: number, now: number): void {
    this.expire(now);
    const index = handle - this.base;
    if (index < 0 || index >= this.amounts.length) return;
    this.sum += actual - this.amounts[index]!;
    this.amounts[index] = actual;
  }

  remaining(now: number): number {
    this.expire(now);
    return Math.max(0, this.limit - this.sum);
  }

  resetMs(now: number): number {
    this.expire(now);
    for (let index = this.times.length - 1; index >= 0; index--) {
      if (this.amounts[index]! > 0) return this.times[index]! + this.windowMs - now;
    }
    return 0;
  }
}

/**
 * Anthropic's algorithm: a bucket holding up to `limit`, refilled
 * continuously at `limit` per `periodMs`; a charge empties it by that much
 * (a later adjustment may push it below 0: debt paid back by the refill).
 */
export class TokenBucket implements Meter {
  private level: number;
  private at: number;

  constructor(
    readonly limit: number,
    private readonly periodMs: number,
    now: number,
  ) {
    this.level = limit;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.level = Math.min(this.limit, this.level + ((now - this.at) * this.limit) / this.periodMs);
      this.at = now;
    }
  }

  waitFor(amount: number, now: number): number {
    if (amount > this.limit) return Number.POSITIVE_INFINITY;
    this.refill(now);
    const missing = amount - this.level;
    return missing <= 0 ? 0 : (missing * this.periodMs) / this.limit;
  }

  take(amount: number, now: number): number {
    this.refill(now);
    this.level -= amount;
    return 0;
  }

  settle(_handle: number, charged: number, actual: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.limit, this.level + charged - actual);
  }

  remaining(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(this.level));
  }

  resetMs(now: number): number {
    this.refill(now);
    return ((this.limit - this.level) * this.periodMs) / this.limit;
  }
}

/** At most `limit` per fixed period counted from `origin` (Gemini's per-day quota, reset at the period's end). */
export class FixedPeriod implements Meter {
  private period = 0;
  private used = 0;

  constructor(
    readonly limit: number,
    private readonly periodMs: number,
    private readonly origin: number,
  ) {}

  private roll(now: number): void {
    const period = Math.floor((now - this.origin) / this.periodMs);
    if (period !== this.period) {
      this.period = period;
      this.used = 0;
    }
  }

  waitFor(amount: number, now: number): number {
    if (amount > this.limit) return Number.POSITIVE_INFINITY;
    this.roll(now);
    return this.used + amount <= this.limit ? 0 : this.resetMs(now);
  }

  take(amount: number, now: number): number {
    this.roll(now);
    this.used += amount;
    return this.period;
  }

  settle(handle: number, charged: number, actual: number, now: number): void {
    this.roll(now);
    if (handle === this.period) this.used = Math.max(0, this.used + actual - charged);
  }

  remaining(now: number): number {
    this.roll(now);
    return Math.max(0, this.limit - this.used);
  }

  resetMs(now: number): number {
    return this.origin + (Math.floor((now - this.origin) / this.periodMs) + 1) * this.periodMs - now;
  }
}

/** Most entries (or their `weights`' sum) in any `[t, t + span)`: two pointers over sorted times. */
export function maxInAnyWindow(times: readonly number[], weights: readonly number[] | undefined, span: number): number {
  let best = 0;
  let sum = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    sum += weights === undefined ? 1 : weights[end]!;
    while (times[end]! - times[start]! >= span) {
      sum -= weights === undefined ? 1 : weights[start]!;
      start++;
    }
    best = Math.max(best, sum);
  }
  return best;
}
