/** Ordinary retries: an error that is no refusal of the provider gets `maxRetries` attempts in all, `wait` seconds apart. */
import type { RetryPolicy } from "../retry.js";

/** Retries an ordinary failure until `maxRetries` attempts were made. */
export function ordinaryRetries(options: { maxRetries: number; waitSeconds: number }): RetryPolicy {
  const waitMs = options.waitSeconds * 1000;
  return {
    decide(failure, state) {
      if (failure.kind === "quota") return undefined; // never worth another attempt
      if (state.attempt < options.maxRetries - 1) return { action: "retry", waitMs, counter: "attempt" };
      return undefined;
    },
  };
}
