import { RateLimiter, RateLimitHit, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { describe, expect, it } from "vitest";
import { BatchProgress } from "../progress.js";

class Batch extends ThrottledParallelBatchNode<{ items: number[] }, number, number> {
  refused = false;
  override async prepAsync(shared: { items: number[] }) {
    return shared.items;
  }
  override async execAsync(item: number) {
    if (item === 1 && !this.refused) {
      this.refused = true;
      throw new RateLimitHit("slow down", { retryAfter: 0.01 });
    }
    return item;
  }
}

describe("BatchProgress", () => {
  it("counts requests, throttled starts and 429s from the attempt channel, without counters kept by the caller", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const progress = new BatchProgress({ label: "test", total: 3, limiter, bar: false, log: () => {} });
    try {
      await new Batch({ limiter, maxRateLimitRetries: 2 }).runAsync({ items: [1, 2, 3] });
      progress.tick(3);
      const line = progress.summary();
      expect(line).toMatch(/^test \| last \d+ s: 4 requests, \d+ throttled \(\d+%\), 1 × 429 \| queue: 0 running, 0 waiting \| 3\/3 done$/);
      expect(Number(/(\d+) throttled/.exec(line)?.[1])).toBeGreaterThanOrEqual(2); // one slot: items 2 and 3 waited
    } finally {
      progress.stop();
    }
  });

  it("stops listening once stopped", async () => {
    const progress = new BatchProgress({ label: "t", total: 1, bar: false, log: () => {} });
    progress.stop();
    await new Batch({ maxRateLimitRetries: 2 }).runAsync({ items: [2] });
    expect(progress.summary()).toContain(": 0 requests");
  });
});
