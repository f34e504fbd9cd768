/**
 * `pocketflow-throttled/otel`: OpenTelemetry spans and metrics built from the
 * diagnostics channels. OpenTelemetry subscribes; nothing in the run path
 * knows about it. Needs `@opentelemetry/api` (an optional peer dependency).
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import {
  context,
  type MeterProvider,
  metrics,
  type Span,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { RUN_CHANNEL, type RunMessage } from "pocketflow-ts";
import { ATTEMPT_CHANNEL, type AttemptMessage, LIMITER_CHANNEL, type LimiterMessage } from "../observe/channels.js";

/** Options of `instrument`. */
export interface InstrumentOptions {
  /** Where spans go. @default the global tracer provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** Where metrics go. @default the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
}

const SCOPE = "pocketflow-throttled";

/**
 * Emits a span per node or flow run (`pocketflow.run <Node>`, nested as the
 * flows nest) and per item attempt (`pocketflow.attempt`, a child of its
 * node's run: wait time and gate, attempt number, outcome, refusal kind,
 * `gen_ai.usage.input_tokens` / `gen_ai.usage.output_tokens`), and metrics:
 * counters `pocketflow.attempts`, `pocketflow.refusals`,
 * `pocketflow.limiter.changes`, histograms `pocketflow.attempt.wait`,
 * `pocketflow.attempt.duration`, `pocketflow.run.duration` (ms). Runs and
 * attempts that start after this call are traced. Returns `uninstrument`.
 *
 * @example
 * const uninstrument = instrument({ tracerProvider });
 * try { await flow.runAsync(shared); } finally { uninstrument(); }
 */
export function instrument(options: InstrumentOptions = {}): () => void {
  if (options === null || typeof options !== "object") throw new TypeError(`instrument options must be an object, got ${String(options)}`);
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
  const attempts = meter.createCounter("pocketflow.attempts", { description: "Item attempts that ended, by outcome" });
  const refusals = meter.createCounter("pocketflow.refusals", { description: "Attempts the provider refused, by kind" });
  const changes = meter.createCounter("pocketflow.limiter.changes", { description: "Limiter pauses, learned limits, concurrency and rate changes" });
  const waits = meter.createHistogram("pocketflow.attempt.wait", { unit: "ms", description: "Time an attempt waited for the limiter" });
  const durations = meter.createHistogram("pocketflow.attempt.duration", { unit: "ms", description: "Time an attempt's call took" });
  const runDurations = meter.createHistogram("pocketflow.run.duration", { unit: "ms", description: "Time a node or flow run took" });
  const runs = new Map<number, Span>();

  const onRun = (raw: unknown): void => {
    const m = raw as RunMessage;
    if (m.event === "start") {
      const parent = m.parentRunId === undefined ? undefined : runs.get(m.parentRunId);
      const ctx = parent === undefined ? context.active() : trace.setSpan(context.active(), parent);
      const attributes = { "pocketflow.node": m.node, "pocketflow.kind": m.kind, "pocketflow.run_id": m.runId };
      runs.set(m.runId, tracer.startSpan(`pocketflow.run ${m.node}`, { attributes }, ctx));
      return;
    }
    const span = runs.get(m.runId);
    runDurations.record(m.durationMs, { "pocketflow.node": m.node, "pocketflow.outcome": m.outcome });
    if (span === undefined) return;
    runs.delete(m.runId);
    span.setAttribute("pocketflow.outcome", m.outcome);
    if (m.items !== undefined) span.setAttribute("pocketflow.items", m.items);
    if (m.action !== undefined) span.setAttribute("pocketflow.action", m.action);
    if (m.outcome !== "success") span.setStatus({ code: SpanStatusCode.ERROR, message: m.errorName ?? m.outcome });
    span.end();
  };

  const onAttempt = (raw: unknown): void => {
    const m = raw as AttemptMessage;
    const outcome = { "pocketflow.outcome": m.outcome };
    attempts.add(1, outcome);
    if (m.refusal !== undefined) refusals.add(1, { "pocketflow.refusal_kind": m.refusal });
    waits.record(m.waitMs, { "pocketflow.wait_gate": m.gate });
    durations.record(m.durationMs, outcome);
    const parent = m.runId === undefined ? undefined : runs.get(m.runId);
    const ctx = parent === undefined ? context.active() : trace.setSpan(context.active(), parent);
    const startTime = Date.now() - m.waitMs - m.durationMs; // the message arrives as the attempt ends
    const span = tracer.startSpan("pocketflow.attempt", { startTime }, ctx);
    span.setAttributes({
      "pocketflow.item_index": m.index,
      "pocketflow.attempt": m.attempt,
      "pocketflow.wait_ms": m.waitMs,
      "pocketflow.wait_gate": m.gate,
      "pocketflow.backoff_ms": m.backoffMs,
      "pocketflow.outcome": m.outcome,
      "pocketflow.retrying": m.retrying,
    });
    if (m.refusal !== undefined) span.setAttribute("pocketflow.refusal_kind", m.refusal);
    if (m.usage !== undefined) {
      span.setAttribute("gen_ai.usage.input_tokens", m.usage.inputTokens);
      span.setAttribute("gen_ai.usage.output_tokens", m.usage.outputTokens);
    }
    if (m.outcome !== "success") span.setStatus({ code: SpanStatusCode.ERROR, message: m.refusal ?? m.errorName ?? m.outcome });
    span.end();
  };

  const onLimiter = (raw: unknown): void => {
    const m = raw as LimiterMessage;
    changes.add(1, { "pocketflow.limiter_event": m.event, ...("reason" in m ? { "pocketflow.reason": m.reason } : {}) });
  };

  subscribe(RUN_CHANNEL, onRun);
  subscribe(ATTEMPT_CHANNEL, onAttempt);
  subscribe(LIMITER_CHANNEL, onLimiter);
  let on = true;
  return () => {
    if (!on) return;
    on = false;
    unsubscribe(RUN_CHANNEL, onRun);
    unsubscribe(ATTEMPT_CHANNEL, onAttempt);
    unsubscribe(LIMITER_CHANNEL, onLimiter);
    runs.clear();
  };
}
