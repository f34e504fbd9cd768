import { describe, expect, it } from "vitest";
import { runDurableBatch } from "../durable-bullmq-example.js";

// Needs the machine's Redis on 127.0.0.1:6379: fails, not skips, without it. Each run uses its own key prefix
// (BullMQ's queue keys included) and deletes its keys at the end.
describe("durable-bullmq-example: one batch as BullMQ jobs over 3 workers sharing a RedisCheckpointStore", () => {
  it("loses nothing and pays again for no saved item when a worker is SIGKILLed mid-run", async () => {
    const report = await runDurableBatch({ items: 60, workers: 3, kill: true });

    expect(report.killed).toBe(true);
    expect(report.saved).toBe(60);
    expect(report.results).toEqual(Array.from({ length: 60 }, (_, i) => `summary of doc-${i}`));
    expect(report.savedThenPaidAgain).toEqual([]);
    // Only the items in flight on the killed worker (2 jobs of up to 5 items each) can be paid twice.
    expect(report.paidTwice.length).toBeLessThanOrEqual(10);
    expect(report.calls).toBe(60 + report.paidTwice.length);
  }, 120_000);
});
