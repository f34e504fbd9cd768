/**
 * Rate-limit re-runs: a rate-limited (or overloaded) attempt is not a failure
 * of the item. It runs again after the provider's hint, or after a short
 * exponential backoff with jitter, up to `maxRateLimitRetries` times, apart
 * from the ordinary retries.
 */
import type { RetryPolicy } from "../retry.js";

/** Backoff before re-running an attempt whose refusal gave no hint: 50 ms doubling, at most 5 s, with full jitter on the upper half. */
export function rateLimitBackoffMs(retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(5_000, 50 * 2 ** retry);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Re-runs rate-limited and overloaded attempts, up to `maxRateLimitRetries` times. */
export function rateLimitReruns(options: { maxRateLimitRetries: number }): RetryPolicy {
  return {
    decide(failure, state) {
      if (failure.kind !== "rate-limit" && failure.kind !== "overloaded") return undefined;
      if (state.rateLimitRetries >= options.maxRateLimitRetries) {
        return { action: "fail", error: failure.error, fallback: true, stopRun: false };
      }
      const waitMs =
        failure.retryAfter !== undefined ? failure.retryAfter * 1000 : rateLimitBackoffMs(state.rateLimitRetries);
      return { action: "retry", waitMs, counter: "rateLimit" };
    },
  };
}
