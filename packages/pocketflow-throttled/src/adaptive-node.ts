/**
 * `AdaptiveThrottledNode`: the fixed node plus a binding of the one
 * `AimdController` (and, with `adaptRate`, a second one on the rate).
 */
import { AimdController, bindAimd, checkBounds } from "./adaptive.js";
import { raw, type Validator } from "./configure.js";
import type { Limiter } from "./limiters/limiter.js";
import { THROTTLE_VALIDATORS, type ThrottleOptions, type ThrottleStats, ThrottledParallelBatchNode } from "./nodes.js";
import type { AdaptiveBinding } from "./run/attempt.js";
import type { RunLifecycle } from "./run/pool.js";
import { checkAbove, checkBetween, checkBoolean, checkCount } from "./validate.js";

/** Options of an `AdaptiveThrottledNode`. `maxConcurrent` is the ceiling. */
export interface AdaptiveThrottleOptions extends ThrottleOptions {
  /**
   * The ceiling the concurrency never climbs above.
   * @default 20
   */
  maxConcurrent?: number;
  /**
   * The concurrency of the first run (later runs keep what was learned);
   * clamped to `maxConcurrent` when only that is given.
   * @default 5
   */
  initialConcurrent?: number;
  /**
   * The floor a rate limit never pushes the concurrency below.
   * @default 1
   */
  minConcurrent?: number;
  /**
   * On a rate limit the concurrency becomes `max(min, floor(current * backoffFactor))`; in (0, 1).
   * @default 0.5
   */
  backoffFactor?: number;
  /**
   * Successes in a row before the concurrency steps up.
   * @default 10
   */
  recoveryThreshold?: number;
  /**
   * A step up makes it `min(max, max(current + 1, floor(current * recoveryFactor)))`; above 1.
   * @default 1.2
   */
  recoveryFactor?: number;
  /**
   * Also adapt the per-minute rate (from `maxPerMinute`, or a shared limiter's own window) on rate limits.
   * @default false
   */
  adaptRate?: boolean;
}

/** Snapshot of an adaptive node. */
export interface AdaptiveNodeStats extends ThrottleStats {
  currentConcurrent: number;
  totalSuccesses: number;
  totalRateLimits: number;
  consecutiveSuccesses: number;
  /** The adapted per-minute rate when `adaptRate` is on. */
  currentPerMinute?: number;
}

/** Option names of the adaptive node's AIMD settings, for error messages. */
const NODE_NAMES = {
  initial: "initialConcurrent",
  min: "minConcurrent",
  max: "maxConcurrent",
  backoffFactor: "backoffFactor",
  recoveryThreshold: "recoveryThreshold",
  recoveryFactor: "recoveryFactor",
};

const DEFAULT_INITIAL = 5;

/** The `maxPerWindow` a shared limiter had before an adaptive node first adapted its rate. */
const registeredRates = new WeakMap<Limiter, number>();

/**
 * A throttled node that finds the provider's limit by itself: on each rate
 * limit it halves its concurrency (down to `minConcurrent`), after
 * `recoveryThreshold` successes in a row it steps back up (to `maxConcurrent`).
 * Rate-limited items wait (`retryAfter` when known) and run again.
 *
 * @example
 * class Embed extends AdaptiveThrottledNode<Shared, string, number[]> {
 *   initialConcurrent = 10;
 *   maxConcurrent = 50;
 *   async execAsync(text: string) { return embed(text); }
 * }
 */
export class AdaptiveThrottledNode<S = unknown, Item = unknown, Result = unknown> extends ThrottledParallelBatchNode<
  S,
  Item,
  Result
> {
  declare initialConcurrent: number;
  declare minConcurrent: number;
  declare backoffFactor: number;
  declare recoveryThreshold: number;
  declare recoveryFactor: number;
  declare adaptRate: boolean;
  /** Adaptive state, shared with every copy a flow makes of this node. @internal */
  declare _aimd: AimdController;
  /** @internal */
  declare _rateAimd: AimdController;

  /** @internal */
  protected static override _validators: Readonly<Record<string, Validator>> = {
    ...THROTTLE_VALIDATORS,
    initialConcurrent: (v) => checkCount("initialConcurrent", v),
    minConcurrent: (v) => checkCount("minConcurrent", v),
    backoffFactor: (v) => checkBetween("backoffFactor", v, 0, 1),
    recoveryThreshold: (v) => checkCount("recoveryThreshold", v),
    recoveryFactor: (v) => checkAbove("recoveryFactor", v, 1),
    adaptRate: (v) => checkBoolean("adaptRate", v),
  };
  /** @internal */
  protected static override _defaults: Readonly<Record<string, unknown>> = {
    ...ThrottledParallelBatchNode._defaults,
    maxConcurrent: 20,
    initialConcurrent: DEFAULT_INITIAL,
    minConcurrent: 1,
    backoffFactor: 0.5,
    recoveryThreshold: 10,
    recoveryFactor: 1.2,
    adaptRate: false,
  };

  constructor(options: AdaptiveThrottleOptions = {}) {
    // A ceiling below the default start (`{ maxConcurrent: 3 }`) starts at the ceiling instead of failing every run.
    const clamped =
      options?.initialConcurrent === undefined && typeof options?.maxConcurrent === "number" && options.maxConcurrent < DEFAULT_INITIAL
        ? { ...options, initialConcurrent: Math.max(1, options.maxConcurrent) }
        : options;
    super(clamped);
    const self = raw(this);
    Object.defineProperty(self, "_aimd", { value: new AimdController(), enumerable: true, writable: true });
    Object.defineProperty(self, "_rateAimd", { value: new AimdController(), enumerable: true, writable: true });
    // Bounds given together to the constructor are checked now; fields are checked when a run starts.
    const { minConcurrent: min, maxConcurrent: max, initialConcurrent: initial } = clamped ?? {};
    checkBounds({ min, initial, max }, NODE_NAMES);
  }

  /** The concurrency in force. */
  get currentConcurrent(): number {
    return this._aimd.current || this.initialConcurrent;
  }

  /** `{ currentConcurrent, totalSuccesses, totalRateLimits, consecutiveSuccesses, resumed }`, true across flow copies. */
  override get stats(): AdaptiveNodeStats {
    const s = this._aimd.stats;
    const stats: AdaptiveNodeStats = {
      resumed: this._resumed ?? 0,
      currentConcurrent: this.currentConcurrent,
      totalSuccesses: s.totalSuccesses,
      totalRateLimits: s.totalRateLimits,
      consecutiveSuccesses: s.consecutiveSuccesses,
    };
    if (this.adaptRate && this.maxPerMinute !== undefined) stats.currentPerMinute = this._rateAimd.current || this.maxPerMinute;
    return stats;
  }

  /** Starts over from `initialConcurrent` with zeroed counters. */
  resetAdaptiveState(): void {
    this._aimd.reset();
    this._rateAimd.reset();
  }

  /** Configures the controller from the options in force (fields are only known now) and binds it. @internal */
  override _bindAdaptive(limiter: Limiter, lifecycle: RunLifecycle): AdaptiveBinding {
    const factors = {
      backoffFactor: this.backoffFactor,
      recoveryThreshold: this.recoveryThreshold,
      recoveryFactor: this.recoveryFactor,
    };
    checkBounds({ initial: this.initialConcurrent, max: this.maxConcurrent }, NODE_NAMES);
    this._aimd.configure(
      { initial: this.initialConcurrent, min: this.minConcurrent, max: this.maxConcurrent, ...factors },
      NODE_NAMES,
    );
    const rate = this._rateFor(limiter);
    if (rate !== undefined) {
      this._rateAimd.configure(
        { initial: rate, min: 1, max: rate, ...factors },
        { ...NODE_NAMES, initial: "maxPerMinute", min: "maxPerMinute", max: "maxPerMinute" },
      );
    }
    // Adjustments apply live to this run's limiter (a shared limiter is adapted for everyone who uses it).
    const bound = bindAimd(limiter, this._aimd, rate === undefined ? undefined : this._rateAimd);
    lifecycle.onSettled(bound.detach);
    return bound.binding;
  }

  /**
   * The per-minute rate `adaptRate` adapts from: `maxPerMinute` on the node's
   * own limiter; on a shared one, the limit it was registered with
   * (remembered, so later runs recover up to it). `undefined`: no rate to adapt.
   */
  private _rateFor(limiter: Limiter): number | undefined {
    if (!this.adaptRate || this.maxPerMinute === undefined) return undefined;
    if (limiter.setMaxPerWindow === undefined || limiter.maxPerWindow === undefined) return undefined;
    if (this.limiter === undefined) return this.maxPerMinute;
    const base = registeredRates.get(limiter) ?? limiter.maxPerWindow;
    registeredRates.set(limiter, base);
    return base;
  }
}
