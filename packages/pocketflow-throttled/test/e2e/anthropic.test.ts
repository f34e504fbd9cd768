/**
 * End to end against the Anthropic style (the real `@anthropic-ai/sdk`,
 * retries off): RPM, ITPM and OTPM token buckets, and 529 overloaded.
 */
import { describe, expect, it } from "vitest";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { type Answer, inOrder, prompts, provider, recording, type Shared, sdkCall, warmUp } from "./support.js";

const MAX_TOKENS = 8;

describe("Anthropic style end to end", () => {
  it("a node told RPM, input and output tokens per minute with split estimates delivers all in order with no 429, near the minimum time", async () => {
    // A "minute" of 1 s. Each prompt is 9 input tokens and reserves 8 output tokens: ITPM and OTPM allow 30 a minute, RPM 40.
    const minuteMs = 1000;
    const anthropic = await provider({ style: "anthropic", minuteMs, limits: { rpm: 40, itpm: 270, otpm: 240 } });
    const windows = [{ seconds: minuteMs / 1000, maxRequests: 40, maxInputTokens: 270, maxOutputTokens: 240 }];
    const base = new ThrottledParallelBatchNode<Shared, string, Answer>({ maxConcurrent: 30, windows });
    base.estimateTokens = (prompt: string) => ({ inputTokens: Math.ceil(prompt.length / 4), outputTokens: MAX_TOKENS });
    const call = sdkCall(anthropic, MAX_TOKENS);
    await warmUp(anthropic, call, 30, minuteMs + 100); // the buckets are full again after a minute
    const { node } = recording(base, call);
    const shared: Shared = { prompts: prompts(90) };
    expect(shared.prompts.every((p) => Math.ceil(p.length / 4) === 9)).toBe(true);

    const started = performance.now();
    await node.runAsync(shared);
    const makespan = performance.now() - started;
    // The buckets start full (30 items) and refill 30 items per minute: the other 60 need 2 minutes at least.
    const minimum = ((90 - 30) / 30) * minuteMs;

    expect(anthropic.stats.refused).toBe(0);
    expect(inOrder(shared.answers, shared.prompts)).toBe(true);
    expect(makespan / minimum).toBeLessThan(1.6);
  }, 20_000);

  it("529 overloaded on 20% of requests: a batch with default options delivers every item in order", async () => {
    const anthropic = await provider({ style: "anthropic", overloadedShare: 0.2, seed: 11 });
    const { node, log } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>(), sdkCall(anthropic));
    const shared: Shared = { prompts: prompts(60) };

    await node.runAsync(shared);

    expect(anthropic.stats.refusedBy.overloaded).toBeGreaterThan(0);
    expect(log.failures).toHaveLength(anthropic.stats.refusedBy.overloaded);
    expect(inOrder(shared.answers, shared.prompts)).toBe(true);
  }, 20_000);
});
