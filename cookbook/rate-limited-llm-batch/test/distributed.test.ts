import { describe, expect, it } from "vitest";
import { runDistributed } from "../distributed-example.js";

// Needs the machine's Redis on 127.0.0.1:6379 (.ci/run starts it): fails, not skips, without it.
describe("distributed-example: 4 worker processes sharing one Redis limit", () => {
  it("serves every request with 0 × 429 and never more than the provider's limit in any window", async () => {
    // The provider allows 20 per 1 s; the shared limit is 20 per 2 s. A start granted on Redis's clock reaches
    // the provider up to a few hundred ms later on a loaded machine (4 workers under tsx, load average ~5), so
    // the example's 20% margin (1.2 s) let 3 × 429 through there; a full second of margin absorbs that jitter.
    const report = await runDistributed({ workers: 4, items: 10, windowSeconds: 2 });

    expect(report.served).toBe(40);
    expect(report.rejected429).toBe(0);
    expect(report.maxStartsInAnyWindow).toBeLessThanOrEqual(20);
    // The limit was in force: 40 requests at 20 per 2 s span at least one window (unthrottled they take ~0.1 s).
    expect(report.startSpanSeconds).toBeGreaterThanOrEqual(1.5);
    expect(report.workers.map((w) => w.starts)).toEqual([10, 10, 10, 10]);
    expect(report.workers.every((w) => w.failed === 0 && w.rateLimited === 0)).toBe(true);
  }, 60_000);
});
