/**
 * End to end against the OpenAI style (the real `openai` client, retries
 * off): RPM enforced per 1/60 of a minute, `insufficient_quota`, and limits
 * learned from the `x-ratelimit-*` headers.
 */
import { describe, expect, it } from "vitest";
import { AdaptiveThrottledNode } from "../../src/adaptive-node.js";
import { QuotaExhausted } from "../../src/errors.js";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { type Answer, inOrder, prompts, provider, recording, rejectionOf, type Shared, sdkCall, warmUp } from "./support.js";

describe("OpenAI style end to end", () => {
  it("a node told maxPerMinute and maxPerSecond delivers every item in order with no 429 against per-second enforcement", async () => {
    // 600 RPM in a real minute: the provider also enforces 10 per second.
    const openai = await provider({ style: "openai", limits: { rpm: 600 } });
    const call = sdkCall(openai);
    await warmUp(openai, call, 10, 1100);
    const { node } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>({ maxConcurrent: 10, maxPerMinute: 600, maxPerSecond: 10 }), call);
    const shared: Shared = { prompts: prompts(30) };

    await node.runAsync(shared);

    expect(openai.stats.refused).toBe(0);
    expect(inOrder(shared.answers, shared.prompts)).toBe(true);
    expect(openai.maxInAnyWindow(1000)).toBeLessThanOrEqual(10);
  }, 20_000);

  it("a node told the same limits as windows of a shrunk minute delivers every item with no 429", async () => {
    // A "minute" of 6 s: 600 per 6 s, enforced as 10 per 100 ms.
    const openai = await provider({ style: "openai", minuteMs: 6000, limits: { rpm: 600 } });
    const windows = [
      { seconds: 6, maxRequests: 600 },
      { seconds: 0.1, maxRequests: 10 },
    ];
    const call = sdkCall(openai);
    await warmUp(openai, call, 10, 150);
    const { node } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>({ maxConcurrent: 10, windows }), call);
    const shared: Shared = { prompts: prompts(80) };

    await node.runAsync(shared);

    expect(openai.stats.refused).toBe(0);
    expect(inOrder(shared.answers, shared.prompts)).toBe(true);
  }, 20_000);

  it("a README-style node with only maxPerMinute at the limit takes 429s but re-runs them and delivers every item", async () => {
    const openai = await provider({ style: "openai", limits: { rpm: 600 } });
    const { node, log } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>({ maxPerMinute: 600 }), sdkCall(openai));
    const shared: Shared = { prompts: prompts(30) };

    await node.runAsync(shared);

    expect(openai.stats.refusedBy.requests).toBeGreaterThan(0);
    expect(log.failures.length).toBe(openai.stats.refused);
    expect(inOrder(shared.answers, shared.prompts)).toBe(true);
    expect(openai.stats.answered).toBe(30);
  }, 20_000);

  it("insufficient_quota stops the adaptive node at once with QuotaExhausted: no more requests, concurrency not cut", async () => {
    const openai = await provider({ style: "openai", insufficientQuotaAfter: 12 });
    const { node, log } = recording(new AdaptiveThrottledNode<Shared, string, Answer>({ initialConcurrent: 5, maxConcurrent: 20 }), sdkCall(openai));
    const shared: Shared = { prompts: prompts(100) };

    const error = await rejectionOf(node.runAsync(shared));
    const firstQuota = Math.min(...log.failures.map((f) => f.at));
    await new Promise((resolve) => setTimeout(resolve, 100)); // anything still to come would arrive by now

    expect(error).toBeInstanceOf(QuotaExhausted);
    expect((error as QuotaExhausted).cause).toMatchObject({ status: 429, code: "insufficient_quota" });
    expect(log.starts.filter((s) => s.at > firstQuota)).toHaveLength(0);
    // Only the calls already in flight when the first refusal came back can be refused too.
    expect(openai.stats.refusedBy.quota).toBeLessThanOrEqual(node.currentConcurrent);
    expect(openai.stats.requests).toBe(log.starts.length);
    expect(node.currentConcurrent).toBeGreaterThanOrEqual(5);
    expect(node.stats.totalRateLimits).toBe(0);
  }, 20_000);

  it("learnLimits with no limits reaches the provider's per-second limit with no 429 after the first answer", async () => {
    const openai = await provider({ style: "openai", limits: { rpm: 600 } });
    const { node, log } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>({ maxConcurrent: 20, learnLimits: true }), sdkCall(openai));
    const shared: Shared = { prompts: prompts(40) };

    await node.runAsync(shared);

    expect(openai.stats.refused).toBe(0);
    expect(log.failures).toHaveLength(0);
    expect(inOrder(shared.answers, shared.prompts)).toBe(true);
    // It fills the learned per-second window (10), never more.
    expect(openai.maxInAnyWindow(1000)).toBe(10);
  }, 20_000);
});
