/**
 * Quota fail-fast: a refusal that says the quota is gone (OpenAI
 * `insufficient_quota`, a Gemini per-day quota, an exhausted plan) will not
 * come back soon. Never retried, never backed off on: the unit fails with
 * `QuotaExhausted` (`cause` = the provider's error) and nothing more starts.
 */
import { QuotaExhausted } from "../../errors.js";
import type { RetryPolicy } from "../retry.js";

/** The quota policy of a node or flow named `source`. */
export function quotaFailFast(source: string): RetryPolicy {
  return {
    decide(failure) {
      if (failure.kind !== "quota") return undefined;
      const message = failure.error instanceof Error ? failure.error.message : String(failure.error);
      const error = new QuotaExhausted(`${source}: the provider's quota is exhausted, so nothing more starts: ${message}`, {
        source,
        cause: failure.error,
      });
      return { action: "fail", error, fallback: false, stopRun: true };
    },
  };
}
