/**
 * `ThrottledParallelBatchNode`: `AsyncParallelBatchNode` under a limiter.
 * Its items run through the one run engine (`run/`): a pull pool of workers
 * (state proportional to the concurrency, never one promise per pending
 * item) and one attempt path; every attempt takes its own start, so retries
 * count against the window.
 */
import { AsyncParallelBatchNode, batchItems, type RunTrace } from "pocketflow-ts";
import { configure, raw, type Validator } from "./configure.js";
import { classifyError, isRateLimitError, retryAfterOf } from "./detect.js";
import { checkLimiterOption, type Limiter, type TokenUsage } from "./limiters/limiter.js";
import { resolveLimiter } from "./registry.js";
import { readUsage } from "./usage.js";
import { type AdaptiveBinding, Attempts, type UnitHooks } from "./run/attempt.js";
import { LIMIT_DEFAULTS, LIMIT_VALIDATORS, type LimitOptions, ownLimiter } from "./run/limits.js";
import type { BudgetOptions } from "./ledger/budget.js";
import type { UsageLedger } from "./ledger/ledger.js";
import { booksFor, LEDGER_DEFAULTS, LEDGER_VALIDATORS, type LedgerOptions } from "./ledger/options.js";
import { ordinaryRetries } from "./run/policies/ordinary.js";
import { propagateRateLimit } from "./run/policies/propagate.js";
import { quotaFailFast } from "./run/policies/quota.js";
import { rateLimitReruns } from "./run/policies/rate-limit.js";
import { DONE, RunLifecycle, runPool } from "./run/pool.js";
import type { WindowLimit } from "./limiters/windows.js";
import { composePolicies, type RefusalKind, type RetryPolicy } from "./run/retry.js";
import { checkBoolean, checkCount, checkOptionalCount, checkPositive } from "./validate.js";
import { type CheckpointOptions, checkCheckpoint, runCheckpointed } from "./checkpoints/run.js";

/** Options of a `ThrottledParallelBatchNode` (each also settable as a class field; the constructor wins). */
export interface ThrottleOptions extends LimitOptions, LedgerOptions {
  /**
   * At most this many items running at once.
   * @default 5
   */
  maxConcurrent?: number;
  /**
   * At most this many starts in any 60 seconds (a true sliding window).
   * @default undefined (unlimited)
   */
  maxPerMinute?: number;
  /**
   * At most this many estimated tokens (`estimateTokens`) started in any 60
   * seconds; `usageOf` corrects each start's estimate once its result is in.
   * @default undefined (unlimited)
   */
  maxTokensPerMinute?: number;
  /**
   * Attempts per item for ordinary errors (not rate limits), as in PocketFlow.
   * @default 1
   */
  maxRetries?: number;
  /**
   * Seconds between those attempts.
   * @default 0
   */
  wait?: number;
  /**
   * Re-runs of an item after rate-limit (or overload) refusals, apart from
   * `maxRetries`: each waits for the provider's hint, or a short backoff;
   * 0 fails on the first refusal.
   * @default 5
   */
  maxRateLimitRetries?: number;
  /**
   * An item that fails for good on a rate limit fails with a `RateLimitHit`
   * (`cause` = the provider's error), for an adaptive flow above.
   * @default false
   */
  propagateRateLimit?: boolean;
  /**
   * A shared limiter, or a `LimiterRegistry` name, to run under instead of
   * the node's own (which lives for one execution of the node).
   * @default undefined (the node's own limiter)
   */
  limiter?: Limiter | string;
  /**
   * Feed rate-limit headers of results and errors to the limiter.
   * @default true
   */
  observeHeaders?: boolean;
  /**
   * Makes the batch durable: each finished item is saved to `store` under
   * `runKey`, and a re-run with the same `runKey` takes saved results
   * instead of running their items again (see docs/durable.md).
   * @default undefined (nothing saved)
   */
  checkpoint?: CheckpointOptions;
}

/** Counters of the last run. */
export interface ThrottleStats {
  /** Items whose saved result (`checkpoint`) was taken instead of running them. */
  resumed: number;
}

const optionalCount = (name: string): Validator => (v) => checkOptionalCount(name, v);
const count = (name: string): Validator => (v) => checkCount(name, v);
const flag = (name: string): Validator => (v) => checkBoolean(name, v);

/** The checks of the throttled node's options (subclasses add their own). */
export const THROTTLE_VALIDATORS: Readonly<Record<string, Validator>> = {
  ...LIMIT_VALIDATORS,
  ...LEDGER_VALIDATORS,
  maxConcurrent: count("maxConcurrent"),
  maxPerMinute: optionalCount("maxPerMinute"),
  maxTokensPerMinute: optionalCount("maxTokensPerMinute"),
  maxRetries: count("maxRetries"),
  wait: (v) => checkPositive("wait", v, true),
  maxRateLimitRetries: (v) => checkCount("maxRateLimitRetries", v, 0),
  propagateRateLimit: flag("propagateRateLimit"),
  limiter: checkLimiterOption,
  observeHeaders: flag("observeHeaders"),
  checkpoint: checkCheckpoint,
};

/**
 * What a failure means to a node class: `classifyError`, unless the class
 * overrides `isRateLimitError` — then that decides what counts as a rate
 * limit (a quota stays a quota), and the rest keeps its meaning.
 */
function refusalKind(ctor: typeof ThrottledParallelBatchNode, error: unknown): RefusalKind | undefined {
  const kind = classifyError(error);
  if (ctor.isRateLimitError === ThrottledParallelBatchNode.isRateLimitError) return kind;
  if (ctor.isRateLimitError(error)) return kind === "quota" ? "quota" : "rate-limit";
  return kind === "rate-limit" || kind === "quota" ? undefined : kind;
}

/**
 * `AsyncParallelBatchNode` with a limit: at most `maxConcurrent` items at once
 * and at most `maxPerMinute` starts per minute, results in input order. A
 * rate-limited attempt is not a failure: it runs again after the provider's
 * hint, up to `maxRateLimitRetries` times.
 *
 * @example
 * class Translate extends ThrottledParallelBatchNode<Shared, string, string> {
 *   maxConcurrent = 5;
 *   maxPerMinute = 60;
 *   async prepAsync(shared: Shared) { return shared.texts; }
 *   async execAsync(text: string) { return callLlm(`Translate: ${text}`); }
 * }
 * // or: new Translate(Presets.OPENAI_TIER1)
 */
export class ThrottledParallelBatchNode<S = unknown, Item = unknown, Result = unknown> extends AsyncParallelBatchNode<
  S,
  Item,
  Result
> {
  declare maxConcurrent: number;
  declare maxPerMinute: number | undefined;
  declare maxTokensPerMinute: number | undefined;
  declare maxRateLimitRetries: number;
  declare propagateRateLimit: boolean;
  declare limiter: Limiter | string | undefined;
  declare observeHeaders: boolean;
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
  declare budget: BudgetOptions<Item> | undefined;

  declare checkpoint: CheckpointOptions<Item, Result> | undefined;
  /** @internal */
  declare _resumed: number;

  /** @internal */
  protected static _validators: Readonly<Record<string, Validator>> = THROTTLE_VALIDATORS;
  /** @internal */
  protected static _defaults: Readonly<Record<string, unknown>> = {
    ...LIMIT_DEFAULTS,
    ...LEDGER_DEFAULTS,
    maxConcurrent: 5,
    maxPerMinute: undefined,
    maxTokensPerMinute: undefined,
    maxRateLimitRetries: 5,
    propagateRateLimit: false,
    limiter: undefined,
    observeHeaders: true,
    checkpoint: undefined,
  };

  constructor(options: ThrottleOptions = {}) {
    // Checked here so a wrong type is a TypeError naming the option, before the base Node sees it.
    super({
      maxRetries: options?.maxRetries === undefined ? undefined : checkCount("maxRetries", options.maxRetries),
      wait: options?.wait === undefined ? undefined : checkPositive("wait", options.wait, true),
    });
    const ctor = new.target as unknown as typeof ThrottledParallelBatchNode;
    // biome-ignore lint/correctness/noConstructorReturn: the proxy keeps constructor options over subclass fields (see configure.ts)
    return configure(this, options, ctor._validators, ctor._defaults);
  }

  /** `{ resumed }` of the last run. */
  get stats(): ThrottleStats {
    return { resumed: this._resumed ?? 0 };
  }

  /** True for a rate-limit error; override to recognise a client's own errors. */
  static isRateLimitError(error: unknown): boolean {
    return isRateLimitError(error);
  }

  /**
   * Estimated tokens of one item: a number (the prompt's size, counted as
   * input tokens) or `{ inputTokens, outputTokens }` for limits that tell
   * them apart (default: its JSON length / 4).
   */
  estimateTokens(item: Item): number | TokenUsage {
    const json = JSON.stringify(item);
    return json === undefined ? 0 : Math.ceil(json.length / 4);
  }

  /**
   * Actual tokens a result used, a total or its parts; `undefined` keeps the
   * estimate. Default: `readUsage` (OpenAI, Anthropic, Gemini and AI SDK results).
   */
  usageOf(result: Result): number | TokenUsage | undefined {
    return readUsage(result);
  }

  /** The limiter this execution runs under: the `limiter` option, or a fresh one of the node's own. @internal */
  _limiterForRun(): Limiter {
    return resolveLimiter(this.limiter) ?? ownLimiter(this, this.maxConcurrent, this.maxPerMinute, this.maxTokensPerMinute);
  }

  /** Binds adaptive control to a run's limiter (none here; the adaptive node binds its controller). @internal */
  _bindAdaptive(_limiter: Limiter, _lifecycle: RunLifecycle): AdaptiveBinding | undefined {
    return undefined;
  }

  /** The retry policies of one run: quota fail-fast, rate-limit re-runs (propagated if asked), then ordinary retries. @internal */
  _policy(): RetryPolicy {
    const reruns = rateLimitReruns({ maxRateLimitRetries: this.maxRateLimitRetries });
    return composePolicies(
      quotaFailFast(this.constructor.name),
      this.propagateRateLimit ? propagateRateLimit(reruns, this.constructor.name) : reruns,
      ordinaryRetries({ maxRetries: this.maxRetries, waitSeconds: this.wait }),
    );
  }

  /** The engine's view of this node's items. @internal */
  _itemHooks(): UnitHooks<Item, Result> {
    const ctor = this.constructor as typeof ThrottledParallelBatchNode;
    return {
      call: (item) => this.execAsync(item),
      estimate: (item) => this.estimateTokens(item),
      usage: (_item, result) => this.usageOf(result),
      fallback: (item, error) => this.execFallbackAsync(item, error),
      classify: (error) => refusalKind(ctor, error),
      retryAfter: retryAfterOf,
      setAttempt: (attempt) => {
        this.curRetry = attempt;
      },
    };
  }

  /**
   * Runs units (items, or micro-batches) through the pool: opens the run's
   * limiter, adaptation and retry scopes, and settles as the pool does. @internal
   */
  async _runUnits<U, R>(
    signal: AbortSignal | undefined,
    hooks: UnitHooks<U, R>,
    next: () => U | typeof DONE,
    place: (index: number, result: R, unit: U) => void,
    maxUnits: number,
    onLimiter?: (limiter: Limiter) => void,
  ): Promise<void> {
    const lifecycle = new RunLifecycle(signal);
    const limiter = this._limiterForRun();
    onLimiter?.(limiter);
    const adaptive = this._bindAdaptive(limiter, lifecycle);
    const closeScopes = this._openRetryScopes();
    if (closeScopes) lifecycle.onSettled(closeScopes);
    const runner = new Attempts<U, R>({
      limiter,
      lifecycle,
      hooks,
      policy: this._policy(),
      observe: this.observeHeaders !== false,
      adaptive,
      // Per-unit retry scopes only when units can retry; otherwise no closure per unit on the hot path.
      scope: closeScopes ? (work) => this._scoped(work) : undefined,
      maxWaitSeconds: this.maxWaitSeconds,
      books: booksFor(this, this, limiter, this.constructor.name),
      run: this._trace,
    });
    const workers = Math.min(maxUnits, Math.max(this.maxConcurrent, limiter.maxConcurrent));
    await runPool({ lifecycle, workers, next, runner, place: this._trace === undefined ? place : countItems(this._trace, place) });
  }

  override async _execAsync(items: Iterable<Item> | null | undefined, signal?: AbortSignal): Promise<Result[]> {
    const self = raw(this);
    const list = batchItems(items, self, "prepAsync");
    self._resumed = 0;
    if (self.checkpoint !== undefined) return runCheckpointed(self, self.checkpoint, list, signal);
    return self._runItems(list, signal);
  }

  /** Runs the items; `onResult` sees each result as it comes in (durable runs save there). @internal */
  async _runItems(
    list: Iterable<Item>,
    signal: AbortSignal | undefined,
    onResult?: (index: number, result: Result) => void,
  ): Promise<Result[]> {
    const results: Result[] = Array.isArray(list) ? new Array<Result>(list.length) : [];
    const iterator = list[Symbol.iterator]();
    await this._runUnits<Item, Result>(
      signal,
      this._itemHooks(),
      () => {
        const step = iterator.next();
        return step.done ? DONE : step.value;
      },
      onResult
        ? (index, result) => {
            results[index] = result;
            onResult(index, result);
          }
        : (index, result) => {
            results[index] = result;
          },
      Array.isArray(list) ? list.length : Number.POSITIVE_INFINITY,
    );
    return results;
  }
}

/** `place`, counting the run's items for its `pocketflow:run` end message (only while runs are traced). */
function countItems<U, R>(trace: RunTrace, place: (index: number, result: R, unit: U) => void): (index: number, result: R, unit: U) => void {
  return (index, result, unit) => {
    if (trace.items === undefined || index >= trace.items) trace.items = index + 1;
    place(index, result, unit);
  };
}
