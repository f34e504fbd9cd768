/** Builds and publishes `pocketflow-throttled:attempt` messages (only for runs that started with a subscriber). */
import type { RunTrace } from "pocketflow-ts";
import type { Limiter, Weight } from "../limiters/limiter.js";
import type { RefusalKind } from "../run/retry.js";
import { type AttemptMessage, attemptChannel, type WaitGate } from "./channels.js";

/** One unit's attempts as they are published. */
export interface AttemptTrace {
  readonly run: RunTrace | undefined;
  readonly index: number;
  attempt: number;
  waitFrom: number;
  gate: WaitGate;
  waitMs: number;
  callFrom: number;
  backoffMs: number;
}

export function startTrace(run: RunTrace | undefined, index: number): AttemptTrace {
  if (run !== undefined && index >= 0 && (run.items === undefined || index >= run.items)) run.items = index + 1;
  return { run, index, attempt: 0, waitFrom: 0, gate: "none", waitMs: 0, callFrom: 0, backoffMs: 0 };
}

/** Which gate held a start the in-process gate just refused (the first that binds, in this order). */
function gateOf(limiter: Limiter): WaitGate {
  if (((limiter as { pausedUntil?: number }).pausedUntil ?? 0) > 0) return "pause";
  if (limiter.pending > 0) return "queue";
  if (limiter.active >= limiter.maxConcurrent) return "concurrency";
  return "rate";
}

/** The attempt asks the limiter for a start (a store-backed or custom limiter does not say which gate holds it). */
export function traceWait(trace: AttemptTrace, limiter: Limiter): void {
  trace.waitFrom = performance.now();
  trace.gate = limiter.gate === undefined ? "store" : "none";
}

/** The in-process gate could not start the attempt at once: it queues. */
export function traceHeld(trace: AttemptTrace, limiter: Limiter): void {
  trace.gate = gateOf(limiter);
}

/** The start was granted: the call begins. */
export function traceAttempt(trace: AttemptTrace): void {
  const now = performance.now();
  trace.attempt++;
  trace.waitMs = now - trace.waitFrom;
  trace.callFrom = now;
}

function publish(trace: AttemptTrace, rest: Pick<AttemptMessage, "outcome" | "refusal" | "retrying" | "usage" | "errorName">): void {
  if (!attemptChannel.hasSubscribers) return;
  const message: AttemptMessage = {
    runId: trace.run?.runId,
    index: trace.index,
    attempt: trace.attempt,
    waitMs: trace.waitMs,
    gate: trace.gate,
    backoffMs: trace.backoffMs,
    durationMs: performance.now() - trace.callFrom,
    ...rest,
  };
  attemptChannel.publish(message);
}

export function traceSuccess(trace: AttemptTrace, used: Weight | undefined): void {
  const usage = used === undefined ? undefined : { inputTokens: used.inputTokens, outputTokens: used.outputTokens, tokens: used.tokens };
  publish(trace, { outcome: "success", refusal: undefined, retrying: false, usage, errorName: undefined });
}

export function traceFailure(
  trace: AttemptTrace,
  error: unknown,
  kind: RefusalKind | undefined,
  outcome: "refused" | "error" | "aborted",
  retrying: boolean,
): void {
  const errorName = error instanceof Error ? error.name : typeof error;
  publish(trace, { outcome, refusal: kind, retrying, usage: undefined, errorName });
  trace.backoffMs = 0;
}
