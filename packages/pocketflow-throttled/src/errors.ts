/** Options of {@link RateLimitHit}. */
export interface RateLimitHitOptions {
  /** Seconds to wait before trying again, when the provider said so. @default undefined (not known) */
  retryAfter?: number;
  /** Who limited us, e.g. `"openai"`. @default undefined */
  source?: string;
  /** The provider's own error. @default undefined (no `cause` property) */
  cause?: unknown;
}

/**
 * Signals a rate limit to whoever runs the failing work: an adaptive flow
 * backs off when one of its instances fails with it.
 *
 * @example
 * ```ts
 * try {
 *   return await client.chat.completions.create(request);
 * } catch (err) {
 *   if (isRateLimitError(err)) {
 *     throw new RateLimitHit("OpenAI rate limit", { retryAfter: retryAfterOf(err), source: "openai", cause: err });
 *   }
 *   throw err;
 * }
 * ```
 */
export class RateLimitHit extends Error {
  override readonly name = "RateLimitHit";
  /** Seconds to wait before trying again, if known. */
  readonly retryAfter?: number;
  /** Identifier of the limit's source, if known. */
  readonly source?: string;

  constructor(message = "Rate limit hit", options: RateLimitHitOptions = {}) {
    // Only pass `cause` when given, so `"cause" in err` stays meaningful.
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.retryAfter = options.retryAfter;
    this.source = options.source;
  }
}

/** Options of {@link LimiterTimeout}. */
export interface LimiterTimeoutOptions {
  /** The wait the start would have needed, in seconds (at least the `maxWaitSeconds` that ran out). */
  waitSeconds: number;
  /** What caused the wait, when known (e.g. the rate-limit error whose retry hint paused the limiter). @default undefined (no `cause` property) */
  cause?: unknown;
}

/**
 * A start that could not happen within `maxWaitSeconds` (a far reset, a long
 * retry hint, a pause, a full window): it fails at once instead of stalling.
 *
 * @example
 * ```ts
 * try {
 *   await limiter.run(() => callLlm(), { maxWaitSeconds: 30 });
 * } catch (err) {
 *   if (err instanceof LimiterTimeout) console.log(`would have waited ${err.waitSeconds} s`);
 * }
 * ```
 */
export class LimiterTimeout extends Error {
  override readonly name = "LimiterTimeout";
  /** The wait the start would have needed, in seconds. */
  readonly waitSeconds: number;

  constructor(message: string, options: LimiterTimeoutOptions) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.waitSeconds = options.waitSeconds;
  }
}

/** Options of {@link QuotaExhausted}. */
export interface QuotaExhaustedOptions {
  /** Who refused, e.g. `"openai"`. @default undefined */
  source?: string;
  /** The provider's own error. @default undefined (no `cause` property) */
  cause?: unknown;
}

/**
 * The provider's quota is used up (OpenAI `insufficient_quota`, a Gemini
 * per-day quota, an exhausted plan, billing or credit): it will not come back
 * soon, so the work fails at once instead of retrying. `cause` is the
 * provider's error; `classifyError` says `"quota"` for it.
 *
 * @example
 * ```ts
 * try {
 *   return await client.chat.completions.create(request);
 * } catch (err) {
 *   if (classifyError(err) === "quota") throw new QuotaExhausted("OpenAI quota used up", { source: "openai", cause: err });
 *   throw err;
 * }
 * ```
 */
export class QuotaExhausted extends Error {
  override readonly name = "QuotaExhausted";
  /** Identifier of the quota's source, if known. */
  readonly source?: string;

  constructor(message = "Provider quota exhausted", options: QuotaExhaustedOptions = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.source = options.source;
  }
}

/** Options of {@link BudgetExceeded}. */
export interface BudgetExceededOptions {
  /** What the budget had spent (including starts in flight) when the start was refused. */
  spent: number;
  /** The limit that start would have crossed. */
  limit: number;
  /** Which limit: `"maxCostUsd"`, `"maxTokens"`, `"maxRequests"`, or (a limiter's budget window) `"maxInputTokens"` / `"maxOutputTokens"`. */
  kind: "maxCostUsd" | "maxTokens" | "maxRequests" | "maxInputTokens" | "maxOutputTokens";
  /** The budget's key (`budget.key(item)`), `""` for one budget for all (and for a limiter's budget window). */
  key: string;
}

/**
 * A start whose estimate would cross a budget: it did not happen, and no
 * further item starts (items in flight finish and are recorded).
 *
 * @example
 * ```ts
 * try { await node.runAsync(shared); } catch (err) {
 *   if (err instanceof BudgetExceeded) console.log(`${err.key}: ${err.spent} of ${err.limit} spent`);
 * }
 * ```
 */
export class BudgetExceeded extends Error {
  override readonly name = "BudgetExceeded";
  readonly spent: number;
  readonly limit: number;
  readonly kind: BudgetExceededOptions["kind"];
  readonly key: string;

  constructor(message: string, options: BudgetExceededOptions) {
    super(message);
    this.spent = options.spent;
    this.limit = options.limit;
    this.kind = options.kind;
    this.key = options.key;
  }
}
