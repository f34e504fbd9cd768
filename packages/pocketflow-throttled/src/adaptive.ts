/**
 * The one AIMD controller behind `AdaptiveThrottledNode` and
 * `AdaptiveThrottledBatchFlow`: multiplicative decrease on a rate limit,
 * stepwise increase after a streak of successes.
 */
import { becauseOf, type ChangeReason } from "./observe/channels.js";
import { checkAbove, checkBetween, checkCount } from "./validate.js";

/** Bounds and factors of an AIMD controller. */
export interface AimdSettings {
  initial: number;
  min: number;
  max: number;
  backoffFactor: number;
  recoveryThreshold: number;
  recoveryFactor: number;
}

/** A snapshot of an AIMD controller. */
export interface AimdStats {
  current: number;
  totalSuccesses: number;
  totalRateLimits: number;
  consecutiveSuccesses: number;
}

/**
 * Checks the bounds that are given together: `min <= max`, `initial <= max`,
 * `initial >= min`. A missing one is not checked (a class field not yet set).
 */
export function checkBounds(
  bounds: { min?: number | undefined; initial?: number | undefined; max?: number | undefined },
  names: { min: string; initial: string; max: string },
): void {
  const { min, initial, max } = bounds;
  if (min !== undefined && max !== undefined && min > max) {
    throw new RangeError(`${names.min} (${min}) must not exceed ${names.max} (${max})`);
  }
  if (initial !== undefined && max !== undefined && initial > max) {
    throw new RangeError(`${names.initial} (${initial}) must not exceed ${names.max} (${max})`);
  }
  if (initial !== undefined && min !== undefined && initial < min) {
    throw new RangeError(`${names.initial} (${initial}) must not be below ${names.min} (${min})`);
  }
}

/**
 * Holds the adaptive level (concurrency, or a rate) and its counters. Shared by
 * reference between a node and the copies a flow makes, so learning is kept.
 */
export class AimdController {
  current = 0;
  totalSuccesses = 0;
  totalRateLimits = 0;
  consecutiveSuccesses = 0;
  private settings: AimdSettings | undefined;
  private readonly listeners = new Set<(level: number) => void>();
  /** Why the level last changed (the limiter messages listeners cause say so). */
  private reason: ChangeReason = "set";

  /** Checks `settings` (names from the caller's options) and applies them; the first call sets `current` to `initial`. */
  configure(settings: AimdSettings, names: Record<keyof AimdSettings, string>): void {
    checkCount(names.min, settings.min);
    checkCount(names.max, settings.max);
    checkCount(names.initial, settings.initial);
    checkBetween(names.backoffFactor, settings.backoffFactor, 0, 1);
    checkCount(names.recoveryThreshold, settings.recoveryThreshold);
    checkAbove(names.recoveryFactor, settings.recoveryFactor, 1);
    checkBounds({ min: settings.min, max: settings.max }, names);
    const first = this.settings === undefined;
    this.settings = settings;
    const start = first ? settings.initial : this.current;
    this.current = Math.min(settings.max, Math.max(settings.min, start));
  }

  /** Calls `listener` with the new level on every change; returns the unsubscribe function. */
  onChange(listener: (level: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One success: after `recoveryThreshold` in a row, step up (at least +1, at most `max`). */
  success(): void {
    const s = this.mustBeConfigured();
    this.totalSuccesses++;
    if (++this.consecutiveSuccesses < s.recoveryThreshold) return;
    this.consecutiveSuccesses = 0;
    this.reason = "recovery";
    this.set(Math.min(s.max, Math.max(this.current + 1, Math.floor(this.current * s.recoveryFactor))));
  }

  /** One rate limit: back off to `max(min, floor(current * backoffFactor))`, streak to 0. */
  rateLimited(): void {
    const s = this.mustBeConfigured();
    this.totalRateLimits++;
    this.consecutiveSuccesses = 0;
    this.reason = "backoff";
    this.set(Math.max(s.min, Math.floor(this.current * s.backoffFactor)));
  }

  /** Back to the initial level with zeroed counters. */
  reset(): void {
    this.totalSuccesses = this.totalRateLimits = this.consecutiveSuccesses = 0;
    this.reason = "set";
    if (this.settings) this.set(this.settings.initial);
    else this.current = 0;
  }

  get stats(): AimdStats {
    return {
      current: this.current,
      totalSuccesses: this.totalSuccesses,
      totalRateLimits: this.totalRateLimits,
      consecutiveSuccesses: this.consecutiveSuccesses,
    };
  }

  private set(level: number): void {
    if (level === this.current) return;
    this.current = level;
    becauseOf(this.reason, () => {
      for (const listener of this.listeners) listener(level);
    });
  }

  private mustBeConfigured(): AimdSettings {
    if (!this.settings) throw new Error("AimdController used before configure()");
    return this.settings;
  }
}

/** A limiter hooked to AIMD controllers for one run, and the function that unhooks it. */
export interface AimdRunBinding {
  readonly binding: { rateLimited(): void; success(): void };
  detach(): void;
}

/**
 * Hooks `limiter` to `concurrency` (and to `rate` when given) for one run:
 * the limiter starts at the controllers' levels and follows every change
 * live. The node and the flow bind the same way; only what they feed it differs.
 */
export function bindAimd(
  limiter: { setConcurrency(n: number): void; setMaxPerWindow?(n: number): void },
  concurrency: AimdController,
  rate?: AimdController,
): AimdRunBinding {
  becauseOf("bind", () => limiter.setConcurrency(concurrency.current));
  const offConcurrency = concurrency.onChange((level) => limiter.setConcurrency(level));
  let offRate: () => unknown = () => undefined;
  if (rate !== undefined && limiter.setMaxPerWindow !== undefined) {
    const setRate = limiter.setMaxPerWindow.bind(limiter);
    becauseOf("bind", () => setRate(rate.current));
    offRate = rate.onChange(setRate);
  }
  return {
    binding: {
      rateLimited() {
        concurrency.rateLimited();
        rate?.rateLimited();
      },
      success() {
        concurrency.success();
        rate?.success();
      },
    },
    detach() {
      offConcurrency();
      offRate();
    },
  };
}
