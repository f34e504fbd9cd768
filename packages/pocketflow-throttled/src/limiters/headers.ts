/**
 * Provider rate-limit headers. OpenAI sends `x-ratelimit-{limit,remaining,reset}-*`
 * with reset durations such as `1s`, `6m0s`, `20ms`; Anthropic sends
 * `anthropic-ratelimit-*-{limit,remaining,reset}` with RFC 3339 reset times.
 * Pure functions with no imports, so limiters and detection can both use them.
 */

/** What a response's headers say about the caller's limits and remaining budget. */
export interface RateLimitHeaderInfo {
  /** Requests allowed per minute (`x-ratelimit-limit-requests`, `anthropic-ratelimit-requests-limit`). */
  limitRequests?: number;
  /** Tokens allowed per minute (`x-ratelimit-limit-tokens`, `anthropic-ratelimit-tokens-limit`). */
  limitTokens?: number;
  /** Input tokens allowed per minute (`anthropic-ratelimit-input-tokens-limit`). */
  limitInputTokens?: number;
  /** Output tokens allowed per minute (`anthropic-ratelimit-output-tokens-limit`). */
  limitOutputTokens?: number;
  remainingRequests?: number;
  /** The smallest remaining token budget of any kind (total, input, output). */
  remainingTokens?: number;
  /** Seconds until the request budget resets. */
  resetRequestsSeconds?: number;
  /** Seconds until the token budget resets (the latest of the token kinds). */
  resetTokensSeconds?: number;
  /** Seconds to hold new starts: the latest reset among the budgets that are at 0 (0 = no hold). */
  holdSeconds: number;
}

type Bag = Record<PropertyKey, unknown>;

function headerValue(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (typeof first === "string") return first;
  if (typeof first === "number") return String(first);
  return undefined;
}

/**
 * Case-insensitive header lookup on a Fetch `Headers`, an `AxiosHeaders`, a
 * `Map` or a plain object. Numbers become strings; of an array value, the
 * first entry. `undefined` when absent or unreadable. Never throws.
 *
 * @example
 * ```ts
 * getHeader({ "Retry-After": "2" }, "retry-after"); // "2"
 * ```
 */
export function getHeader(headers: unknown, name: string): string | undefined {
  if ((typeof headers !== "object" || headers === null) && typeof headers !== "function") return undefined;
  const bag = headers as Bag;
  const wanted = name.toLowerCase();
  try {
    if (bag instanceof Map) {
      for (const [key, value] of bag) {
        if (typeof key === "string" && key.toLowerCase() === wanted) return headerValue(value);
      }
      return undefined;
    }
    const get = bag.get;
    if (typeof get === "function") {
      // Fetch Headers and AxiosHeaders: already case-insensitive; null or undefined when absent.
      return headerValue(get.call(bag, wanted));
    }
    for (const key of Object.keys(bag)) {
      if (key.toLowerCase() === wanted) return headerValue(bag[key]);
    }
  } catch {
    // An exotic object (throwing getter, revoked proxy, bad header name): no header.
  }
  return undefined;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses OpenAI's duration format (`1s`, `6m0s`, `20ms`, `1h2m3.5s`), which
 * is also Google's `RetryInfo.retryDelay` format (`"31s"`, `"0.4s"`), or a
 * bare number of seconds, into seconds. `undefined` for anything else.
 *
 * @example
 * ```ts
 * parseDuration("6m0s"); // 360
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  let ms = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    ms += Number(match[1]) * (UNIT_MS[match[2] as string] ?? 0);
    consumed += match[0].length;
  }
  return consumed === trimmed.length ? ms / 1000 : undefined;
}

const NUMBER = /^\s*\d+(\.\d+)?\s*$/;

/**
 * Seconds a `retry-after-ms` header (preferred) or `retry-after` header
 * (seconds or an HTTP-date; a past date means 0) asks for, or `undefined`.
 * Never throws.
 *
 * @example
 * ```ts
 * retryAfterFromHeaders(new Headers({ "retry-after-ms": "250" })); // 0.25
 * ```
 */
export function retryAfterFromHeaders(headers: unknown, now = Date.now()): number | undefined {
  const ms = getHeader(headers, "retry-after-ms");
  if (ms !== undefined && NUMBER.test(ms)) return Number(ms) / 1000;
  const value = getHeader(headers, "retry-after");
  if (value === undefined) return undefined;
  if (NUMBER.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

/** Seconds from now until an RFC 3339 time (never negative), or a duration / seconds value. */
function parseReset(text: string | undefined, now: number): number | undefined {
  if (text === undefined) return undefined;
  const duration = parseDuration(text);
  if (duration !== undefined) return duration;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

function parseCount(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

type Kind = "Requests" | "Tokens";
type LimitKey = "limitRequests" | "limitTokens" | "limitInputTokens" | "limitOutputTokens";

// [limit headers, where the limit goes, remaining headers, reset headers, budget kind]
const BUDGETS: ReadonlyArray<readonly [string[], LimitKey, string[], string[], Kind]> = [
  [
    ["x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit"],
    "limitRequests",
    ["x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining"],
    ["x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset"],
    "Requests",
  ],
  [
    ["x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit"],
    "limitTokens",
    ["x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"],
    ["x-ratelimit-reset-tokens", "anthropic-ratelimit-tokens-reset"],
    "Tokens",
  ],
  [
    ["anthropic-ratelimit-input-tokens-limit"],
    "limitInputTokens",
    ["anthropic-ratelimit-input-tokens-remaining"],
    ["anthropic-ratelimit-input-tokens-reset"],
    "Tokens",
  ],
  [
    ["anthropic-ratelimit-output-tokens-limit"],
    "limitOutputTokens",
    ["anthropic-ratelimit-output-tokens-remaining"],
    ["anthropic-ratelimit-output-tokens-reset"],
    "Tokens",
  ],
];

/**
 * Reads both providers' header families from a Fetch `Headers`, a `Map` or a
 * plain object: the per-minute limits (`limit*`, for learning the windows),
 * the remaining budgets and their resets, and how long to hold new starts.
 * Absent or malformed headers are left out. Never throws.
 *
 * @example
 * ```ts
 * parseRateLimitHeaders(new Headers({ "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s" }));
 * // { limitRequests: 60, remainingRequests: 0, resetRequestsSeconds: 1, holdSeconds: 1 }
 * ```
 */
export function parseRateLimitHeaders(headers: unknown, now = Date.now()): RateLimitHeaderInfo {
  const info: RateLimitHeaderInfo = { holdSeconds: 0 };
  if (headers === null || typeof headers !== "object") return info;
  for (const [limitNames, limitKey, remainingNames, resetNames, kind] of BUDGETS) {
    const limit = parseCount(firstHeader(headers, limitNames));
    // A limit of 0 or less cannot become a window; leave it out.
    if (limit !== undefined && limit > 0) info[limitKey] = limit;
    const remaining = parseCount(firstHeader(headers, remainingNames));
    const reset = parseReset(firstHeader(headers, resetNames), now);
    if (remaining === undefined && reset === undefined) continue;
    if (remaining !== undefined) info[`remaining${kind}`] = Math.min(info[`remaining${kind}`] ?? remaining, remaining);
    if (reset !== undefined) info[`reset${kind}Seconds`] = Math.max(info[`reset${kind}Seconds`] ?? 0, reset);
    if (remaining !== undefined && remaining <= 0 && reset !== undefined) info.holdSeconds = Math.max(info.holdSeconds, reset);
  }
  return info;
}

function firstHeader(headers: object, names: string[]): string | undefined {
  for (const name of names) {
    const value = getHeader(headers, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The per-minute limits the headers stated, as limits to learn (`undefined` when they stated none). */
export function learnedLimitsOf(info: RateLimitHeaderInfo): LearnedLimitsLike | undefined {
  const limits: LearnedLimitsLike = {};
  if (info.limitRequests !== undefined) limits.requestsPerMinute = info.limitRequests;
  if (info.limitTokens !== undefined) limits.tokensPerMinute = info.limitTokens;
  if (info.limitInputTokens !== undefined) limits.inputTokensPerMinute = info.limitInputTokens;
  if (info.limitOutputTokens !== undefined) limits.outputTokensPerMinute = info.limitOutputTokens;
  return Object.keys(limits).length > 0 ? limits : undefined;
}

/** The per-minute part of `LearnedLimits` (declared here so this file imports nothing). */
export interface LearnedLimitsLike {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  inputTokensPerMinute?: number;
  outputTokensPerMinute?: number;
}

/**
 * Turns answers' headers into limits to learn, once per change: the same
 * limits on every answer would otherwise rebuild the windows every time.
 */
export class HeaderLimits {
  private last: string | undefined;

  /** The limits `info` states when they differ from the last ones seen, else `undefined`. */
  changed(info: RateLimitHeaderInfo): LearnedLimitsLike | undefined {
    const limits = learnedLimitsOf(info);
    if (limits === undefined) return undefined;
    const key = `${limits.requestsPerMinute}/${limits.tokensPerMinute}/${limits.inputTokensPerMinute}/${limits.outputTokensPerMinute}`;
    if (key === this.last) return undefined;
    this.last = key;
    return limits;
  }

  /** Forgets what was seen (`reset()`). */
  forget(): void {
    this.last = undefined;
  }
}
