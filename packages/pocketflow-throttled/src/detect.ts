import { RateLimitHit } from "./errors.js";

// Substrings (lower case) that mark a rate-limit message, as in the Python package.
const RATE_LIMIT_PATTERNS = ["429", "rate limit", "rate_limit", "too many requests", "quota exceeded", "throttl"];

type Bag = Record<PropertyKey, unknown>;

function isObjectLike(value: unknown): value is Bag {
  return (typeof value === "object" && value !== null) || typeof value === "function";
}

/** Reads `value[key]`, or `undefined` when that is impossible or a getter throws. */
function prop(value: unknown, key: string): unknown {
  if (!isObjectLike(value)) return undefined;
  try {
    return value[key];
  } catch {
    return undefined;
  }
}

function isRateLimitHit(err: unknown): boolean {
  // instanceof misses copies of this module loaded twice; the name catches those.
  try {
    return err instanceof RateLimitHit || prop(err, "name") === "RateLimitHit";
  } catch {
    return false;
  }
}

/**
 * Tells whether `err` looks like a rate limit: HTTP 429 in `status` or
 * `statusCode` (as `openai` and `@anthropic-ai/sdk` errors carry), a
 * {@link RateLimitHit}, or a message mentioning `429`, `rate limit`,
 * `rate_limit`, `too many requests`, `quota exceeded` or `throttl`
 * (any case). A thrown string counts as its own message. Never throws.
 *
 * @example
 * ```ts
 * isRateLimitError(Object.assign(new Error("Too Many Requests"), { status: 429 })); // true
 * ```
 */
export function isRateLimitError(err: unknown): boolean {
  if (typeof err === "string") return matchesPattern(err);
  if (!isObjectLike(err)) return false;
  if (prop(err, "status") === 429 || prop(err, "statusCode") === 429) return true;
  if (isRateLimitHit(err)) return true;
  const message = prop(err, "message");
  return typeof message === "string" && matchesPattern(message);
}

function matchesPattern(message: string): boolean {
  const lower = message.toLowerCase();
  return RATE_LIMIT_PATTERNS.some((pattern) => lower.includes(pattern));
}

/**
 * The headers an error or response carries: `value.headers`, else
 * `value.response.headers`, else `undefined`. Never throws.
 */
export function headersOf(value: unknown): unknown {
  return prop(value, "headers") ?? prop(prop(value, "response"), "headers") ?? undefined;
}

function headerValue(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (typeof first === "string") return first;
  if (typeof first === "number") return String(first);
  return undefined;
}

/**
 * Case-insensitive header lookup on a Fetch `Headers`, a `Map` or a plain
 * object. Numbers become strings; of an array value, the first entry.
 * `undefined` when absent or unreadable. Never throws.
 *
 * @example
 * ```ts
 * getHeader({ "Retry-After": "2" }, "retry-after"); // "2"
 * ```
 */
export function getHeader(headers: unknown, name: string): string | undefined {
  if (!isObjectLike(headers)) return undefined;
  const wanted = name.toLowerCase();
  try {
    if (headers instanceof Map) {
      for (const [key, value] of headers) {
        if (typeof key === "string" && key.toLowerCase() === wanted) return headerValue(value);
      }
      return undefined;
    }
    const get = headers.get;
    if (typeof get === "function") {
      // Fetch Headers: already case-insensitive, returns null when absent.
      return headerValue(get.call(headers, wanted));
    }
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === wanted) return headerValue(headers[key]);
    }
  } catch {
    // An exotic object (throwing getter, revoked proxy, bad header name): no header.
  }
  return undefined;
}

const NUMBER = /^\s*\d+(\.\d+)?\s*$/;

function nonNegative(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function retryAfterFromHeaders(headers: unknown): number | undefined {
  const ms = getHeader(headers, "retry-after-ms");
  if (ms !== undefined && NUMBER.test(ms)) return Number(ms) / 1000;
  const value = getHeader(headers, "retry-after");
  if (value === undefined) return undefined;
  if (NUMBER.test(value)) return Number(value);
  // Otherwise an HTTP-date; a date in the past means "now".
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

/**
 * Seconds the provider asked us to wait, or `undefined` if it did not say:
 * a numeric `retryAfter` property (as on {@link RateLimitHit}), else the
 * `retry-after-ms` header, else `retry-after` (seconds or an HTTP-date), read
 * from `err.headers` or `err.response.headers`. Never throws.
 *
 * @example
 * ```ts
 * retryAfterOf({ status: 429, headers: new Headers({ "retry-after": "2" }) }); // 2
 * ```
 */
export function retryAfterOf(err: unknown): number | undefined {
  const own = nonNegative(prop(err, "retryAfter"));
  if (own !== undefined) return own;
  for (const headers of [prop(err, "headers"), prop(prop(err, "response"), "headers")]) {
    const seconds = retryAfterFromHeaders(headers);
    if (seconds !== undefined) return seconds;
  }
  return undefined;
}
