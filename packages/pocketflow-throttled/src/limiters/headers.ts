/**
 * Provider rate-limit headers. OpenAI sends `x-ratelimit-remaining-*` with
 * reset durations such as `1s`, `6m0s`, `20ms`; Anthropic sends
 * `anthropic-ratelimit-*-remaining` with RFC 3339 reset times.
 */
import { getHeader } from "../detect.js";

/** What a response's headers say about the caller's remaining budget. */
export interface RateLimitHeaderInfo {
  remainingRequests?: number;
  remainingTokens?: number;
  /** Seconds until the request budget resets. */
  resetRequestsSeconds?: number;
  /** Seconds until the token budget resets. */
  resetTokensSeconds?: number;
  /** Seconds to hold new starts: the latest reset among the budgets that are at 0 (0 = no hold). */
  holdSeconds: number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses OpenAI's duration format (`1s`, `6m0s`, `20ms`, `1h2m3.5s`) or a bare number of seconds, into seconds. */
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

/** Reads both providers' header families from a Fetch `Headers` or a plain object. */
export function parseRateLimitHeaders(headers: unknown, now = Date.now()): RateLimitHeaderInfo {
  const info: RateLimitHeaderInfo = { holdSeconds: 0 };
  if (headers === null || typeof headers !== "object") return info;
  const budgets: Array<[remaining: string[], reset: string[], kind: "Requests" | "Tokens"]> = [
    [["x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining"], ["x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset"], "Requests"],
    [["x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"], ["x-ratelimit-reset-tokens", "anthropic-ratelimit-tokens-reset"], "Tokens"],
    [["anthropic-ratelimit-input-tokens-remaining"], ["anthropic-ratelimit-input-tokens-reset"], "Tokens"],
    [["anthropic-ratelimit-output-tokens-remaining"], ["anthropic-ratelimit-output-tokens-reset"], "Tokens"],
  ];
  for (const [remainingNames, resetNames, kind] of budgets) {
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
