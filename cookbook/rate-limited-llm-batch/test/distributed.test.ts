import { describe, expect, it } from "vitest";
import { runDistributed } from "../distributed-example.js";

// Needs the machine's Redis on 127.0.0.1:6379 (.ci/run starts it): fails, not skips, without it.
describe("distributed-example: 4 worker processes sharing one Redis limit", () => {
  it("serves every request with 0 × 429 and never more than the provider's limit in any window", async () => {
    const report = await runDistributed({ workers: 4, items: 10 });

    expect(report.served).toBe(40);
    expect(report.rejected429).toBe(0);
    expect(report.maxStartsInAnyWindow).toBeLessThanOrEqual(20);
    expect(report.workers.map((w) => w.starts)).toEqual([10, 10, 10, 10]);
    expect(report.workers.every((w) => w.failed === 0 && w.rateLimited === 0)).toBe(true);
  }, 60_000);
});
