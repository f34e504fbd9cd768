/**
 * Flow-level throttling: `ThrottledAsyncParallelBatchFlow` runs one copy of
 * its sub-flow per param set under a limit on concurrent instances and
 * starts per minute; `AdaptiveThrottledBatchFlow` adapts that concurrency
 * when an instance fails with a `RateLimitHit`.
 */
import { type Action, type AnyNode, AsyncParallelBatchFlow, BaseNode, batchItems, type Params } from "pocketflow";
import { AimdController, checkBounds } from "./adaptive.js";
import { configure, raw, type Validator } from "./configure.js";
import { RateLimitHit } from "./errors.js";
import { checkLimiterOption, type Limiter } from "./limiters/limiter.js";
import { RateLimiter } from "./limiters/sliding-window.js";
import { resolveLimiter } from "./registry.js";
import { checkAbove, checkBetween, checkCount, checkOptionalCount } from "./validate.js";

/** Options of a `ThrottledAsyncParallelBatchFlow` (each also settable as a class field). */
export interface FlowThrottleOptions {
  /** At most this many flow instances running at once (default 5). */
  maxConcurrentFlows?: number;
  /** At most this many instances started per minute (default: unlimited). */
  maxFlowsPerMinute?: number;
  /** At most this many estimated tokens (`estimateTokens(params)`) started per minute (default: unlimited). */
  maxTokensPerMinute?: number;
  /** A shared limiter, or a `LimiterRegistry` name, to start instances under instead of the flow's own. */
  limiter?: Limiter | string;
}

/** Options of an `AdaptiveThrottledBatchFlow`. `maxConcurrentFlows` is the ceiling (default 20). */
export interface AdaptiveFlowThrottleOptions extends FlowThrottleOptions {
  initialConcurrentFlows?: number;
  minConcurrentFlows?: number;
  backoffFactor?: number;
  recoveryThreshold?: number;
  recoveryFactor?: number;
}

/** Counters of the last run. */
export interface FlowThrottleStats {
  maxConcurrentFlows: number;
  maxFlowsPerMinute: number | undefined;
  completedFlows: number;
  failedFlows: number;
}

/** Counters of the last run plus the adaptive state. */
export interface AdaptiveFlowStats extends FlowThrottleStats {
  currentConcurrentFlows: number;
  consecutiveSuccesses: number;
  totalRateLimits: number;
}

/** One instance's outcome, shaped like `Promise.allSettled`'s entries. */
export type FlowResult = PromiseSettledResult<Action | undefined>;

const FLOW_VALIDATORS: Record<string, Validator> = {
  maxConcurrentFlows: (v) => checkCount("maxConcurrentFlows", v),
  maxFlowsPerMinute: (v) => checkOptionalCount("maxFlowsPerMinute", v),
  maxTokensPerMinute: (v) => checkOptionalCount("maxTokensPerMinute", v),
  limiter: checkLimiterOption,
};

const ADAPTIVE_FLOW_VALIDATORS: Record<string, Validator> = {
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

/** The `RateLimitHit` in an error or its `cause` chain. */
function findRateLimitHit(error: unknown): RateLimitHit | undefined {
  for (let e = error, depth = 0; e !== null && e !== undefined && depth < 16; depth++) {
    if (e instanceof RateLimitHit) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Runs its sub-flow once per param set from `prepAsync`, at most
 * `maxConcurrentFlows` at once and `maxFlowsPerMinute` started per minute.
 * A failed instance does not stop the others: `postAsync` gets
 * `Promise.allSettled`-shaped results and `runAsync` resolves.
 *
 * @example
 * class PerUser extends ThrottledAsyncParallelBatchFlow<Shared> {
 *   async prepAsync(shared: Shared) { return shared.userIds.map((userId) => ({ userId })); }
 * }
 * await new PerUser(fetchUser, { maxConcurrentFlows: 5, maxFlowsPerMinute: 60 }).runAsync(shared);
 */
export class ThrottledAsyncParallelBatchFlow<S = unknown> extends AsyncParallelBatchFlow<S, FlowResult[] | undefined> {
  declare maxConcurrentFlows: number;
  declare maxFlowsPerMinute: number | undefined;
  declare maxTokensPerMinute: number | undefined;
  declare limiter: Limiter | string | undefined;
  /** Counters of the last run. @internal */
  declare _stats: { completedFlows: number; failedFlows: number };

  /** @internal */
  protected static _validators: Readonly<Record<string, Validator>> = FLOW_VALIDATORS;
  /** @internal */
  protected static _defaults: Readonly<Record<string, unknown>> = {
    maxConcurrentFlows: 5,
    maxFlowsPerMinute: undefined,
    maxTokensPerMinute: undefined,
    limiter: undefined,
  };

  constructor(start?: AnyNode<S>, options: FlowThrottleOptions = {}) {
    if (start !== undefined && !(start instanceof BaseNode)) {
      throw new TypeError(
        `${new.target.name}'s first argument is the start node (got ${typeof start}); pass options second: new ${new.target.name}(start, options)`,
      );
    }
    super(start);
    Object.defineProperty(this, "_stats", {
      value: { completedFlows: 0, failedFlows: 0 },
      enumerable: true,
      writable: true,
    });
    const ctor = new.target as unknown as typeof ThrottledAsyncParallelBatchFlow;
    // biome-ignore lint/correctness/noConstructorReturn: the proxy keeps constructor options over subclass fields (see configure.ts)
    return configure(this, options, ctor._validators, ctor._defaults);
  }

  /** The limits in force (as in Python, readable before any run) and the counters of the last run. */
  get stats(): FlowThrottleStats {
    return {
      maxConcurrentFlows: this.maxConcurrentFlows,
      maxFlowsPerMinute: this.maxFlowsPerMinute,
      completedFlows: this._stats.completedFlows,
      failedFlows: this._stats.failedFlows,
    };
  }

  /** Receives every instance's outcome in input order; returns the next action. */
  override async postAsync(
    _shared: S,
    _prepRes: Iterable<Params> | null | undefined,
    _results: FlowResult[] | undefined,
  ): Promise<Action | undefined> {
    return undefined;
  }

  /** Estimated tokens one instance will use, from its params (default: their JSON length / 4). */
  estimateTokens(params: Params): number {
    return Math.ceil(JSON.stringify(params).length / 4);
  }

  /** Actual tokens an instance used, read after it ran (default: `undefined`, keep the estimate). */
  usageOf(_shared: S, _params: Params): number | undefined {
    return undefined;
  }

  /** The limiter instances start under. @internal */
  _limiterForRun(): Limiter {
    return (
      resolveLimiter(this.limiter) ??
      new RateLimiter({
        maxConcurrent: this.maxConcurrentFlows,
        maxPerWindow: this.maxFlowsPerMinute,
        maxTokensPerWindow: this.maxTokensPerMinute,
        windowSeconds: 60,
      })
    );
  }

  /** Called with each instance's outcome (adaptive flows learn here). @internal */
  _afterInstance(_limiter: Limiter, _error: unknown, _failed: boolean): void {}

  /** Resets the counters at the start of a run. @internal */
  _beginRun(): void {
    this._stats.completedFlows = 0;
    this._stats.failedFlows = 0;
  }

  override async _runAsync(shared: S, signal?: AbortSignal): Promise<Action | undefined> {
    const self = raw(this);
    // Checked up front: otherwise every instance would fail alone and the run would resolve.
    if (!self.startNode) {
      throw new Error(
        `${self.constructor.name} has no start node: pass one to the constructor (new ${self.constructor.name}(start, options)) or call flow.start(node)`,
      );
    }
    const batch = await self.prepAsync(shared);
    signal?.throwIfAborted();
    const paramSets = [...batchItems(batch, self, "prepAsync")];
    self._beginRun();
    const limiter = self._limiterForRun();
    const results: FlowResult[] = new Array(paramSets.length);
    const countTokens = (limiter as { maxTokensPerWindow?: number }).maxTokensPerWindow !== undefined;
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        signal?.throwIfAborted();
        const index = next++;
        if (index >= paramSets.length) return;
        const params = { ...self.params, ...paramSets[index] };
        const tokens = countTokens ? self.estimateTokens(params) : 0;
        const permit = await limiter.acquire({ signal, tokens });
        try {
          const value = await self._orchAsync(shared, params, signal);
          if (countTokens) {
            const used = self.usageOf(shared, params);
            if (used !== undefined) permit.settle(used);
          }
          results[index] = { status: "fulfilled", value };
          self._stats.completedFlows++;
          self._afterInstance(limiter, undefined, false);
        } catch (reason) {
          if (signal?.aborted) throw signal.reason;
          results[index] = { status: "rejected", reason };
          self._stats.failedFlows++;
          self._afterInstance(limiter, reason, true);
        } finally {
          permit.release();
        }
      }
    };
    const workerCount = Math.min(paramSets.length, Math.max(self.maxConcurrentFlows, limiter.maxConcurrent));
    const detach = self._attach(limiter);
    try {
      await Promise.all(Array.from({ length: workerCount }, worker));
    } finally {
      detach();
    }
    return await self.postAsync(shared, batch, results);
  }

  /** Hooks a run's limiter to adaptive state; returns the detach function. @internal */
  _attach(_limiter: Limiter): () => void {
    return () => {};
  }
}

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
    initialConcurrentFlows: 5,
    minConcurrentFlows: 1,
    backoffFactor: 0.5,
    recoveryThreshold: 10,
    recoveryFactor: 1.2,
  };

  constructor(start?: AnyNode<S>, options: AdaptiveFlowThrottleOptions = {}) {
    super(start, options);
    Object.defineProperty(raw(this), "_aimd", { value: new AimdController(), enumerable: true, writable: true });
    // Bounds given together to the constructor are checked now; fields are checked when a run starts.
    const { minConcurrentFlows: min, maxConcurrentFlows: max, initialConcurrentFlows: initial } = options;
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

  override _attach(limiter: Limiter): () => void {
    limiter.setConcurrency(this._aimd.current);
    return this._aimd.onChange((level) => limiter.setConcurrency(level));
  }

  override _afterInstance(limiter: Limiter, error: unknown, failed: boolean): void {
    if (!failed) {
      this._aimd.success();
      return;
    }
    const hit = findRateLimitHit(error);
    if (!hit) return;
    this._aimd.rateLimited();
    if (hit.retryAfter !== undefined && hit.retryAfter > 0) limiter.pause(hit.retryAfter);
  }
}
