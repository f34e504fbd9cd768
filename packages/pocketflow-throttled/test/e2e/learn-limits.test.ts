/**
 * `learnLimits` end to end against the Anthropic and Gemini styles (the real
 * `@anthropic-ai/sdk` and `@google/genai`, retries off): a node told nothing
 * learns the limits from Anthropic's `anthropic-ratelimit-*-limit` headers and
 * from a Gemini 429's `QuotaFailure`, as windows of a minute with their
 * per-second share beside them. (The OpenAI style is in openai.test.ts.)
 */
import { collect } from "test-support";
import { describe, expect, it } from "vitest";
import { RateLimiter } from "../../src/limiters/sliding-window.js";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { LIMITER_CHANNEL, type LimiterMessage } from "../../src/observe/channels.js";
import { maxInAnyWindow } from "../../src/testing/windows.js";
import { type Answer, inOrder, prompts, provider, recording, type Shared, sdkCall } from "./support.js";

/** The windows of each `learned` message in `messages`. */
const learnedWindows = (messages: readonly LimiterMessage[]) => messages.flatMap((m) => (m.event === "learned" ? [m.windows] : []));

describe("learnLimits end to end", () => {
  it("Anthropic: learns requests, input and output tokens per minute from the first answer's headers, and keeps to their per-second shares with no 429", async () => {
    // Real minutes: 600 RPM (10 a second), 60,000 ITPM (1,000 a second), 12,000 OTPM (200 a second).
    const anthropic = await provider({ style: "anthropic", limits: { rpm: 600, itpm: 60_000, otpm: 12_000 } });
    const { node, log } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>({ maxConcurrent: 20, learnLimits: true }), sdkCall(anthropic));
    const shared: Shared = { prompts: prompts(30) };
    const channel = collect<LimiterMessage>(LIMITER_CHANNEL);

    await node.runAsync(shared).finally(channel.stop);
    const learned = learnedWindows(channel.messages);

    expect(anthropic.stats.refused).toBe(0);
    expect(log.failures).toHaveLength(0);
    expect(inOrder(shared.answers, shared.prompts)).toBe(true);
    expect(learned.length).toBeGreaterThanOrEqual(1);
    expect(learned[0]).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ seconds: 60, maxRequests: 600 }),
        expect.objectContaining({ seconds: 1, maxRequests: 10 }),
        expect.objectContaining({ seconds: 60, maxInputTokens: 60_000 }),
        expect.objectContaining({ seconds: 1, maxInputTokens: 1000 }),
        expect.objectContaining({ seconds: 60, maxOutputTokens: 12_000 }),
        expect.objectContaining({ seconds: 1, maxOutputTokens: 200 }),
      ]),
    );
    // It fills the learned per-second request share, never more: its starts, one second at a time (the provider
    // in this process counts arrivals, which a loaded event loop can bunch; its buckets let a burst through).
    expect(maxInAnyWindow(log.starts.map((s) => s.at), undefined, 1000)).toBe(10);
  }, 20_000);

  it("Gemini: learns the per-minute quota from the first 429's QuotaFailure, and starts no more than it allows", async () => {
    // No headers on any answer: the first thing that states the limit is a refusal.
    const gemini = await provider({ style: "gemini", limits: { rpm: 5 } });
    const limiter = new RateLimiter({ maxConcurrent: 2, learnLimits: true });
    const { node, log } = recording(new ThrottledParallelBatchNode<Shared, string, Answer>({ limiter }), sdkCall(gemini));
    const stop = new AbortController();
    // Once learned, the 6th to 8th must wait a minute for the window: stop the run there.
    const channel = collect<LimiterMessage>(LIMITER_CHANNEL, (m) => {
      if (m.event === "learned") setTimeout(() => stop.abort(new Error("learned")), 300);
    });
    const error = await node
      .runAsync({ prompts: prompts(8) }, { signal: stop.signal })
      .catch((e: unknown) => e)
      .finally(channel.stop);
    expect(String(error)).toContain("learned");

    expect(learnedWindows(channel.messages)[0]).toEqual(
      expect.arrayContaining([expect.objectContaining({ seconds: 60, maxRequests: 5 }), expect.objectContaining({ seconds: 1, maxRequests: 1 })]),
    );
    expect(limiter.windows).toEqual(expect.arrayContaining([expect.objectContaining({ seconds: 60, maxRequests: 5 })]));
    // Learning cost refusals only for the calls in flight with the first one (at most maxConcurrent); none after.
    expect(gemini.stats.refusedBy.requests).toBeGreaterThanOrEqual(1);
    expect(gemini.stats.refusedBy.requests).toBeLessThanOrEqual(2);
    expect(gemini.stats.requests - gemini.stats.refused).toBe(5);
    const learnedAt = Math.min(...log.failures.map((f) => f.at));
    expect(log.starts.filter((s) => s.at > learnedAt + 50)).toHaveLength(0);
  }, 20_000);
});
