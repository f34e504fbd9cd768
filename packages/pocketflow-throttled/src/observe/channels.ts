/**
 * The `node:diagnostics_channel` channels of the throttled package and their
 * messages. Publishers check `hasSubscribers` first and build no message
 * otherwise, so a channel nobody listens to costs one property read.
 * Messages carry no prompt or answer text and no credential.
 */
import { channel } from "node:diagnostics_channel";
import type { RefusalKind } from "../run/retry.js";

/** The channel of item attempts. */
export const ATTEMPT_CHANNEL = "pocketflow-throttled:attempt";
/** The channel of limiter changes (pauses, learned limits, concurrency and rate changes). */
export const LIMITER_CHANNEL = "pocketflow-throttled:limiter";

export const attemptChannel = channel(ATTEMPT_CHANNEL);
export const limiterChannel = channel(LIMITER_CHANNEL);

/**
 * Where an attempt waited before its start: `none` (it started at once),
 * `queue` (others were waiting ahead), `concurrency` (every slot was busy),
 * `rate` (a window or bucket was full), `pause` (a retry hint or exhausted
 * headers paused the limiter), `store` (a store-backed or custom limiter: the
 * gate is not known here).
 */
export type WaitGate = "none" | "queue" | "concurrency" | "rate" | "pause" | "store";

/** Tokens an attempt used: the provider's report, else the estimate. */
export interface AttemptUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly tokens: number;
}

/** One message of `pocketflow-throttled:attempt`: an attempt of one unit (an item, a micro-batch) ended. */
export interface AttemptMessage {
  /** The `pocketflow:run` run of the node or flow (`undefined` when `pocketflow:run` had no subscriber as it started). */
  readonly runId: number | undefined;
  /** The unit's place in the run (0-based, in the order units were pulled). */
  readonly index: number;
  /** This attempt's number for the unit, 1 for the first. */
  readonly attempt: number;
  /** Milliseconds waited for the limiter's start. */
  readonly waitMs: number;
  /** The gate that held the start (`none` when it started at once). */
  readonly gate: WaitGate;
  /** Milliseconds slept before this attempt on the retry policy's decision (0 for the first). */
  readonly backoffMs: number;
  /** Milliseconds the call took. */
  readonly durationMs: number;
  /** `refused`: the provider refused (see `refusal`); `error`: any other failure; `aborted`: the run stopped. */
  readonly outcome: "success" | "refused" | "error" | "aborted";
  /** What the refusal was, for `refused`. */
  readonly refusal: RefusalKind | undefined;
  /** True when another attempt of the unit follows. */
  readonly retrying: boolean;
  /** Tokens of a successful attempt, when the node reports or estimates them. */
  readonly usage: AttemptUsage | undefined;
  /** The failure's `name` (`undefined` on success). */
  readonly errorName: string | undefined;
}

/** Why a limiter's concurrency or rate changed, or why it paused. */
export type ChangeReason =
  /** Application code called `setConcurrency` / `setMaxPerWindow` / `pause`. */
  | "set"
  /** AIMD backed off after a rate limit. */
  | "backoff"
  /** AIMD stepped up after a streak of successes. */
  | "recovery"
  /** An adaptive node or flow started its run at the controller's level. */
  | "bind"
  /** A refusal's retry hint (`Retry-After`). */
  | "retry-after"
  /** The provider's headers said nothing remains until a reset. */
  | "headers";

/** One message of `pocketflow-throttled:limiter`. `limiter` is the limiter object itself. */
export type LimiterMessage =
  | { readonly event: "pause"; readonly limiter: object; readonly seconds: number; readonly reason: ChangeReason }
  | { readonly event: "learned"; readonly limiter: object; readonly windows: readonly object[] }
  | { readonly event: "concurrency"; readonly limiter: object; readonly from: number; readonly to: number; readonly reason: ChangeReason }
  | { readonly event: "rate"; readonly limiter: object; readonly from: number | undefined; readonly to: number; readonly reason: ChangeReason }
  /** A budget crossed its `alertAt` share (once per key and period); `source` is the node or flow class. */
  | {
      readonly event: "budget-alert";
      readonly source: string;
      readonly key: string;
      readonly kind: "maxCostUsd" | "maxTokens" | "maxRequests";
      readonly spent: number;
      readonly limit: number;
      readonly alertAt: number;
    };

let reason: ChangeReason | undefined;

/** Runs `change` with `why` as the reason the limiter messages it causes give (synchronous). */
export function becauseOf(why: ChangeReason, change: () => void): void {
  const outer = reason;
  reason = why;
  try {
    change();
  } finally {
    reason = outer;
  }
}

/** The reason in force for a change happening now (`set` outside `becauseOf`). */
export function changeReason(): ChangeReason {
  return reason ?? "set";
}

/** Publishes a limiter message (call only when `limiterChannel.hasSubscribers`). */
export function publishLimiter(message: LimiterMessage): void {
  limiterChannel.publish(message);
}
