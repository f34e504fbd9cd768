/**
 * What a refusal's body teaches a limiter with `learnLimits`: a Gemini 429's
 * `QuotaFailure.violations` state the per-minute and per-day quotas that were
 * hit. (Limit headers are read by the limiters themselves, in `observe`.)
 */
import type { QuotaViolation } from "../detect.js";
import type { LearnedLimits } from "../limiters/windows.js";

const PER_MINUTE: Readonly<Record<NonNullable<QuotaViolation["kind"]>, keyof LearnedLimits>> = {
  requests: "requestsPerMinute",
  tokens: "tokensPerMinute",
  inputTokens: "inputTokensPerMinute",
  outputTokens: "outputTokensPerMinute",
};

const PER_DAY: Readonly<Partial<Record<NonNullable<QuotaViolation["kind"]>, keyof LearnedLimits>>> = {
  requests: "requestsPerDay",
  tokens: "tokensPerDay",
  inputTokens: "tokensPerDay",
};

/** The limits the violations state, or `undefined` when they state none we can enforce. */
export function limitsFromViolations(violations: readonly QuotaViolation[]): LearnedLimits | undefined {
  const limits: LearnedLimits = {};
  for (const v of violations) {
    if (v.kind === undefined || v.quotaValue === undefined || !(v.quotaValue > 0)) continue;
    const key = v.perDay ? PER_DAY[v.kind] : v.perMinute ? PER_MINUTE[v.kind] : undefined;
    if (key !== undefined) limits[key] = Math.min(limits[key] ?? Number.POSITIVE_INFINITY, Math.floor(v.quotaValue));
  }
  return Object.keys(limits).length > 0 ? limits : undefined;
}
