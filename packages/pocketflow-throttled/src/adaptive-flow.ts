/**
 * `AdaptiveThrottledBatchFlow`: the throttled flow plus a binding of the one
 * `AimdController`, fed by the `RateLimitHit`s its instances fail with.
 */
import type { AnyNode } from "pocketflow-ts";
import { AimdController, bindAimd, checkBounds } from "./adaptive.js";
import { raw, type Validator } from "./configure.js";
import { FLOW_VALIDATORS, type FlowThrottleOptions, type FlowThrottleStats, ThrottledAsyncParallelBatchFlow } from "./flows.js";
import type { Limiter } from "./limiters/limiter.js";
import type { AdaptiveBinding } from "./run/attempt.js";
import type { RunLifecycle } from "./run/pool.js";
import { checkAbove, checkBetween, checkCount } from "./validate.js";

/** Options of an `AdaptiveThrottledBatchFlow`. `maxConcurrentFlows` is the ceiling. */
export interface AdaptiveFlowThrottleOptions extends FlowThrottleOptions {
  /**
   * The ceiling the concurrency never climbs above.
   * @default 20
   */
  maxConcurrentFlows?: number;
  /**
   * The concurrency of the first run; clamped to `maxConcurrentFlows` when only that is given.
   * @default 5
   */
  initialConcurrentFlows?: number;
  /**
   * The floor a `RateLimitHit` never pushes the concurrency below.
   * @default 1
   */
  minConcurrentFlows?: number;
  /**
   * On a `RateLimitHit` the concurrency becomes `max(min, floor(current * backoffFactor))`; in (0, 1).
   * @default 0.5
   */
  backoffFactor?: number;
  /**
   * Instances in a row that succeed before the concurrency steps up.
   * @default 10
   */
  recoveryThreshold?: number;
  /**
   * A step up makes it `min(max, max(current + 1, floor(current * recoveryFactor)))`; above 1.
   * @default 1.2
   */
  recoveryFactor?: number;
}

/** Counters of the last run plus the adaptive state. */
export interface AdaptiveFlowStats extends FlowThrottleStats {
  currentConcurrentFlows: number;
  consecutiveSuccesses: number;
  totalRateLimits: number;
}

const ADAPTIVE_FLOW_VALIDATORS: Readonly<Record<string, Validator>> = {
  ...FLOW_VALIDATORS,
  initialConcurrentFlows: (v) => checkCount("initialConcurrentFlows", v),
  minConcurrentFlows: (v) => checkCount("minConcurrentFlows", v),
  backoffFactor: (v) => checkBetween("backoffFactor", v, 0, 1),
  recoveryThreshold: (v) => checkCount("recoveryThreshold", v),
  recoveryFactor: (v) => checkAbove("recoveryFactor", v, 1),
};

/** Option names of the adaptive flow's AIMD settings, for error messages. */
const FLOW_NAMES = {
  initial: "initialConcurrentFlows",
  min: "minConcurrentFlows",
  max: "maxConcurrentFlows",
  backoffFactor: "backoffFactor",
  recoveryThreshold: "recoveryThreshold",
  recoveryFactor: "recoveryFactor",
};

const DEFAULT_INITIAL_FLOWS = 5;

/**
 * A throttled batch flow whose concurrency adapts: an instance failing with a
 * `RateLimitHit` (from any node below it) halves it and pauses new starts for
 * `retryAfter`; successes step it back up, as `AdaptiveThrottledNode` does.
 *
 * @example
 * const flow = new AdaptiveThrottledBatchFlow(perDocument, { initialConcurrentFlows: 4, maxConcurrentFlows: 16 });
 */
export class AdaptiveThrottledBatchFlow<S = unknown> extends ThrottledAsyncParallelBatchFlow<S> {
  declare initialConcurrentFlows: number;
  declare minConcurrentFlows: number;
  declare backoffFactor: number;
  declare recoveryThreshold: number;
  declare recoveryFactor: number;
  /** @internal */
  declare _aimd: AimdController;

  /** @internal */
  protected static override _validators: Readonly<Record<string, Validator>> = ADAPTIVE_FLOW_VALIDATORS;
  /** @internal */
  protected static override _defaults: Readonly<Record<string, unknown>> = {
    ...ThrottledAsyncParallelBatchFlow._defaults,
    maxConcurrentFlows: 20,
    initialConcurrentFlows: DEFAULT_INITIAL_FLOWS,
    minConcurrentFlows: 1,
    backoffFactor: 0.5,
    recoveryThreshold: 10,
    recoveryFactor: 1.2,
  };

  constructor(start?: AnyNode<S>, options: AdaptiveFlowThrottleOptions = {}) {
    // A ceiling below the default start (`{ maxConcurrentFlows: 3 }`) starts at the ceiling instead of failing every run.
    const clamped =
      options?.initialConcurrentFlows === undefined &&
      typeof options?.maxConcurrentFlows === "number" &&
      options.maxConcurrentFlows < DEFAULT_INITIAL_FLOWS
        ? { ...options, initialConcurrentFlows: Math.max(1, options.maxConcurrentFlows) }
        : options;
    super(start, clamped);
    Object.defineProperty(raw(this), "_aimd", { value: new AimdController(), enumerable: true, writable: true });
    // Bounds given together to the constructor are checked now; fields are checked when a run starts.
    const { minConcurrentFlows: min, maxConcurrentFlows: max, initialConcurrentFlows: initial } = clamped ?? {};
    checkBounds({ min, initial, max }, FLOW_NAMES);
  }

  /** Counters of the last run plus `currentConcurrentFlows`, `consecutiveSuccesses`, `totalRateLimits`. */
  override get stats(): AdaptiveFlowStats {
    return {
      ...super.stats,
      currentConcurrentFlows: this._aimd.current || this.initialConcurrentFlows,
      consecutiveSuccesses: this._aimd.consecutiveSuccesses,
      totalRateLimits: this._aimd.totalRateLimits,
    };
  }

  /** Starts over from `initialConcurrentFlows` with zeroed counters. */
  resetAdaptiveState(): void {
    this._aimd.reset();
  }

  override _beginRun(): void {
    // Bounds set as fields are only known now.
    const settings = {
      initial: this.initialConcurrentFlows,
      min: this.minConcurrentFlows,
      max: this.maxConcurrentFlows,
      backoffFactor: this.backoffFactor,
      recoveryThreshold: this.recoveryThreshold,
      recoveryFactor: this.recoveryFactor,
    };
    checkBounds(settings, FLOW_NAMES);
    this._aimd.configure(settings, FLOW_NAMES);
    super._beginRun();
  }

  override _bindAdaptive(limiter: Limiter, lifecycle: RunLifecycle): AdaptiveBinding {
    const bound = bindAimd(limiter, this._aimd);
    lifecycle.onSettled(bound.detach);
    return bound.binding;
  }
}
