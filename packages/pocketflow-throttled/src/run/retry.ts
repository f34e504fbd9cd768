/**
 * Retry policies, in cockatiel's shape: each policy answers one question
 * about a failed attempt ("run it again, after how long?" or "give up, with
 * which error?") or passes; `composePolicies` asks them in order. The run
 * engine (`attempt.ts`) applies the decision; no policy touches a limiter.
 */

/** What a refusal means (see `classifyError`); `undefined`: an ordinary error. */
export type RefusalKind = "rate-limit" | "quota" | "overloaded" | "transient";

/** A failed attempt as the policies see it. */
export interface Failure {
  readonly error: unknown;
  readonly kind: RefusalKind | undefined;
  /** Seconds the provider asked to wait, if it said. */
  readonly retryAfter: number | undefined;
}

/** The counters of one unit's attempts so far. */
export interface RetryState {
  /** Ordinary retries made (0 on the first attempt): the node's `curRetry`. */
  attempt: number;
  /** Re-runs after rate limits or overload made. */
  rateLimitRetries: number;
}

/** Run again after `waitMs`; `counter` says which budget the re-run spends. */
export interface RetryDecision {
  readonly action: "retry";
  readonly waitMs: number;
  readonly counter: "attempt" | "rateLimit";
}

/**
 * Give up on the unit: `fallback` lets the node's `execFallbackAsync` decide
 * (it rethrows by default); `stopRun` ends the whole run (nothing more starts).
 */
export interface FailDecision {
  readonly action: "fail";
  readonly error: unknown;
  readonly fallback: boolean;
  readonly stopRun: boolean;
}

/** What the policies decide about a failed attempt. */
export type Decision = RetryDecision | FailDecision;

/** One policy: a decision, or `undefined` to let the next policy decide. */
export interface RetryPolicy {
  decide(failure: Failure, state: Readonly<RetryState>): Decision | undefined;
}

/** The end of every chain: give the unit to its fallback. */
const giveUp: RetryPolicy = {
  decide: (failure) => ({ action: "fail", error: failure.error, fallback: true, stopRun: false }),
};

/** Asks `policies` in order; the first decision wins, and a unit nobody retries goes to its fallback. */
export function composePolicies(...policies: RetryPolicy[]): RetryPolicy {
  const chain = [...policies, giveUp];
  return {
    decide(failure, state) {
      for (const policy of chain) {
        const decision = policy.decide(failure, state);
        if (decision !== undefined) return decision;
      }
      return undefined;
    },
  };
}
