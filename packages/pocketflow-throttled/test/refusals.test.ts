/**
 * What each kind of refusal does to a node and a flow (DESIGN section 10):
 * quota fails fast, overloaded re-runs without backing off, a hint beyond
 * maxWaitSeconds fails with LimiterTimeout, and the limit options become
 * the windows of the node's own limiter.
 */
import { AsyncNode } from "pocketflow-ts";
import { delay } from "test-support";
import { describe, expect, it } from "vitest";
import {
  AdaptiveThrottledNode,
  type FlowResult,
  LimiterTimeout,
  QuotaExhausted,
  RateLimiter,
  ThrottledAsyncParallelBatchFlow,
  ThrottledParallelBatchNode,
} from "../src/index.js";

interface Shared {
  items: number[];
  results?: unknown[];
}

/** An OpenAI-style `insufficient_quota` 429. */
function quotaError(): Error {
  return Object.assign(new Error("429 You exceeded your current quota, please check your plan and billing details."), {
    status: 429,
    code: "insufficient_quota",
    error: { code: "insufficient_quota", type: "insufficient_quota" },
  });
}

/** An Anthropic-style 529. */
function overloaded(): Error {
  return Object.assign(new Error("529 Overloaded"), { status: 529, error: { type: "overloaded_error" } });
}

/** A node whose `execAsync` is `exec`, counting its calls. */
function counting<N extends typeof ThrottledParallelBatchNode>(Base: N, exec: (item: number, call: number) => Promise<unknown>) {
  const calls = { n: 0 };
  class Counting extends (Base as typeof ThrottledParallelBatchNode<Shared, number, unknown>) {
    override async prepAsync(shared: Shared) {
      return shared.items;
    }
    override async execAsync(item: number) {
      return exec(item, ++calls.n);
    }
    override async postAsync(shared: Shared, _p: unknown, results: unknown[]) {
      shared.results = results;
      return undefined;
    }
  }
  return { Counting, calls };
}

describe("a quota refusal", () => {
  it("fails the node at once with QuotaExhausted (cause = the provider's error) and starts no further item", async () => {
    const error = quotaError();
    const { Counting, calls } = counting(ThrottledParallelBatchNode, async (item) => {
      await delay(1);
      if (item === 3) throw error;
      return item;
    });

    const outcome = await new Counting({ maxConcurrent: 1, maxRetries: 3 }).runAsync({ items: [1, 2, 3, 4, 5, 6] }).catch((e: unknown) => e);

    expect(outcome).toBeInstanceOf(QuotaExhausted);
    expect((outcome as QuotaExhausted).cause).toBe(error);
    expect(calls.n).toBe(3); // never retried, and items 4..6 never started
  });

  it("does not back off the adaptive node's concurrency", async () => {
    const { Counting } = counting(AdaptiveThrottledNode, async () => {
      throw quotaError();
    });
    const node = new Counting({ initialConcurrent: 4, maxConcurrent: 8 } as ConstructorParameters<typeof AdaptiveThrottledNode>[0]) as unknown as AdaptiveThrottledNode;

    await expect(node.runAsync({ items: [1, 2, 3, 4] })).rejects.toBeInstanceOf(QuotaExhausted);

    expect(node.stats.currentConcurrent).toBe(4);
    expect(node.stats.totalRateLimits).toBe(0);
  });

  it("ends a flow's unstarted instances as rejected entries with that QuotaExhausted, none dropped", async () => {
    let started = 0;
    class Call extends AsyncNode {
      override async execAsync() {
        started++;
        await delay(1);
        if (started >= 2) throw quotaError();
        return "ok";
      }
    }
    class PerItem extends ThrottledAsyncParallelBatchFlow<{ out?: FlowResult[] }> {
      override async prepAsync() {
        return Array.from({ length: 8 }, (_, i) => ({ i }));
      }
      override async postAsync(shared: { out?: FlowResult[] }, _p: unknown, results: FlowResult[] | undefined) {
        shared.out = results;
        return undefined;
      }
    }
    const shared: { out?: FlowResult[] } = {};
    const flow = new PerItem(new Call(), { maxConcurrentFlows: 1 });

    await flow.runAsync(shared);

    expect(shared.out).toHaveLength(8);
    expect(shared.out?.[0]).toEqual({ status: "fulfilled", value: undefined });
    const rejected = (shared.out ?? []).slice(1) as PromiseRejectedResult[];
    expect(rejected.every((r) => r.status === "rejected" && r.reason instanceof QuotaExhausted)).toBe(true);
    expect(started).toBe(2);
    expect(flow.stats).toMatchObject({ completedFlows: 1, failedFlows: 7 });
  });
});

describe("an overloaded refusal (529)", () => {
  it("re-runs the item without lowering the adaptive node's concurrency", async () => {
    const { Counting, calls } = counting(AdaptiveThrottledNode, async (item, call) => {
      if (call <= 2) throw overloaded();
      return item;
    });
    const node = new Counting({ initialConcurrent: 1, maxConcurrent: 4 } as ConstructorParameters<typeof AdaptiveThrottledNode>[0]) as unknown as AdaptiveThrottledNode;
    const shared: Shared = { items: [1, 2, 3] };

    await node.runAsync(shared);

    expect(shared.results).toEqual([1, 2, 3]);
    expect(calls.n).toBe(5);
    expect(node.stats.totalRateLimits).toBe(0);
  });

  it("fails after maxRateLimitRetries re-runs with the provider's error", async () => {
    const error = overloaded();
    const { Counting, calls } = counting(ThrottledParallelBatchNode, async () => {
      throw error;
    });

    await expect(new Counting({ maxRateLimitRetries: 2 }).runAsync({ items: [1] })).rejects.toBe(error);
    expect(calls.n).toBe(3);
  });
});

describe("maxWaitSeconds", () => {
  it("turns a retry hint beyond it into a LimiterTimeout with the provider's error as cause, without pausing the limiter", async () => {
    const error = Object.assign(new Error("429"), { status: 429, headers: { "retry-after": "1000000000" } });
    const limiter = new RateLimiter({ maxConcurrent: 2 });
    const { Counting } = counting(ThrottledParallelBatchNode, async () => {
      throw error;
    });

    const outcome = await new Counting({ limiter, maxWaitSeconds: 5 }).runAsync({ items: [1] }).catch((e: unknown) => e);

    expect(outcome).toBeInstanceOf(LimiterTimeout);
    expect((outcome as LimiterTimeout).cause).toBe(error);
    expect((outcome as LimiterTimeout).waitSeconds).toBe(1e9);
    expect(limiter.pausedUntil).toBe(0);
  });

  it("waits for a hint within it and delivers the item", async () => {
    const { Counting } = counting(ThrottledParallelBatchNode, async (item, call) => {
      if (call === 1) throw Object.assign(new Error("429"), { status: 429, headers: { "retry-after-ms": "20" } });
      return item;
    });
    const shared: Shared = { items: [7] };

    await new Counting({ maxWaitSeconds: 5 }).runAsync(shared);

    expect(shared.results).toEqual([7]);
  });
});

describe("the limit options of a node", () => {
  it("become the windows of its own limiter, beside the per-minute shorthand", async () => {
    let seen: readonly unknown[] | undefined;
    class Probe extends ThrottledParallelBatchNode<Shared, number, number> {
      override async prepAsync(shared: Shared) {
        return shared.items;
      }
      override _limiterForRun() {
        const limiter = super._limiterForRun();
        seen = limiter.windows;
        return limiter;
      }
    }

    await new Probe({
      maxPerMinute: 60,
      maxPerSecond: 2,
      maxPerDay: 1000,
      maxTokensPerDay: 1_000_000,
      maxInputTokensPerMinute: 30_000,
      maxOutputTokensPerMinute: 8_000,
      minIntervalSeconds: 0.25,
    }).runAsync({ items: [1] });

    expect(seen).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ seconds: 60, maxRequests: 60 }),
        expect.objectContaining({ seconds: 1, maxRequests: 2 }),
        expect.objectContaining({ seconds: 86_400, maxRequests: 1000, maxTokens: 1_000_000 }),
        expect.objectContaining({ seconds: 60, maxInputTokens: 30_000, maxOutputTokens: 8_000 }),
        expect.objectContaining({ seconds: 0.25, maxRequests: 1 }),
      ]),
    );
  });

  it("spaces starts by maxPerSecond", async () => {
    const starts: number[] = [];
    const { Counting } = counting(ThrottledParallelBatchNode, async (item) => {
      starts.push(performance.now());
      return item;
    });

    await new Counting({ maxPerSecond: 2, maxConcurrent: 10, arrivalMarginSeconds: 0 }).runAsync({ items: [1, 2, 3, 4, 5] });

    // 2 at once, 2 a second later, the 5th two seconds after the first.
    expect((starts[4] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(1900);
  });

  it("rejects a bad window naming it", () => {
    expect(() => new ThrottledParallelBatchNode({ windows: [{ seconds: 0, maxRequests: 1 }] })).toThrow(/windows\[0\]\.seconds/);
    expect(() => new ThrottledParallelBatchNode({ maxPerSecond: 0 })).toThrow(/maxPerSecond/);
    expect(() => new ThrottledParallelBatchNode({ maxWaitSeconds: -1 })).toThrow(/maxWaitSeconds/);
  });

  it("weighs input and output estimates in their own windows", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, windows: [{ seconds: 60, maxOutputTokens: 100 }] });
    class Llm extends ThrottledParallelBatchNode<Shared, number, unknown> {
      override async prepAsync(shared: Shared) {
        return shared.items;
      }
      override estimateTokens() {
        return { inputTokens: 10, outputTokens: 60 };
      }
      override async execAsync(item: number) {
        return { item, usage: { input_tokens: 10, output_tokens: 20 } };
      }
    }

    // 60 + 60 would not fit 100 output tokens for a minute; settling each to 20 lets the next start at once.
    await new Llm({ limiter }).runAsync({ items: [1, 2, 3] });

    expect(limiter.stats.acquired).toBe(3);
    expect(limiter.currentWindowTokens).toBe(90);
  });
});
