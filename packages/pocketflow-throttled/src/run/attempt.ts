/**
 * One attempt of one unit of work (an item, a micro-batch): acquire a start,
 * make the call, observe the provider's headers, settle the token usage,
 * release, and hand a failure to the retry policies. Every node and flow
 * runs its units through this one path, so each concern has one home.
 *
 * The in-process fast path (`tryFast` / `call` / `finishFast`) takes a start
 * synchronously from the limiter's gate and allocates nothing of its own.
 */
import { type RunTrace, sleep } from "pocketflow-ts";
import { headersOf, quotaViolationsOf } from "../detect.js";
import { BudgetExceeded, LimiterTimeout } from "../errors.js";
import type { Books, Hold } from "../ledger/books.js";
import { type Limiter, type LocalGate, type Permit, type TokenUsage, ZERO_WEIGHT } from "../limiters/limiter.js";
import type { Weight } from "../limiters/windows.js";
import { type AttemptTrace, startTrace, traceAttempt, traceFailure, traceHeld, traceSuccess, traceWait } from "../observe/attempts.js";
import { attemptChannel, becauseOf } from "../observe/channels.js";
import { limitsFromViolations } from "./learn.js";
import { estimateWeight, hasParts, usageWeight } from "./weights.js";
import type { RunLifecycle, UnitRunner } from "./pool.js";
import type { RefusalKind, RetryPolicy, RetryState } from "./retry.js";

/** What the engine asks of the node or flow that owns the units. */
export interface UnitHooks<U, R> {
  /** The call itself (`execAsync`, `execBatchAsync`, a flow instance). */
  call(unit: U): Promise<R>;
  /**
   * Estimated tokens of the unit, a total or `{ inputTokens, outputTokens }`;
   * only asked when the limiter weighs tokens.
   */
  estimate(unit: U): number | TokenUsage;
  /** Actual tokens the result used, a total or its parts (`undefined`: keep the estimate). */
  usage(unit: U, result: R): number | TokenUsage | undefined;
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

/** Adaptive control bound to a run (AIMD on concurrency, and on rate). */
export interface AdaptiveBinding {
  rateLimited(): void;
  success(): void;
}

/** Everything one run's attempts share. */
export interface AttemptOptions<U, R> {
  readonly limiter: Limiter;
  readonly lifecycle: RunLifecycle;
  readonly hooks: UnitHooks<U, R>;
  readonly policy: RetryPolicy;
  /** Feed rate-limit headers of results and errors to the limiter. */
  readonly observe: boolean;
  /** @default undefined (not adaptive) */
  readonly adaptive?: AdaptiveBinding | undefined;
  /** Runs a unit's attempts in their own `curRetry` scope (only when units can retry). @default undefined (no scope) */
  readonly scope?: (<T>(work: () => Promise<T>) => Promise<T>) | undefined;
  /** A start that cannot happen within this long fails with `LimiterTimeout`. @default undefined (the limiter's own bound) */
  readonly maxWaitSeconds?: number | undefined;
  /** The run's ledger and budget: every attempt recorded, every start reserved. @default undefined (none: nothing recorded) */
  readonly books?: Books | undefined;
  /** The node's or flow's traced run (`pocketflow:run`), for attempt messages. @default undefined */
  readonly run?: RunTrace | undefined;
}

/** A unit's retry state; `trace` only while attempts are published. */
type UnitState = RetryState & { trace?: AttemptTrace };

/**
 * What a unit asks of the limiter: its weight, and whether its hooks speak in
 * totals (a number) or in parts — a limiter reached through `acquire` is told
 * in the same terms (a custom limiter may know totals only).
 */
interface Ask {
  readonly weight: Weight;
  readonly parts: boolean;
}

const NO_ASK: Ask = Object.freeze({ weight: ZERO_WEIGHT, parts: false });

/** A start that is held: a permit, or an in-process gate's sequence number, and what it asked for. */
interface Start {
  readonly permit: Permit | undefined;
  readonly seq: number;
  readonly ask: Ask;
}

/** The start a fast attempt holds: the gate's, with no token weight. */
const FAST_START: Start = Object.freeze({ permit: undefined, seq: 0, ask: NO_ASK });

/**
 * True when units need a token estimate: the limiter's windows weigh tokens,
 * or it may learn such windows, or it is store-backed or custom (it always
 * gets one).
 */
export function countsTokens(limiter: Limiter): boolean {
  if (limiter.gate === undefined || limiter.maxTokensPerWindow !== undefined || learns(limiter)) return true;
  const windows = limiter.windows;
  if (windows === undefined) return false;
  for (const w of windows) {
    if (w.maxTokens !== undefined || w.maxInputTokens !== undefined || w.maxOutputTokens !== undefined || w.maxCostUsd !== undefined) return true;
  }
  return false;
}

/** True for a limiter that takes limits from the provider's answers. */
function learns(limiter: Limiter): boolean {
  return (limiter as { learnLimits?: unknown }).learnLimits === true;
}

/** Feeds the headers of a result or an error to the limiter. */
function observeHeaders(limiter: Limiter, value: unknown): void {
  if (value === null || typeof value !== "object") return;
  const headers = headersOf(value);
  if (headers !== undefined) limiter.observe(headers);
}

/** The attempts of one run's units. */
export class Attempts<U, R> implements UnitRunner<U, R> {
  readonly fast: boolean;
  private readonly limiter: Limiter;
  private readonly gate: LocalGate | undefined;
  private readonly signal: AbortSignal;
  private readonly hooks: UnitHooks<U, R>;
  private readonly countTokens: boolean;
  /** The limiter learns from answers: every answer, headers or not, is observed. */
  private readonly learning: boolean;
  private readonly maxWaitMs: number | undefined;
  private readonly rerun = (unit: U): Promise<R> => this.first(unit, -1);
  /** Attempts are published (a subscriber listened as the run started): the fast path is off. */
  private readonly traced: boolean;

  constructor(private readonly options: AttemptOptions<U, R>) {
    this.limiter = options.limiter;
    this.gate = options.limiter.gate;
    this.signal = options.lifecycle.signal;
    this.hooks = options.hooks;
    this.countTokens = countsTokens(options.limiter);
    this.learning = learns(options.limiter);
    this.maxWaitMs = options.maxWaitSeconds === undefined ? undefined : options.maxWaitSeconds * 1000;
    this.traced = attemptChannel.hasSubscribers;
    // The fast path holds no permit and no estimate, and has nothing to tell an adaptive controller.
    this.fast =
      this.gate !== undefined && !this.countTokens && !this.learning && options.adaptive === undefined && options.scope === undefined &&
      options.books === undefined &&
      !this.traced;
  }

  tryFast(): boolean {
    return (this.gate as LocalGate).tryStart(ZERO_WEIGHT) >= 0;
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

  run(unit: U, index: number): Promise<R> {
    const scope = this.options.scope;
    return scope ? scope(() => this.first(unit, index)) : this.first(unit, index);
  }

  private first(unit: U, index: number): Promise<R> {
    // A bad estimate (NaN, negative, a string) would corrupt the window's token sum: fail the unit instead.
    let ask = NO_ASK;
    if (this.countTokens || this.options.books?.needsEstimate) {
      const estimate = this.hooks.estimate(unit);
      ask = { weight: estimateWeight("estimateTokens", estimate), parts: hasParts(estimate) };
    }
    const state: UnitState = { attempt: 0, rateLimitRetries: 0 };
    if (this.traced) state.trace = startTrace(this.options.run, index);
    const books = this.options.books;
    if (books?.costs && ask.weight.costUsd === 0) return this.priced(books, unit, ask, state);
    return this.attempt(unit, ask, state);
  }

  /** Prices the estimate once the model is known: until the first answer, one attempt goes alone. */
  private async priced(books: Books, unit: U, ask: Ask, state: UnitState): Promise<R> {
    await books.modelKnown(this.signal);
    this.signal.throwIfAborted();
    return this.attempt(unit, { weight: books.priced(ask.weight), parts: ask.parts }, state);
  }

  /** One attempt: take a start, call, settle; a failure goes to the policies. */
  private async attempt(unit: U, ask: Ask, state: UnitState): Promise<R> {
    const trace = state.trace;
    if (trace !== undefined) traceWait(trace, this.limiter);
    const books = this.options.books;
    const hold = books === undefined ? undefined : await this.reserve(books, unit, ask);
    let start: Start;
    try {
      // A start the gate grants at once needs no promise of its own.
      start = this.takeNow(ask) ?? (await this.take(ask, trace));
    } catch (error) {
      books?.attemptEnded();
      if (hold !== undefined) await books?.cancel(hold);
      // A budget window of the limiter refused the start: like the node's budget, it ends the run.
      if (error instanceof BudgetExceeded) this.options.lifecycle.fail(error);
      throw error;
    }
    if (trace !== undefined) traceAttempt(trace);
    let result: R;
    try {
      result = await this.hooks.call(unit);
    } catch (error) {
      return this.failed(unit, error, start, state, hold);
    }
    let recorded: Promise<void> | undefined | void;
    try {
      this.observe(result);
      let used: Weight | undefined;
      if (this.countTokens || books !== undefined || trace !== undefined) {
        const usage = this.hooks.usage(unit, result);
        if (usage !== undefined) used = usageWeight("usageOf", usage, start.ask.weight);
        const paid = books?.record(unit, hold, result, usage, false);
        // A window of dollars settles at what the ledger's prices say the attempt cost.
        if (books?.costs && paid?.costUsd !== undefined && (usage === null || typeof usage !== "object" || usage.costUsd === undefined)) {
          used = { ...(used ?? start.ask.weight), costUsd: paid.costUsd };
        }
        if (this.countTokens && used !== undefined) this.settle(start, used, hasParts(usage));
        recorded = books?.correct(hold, paid);
      }
      if (trace !== undefined) traceSuccess(trace, used ?? (start.ask.weight === ZERO_WEIGHT ? undefined : start.ask.weight));
      this.options.adaptive?.success();
    } finally {
      this.release(start);
    }
    if (recorded !== undefined) await recorded;
    return result;
  }

  /** Reserves the start in the budget; a refusal stops the run (no further start), a key error fails this unit only. */
  private async reserve(books: Books, unit: U, ask: Ask): Promise<Hold | undefined> {
    try {
      return await books.begin(unit, ask.weight);
    } catch (error) {
      if (error instanceof BudgetExceeded) this.options.lifecycle.fail(error);
      throw error;
    }
  }

  /** Settles a failed attempt (headers, pause, back-off, release) and follows the policies' decision. */
  private async failed(unit: U, error: unknown, start: Start, state: UnitState, hold?: Hold): Promise<R> {
    const kind = this.hooks.classify(error);
    if (kind !== undefined) this.limiter.noteRefusal?.(kind);
    const retryAfter = kind === undefined ? undefined : this.hooks.retryAfter(error);
    // A hint beyond the bounded wait fails the unit (below) rather than freezing the limiter for everyone.
    const bounded = this.maxWaitMs !== undefined && retryAfter !== undefined && retryAfter * 1000 > this.maxWaitMs;
    let recorded: Promise<void> | undefined | void;
    try {
      recorded = this.options.books?.end(unit, hold, error, undefined, true);
      this.observe(error);
      if (this.learning && (kind === "rate-limit" || kind === "quota")) this.learnFrom(error);
      if (kind === "rate-limit") {
        if (retryAfter !== undefined && retryAfter > 0 && !bounded) becauseOf("retry-after", () => this.limiter.pause(retryAfter, error));
        // Back off before freeing the slot, so no waiting unit takes it at the old concurrency.
        this.options.adaptive?.rateLimited();
      }
    } finally {
      this.release(start);
    }
    if (recorded !== undefined) await recorded;
    if (state.trace !== undefined && this.signal.aborted) traceFailure(state.trace, error, kind, "aborted", false);
    this.signal.throwIfAborted(); // the run was aborted or already failed: no retry, no fallback
    const decision = this.options.policy.decide({ error, kind, retryAfter }, state);
    if (state.trace !== undefined) traceFailure(state.trace, error, kind, kind === undefined ? "error" : "refused", decision?.action === "retry");
    if (decision === undefined || decision.action === "fail") {
      const final = decision ?? { error, fallback: true, stopRun: false };
      if (final.stopRun) this.options.lifecycle.fail(final.error);
      if (final.fallback) return this.hooks.fallback(unit, final.error, this.rerun);
      throw final.error;
    }
    if (this.maxWaitMs !== undefined && decision.waitMs > this.maxWaitMs) {
      const waitSeconds = decision.waitMs / 1000;
      throw new LimiterTimeout(`a re-run would wait ${waitSeconds} s for the provider's retry hint, over maxWaitSeconds ${this.maxWaitMs / 1000}`, {
        waitSeconds,
        cause: error,
      });
    }
    if (state.trace !== undefined) state.trace.backoffMs = decision.waitMs;
    if (decision.counter === "attempt") this.hooks.setAttempt(++state.attempt);
    else state.rateLimitRetries++;
    if (decision.waitMs > 0) await sleep(decision.waitMs, this.signal);
    this.signal.throwIfAborted();
    return this.attempt(unit, start.ask, state);
  }

  /** A refusal that states its quotas (Gemini's QuotaFailure) teaches a learning limiter its windows. */
  private learnFrom(error: unknown): void {
    const limits = limitsFromViolations(quotaViolationsOf(error));
    if (limits !== undefined) this.limiter.learn?.(limits);
  }

  /** Feeds an answer (a result or an error) to the limiter: its headers, and that an answer arrived. */
  private observe(value: unknown): void {
    if (!this.options.observe) return;
    if (this.learning) this.limiter.observe(value !== null && typeof value === "object" ? headersOf(value) : undefined);
    else observeHeaders(this.limiter, value);
  }

  /** A start of the in-process gate taken at once, or `undefined` (then `take`). */
  private takeNow(ask: Ask): Start | undefined {
    if (this.gate === undefined || this.signal.aborted) return undefined;
    const seq = this.gate.tryStart(ask.weight);
    return seq < 0 ? undefined : { permit: undefined, seq, ask };
  }

  /** Waits for a start of `ask` (FIFO); a grant that lands as the run stops is given back unused. */
  private async take(ask: Ask, trace?: AttemptTrace): Promise<Start> {
    const gate = this.gate;
    let start: Start;
    if (gate !== undefined) {
      let seq = gate.tryStart(ask.weight);
      if (seq < 0) {
        if (trace !== undefined) traceHeld(trace, this.limiter);
        seq = await gate.waitStart(ask.weight, this.signal, this.maxWaitMs);
      }
      start = { permit: undefined, seq, ask };
    } else {
      const { weight } = ask;
      const permit = await this.limiter.acquire({
        signal: this.signal,
        tokens: weight.tokens,
        ...(ask.parts ? { inputTokens: weight.inputTokens, outputTokens: weight.outputTokens } : {}),
        ...(weight.costUsd === 0 ? {} : { costUsd: weight.costUsd }),
        ...(this.options.maxWaitSeconds === undefined ? {} : { maxWaitSeconds: this.options.maxWaitSeconds }),
      });
      start = { permit, seq: 0, ask };
    }
    if (this.signal.aborted) {
      if (ask.weight !== ZERO_WEIGHT) this.settle(start, ZERO_WEIGHT, ask.parts);
      this.release(start);
      this.signal.throwIfAborted();
    }
    return start;
  }

  /** Replaces the start's estimate by `used`; a permit hears a total unless the hooks gave parts. */
  private settle(start: Start, used: Weight, parts: boolean): void {
    if (start.permit) start.permit.settle(parts ? used : used.costUsd === start.ask.weight.costUsd ? used.tokens : { tokens: used.tokens, costUsd: used.costUsd });
    else this.gate?.settleStart(start.seq, start.ask.weight, used);
  }

  private release(start: Start): void {
    if (start.permit) start.permit.release();
    else this.gate?.finishStart();
  }
}
