import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { AsyncFlow } from "pocketflow-ts";
import { afterEach, describe, expect, it } from "vitest";
import { RateLimitHit, ThrottledParallelBatchNode } from "../src/index.js";
import { instrument } from "../src/otel/index.js";

interface Shared {
  items: number[];
}

class Batch extends ThrottledParallelBatchNode<Shared, number, { usage: { prompt_tokens: number; completion_tokens: number } }> {
  refuseOnce = true;
  override async prepAsync(shared: Shared) {
    return shared.items;
  }
  override async execAsync(item: number) {
    if (item === 2 && this.refuseOnce) {
      this.refuseOnce = false;
      throw new RateLimitHit("slow down", { retryAfter: 0.01 });
    }
    return { usage: { prompt_tokens: 100 + item, completion_tokens: item } };
  }
}

function setUp() {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return { spans, tracerProvider, exporter, meterProvider };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe("instrument()", () => {
  it("emits a span per run and per attempt, attempts under their node's run and the node under its flow", async () => {
    const { spans, tracerProvider, meterProvider } = setUp();
    const uninstrument = instrument({ tracerProvider, meterProvider });
    cleanups.push(uninstrument, () => meterProvider.shutdown());
    await new AsyncFlow(new Batch({ maxConcurrent: 2, maxRateLimitRetries: 2 })).runAsync({ items: [1, 2, 3] });
    const finished = spans.getFinishedSpans();
    const flow = finished.find((s) => s.name === "pocketflow.run AsyncFlow");
    const node = finished.find((s) => s.name === "pocketflow.run Batch");
    const attempts = finished.filter((s) => s.name === "pocketflow.attempt");
    expect(flow?.parentSpanContext).toBeUndefined();
    expect(node?.parentSpanContext?.spanId).toBe(flow?.spanContext().spanId);
    expect(node?.attributes).toMatchObject({ "pocketflow.kind": "node", "pocketflow.outcome": "success", "pocketflow.items": 3 });
    expect(attempts).toHaveLength(4);
    for (const a of attempts) expect(a.parentSpanContext?.spanId).toBe(node?.spanContext().spanId);
    const refused = attempts.find((a) => a.attributes["pocketflow.refusal_kind"] === "rate-limit");
    expect(refused?.attributes).toMatchObject({ "pocketflow.attempt": 1, "pocketflow.outcome": "refused", "pocketflow.retrying": true });
    const second = attempts.find((a) => a.attributes["pocketflow.item_index"] === 1 && a.attributes["pocketflow.attempt"] === 2);
    expect(second?.attributes).toMatchObject({ "gen_ai.usage.input_tokens": 102, "gen_ai.usage.output_tokens": 2 });
    expect(typeof second?.attributes["pocketflow.wait_ms"]).toBe("number");
    expect(second?.attributes["pocketflow.wait_gate"]).toMatch(/^(none|pause|queue|concurrency|rate)$/);
  });

  it("records counters of attempts and refusals and histograms of wait and duration", async () => {
    const { exporter, tracerProvider, meterProvider } = setUp();
    const uninstrument = instrument({ tracerProvider, meterProvider });
    cleanups.push(uninstrument, () => meterProvider.shutdown());
    await new Batch({ maxConcurrent: 2, maxRateLimitRetries: 2 }).runAsync({ items: [1, 2, 3] });
    await meterProvider.forceFlush();
    const metrics = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    const byName = new Map(metrics.map((m) => [m.descriptor.name, m]));
    const sum = (name: string) => byName.get(name)?.dataPoints.reduce((n, p) => n + (p.value as number), 0);
    expect(sum("pocketflow.attempts")).toBe(4);
    expect(sum("pocketflow.refusals")).toBe(1);
    expect(byName.get("pocketflow.refusals")?.dataPoints[0]?.attributes).toEqual({ "pocketflow.refusal_kind": "rate-limit" });
    const waits = byName.get("pocketflow.attempt.wait")?.dataPoints.reduce((n, p) => n + (p.value as { count: number }).count, 0);
    expect(waits).toBe(4);
    expect(byName.has("pocketflow.attempt.duration")).toBe(true);
    expect(byName.has("pocketflow.run.duration")).toBe(true);
    expect(sum("pocketflow.limiter.changes")).toBeGreaterThanOrEqual(1); // the retry hint's pause
  });

  it("stops emitting after uninstrument()", async () => {
    const { spans, tracerProvider, meterProvider } = setUp();
    cleanups.push(() => meterProvider.shutdown());
    const uninstrument = instrument({ tracerProvider, meterProvider });
    uninstrument();
    uninstrument(); // twice is harmless
    await new Batch().runAsync({ items: [1] });
    expect(spans.getFinishedSpans()).toEqual([]);
  });

  it("rejects options that are not an object, quoting them", () => {
    expect(() => instrument(42 as never)).toThrow(/instrument options.*42/);
  });
});
