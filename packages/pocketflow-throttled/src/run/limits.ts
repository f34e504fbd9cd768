/**
 * The limit options nodes and flows share (DESIGN section 10), their checks,
 * and the own `RateLimiter` they stand for. One home for "how a node's
 * `maxPerSecond` becomes a window".
 */
import type { Validator } from "../configure.js";
import { RateLimiter, type RateLimiterOptions } from "../limiters/sliding-window.js";
import { type WindowLimit, windowRules } from "../limiters/windows.js";
import { checkBoolean, checkOptionalCount, checkPositive, checkWaitSeconds } from "../validate.js";

/** Limits as providers state them, for a node's or flow's own limiter. */
export interface LimitOptions {
  /**
   * At most this many starts in any second (OpenAI and Anthropic enforce a
   * per-minute limit over shorter periods, too).
   * @default undefined (unlimited)
   */
  maxPerSecond?: number;
  /**
   * At most this many starts in any 24 hours (Gemini's requests per day).
   * @default undefined (unlimited)
   */
  maxPerDay?: number;
  /**
   * At most this many estimated input tokens started in any 60 seconds (Anthropic's ITPM).
   * @default undefined (unlimited)
   */
  maxInputTokensPerMinute?: number;
  /**
   * At most this many estimated output tokens started in any 60 seconds (Anthropic's OTPM).
   * @default undefined (unlimited)
   */
  maxOutputTokensPerMinute?: number;
  /**
   * At most this many estimated tokens started in any 24 hours.
   * @default undefined (unlimited)
   */
  maxTokensPerDay?: number;
  /**
   * At most one start in any interval of this many seconds (a minimum delay
   * between calls; the same as the window `{ seconds, maxRequests: 1 }`).
   * @default undefined (no minimum)
   */
  minIntervalSeconds?: number;
  /**
   * More windows, each a true sliding window checked on its own.
   * @default undefined (none)
   */
  windows?: WindowLimit[];
  /**
   * Each start stays in its windows this much longer than their length: the
   * provider counts a request when it arrives, a little after our start.
   * @default DEFAULT_ARRIVAL_MARGIN_SECONDS
   */
  arrivalMarginSeconds?: number;
  /**
   * Take the limits the provider reports (limit headers, a Gemini quota
   * error) as windows; told nothing else, one request runs alone until the
   * first answer. Learned limits are kept across runs of a shared limiter.
   * @default false
   */
  learnLimits?: boolean;
  /**
   * A start (or a re-run after a retry hint) that cannot happen within this
   * many seconds fails at once with `LimiterTimeout` instead of stalling the batch.
   * @default undefined (unbounded)
   */
  maxWaitSeconds?: number;
}

const optionalCount = (name: string): Validator => (v) => checkOptionalCount(name, v);

/** Checks of `LimitOptions`, for `configure`. */
export const LIMIT_VALIDATORS: Readonly<Record<keyof LimitOptions, Validator>> = {
  maxPerSecond: optionalCount("maxPerSecond"),
  maxPerDay: optionalCount("maxPerDay"),
  maxInputTokensPerMinute: optionalCount("maxInputTokensPerMinute"),
  maxOutputTokensPerMinute: optionalCount("maxOutputTokensPerMinute"),
  maxTokensPerDay: optionalCount("maxTokensPerDay"),
  minIntervalSeconds: (v) => (v === undefined ? undefined : checkPositive("minIntervalSeconds", v)),
  windows: (v) => {
    windowRules(v); // throws naming windows[i] and the bad field
    return v === undefined ? undefined : [...(v as WindowLimit[])];
  },
  arrivalMarginSeconds: (v) => (v === undefined ? undefined : checkPositive("arrivalMarginSeconds", v, true)),
  learnLimits: (v) => checkBoolean("learnLimits", v),
  maxWaitSeconds: (v) => checkWaitSeconds("maxWaitSeconds", v),
};

/** Defaults of `LimitOptions`, for `configure`. */
export const LIMIT_DEFAULTS: Readonly<Record<keyof LimitOptions, unknown>> = {
  maxPerSecond: undefined,
  maxPerDay: undefined,
  maxInputTokensPerMinute: undefined,
  maxOutputTokensPerMinute: undefined,
  maxTokensPerDay: undefined,
  minIntervalSeconds: undefined,
  windows: undefined,
  arrivalMarginSeconds: undefined,
  learnLimits: false,
  maxWaitSeconds: undefined,
};

const DAY = 86_400;

/** The windows the limit options stand for, beside the per-minute shorthand. */
function windowsOf(o: Readonly<LimitOptions>): WindowLimit[] {
  const windows: WindowLimit[] = [];
  if (o.maxPerSecond !== undefined) windows.push({ seconds: 1, maxRequests: o.maxPerSecond });
  if (o.maxInputTokensPerMinute !== undefined || o.maxOutputTokensPerMinute !== undefined) {
    const minute: WindowLimit = { seconds: 60 };
    if (o.maxInputTokensPerMinute !== undefined) minute.maxInputTokens = o.maxInputTokensPerMinute;
    if (o.maxOutputTokensPerMinute !== undefined) minute.maxOutputTokens = o.maxOutputTokensPerMinute;
    windows.push(minute);
  }
  if (o.maxPerDay !== undefined || o.maxTokensPerDay !== undefined) {
    const day: WindowLimit = { seconds: DAY };
    if (o.maxPerDay !== undefined) day.maxRequests = o.maxPerDay;
    if (o.maxTokensPerDay !== undefined) day.maxTokens = o.maxTokensPerDay;
    windows.push(day);
  }
  if (o.minIntervalSeconds !== undefined) windows.push({ seconds: o.minIntervalSeconds, maxRequests: 1 });
  if (o.windows !== undefined) windows.push(...o.windows);
  return windows;
}

/**
 * The own limiter of one run of a node or flow: `maxConcurrent` at once,
 * the per-minute shorthand (`perMinute`, `tokensPerMinute`), and every other
 * window the limit options give.
 */
export function ownLimiter(
  o: Readonly<LimitOptions>,
  maxConcurrent: number,
  perMinute: number | undefined,
  tokensPerMinute: number | undefined,
): RateLimiter {
  const options: RateLimiterOptions = {
    maxConcurrent,
    maxPerWindow: perMinute,
    maxTokensPerWindow: tokensPerMinute,
    windowSeconds: 60,
    learnLimits: o.learnLimits === true,
  };
  const windows = windowsOf(o);
  if (windows.length > 0) options.windows = windows;
  if (o.arrivalMarginSeconds !== undefined) options.arrivalMarginSeconds = o.arrivalMarginSeconds;
  if (o.maxWaitSeconds !== undefined) options.maxWaitSeconds = o.maxWaitSeconds;
  return new RateLimiter(options);
}
