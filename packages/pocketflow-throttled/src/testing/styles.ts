/**
 * How each provider talks about its limits: the rate-limit headers on every
 * answer, and the status, headers and body of each kind of refusal, in the
 * shapes the providers document.
 */
import { formatDuration } from "./answers.js";
import { type Limit, type LimitKind, type Refusal, stateOf } from "./enforcement.js";
import type { ProviderStyle } from "./options.js";

/** An answer to send: status, headers and JSON body. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The rate-limit headers of `style` on every answer (Gemini sends none). */
export function rateLimitHeaders(style: ProviderStyle, limits: readonly Limit[], now: number): Record<string, string> {
  const headers: Record<string, string> = {};
  if (style === "openai") {
    for (const kind of ["requests", "tokens"] as const) {
      const state = stateOf(limits, kind, now);
      if (state === undefined) continue;
      headers[`x-ratelimit-limit-${kind}`] = String(state.limit);
      headers[`x-ratelimit-remaining-${kind}`] = String(Math.floor(state.remaining));
      headers[`x-ratelimit-reset-${kind}`] = formatDuration(state.resetMs);
    }
  } else if (style === "anthropic") {
    const kinds: [string, LimitKind][] = [
      ["requests", "requests"],
      ["input-tokens", "input-tokens"],
      ["output-tokens", "output-tokens"],
      ["tokens", "tokens"],
    ];
    for (const [name, kind] of kinds) {
      const state = stateOf(limits, kind, now);
      if (state === undefined) continue;
      headers[`anthropic-ratelimit-${name}-limit`] = String(state.limit);
      headers[`anthropic-ratelimit-${name}-remaining`] = String(Math.floor(state.remaining));
      headers[`anthropic-ratelimit-${name}-reset`] = rfc3339(state.resetMs);
    }
    // `tokens-*` is the most restrictive of the input and output token limits in effect.
    if (headers["anthropic-ratelimit-tokens-limit"] === undefined) {
      const input = stateOf(limits, "input-tokens", now);
      const output = stateOf(limits, "output-tokens", now);
      const tightest = [input, output]
        .filter((state) => state !== undefined)
        .sort((a, b) => a.remaining / a.limit - b.remaining / b.limit)[0];
      if (tightest !== undefined) {
        headers["anthropic-ratelimit-tokens-limit"] = String(tightest.limit);
        headers["anthropic-ratelimit-tokens-remaining"] = String(Math.floor(tightest.remaining));
        headers["anthropic-ratelimit-tokens-reset"] = rfc3339(tightest.resetMs);
      }
    }
  }
  return headers;
}

/** A wall-clock time `ms` from now, RFC 3339 to the second (as Anthropic's reset headers). */
function rfc3339(ms: number): string {
  return new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

const OPENAI_RATE_LIMITS = "Visit https://platform.openai.com/account/rate-limits to learn more.";

/** The 429 (or "request too large") answer of a refusal by a limit. */
export function refusalReply(style: ProviderStyle, refusal: Refusal, model: string): Reply {
  const { limit, waitMs } = refusal;
  const never = !Number.isFinite(waitMs);
  const wait = Math.max(1, Math.ceil(waitMs));
  const seconds = String(Math.max(1, Math.ceil(wait / 1000)));
  if (style === "openai") {
    const type = limit.kind === "requests" ? "requests" : "tokens";
    const message = never
      ? `Request too large for ${model} on ${limit.label}: Limit ${limit.meter.limit}. The input or output tokens must be reduced in order to run successfully. ${OPENAI_RATE_LIMITS}`
      : `Rate limit reached for ${model} in organization org-simulated on ${limit.label}: Limit ${limit.meter.limit}. Please try again in ${formatDuration(wait)}. ${OPENAI_RATE_LIMITS}`;
    const hint: Record<string, string> = never ? { "x-should-retry": "false" } : { "retry-after-ms": String(wait), "retry-after": seconds };
    return { status: 429, headers: hint, body: { error: { message, type, param: null, code: "rate_limit_exceeded" } } };
  }
  if (style === "anthropic") {
    const message = never
      ? `This request would exceed your organization's rate limit of ${limit.meter.limit} ${limit.label}, whatever the wait. Reduce the prompt length or the maximum tokens requested.`
      : `This request would exceed your organization's rate limit of ${limit.meter.limit} ${limit.label}. For details, refer to: https://docs.claude.com/en/api/rate-limits.`;
    const hint: Record<string, string> = never ? { "x-should-retry": "false" } : { "retry-after": seconds };
    return { status: 429, headers: hint, body: { type: "error", error: { type: "rate_limit_error", message } } };
  }
  return geminiRefusal(limit, never ? undefined : wait, model);
}

// Gemini's free-tier quota names, per limit (the ids a client reads from QuotaFailure).
function geminiQuota(limit: Limit): { metric: string; id: string } {
  if (limit.kind !== "requests") {
    return {
      metric: "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
      id: "GenerateContentInputTokensPerModelPerMinute-FreeTier",
    };
  }
  const perDay = limit.scope === "day";
  return {
    metric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
    id: perDay ? "GenerateRequestsPerDayPerProjectPerModel-FreeTier" : "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
  };
}

/** Gemini's 429: `RESOURCE_EXHAUSTED` with `QuotaFailure` and `RetryInfo` in the body, no retry header. */
function geminiRefusal(limit: Limit, waitMs: number | undefined, model: string): Reply {
  const { metric, id } = geminiQuota(limit);
  const retryDelay = waitMs === undefined ? undefined : `${Math.max(1, Math.ceil(waitMs / 1000))}s`;
  const message = [
    "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    `* Quota exceeded for metric: ${metric}, limit: ${limit.meter.limit}, model: ${model}`,
    retryDelay === undefined ? "" : `Please retry in ${(waitMs! / 1000).toFixed(3).replace(/\.?0+$/, "")}s.`,
  ]
    .filter(Boolean)
    .join("\n");
  const details: unknown[] = [
    {
      "@type": "type.googleapis.com/google.rpc.QuotaFailure",
      violations: [
        { quotaMetric: metric, quotaId: id, quotaDimensions: { location: "global", model }, quotaValue: String(limit.meter.limit) },
      ],
    },
  ];
  if (retryDelay !== undefined) details.push({ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay });
  return { status: 429, headers: {}, body: { error: { code: 429, message, status: "RESOURCE_EXHAUSTED", details } } };
}

/** OpenAI's `insufficient_quota`: a 429 that no wait cures, so it carries no retry hint. */
export function quotaReply(): Reply {
  const message =
    "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.";
  return { status: 429, headers: {}, body: { error: { message, type: "insufficient_quota", param: null, code: "insufficient_quota" } } };
}

/** Anthropic's `529 overloaded_error`. */
export function overloadedReply(): Reply {
  return { status: 529, headers: {}, body: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } };
}

/** The 429 of the concurrency cap (not a provider's documented limit: a stand-in for a busy gateway). */
export function concurrencyReply(style: ProviderStyle, maxConcurrent: number, waitMs: number): Reply {
  const message = `Concurrency limit reached: ${maxConcurrent} requests already in flight.`;
  const wait = Math.max(1, Math.ceil(waitMs));
  const seconds = String(Math.max(1, Math.ceil(wait / 1000)));
  if (style === "gemini") {
    const details = [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${seconds}s` }];
    return { status: 429, headers: {}, body: { error: { code: 429, message, status: "RESOURCE_EXHAUSTED", details } } };
  }
  const hint: Record<string, string> = style === "openai" ? { "retry-after-ms": String(wait), "retry-after": seconds } : { "retry-after": seconds };
  return { ...errorReply(style, 429, style === "openai" ? "requests" : "rate_limit_error", message), headers: hint };
}

/** Any other error (400, 404, 500) in the style's error shape. */
export function errorReply(style: ProviderStyle, status: number, type: string, message: string): Reply {
  if (style === "openai") return { status, headers: {}, body: { error: { message, type, param: null, code: null } } };
  if (style === "anthropic") return { status, headers: {}, body: { type: "error", error: { type, message } } };
  const statusName = status === 400 ? "INVALID_ARGUMENT" : status === 404 ? "NOT_FOUND" : "INTERNAL";
  return { status, headers: {}, body: { error: { code: status, message, status: statusName } } };
}
