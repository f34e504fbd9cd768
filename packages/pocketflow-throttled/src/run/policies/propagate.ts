/**
 * Propagation: a unit that failed for good on a rate limit fails with a
 * `RateLimitHit` (`cause` = the provider's error) instead, so an adaptive
 * flow above can back off. Wraps the policy that made the final decision.
 */
import { RateLimitHit } from "../../errors.js";
import type { RetryPolicy } from "../retry.js";

/** Wraps `inner`: its final rate-limit failures become `RateLimitHit`s from `source`. */
export function propagateRateLimit(inner: RetryPolicy, source: string): RetryPolicy {
  return {
    decide(failure, state) {
      const decision = inner.decide(failure, state);
      if (decision?.action !== "fail" || failure.kind !== "rate-limit") return decision;
      const message = failure.error instanceof Error ? failure.error.message : String(failure.error);
      const hit = new RateLimitHit(`Rate limit detected: ${message}`, {
        retryAfter: failure.retryAfter,
        source,
        cause: failure.error,
      });
      return { action: "fail", error: hit, fallback: false, stopRun: false };
    },
  };
}
