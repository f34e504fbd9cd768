/**
 * One attempt of one unit of work (an item, a micro-batch): acquire a start,
 * make the call, observe the provider's headers, settle the token usage,
 * release, and hand a failure to the retry policies. Every node and flow
 * runs its units through this one path, so each concern has one home.
 *
 * The in-process fast path (`tryFast` / `call` / `finishFast`) takes a start
 * synchronously from the limiter's gate and allocates nothing of its own.
 */
import { sleep } from "pocketflow";
import { headersOf } from "../detect.js";
import type { Limiter, LocalGate, Permit } from "../limiters/limiter.js";
import { checkTokenCount } from "../validate.js";
import type { RunLifecycle, UnitRunner } from "./pool.js";
import type { RefusalKind, RetryPolicy, RetryState } from "./retry.js";

/** What the engine asks of the node or flow that owns the units. @internal */
export interface UnitHooks<U, R> {
  /** The call itself (`execAsync`, `execBatchAsync`, a flow instance). */
  call(unit: U): Promise<R>;
  /** Estimated tokens of the unit; only asked when the limiter counts tokens. */
  estimate(unit: U): number;
  /** Actual tokens the result used (`undefined`: keep the estimate). */
  usage(unit: U, result: R): number | undefined;
  /**
   * The unit failed for good: the fallback decides (the default rethrows).
   * `rerun` runs other units through the same attempt path (micro-batch splits).
   */
  fallback(unit: U, error: unknown, rerun: (unit: U) => Promise<R>): Promise<R>;
  /** What a failure means; `undefined` for an ordinary error. */
  classify(error: unknown): RefusalKind | undefined;
  /** Seconds the provider asked to wait, if it said. */
  retryAfter(error: unknown): number | undefined;
  /** Called before a retry with the attempt number it makes (the node's `curRetry`). */
  setAttempt(attempt: number): void;
}

/** Adaptive control bound to a run (AIMD on concurrency, and on rate). @internal */
export interface AdaptiveBinding {
  rateLimited(): void;
  success(): void;
}

/** Everything one run's attempts share. @internal */
export interface AttemptOptions<U, R> {
  readonly limiter: Limiter;
  readonly lifecycle: RunLifecycle;
  readonly hooks: UnitHooks<U, R>;
  readonly policy: RetryPolicy;
  /** Feed rate-limit headers of results and errors to the limiter. */
  readonly observe: boolean;
  readonly adaptive?: AdaptiveBinding | undefined;
  /** Runs a unit's attempts in their own `curRetry` scope (only when units can retry). */
  readonly scope?: (<T>(work: () => Promise<T>) => Promise<T>) | undefined;
}

/** A start that is held: a permit, or an in-process gate's sequence number. */
interface Start {
  readonly permit: Permit | undefined;
  readonly seq: number;
  readonly tokens: number;
}

/** The start a fast attempt holds: the gate's, with no token weight. */
const FAST_START: Start = Object.freeze({ permit: undefined, seq: 0, tokens: 0 });

/** True when the limiter's windows weigh tokens, so units need an estimate (a store-backed or custom limiter always gets one). @internal */
export function countsTokens(limiter: Limiter): boolean {
  return limiter.gate === undefined || limiter.maxTokensPerWindow !== undefined;
}

/** A usage or estimate from user code: a finite number >= 0; the error names the hook and quotes the value. @internal */
export function checkHookTokens(hook: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`${hook} must return a finite number >= 0 (or undefined), got ${typeof value} ${JSON.stringify(value) ?? String(value)}`);
  }
  return checkTokenCount(hook, value);
}

/** Feeds the headers of a result or an error to the limiter. */
function observeHeaders(limiter: Limiter, value: unknown): void {
  if (value === null || typeof value !== "object") return;
  const headers = headersOf(value);
  if (headers !== undefined) limiter.observe(headers);
}

/** The attempts of one run's units. @internal */
export class Attempts<U, R> implements UnitRunner<U, R> {
  readonly fast: boolean;
  private readonly limiter: Limiter;
  private readonly gate: LocalGate | undefined;
  private readonly signal: AbortSignal;
  private readonly hooks: UnitHooks<U, R>;
  private readonly countTokens: boolean;
  private readonly rerun = (unit: U): Promise<R> => this.first(unit);

  constructor(private readonly options: AttemptOptions<U, R>) {
    this.limiter = options.limiter;
    this.gate = options.limiter.gate;
    this.signal = options.lifecycle.signal;
    this.hooks = options.hooks;
    this.countTokens = countsTokens(options.limiter);
    // The fast path holds no permit and no estimate, and has nothing to tell an adaptive controller.
    this.fast = this.gate !== undefined && !this.countTokens && options.adaptive === undefined && options.scope === undefined;
  }

  tryFast(): boolean {
    return (this.gate as LocalGate).tryStart(0) >= 0;
  }

  call(unit: U): Promise<R> {
    return this.hooks.call(unit);
  }

  finishFast(result: R): void {
    try {
      if (this.options.observe && result !== null && typeof result === "object") observeHeaders(this.limiter, result);
    } finally {
      (this.gate as LocalGate).finishStart();
    }
  }

  recoverFast(unit: U, error: unknown): Promise<R> {
    return this.failed(unit, error, FAST_START, { attempt: 0, rateLimitRetries: 0 });
  }

  run(unit: U): Promise<R> {
    const scope = this.options.scope;
    return scope ? scope(() => this.first(unit)) : this.first(unit);
  }

  private first(unit: U): Promise<R> {
    // A bad estimate (NaN, negative, a string) would corrupt the window's token sum: fail the unit instead.
    const tokens = this.countTokens ? checkHookTokens("estimateTokens", this.hooks.estimate(unit)) : 0;
    return this.attempt(unit, tokens, { attempt: 0, rateLimitRetries: 0 });
  }

  /** One attempt: take a start, call, settle; a failure goes to the policies. */
  private async attempt(unit: U, tokens: number, state: RetryState): Promise<R> {
    const start = await this.take(tokens);
    let result: R;
    try {
      result = await this.hooks.call(unit);
    } catch (error) {
      return this.failed(unit, error, start, state);
    }
    try {
      if (this.options.observe) observeHeaders(this.limiter, result);
      if (this.countTokens) {
        const used = this.hooks.usage(unit, result);
        if (used !== undefined) this.settle(start, checkHookTokens("usageOf", used));
      }
      this.options.adaptive?.success();
    } finally {
      this.release(start);
    }
    return result;
  }

  /** Settles a failed attempt (headers, pause, back-off, release) and follows the policies' decision. */
  private async failed(unit: U, error: unknown, start: Start, state: RetryState): Promise<R> {
    const kind = this.hooks.classify(error);
    const retryAfter = kind === undefined ? undefined : this.hooks.retryAfter(error);
    try {
      if (this.options.observe) observeHeaders(this.limiter, error);
      if (kind === "rate-limit") {
        if (retryAfter !== undefined && retryAfter > 0) this.limiter.pause(retryAfter);
        // Back off before freeing the slot, so no waiting unit takes it at the old concurrency.
        this.options.adaptive?.rateLimited();
      }
    } finally {
      this.release(start);
    }
    this.signal.throwIfAborted(); // the run was aborted or already failed: no retry, no fallback
    const decision = this.options.policy.decide({ error, kind, retryAfter }, state);
    if (decision === undefined || decision.action === "fail") {
      const final = decision ?? { error, fallback: true, stopRun: false };
      if (final.stopRun) this.options.lifecycle.fail(final.error);
      if (final.fallback) return this.hooks.fallback(unit, final.error, this.rerun);
      throw final.error;
    }
    if (decision.counter === "attempt") this.hooks.setAttempt(++state.attempt);
    else state.rateLimitRetries++;
    if (decision.waitMs > 0) await sleep(decision.waitMs, this.signal);
    this.signal.throwIfAborted();
    return this.attempt(unit, start.tokens, state);
  }

  /** Waits for a start of `tokens` (FIFO); a grant that lands as the run stops is given back unused. */
  private async take(tokens: number): Promise<Start> {
    const gate = this.gate;
    let start: Start;
    if (gate !== undefined) {
      let seq = gate.tryStart(tokens);
      if (seq < 0) seq = await gate.waitStart(tokens, this.signal);
      start = { permit: undefined, seq, tokens };
    } else {
      const permit = await this.limiter.acquire({ signal: this.signal, tokens });
      start = { permit, seq: 0, tokens };
    }
    if (this.signal.aborted) {
      if (tokens > 0) this.settle(start, 0);
      this.release(start);
      this.signal.throwIfAborted();
    }
    return start;
  }

  private settle(start: Start, used: number): void {
    if (start.permit) start.permit.settle(used);
    else this.gate?.settleStart(start.seq, start.tokens, used);
  }

  private release(start: Start): void {
    if (start.permit) start.permit.release();
    else this.gate?.finishStart();
  }
}
