/**
 * Throttled parallel batch nodes: `ThrottledParallelBatchNode` (fixed limits)
 * and `AdaptiveThrottledNode` (AIMD on rate limits), plus the micro-batching
 * `ThrottledMicroBatchNode` in `micro-batch.ts`.
 *
 * Items are pulled by a pool of workers (state proportional to the
 * concurrency, never one promise per pending item). Every attempt of an item
 * takes its own start from the limiter, so retries count against the window.
 */
import { setMaxListeners } from "node:events";
import { AsyncParallelBatchNode, batchItems, sleep } from "pocketflow";
import { AimdController, checkBounds } from "./adaptive.js";
import { configure, raw, type Validator } from "./configure.js";
import { headersOf, isRateLimitError, retryAfterOf } from "./detect.js";
import { RateLimitHit } from "./errors.js";
import { checkLimiterOption, type Limiter, LocalLimiter, type Permit } from "./limiters/limiter.js";
import { RateLimiter } from "./limiters/sliding-window.js";
import { resolveLimiter } from "./registry.js";
import {
  checkAbove,
  checkBetween,
  checkBoolean,
  checkCount,
  checkOptionalCount,
  checkPositive,
  checkTokenCount,
} from "./validate.js";

/** Options of a `ThrottledParallelBatchNode` (each also settable as a class field). */
export interface ThrottleOptions {
  /** At most this many items running at once (default 5). */
  maxConcurrent?: number;
  /** At most this many starts per minute (default: unlimited). */
  maxPerMinute?: number;
  /** At most this many estimated tokens started per minute (default: unlimited). */
  maxTokensPerMinute?: number;
  /** Attempts per item for ordinary errors (default 1). */
  maxRetries?: number;
  /** Seconds between those attempts (default 0). */
  wait?: number;
  /** A shared limiter, or a `LimiterRegistry` name, to use instead of the node's own. */
  limiter?: Limiter | string;
  /** Feed rate-limit headers of results and errors to the limiter (default true). */
  observeHeaders?: boolean;
}

/** Options of an `AdaptiveThrottledNode`. `maxConcurrent` is the ceiling (default 20). */
export interface AdaptiveThrottleOptions extends ThrottleOptions {
  initialConcurrent?: number;
  minConcurrent?: number;
  backoffFactor?: number;
  recoveryThreshold?: number;
  recoveryFactor?: number;
  /** Fail for good with a `RateLimitHit` (for an adaptive flow above) instead of the provider's error. */
  propagateRateLimit?: boolean;
  /** Re-runs of an item after rate limits before it fails (default 5; 0 fails on the first). */
  maxRateLimitRetries?: number;
  /** Also lower the per-minute rate on rate limits (default false). */
  adaptRate?: boolean;
}

/** Snapshot of an adaptive node. */
export interface AdaptiveNodeStats {
  currentConcurrent: number;
  totalSuccesses: number;
  totalRateLimits: number;
  consecutiveSuccesses: number;
  /** The adapted per-minute rate when `adaptRate` is on. */
  currentPerMinute?: number;
}

const optionalCount = (name: string): Validator => (v) => checkOptionalCount(name, v);
const count = (name: string): Validator => (v) => checkCount(name, v);
const flag = (name: string): Validator => (v) => checkBoolean(name, v);

const THROTTLE_VALIDATORS: Record<string, Validator> = {
  maxConcurrent: count("maxConcurrent"),
  maxPerMinute: optionalCount("maxPerMinute"),
  maxTokensPerMinute: optionalCount("maxTokensPerMinute"),
  maxRetries: count("maxRetries"),
  wait: (v) => checkPositive("wait", v, true),
  limiter: checkLimiterOption,
  observeHeaders: flag("observeHeaders"),
};

const ADAPTIVE_VALIDATORS: Record<string, Validator> = {
  ...THROTTLE_VALIDATORS,
  initialConcurrent: count("initialConcurrent"),
  minConcurrent: count("minConcurrent"),
  backoffFactor: (v) => checkBetween("backoffFactor", v, 0, 1),
  recoveryThreshold: count("recoveryThreshold"),
  recoveryFactor: (v) => checkAbove("recoveryFactor", v, 1),
  propagateRateLimit: flag("propagateRateLimit"),
  maxRateLimitRetries: (v) => checkCount("maxRateLimitRetries", v, 0),
  adaptRate: flag("adaptRate"),
};

/** Everything one execution of a node needs, so the node object holds no per-run state. */
/** One execution of a batch node, from `_openRun`. @internal */
export interface BatchRun {
  readonly limiter: Limiter;
  readonly ctx: RunContext;
  /** Units can retry: each runs in its own retry scope (`_scoped`). */
  readonly scoped: boolean;
  /** A unit failed for good: stops the run and rethrows `error`. */
  fail(error: unknown): never;
  /** Waits for the workers; rejects with the first failed unit's own error or the caller's abort reason. */
  join(workers: Promise<void>[]): Promise<void>;
}

export interface RunContext {
  readonly limiter: Limiter;
  readonly local: LocalLimiter | undefined;
  /** Aborted when the caller aborts or the run has failed for good. */
  readonly signal: AbortSignal;
  readonly countTokens: boolean;
  readonly observe: boolean;
  readonly aimd: AimdController | undefined;
  readonly rateAimd: AimdController | undefined;
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

/** The `maxPerWindow` a shared limiter had before an adaptive node first adapted its rate. */
const registeredRates = new WeakMap<RateLimiter, number>();

/** Marks "no first attempt was made by the caller" in `_attempts`. */
const NOT_HELD: unique symbol = Symbol("not held");

/** Backoff before re-running a rate-limited item whose error gave no retry hint. */
function rateLimitBackoffMs(retry: number): number {
  return Math.min(5_000, 50 * 2 ** retry);
}

/**
 * `AsyncParallelBatchNode` with a limit: at most `maxConcurrent` items at once
 * and at most `maxPerMinute` starts per minute, results in input order.
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
  declare limiter: Limiter | string | undefined;
  declare observeHeaders: boolean;

  /** @internal */
  protected static _validators: Readonly<Record<string, Validator>> = THROTTLE_VALIDATORS;
  /** @internal */
  protected static _defaults: Readonly<Record<string, unknown>> = {
    maxConcurrent: 5,
    maxPerMinute: undefined,
    maxTokensPerMinute: undefined,
    limiter: undefined,
    observeHeaders: true,
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

  /** True for a rate-limit error; override to recognise a client's own errors. */
  static isRateLimitError(error: unknown): boolean {
    return isRateLimitError(error);
  }

  /** Estimated tokens of one item (default: its JSON length / 4). */
  estimateTokens(item: Item): number {
    const json = JSON.stringify(item);
    return json === undefined ? 0 : Math.ceil(json.length / 4);
  }

  /** Actual tokens a result used (default: OpenAI or Anthropic `usage`); `undefined` keeps the estimate. */
  usageOf(result: Result): number | undefined {
    const usage = (result as { usage?: Record<string, unknown> } | null | undefined)?.usage;
    if (usage === null || typeof usage !== "object") return undefined;
    if (typeof usage.total_tokens === "number") return usage.total_tokens;
    if (typeof usage.input_tokens === "number" && typeof usage.output_tokens === "number") {
      return usage.input_tokens + usage.output_tokens;
    }
    return undefined;
  }

  /** The limiter this execution runs under: the `limiter` option, or a fresh one of the node's own. @internal */
  _limiterForRun(): Limiter {
    return (
      resolveLimiter(this.limiter) ??
      new RateLimiter({
        maxConcurrent: this.maxConcurrent,
        maxPerWindow: this.maxPerMinute,
        maxTokensPerWindow: this.maxTokensPerMinute,
        windowSeconds: 60,
      })
    );
  }

  /** The AIMD controllers of an adaptive node (none here). @internal */
  _adaptiveForRun(_limiter: Limiter): { aimd?: AimdController; rateAimd?: AimdController; detach(): void } {
    return { detach() {} };
  }

  /** How many workers pull items: enough for the highest concurrency the run can reach. @internal */
  _workerCount(limiter: Limiter): number {
    return Math.max(this.maxConcurrent, limiter.maxConcurrent);
  }

  override async _execAsync(items: Iterable<Item> | null | undefined, signal?: AbortSignal): Promise<Result[]> {
    const self = raw(this);
    const list = batchItems(items, self, "prepAsync");
    const batch = self._openRun(signal);
    const { limiter, ctx: run } = batch;
    const size = Array.isArray(list) ? list.length : Number.POSITIVE_INFINITY;
    const results: Result[] = Array.isArray(list) ? new Array<Result>(list.length) : [];
    const iterator = list[Symbol.iterator]();
    let next = 0;
    // The common case (in-process limiter, no token budget, no adaptation, no retry scope) makes
    // the first attempt right here: one await per item, like a bare pool. Anything else, or a
    // first attempt that fails, goes through `_attempts`.
    const local = run.local;
    const fast = local !== undefined && !run.countTokens && run.aimd === undefined && !batch.scoped;
    const worker = async (): Promise<void> => {
      while (!run.signal.aborted) {
        const step = iterator.next();
        if (step.done) return;
        const index = next++;
        try {
          if (fast && local.tryStart(0) >= 0) {
            let result: Result;
            try {
              result = await self.execAsync(step.value);
            } catch (error) {
              results[index] = (await self._attempts(step.value, run, error)) as Result;
              continue;
            }
            try {
              if (run.observe && result !== null && typeof result === "object") self._observe(limiter, result);
            } finally {
              local.finishStart();
            }
            results[index] = result;
            continue;
          }
          const item = step.value;
          results[index] = (await (batch.scoped ? self._scoped(() => self._attempts(item, run)) : self._attempts(item, run))) as Result;
        } catch (error) {
          batch.fail(error);
        }
      }
    };
    await batch.join(Array.from({ length: Math.min(size, self._workerCount(limiter)) }, worker));
    return results;
  }

  /**
   * Sets up one execution: its limiter, adaptation, retry scopes and the
   * signal its waits listen to. That signal is aborted with the caller's
   * reason when `signal` aborts, or by `fail(error)` once a unit has failed
   * for good, so queued units leave the limiter at once, no unit starts
   * another attempt and workers stop pulling. `join` waits for the workers
   * and rejects with the first failed unit's own error (or the caller's
   * abort reason); everything is released once every worker has settled. @internal
   */
  _openRun(signal: AbortSignal | undefined): BatchRun {
    const limiter = this._limiterForRun();
    const adaptive = this._adaptiveForRun(limiter);
    const controller = new AbortController();
    // Every waiting unit listens here: one listener per worker at most, so no leak warning is due.
    setMaxListeners(0, controller.signal);
    const forward = () => controller.abort(signal?.reason);
    if (signal?.aborted) forward();
    else signal?.addEventListener("abort", forward, { once: true });
    const ctx = this._runContext(limiter, adaptive, controller.signal);
    const closeScopes = this._openRetryScopes();
    let failure: { error: unknown } | undefined;
    return {
      limiter,
      ctx,
      // Per-unit retry scopes only when units can retry; otherwise no closure per unit on the hot path.
      scoped: closeScopes !== undefined,
      fail(error) {
        failure ??= { error };
        if (!controller.signal.aborted) controller.abort(error);
        throw error;
      },
      async join(workers) {
        Promise.allSettled(workers).then(() => {
          closeScopes?.();
          adaptive.detach();
          signal?.removeEventListener("abort", forward);
        });
        try {
          await Promise.all(workers);
        } catch (error) {
          throw failure ? failure.error : error;
        }
        signal?.throwIfAborted();
      },
    };
  }

  /** What one execution needs, kept off the node object. @internal */
  _runContext(
    limiter: Limiter,
    adaptive: { aimd?: AimdController; rateAimd?: AimdController },
    signal: AbortSignal,
  ): RunContext {
    return {
      limiter,
      local: limiter instanceof LocalLimiter ? limiter : undefined,
      signal,
      // A limiter from elsewhere (Redis, custom) always gets the estimate; an in-process one when it keeps a token budget.
      countTokens:
        !(limiter instanceof LocalLimiter) || (limiter as { maxTokensPerWindow?: number }).maxTokensPerWindow !== undefined,
      observe: this.observeHeaders !== false,
      aimd: adaptive.aimd,
      rateAimd: adaptive.rateAimd,
    };
  }

  /** One call for a unit of work: an item here, a batch of items in micro-batching. @internal */
  _call(unit: unknown): Promise<unknown> {
    return this.execAsync(unit as Item);
  }

  /** Estimated tokens of a unit. @internal */
  _unitTokens(unit: unknown): number {
    return this.estimateTokens(unit as Item);
  }

  /** Actual tokens a unit's result used. @internal */
  _unitUsage(_unit: unknown, result: unknown): number | undefined {
    return this.usageOf(result as Result);
  }

  /** A unit failed for good: the fallback decides (the default rethrows). @internal */
  _exhausted(unit: unknown, error: unknown, _run: RunContext): Promise<unknown> {
    return this.execFallbackAsync(unit as Item, error);
  }

  /**
   * Acquire, call, observe, settle, release, for each attempt of a unit.
   * `heldError` is the error of a first attempt the worker's fast path made
   * while holding an in-process slot (no token budget); that slot is released here. @internal
   */
  async _attempts(unit: unknown, run: RunContext, heldError: unknown = NOT_HELD): Promise<unknown> {
    // A bad estimate (NaN, negative) would corrupt the window's token sum: fail the unit instead.
    const tokens = run.countTokens ? checkTokenCount("estimateTokens", this._unitTokens(unit)) : 0;
    let rateLimitRetries = 0;
    for (let attempt = 0; ; ) {
      // Acquire: the allocation-free path for in-process limiters, a permit otherwise.
      let permit: Permit | undefined;
      let seq = 0;
      let result: unknown;
      let failed = false;
      let error: unknown;
      if (heldError !== NOT_HELD) {
        failed = true;
        error = heldError;
        heldError = NOT_HELD;
      } else {
        if (run.local) {
          seq = run.local.tryStart(tokens);
          if (seq < 0) seq = await run.local.waitStart(tokens, run.signal);
        } else {
          permit = await run.limiter.acquire({ signal: run.signal, tokens });
        }
        if (run.signal.aborted) {
          // Granted just as the run stopped: give the slot and the token estimate back and make no call.
          if (permit) {
            if (tokens > 0) permit.settle(0);
            permit.release();
          } else {
            if (tokens > 0) run.local?.settleStart(seq, tokens, 0);
            run.local?.finishStart();
          }
          run.signal.throwIfAborted();
        }
        try {
          result = await this._call(unit);
        } catch (e) {
          failed = true;
          error = e;
        }
      }
      if (failed) {
        const rateLimited = (this.constructor as typeof ThrottledParallelBatchNode).isRateLimitError(error);
        const retryAfter = rateLimited ? retryAfterOf(error) : undefined;
        try {
          if (run.observe) this._observe(run.limiter, error);
          if (retryAfter !== undefined && retryAfter > 0) run.limiter.pause(retryAfter);
          if (rateLimited && run.aimd) {
            // Back off before freeing the slot, so no waiting item takes it at the old concurrency.
            run.aimd.rateLimited();
            run.rateAimd?.rateLimited();
          }
        } finally {
          if (permit) permit.release();
          else run.local?.finishStart();
        }
        run.signal.throwIfAborted(); // the run was aborted or the batch already failed: no retry, no fallback
        if (rateLimited && run.aimd) {
          const maxRateLimitRetries = (this as { maxRateLimitRetries?: number }).maxRateLimitRetries ?? 0;
          if (rateLimitRetries < maxRateLimitRetries) {
            const waitMs = retryAfter !== undefined ? retryAfter * 1000 : rateLimitBackoffMs(rateLimitRetries);
            rateLimitRetries++;
            await sleep(waitMs, run.signal);
            continue;
          }
          if ((this as { propagateRateLimit?: boolean }).propagateRateLimit) {
            const message = error instanceof Error ? error.message : String(error);
            throw new RateLimitHit(`Rate limit detected: ${message}`, {
              retryAfter,
              source: this.constructor.name,
              cause: error,
            });
          }
          // Out of rate-limit re-runs: the unit fails for good (1 + maxRateLimitRetries attempts in all).
          return await this._exhausted(unit, error, run);
        }
        if (attempt < this.maxRetries - 1) {
          this.curRetry = ++attempt;
          if (this.wait > 0) await sleep(this.wait * 1000, run.signal);
          run.signal.throwIfAborted();
          continue;
        }
        return await this._exhausted(unit, error, run);
      }
      try {
        if (run.observe) this._observe(run.limiter, result);
        if (run.countTokens) {
          const used = this._unitUsage(unit, result);
          if (used !== undefined) {
            if (permit) permit.settle(used);
            else run.local?.settleStart(seq, tokens, used);
          }
        }
        run.aimd?.success();
        run.rateAimd?.success();
      } finally {
        if (permit) permit.release();
        else run.local?.finishStart();
      }
      return result;
    }
  }

  /** @internal */
  _observe(limiter: Limiter, value: unknown): void {
    if (value === null || typeof value !== "object") return;
    const headers = headersOf(value);
    if (headers !== undefined) limiter.observe(headers);
  }
}

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
  declare propagateRateLimit: boolean;
  declare maxRateLimitRetries: number;
  declare adaptRate: boolean;
  /** Adaptive state, shared with every copy a flow makes of this node. @internal */
  declare _aimd: AimdController;
  /** @internal */
  declare _rateAimd: AimdController;

  /** @internal */
  protected static override _validators: Readonly<Record<string, Validator>> = ADAPTIVE_VALIDATORS;
  /** @internal */
  protected static override _defaults: Readonly<Record<string, unknown>> = {
    ...ThrottledParallelBatchNode._defaults,
    maxConcurrent: 20,
    initialConcurrent: 5,
    minConcurrent: 1,
    backoffFactor: 0.5,
    recoveryThreshold: 10,
    recoveryFactor: 1.2,
    propagateRateLimit: false,
    maxRateLimitRetries: 5,
    adaptRate: false,
  };

  constructor(options: AdaptiveThrottleOptions = {}) {
    super(options);
    const self = raw(this);
    Object.defineProperty(self, "_aimd", { value: new AimdController(), enumerable: true, writable: true });
    Object.defineProperty(self, "_rateAimd", { value: new AimdController(), enumerable: true, writable: true });
    // Bounds given together to the constructor are checked now; fields are checked when a run starts.
    const { minConcurrent: min, maxConcurrent: max, initialConcurrent: initial } = options;
    checkBounds({ min, initial, max }, NODE_NAMES);
  }

  /** The concurrency in force. */
  get currentConcurrent(): number {
    return this._aimd.current || this.initialConcurrent;
  }

  /** `{ currentConcurrent, totalSuccesses, totalRateLimits, consecutiveSuccesses }`, true across flow copies. */
  get stats(): AdaptiveNodeStats {
    const s = this._aimd.stats;
    const stats: AdaptiveNodeStats = {
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

  /** @internal */
  _configureAdaptive(): void {
    const settings = {
      initial: this.initialConcurrent,
      min: this.minConcurrent,
      max: this.maxConcurrent,
      backoffFactor: this.backoffFactor,
      recoveryThreshold: this.recoveryThreshold,
      recoveryFactor: this.recoveryFactor,
    };
    checkBounds({ initial: settings.initial, max: settings.max }, NODE_NAMES);
    this._aimd.configure(settings, NODE_NAMES);
  }

  override _limiterForRun(): Limiter {
    this._configureAdaptive();
    return super._limiterForRun(); // concurrency and rate are set to the adapted levels by _adaptiveForRun
  }

  override _adaptiveForRun(limiter: Limiter): { aimd?: AimdController; rateAimd?: AimdController; detach(): void } {
    // Adjustments apply live to this run's limiter (a shared limiter is adapted for everyone who uses it).
    limiter.setConcurrency(this._aimd.current);
    const offConcurrency = this._aimd.onChange((level) => limiter.setConcurrency(level));
    let rateAimd: AimdController | undefined;
    let offRate: () => unknown = () => undefined;
    if (this.adaptRate && this.maxPerMinute !== undefined && limiter instanceof RateLimiter && limiter.maxPerWindow !== undefined) {
      rateAimd = this._rateAimd;
      // The node's own limiter adapts from maxPerMinute; a shared one within its own window and the
      // limit it was registered with (remembered, so later runs can recover up to it).
      let base = this.maxPerMinute;
      if (this.limiter !== undefined) {
        base = registeredRates.get(limiter) ?? limiter.maxPerWindow;
        registeredRates.set(limiter, base);
      }
      rateAimd.configure(
        {
          initial: base,
          min: 1,
          max: base,
          backoffFactor: this.backoffFactor,
          recoveryThreshold: this.recoveryThreshold,
          recoveryFactor: this.recoveryFactor,
        },
        { ...NODE_NAMES, initial: "maxPerMinute", min: "maxPerMinute", max: "maxPerMinute" },
      );
      limiter.setMaxPerWindow(rateAimd.current);
      offRate = rateAimd.onChange((perMinute) => limiter.setMaxPerWindow(perMinute));
    }
    return {
      aimd: this._aimd,
      rateAimd,
      detach() {
        offConcurrency();
        offRate();
      },
    };
  }
}
