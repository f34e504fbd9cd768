/**
 * What a refusal tells us beyond its meaning: how long to wait, the
 * response headers, and which quotas were violated. Same walk as
 * `classifyError`.
 */
import { retryAfterFromHeaders } from "../limiters/headers.js";
import { prop, searchChain, stringProp, wrapsErrors } from "./chain.js";
import { headerPlaces, headersAt, messageHintOf, type QuotaViolation, retryInfoOf, violationsOf } from "./signals.js";

function headersHint(node: unknown): number | undefined {
  for (const headers of headerPlaces(node)) {
    const seconds = retryAfterFromHeaders(headers);
    if (seconds !== undefined) return seconds;
  }
  return undefined;
}

function ownRetryAfter(node: unknown): number | undefined {
  const value = prop(node, "retryAfter");
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * Seconds the provider asked us to wait, or `undefined` if it did not say.
 * Looks through `err` and everything it wraps (`cause`, `errors`,
 * `lastError`, provider bodies; outer errors first) for, in this order of
 * preference: a numeric `retryAfter` property (as on {@link RateLimitHit}),
 * a `retry-after-ms` header, a `retry-after` header (seconds or an
 * HTTP-date), a Gemini `RetryInfo.retryDelay` (`"31s"`, in `details` or in
 * the JSON of the message); then, only if none of those exists anywhere, a
 * hint written in a message ("Please try again in 1.5s", "in 634ms",
 * "Please retry in 31s"). Headers are read from `headers`,
 * `response.headers`, `responseHeaders` or `$response.headers`. Never throws.
 *
 * @example
 * ```ts
 * retryAfterOf({ status: 429, headers: new Headers({ "retry-after": "2" }) }); // 2
 * retryAfterOf(new Error("wrapped", { cause: new Error("429 Please try again in 634ms.") })); // 0.634
 * ```
 */
export function retryAfterOf(err: unknown): number | undefined {
  const structured = searchChain(
    err,
    true,
    (node) => ownRetryAfter(node) ?? headersHint(node) ?? retryInfoOf(node),
  );
  return structured ?? searchChain(err, true, (node) => messageHintOf(stringProp(node, "message")));
}

/**
 * The response headers an error or a result carries: the first of
 * `headers`, `response.headers`, `responseHeaders` (AI SDK),
 * `$response.headers` (AWS SDK) that is an object, on `value` or else on the
 * errors it wraps (`cause`, `errors`, `lastError`; outer first). `undefined`
 * when there are none. Never throws.
 *
 * @example
 * ```ts
 * headersOf({ response: { status: 429, headers: { "retry-after": "1" } } }); // { "retry-after": "1" }
 * ```
 */
export function headersOf(value: unknown): unknown {
  // Called on every result: no walk (and no allocation) unless something is wrapped.
  const own = headersAt(value);
  if (own !== undefined || !wrapsErrors(value)) return own;
  return searchChain(value, false, headersAt);
}

/**
 * The quotas a Gemini (Google API) refusal says were violated: every
 * `QuotaFailure.violations[]` entry in `details`, in the JSON of the message
 * (`@google/genai`'s `ApiError`) or in a wrapped error, once each. `[]` when
 * there are none. Never throws.
 *
 * @example
 * ```ts
 * quotaViolationsOf(geminiError);
 * // [{ quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", quotaValue: 10, kind: "requests", perMinute: true, perDay: false, ... }]
 * ```
 */
export function quotaViolationsOf(err: unknown): QuotaViolation[] {
  const out: QuotaViolation[] = [];
  const seen = new Set<string>();
  searchChain(err, true, (node) => {
    for (const violation of violationsOf(node)) {
      const key = `${violation.quotaId}\u0000${violation.quotaMetric}\u0000${violation.quotaValue}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(violation);
    }
    return undefined;
  });
  return out;
}
