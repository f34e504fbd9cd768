import { describe, expect, it } from "vitest";
import { runOtelExample } from "../otel-example.js";

describe("otel-example", () => {
  it("emits a flow span, a node span under it and one attempt span per item with wait, gate and token usage", async () => {
    const spans = await runOtelExample({ print: false, items: 6 });
    const flow = spans.find((s) => s.name === "pocketflow.run AsyncFlow");
    const node = spans.find((s) => s.name === "pocketflow.run AnswerNode");
    const attempts = spans.filter((s) => s.name === "pocketflow.attempt");
    expect(node?.parentSpanContext?.spanId).toBe(flow?.spanContext().spanId);
    expect(attempts).toHaveLength(6);
    for (const a of attempts) {
      expect(a.parentSpanContext?.spanId).toBe(node?.spanContext().spanId);
      expect(a.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
      expect(a.attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0);
    }
    // 4 starts per second: the last two items wait for the window.
    expect(attempts.filter((a) => a.attributes["pocketflow.wait_gate"] === "rate").length).toBeGreaterThanOrEqual(1);
  });
});
