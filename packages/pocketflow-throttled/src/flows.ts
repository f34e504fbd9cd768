/**
 * Flow-level throttling: `ThrottledAsyncParallelBatchFlow` runs one copy of
 * its sub-flow per param set under a limit on concurrent instances and
 * starts per minute; `AdaptiveThrottledBatchFlow` adapts that concurrency
 * when an instance fails with a `RateLimitHit`.
 */
import { type Action, type AnyNode, AsyncParallelBatchFlow, BaseNode, batchItems, type Params } from "pocketflow-ts";

import { configure, raw, type Validator } from "./configure.js";
import { classifyError } from "./detect.js";
import { prop, searchChain } from "./detect/chain.js";
import { RateLimitHit } from "./errors.js";
import { checkLimiterOption, type Limiter, type TokenUsage } from "./limiters/limiter.js";
import type { WindowLimit } from "./limiters/windows.js";
import { resolveLimiter } from "./registry.js";
import { type AdaptiveBinding, Attempts, type UnitHooks } from "./run/attempt.js";
import { LIMIT_DEFAULTS, LIMIT_VALIDATORS, type LimitOptions, ownLimiter } from "./run/limits.js";
import type { BudgetOptions } from "./ledger/budget.js";
import type { UsageLedger } from "./ledger/ledger.js";
import { booksFor, LEDGER_DEFAULTS, LEDGER_VALIDATORS, type LedgerOptions } from "./ledger/options.js";
import { quotaFailFast } from "./run/policies/quota.js";
import { DONE, RunLifecycle, runPool, type UnitRunner } from "./run/pool.js";
import { composePolicies } from "./run/retry.js";
import { checkCount, checkOptionalCount } from "./validate.js";

/** Options of a `ThrottledAsyncParallelBatchFlow` (each also settable as a class field). */
export interface FlowThrottleOptions extends LimitOptions, LedgerOptions<Params> {
  /**
   * At most this many flow instances running at once.
   * @default 5
   */
  maxConcurrentFlows?: number;
  /**
   * At most this many instances started in any 60 seconds.
   * @default undefined (unlimited)
   */
  maxFlowsPerMinute?: number;
  /**
   * At most this many estimated tokens (`estimateTokens(params)`) started in any 60 seconds.
   * @default undefined (unlimited)
   */
  maxTokensPerMinute?: number;
  /**
   * A shared limiter, or a `LimiterRegistry` name, to start instances under instead of the flow's own.
   * @default undefined (the flow's own limiter, for one run)
   */
  limiter?: Limiter | string;
}

/** Counters of the last run. */
export interface FlowThrottleStats {
  maxConcurrentFlows: number;
  maxFlowsPerMinute: number | undefined;
  completedFlows: number;
  failedFlows: number;
}

/** One instance's outcome, shaped like `Promise.allSettled`'s entries. */
export type FlowResult = PromiseSettledResult<Action | undefined>;

/** The checks of the throttled flow's options (the adaptive flow adds its own). */
export const FLOW_VALIDATORS: Readonly<Record<string, Validator>> = {
  ...LIMIT_VALIDATORS,
  ...LEDGER_VALIDATORS,
  maxConcurrentFlows: (v) => checkCount("maxConcurrentFlows", v),
  maxFlowsPerMinute: (v) => checkOptionalCount("maxFlowsPerMinute", v),
  maxTokensPerMinute: (v) => checkOptionalCount("maxTokensPerMinute", v),
  limiter: checkLimiterOption,
};

/** The `RateLimitHit` in an error or its `cause` chain. */
export function findRateLimitHit(error: unknown): RateLimitHit | undefined {
  // The detection's one chain walk (cause, errors, lastError; bounded, cycle-safe). By name too:
  // a RateLimitHit from another copy of the package (its ESM and CommonJS builds) is no instance of ours.
  return searchChain(error, false, (node) =>
    node instanceof RateLimitHit || prop(node, "name") === "RateLimitHit" ? (node as unknown as RateLimitHit) : undefined,
  );
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
  declare maxPerSecond: number | undefined;
  declare maxPerDay: number | undefined;
  declare maxInputTokensPerMinute: number | undefined;
  declare maxOutputTokensPerMinute: number | undefined;
  declare maxTokensPerDay: number | undefined;
  declare minIntervalSeconds: number | undefined;
  declare windows: WindowLimit[] | undefined;
  declare arrivalMarginSeconds: number | undefined;
  declare learnLimits: boolean;
  declare maxWaitSeconds: number | undefined;
  declare ledger: UsageLedger | undefined;
  declare budget: BudgetOptions<Params> | undefined;
  /** Counters of the last run. @internal */
  declare _stats: { completedFlows: number; failedFlows: number };

  /** @internal */
  protected static _validators: Readonly<Record<string, Validator>> = FLOW_VALIDATORS;
  /** @internal */
  protected static _defaults: Readonly<Record<string, unknown>> = {
    ...LIMIT_DEFAULTS,
    ...LEDGER_DEFAULTS,
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
  estimateTokens(params: Params): number | TokenUsage {
    return Math.ceil(JSON.stringify(params).length / 4);
  }

  /** Actual tokens an instance used, read after it ran (default: `undefined`, keep the estimate). */
  usageOf(_shared: S, _params: Params): number | TokenUsage | undefined {
    return undefined;
  }

  /** The limiter instances start under. @internal */
  _limiterForRun(): Limiter {
    return (
      resolveLimiter(this.limiter) ?? ownLimiter(this, this.maxConcurrentFlows, this.maxFlowsPerMinute, this.maxTokensPerMinute)
    );
  }

  /** Resets the counters at the start of a run. @internal */
  _beginRun(): void {
    this._stats.completedFlows = 0;
    this._stats.failedFlows = 0;
  }

  /** Binds adaptive control to a run's limiter (none here). @internal */
  _bindAdaptive(_limiter: Limiter, _lifecycle: RunLifecycle): AdaptiveBinding | undefined {
    return undefined;
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
    const lifecycle = new RunLifecycle(signal);
    const limiter = self._limiterForRun();
    const results: FlowResult[] = new Array(paramSets.length);
    const attempts = new Attempts<Params, FlowResult>({
      limiter,
      lifecycle,
      // Instances hear the caller's abort only: one already running when a quota refusal stops the run finishes.
      hooks: self._instanceHooks(shared, signal),
      // The flow never re-runs an instance (a failure is its result); a quota refusal stops further starts.
      policy: composePolicies(quotaFailFast(self.constructor.name)),
      observe: false,
      adaptive: self._bindAdaptive(limiter, lifecycle),
      maxWaitSeconds: self.maxWaitSeconds,
      books: booksFor(self, self, limiter, self.constructor.name),
      run: self._trace,
    });
    let next = 0;
    try {
      await runPool<Params, FlowResult>({
        lifecycle,
        workers: Math.min(paramSets.length, Math.max(self.maxConcurrentFlows, limiter.maxConcurrent)),
        next: () => (next < paramSets.length ? { ...self.params, ...paramSets[next++] } : DONE),
        runner: settledInstances(attempts, signal, () => self._stats.failedFlows++),
        place: (index, result) => {
          if (self._trace !== undefined && (self._trace.items ?? 0) <= index) self._trace.items = index + 1;
          results[index] = result;
        },
        settleAll: true, // an instance running when a quota refusal stops the run reports its own outcome
      });
    } catch (error) {
      if (signal?.aborted || !lifecycle.failed) throw error;
      // A quota refusal stopped the run: the instances it kept from starting end with its error, none dropped.
      for (let i = 0; i < results.length; i++) {
        if (results[i] !== undefined) continue;
        results[i] = { status: "rejected", reason: error };
        self._stats.failedFlows++;
      }
    }
    return await self.postAsync(shared, batch, results);
  }

  /** The engine's view of instances: one sub-flow run per param set, its outcome as a settled result. @internal */
  _instanceHooks(shared: S, signal: AbortSignal | undefined): UnitHooks<Params, FlowResult> {
    return {
      call: async (params) => {
        const value = await this._orchAsync(shared, params, signal);
        this._stats.completedFlows++;
        return { status: "fulfilled", value };
      },
      estimate: (params) => this.estimateTokens(params),
      usage: (params) => this.usageOf(shared, params),
      fallback: async (_params, reason) => {
        this._stats.failedFlows++;
        return { status: "rejected", reason };
      },
      // A RateLimitHit below backs off (adaptive) and pauses for its retryAfter; a quota below stops the run.
      classify: (error) => (findRateLimitHit(error) ? "rate-limit" : classifyError(error) === "quota" ? "quota" : undefined),
      retryAfter: (error) => findRateLimitHit(error)?.retryAfter,
      setAttempt: () => {},
    };
  }
}

/**
 * Instances that fail before their call (the limiter's store unreachable, a
 * bad token estimate) or that a quota refusal kept from starting end as
 * rejected results too; only the caller's abort rejects the run.
 */
function settledInstances(
  attempts: Attempts<Params, FlowResult>,
  signal: AbortSignal | undefined,
  onRejected: () => void,
): UnitRunner<Params, FlowResult> {
  return {
    fast: false,
    tryFast: () => false,
    call: (params) => attempts.call(params),
    finishFast: () => {},
    recoverFast: (params) => attempts.run(params, -1),
    async run(params, index) {
      try {
        return await attempts.run(params, index);
      } catch (reason) {
        if (signal?.aborted) throw reason;
        onRejected();
        return { status: "rejected", reason };
      }
    },
  };
}
