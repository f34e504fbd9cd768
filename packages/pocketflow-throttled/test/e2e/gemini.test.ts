/**
 * End to end against the Gemini style (the real `@google/genai`, no retry
 * options: no retries): the per-minute 429 with its hint in the body, the
 * per-day 429 that fails fast, for a node and for a throttled flow.
 */
import { AsyncNode } from "pocketflow-ts";
import { describe, expect, it } from "vitest";
import { QuotaExhausted } from "../../src/errors.js";
import { type FlowResult, ThrottledAsyncParallelBatchFlow } from "../../src/flows.js";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { type Answer, inOrder, prompts, provider, recording, rejectionOf, type Shared, sdkCall } from "./support.js";

describe("Gemini style end to end", () => {
  it("a per-minute 429 is re-run after the RetryInfo delay of its body, and every item is delivered in order", async () => {
    const gemini = await provider({ style: "gemini", minuteMs: 1000, limits: { rpm: 4 } });
    const { node, log } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>(), sdkCall(gemini));
    const shared: Shared = { prompts: prompts(10) };

    await node.runAsync(shared);

    expect(gemini.stats.refusedBy.requests).toBeGreaterThan(0);
    expect(inOrder(shared.answers, shared.prompts)).toBe(true);
    // RetryInfo says "1s" (the message's finer "Please retry in 0.9s" loses): each re-run waited for it.
    for (const failure of log.failures) {
      expect(String((failure.error as Error).message)).toContain('"retryDelay":"1s"');
      const rerun = log.starts.find((s) => s.prompt === failure.prompt && s.at > failure.at);
      expect(rerun).toBeDefined();
      expect((rerun?.at ?? 0) - failure.at).toBeGreaterThanOrEqual(995);
    }
  }, 20_000);

  it("a per-day 429 fails the node at once with QuotaExhausted and starts nothing more", async () => {
    const gemini = await provider({ style: "gemini", limits: { rpm: 1000, rpd: 10 } });
    const { node, log } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>({ maxConcurrent: 3 }), sdkCall(gemini));
    const shared: Shared = { prompts: prompts(30) };

    const error = await rejectionOf(node.runAsync(shared));
    const firstQuota = Math.min(...log.failures.map((f) => f.at));
    await new Promise((resolve) => setTimeout(resolve, 100)); // anything still to come would arrive by now

    expect(error).toBeInstanceOf(QuotaExhausted);
    expect((error as QuotaExhausted).cause).toMatchObject({ status: 429 });
    expect(gemini.stats.refusedBy.perDay).toBeGreaterThanOrEqual(1);
    expect(log.starts.filter((s) => s.at > firstQuota)).toHaveLength(0);
    expect(gemini.stats.requests).toBe(log.starts.length);
    expect(gemini.stats.requests).toBeLessThanOrEqual(10 + 3);
  }, 20_000);

  // Instances start in pairs 100 ms apart: the 6th is refused (per day) while the 5th is still in flight.
  async function quotaFlow(): Promise<{ out: FlowResult[]; starts: number; startsAtEnd: number; requests: number }> {
    const gemini = await provider({ style: "gemini", latencyMs: 100, limits: { rpd: 5 } });
    const call = sdkCall(gemini);
    let starts = 0;
    class Ask extends AsyncNode {
      override async prepAsync(_shared: unknown) {
        return this.params.prompt as string;
      }
      override async execAsync(prompt: unknown) {
        starts++;
        return (await call(prompt as string)).text;
      }
    }
    class PerPrompt extends ThrottledAsyncParallelBatchFlow<{ out?: FlowResult[] }> {
      override async prepAsync() {
        return prompts(12).map((prompt) => ({ prompt }));
      }
      override async postAsync(shared: { out?: FlowResult[] }, _p: unknown, results: FlowResult[] | undefined) {
        shared.out = results?.slice(); // as postAsync saw them
        return undefined;
      }
    }
    const shared: { out?: FlowResult[] } = {};
    await new PerPrompt(new Ask(), { maxConcurrentFlows: 2 }).runAsync(shared);
    const startsAtEnd = starts;
    await new Promise((resolve) => setTimeout(resolve, 250)); // the instance in flight ends; nothing new may start
    return { out: shared.out ?? [], starts, startsAtEnd, requests: gemini.stats.requests };
  }

  it("a throttled flow whose instances hit the per-day quota ends the unstarted ones as rejected entries with QuotaExhausted", async () => {
    const { out, starts, startsAtEnd, requests } = await quotaFlow();

    expect(out).toHaveLength(12);
    expect(out.every((r) => r !== undefined)).toBe(true);
    expect(out.slice(0, 4).every((r) => r.status === "fulfilled")).toBe(true);
    // The 7th to 12th were never started: each ends rejected with the quota error.
    const unstarted = out.slice(6);
    expect(unstarted.every((r) => r.status === "rejected" && r.reason instanceof QuotaExhausted)).toBe(true);
    expect(out[5]).toMatchObject({ status: "rejected", reason: expect.any(QuotaExhausted) });
    expect(starts).toBe(startsAtEnd);
    expect(starts).toBe(6);
    expect(requests).toBe(6);
  }, 20_000);

  // The quota refusal lands while the 5th instance is still in flight: the flow waits for it, so postAsync sees
  // its own outcome (the provider accepted 5), and only the instances never started end with QuotaExhausted.
  it("a throttled flow reports an instance in flight when the quota refusal lands with its own outcome, not QuotaExhausted", async () => {
    const { out } = await quotaFlow();

    expect(out[4]).toMatchObject({ status: "fulfilled" });
  }, 20_000);
});
