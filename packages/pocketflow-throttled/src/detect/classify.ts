/**
 * What a refusal means (DESIGN section 10): the one home of "what counts as
 * a rate limit, a quota, an overload or a transient failure".
 */
import { type Bag, searchChain, stringProp } from "./chain.js";
import { codesOf, namesOf, statusesOf, violationsOf } from "./signals.js";

/**
 * What a failed call means for the rest of the batch:
 * - `"rate-limit"`: slow down and re-run after the provider's hint.
 * - `"quota"`: the plan, billing, credit or a per-day quota is used up; it
 *   will not come back soon, so nothing more should start.
 * - `"overloaded"`: the provider is busy for everyone (HTTP 529, 503); re-run
 *   without lowering our own rate.
 * - `"transient"`: a server or network hiccup (500, 502, 504, a reset
 *   connection, a failed fetch); ordinary retries apply.
 */
export type ErrorKind = "rate-limit" | "quota" | "overloaded" | "transient";

const STATUS: ReadonlyMap<number, ErrorKind> = new Map<number, ErrorKind>([
  [402, "quota"],
  [429, "rate-limit"],
  [503, "overloaded"],
  [529, "overloaded"],
  [500, "transient"],
  [502, "transient"],
  [504, "transient"],
]);

const NAME: ReadonlyMap<string, ErrorKind> = new Map<string, ErrorKind>([
  ["QuotaExhausted", "quota"],
  ["RateLimitHit", "rate-limit"],
  ["RateLimitError", "rate-limit"],
  ["ThrottlingException", "rate-limit"],
  ["TooManyRequestsException", "rate-limit"],
  ["ServiceUnavailableException", "overloaded"],
  ["APIConnectionError", "transient"],
  ["APIConnectionTimeoutError", "transient"],
]);

// Lower-cased `code`, `type`, string `status` and `reason` values.
const CODE: ReadonlyMap<string, ErrorKind> = new Map<string, ErrorKind>([
  ["insufficient_quota", "quota"],
  ["billing_hard_limit_reached", "quota"],
  ["billing_not_active", "quota"],
  ["rate_limit_exceeded", "rate-limit"],
  ["rate_limit_error", "rate-limit"],
  ["resource_exhausted", "rate-limit"],
  ["too_many_requests", "rate-limit"],
  ["throttlingexception", "rate-limit"],
  ["overloaded_error", "overloaded"],
  ["unavailable", "overloaded"],
  ["econnreset", "transient"],
  ["etimedout", "transient"],
  ["econnaborted", "transient"],
  ["econnrefused", "transient"],
  ["epipe", "transient"],
  ["eai_again", "transient"],
  ["und_err_socket", "transient"],
  ["und_err_connect_timeout", "transient"],
  ["und_err_headers_timeout", "transient"],
  ["und_err_body_timeout", "transient"],
]);

// Messages saying the plan, billing, credit or a per-day allowance is used up.
const QUOTA_TEXT = [
  /\binsufficient[_ ]quota\b/,
  /\b(?:credits?|balance|billing|plan|funds)\b[^.]{0,30}\b(?:exhausted|too low|depleted|insufficient|reached|exceeded|run out|used up)\b/,
  /\b(?:insufficient|out of|no remaining|not enough)\s+(?:credits?|balance|funds)\b/,
  /\btoo many (?:tokens|requests) per day\b/,
  /\bquota\b[^.]{0,80}\b(?:per day|daily)\b/,
];
// "429" in a message, as a number of its own: not a digit run of a port or an id in a URL (ky's "...: POST http://host:34291/v1").
const RATE_STATUS_TEXT = /(?<!\d)429(?!\d)/;
// Substrings (lower case) of a rate-limit message: the Python package's list plus Bedrock's and Google's wording.
const RATE_TEXT = [
  "rate limit",
  "rate_limit",
  "too many requests",
  "quota exceeded",
  "throttl",
  "too many tokens",
  "rate exceeded",
  "resource has been exhausted",
  "resource_exhausted",
  // OpenAI's quota text and Gemini's per-minute text alike: without a code, the milder meaning.
  "exceeded your current quota",
];

interface Evidence {
  found: Set<ErrorKind>;
  /** An explicit rate-limit code (`rate_limit_exceeded`...): a quota-like message then means nothing more. */
  rateCode: boolean;
  violations: number;
  dailyViolations: number;
  quotaText: boolean;
  rateText: boolean;
  overloadedText: boolean;
}

function gather(evidence: Evidence, node: Bag): undefined {
  for (const status of statusesOf(node)) {
    const kind = STATUS.get(status);
    if (kind !== undefined) evidence.found.add(kind);
  }
  const names = namesOf(node);
  for (const name of names) {
    const kind = NAME.get(name);
    if (kind !== undefined) evidence.found.add(kind);
  }
  for (const code of codesOf(node)) {
    const kind = CODE.get(code);
    if (kind !== undefined) evidence.found.add(kind);
    if (kind === "rate-limit") evidence.rateCode = true;
  }
  for (const violation of violationsOf(node)) {
    evidence.violations++;
    if (violation.perDay) evidence.dailyViolations++;
  }
  const message = stringProp(node, "message")?.toLowerCase();
  if (message !== undefined) {
    // undici: `TypeError: fetch failed`, the socket error in its `cause`.
    if (message === "fetch failed" && names.includes("TypeError")) evidence.found.add("transient");
    if (QUOTA_TEXT.some((pattern) => pattern.test(message))) evidence.quotaText = true;
    if (RATE_STATUS_TEXT.test(message) || RATE_TEXT.some((pattern) => message.includes(pattern))) evidence.rateText = true;
    if (message.includes("overloaded")) evidence.overloadedText = true;
  }
  return undefined;
}

/**
 * Classifies a thrown value by every signal in it and in the errors it wraps
 * (`cause`, `AggregateError.errors`, the AI SDK's `RetryError.lastError` and
 * `errors`, provider error bodies; 8 levels deep). ErrorKind signals (HTTP
 * status, error name, `code` / `type`, Gemini `QuotaFailure`) win over
 * message text, and the more lasting meaning wins: quota, then rate limit,
 * then overloaded, then transient. A message about plan, billing or credit
 * counts as quota unless a structured signal says it is a per-minute limit
 * (Gemini writes "check your plan and billing details" on every 429).
 * `undefined` when nothing matches. Never throws.
 *
 * @example
 * ```ts
 * try {
 *   await client.chat.completions.create(request);
 * } catch (err) {
 *   if (classifyError(err) === "quota") throw new QuotaExhausted("OpenAI quota used up", { cause: err });
 *   throw err;
 * }
 * ```
 */
export function classifyError(err: unknown): ErrorKind | undefined {
  const evidence: Evidence = {
    found: new Set(),
    rateCode: false,
    violations: 0,
    dailyViolations: 0,
    quotaText: false,
    rateText: false,
    overloadedText: false,
  };
  searchChain(err, true, (node) => gather(evidence, node));
  const { found } = evidence;
  if (found.has("quota") || evidence.dailyViolations > 0) return "quota";
  if (evidence.quotaText && evidence.violations === 0 && !evidence.rateCode) return "quota";
  if (found.has("rate-limit")) return "rate-limit";
  if (found.has("overloaded")) return "overloaded";
  if (found.has("transient")) return "transient";
  if (evidence.rateText) return "rate-limit";
  if (evidence.overloadedText) return "overloaded";
  return undefined;
}

/**
 * Tells whether `err` is a rate limit: {@link classifyError} says
 * `"rate-limit"` or `"quota"` (a quota refusal is a 429 too, as in the Python
 * package). An overloaded provider (529, 503) is not: slowing down our own
 * rate would not help it. Never throws.
 *
 * @example
 * ```ts
 * isRateLimitError(Object.assign(new Error("Too Many Requests"), { status: 429 })); // true
 * ```
 */
export function isRateLimitError(err: unknown): boolean {
  const kind = classifyError(err);
  return kind === "rate-limit" || kind === "quota";
}
