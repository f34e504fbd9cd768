import { afterEach, describe, expect, it, vi } from "vitest";
import { answer, Calls, type CallsShared as Shared } from "./ledger-support.js";
import { BudgetExceeded, RateLimiter, UsageLedger } from "../src/index.js";
import { DEFAULT_PRICES, priceOf } from "../src/ledger/prices.js";
import { flush } from "test-support";
import { AsyncNode } from "pocketflow-ts";
import { type FlowResult, ThrottledAsyncParallelBatchFlow } from "../src/flows.js";

/**
 * Budget windows of an in-process `RateLimiter` (DESIGN section 12): a
 * window with `onExceed: "fail"` refuses a start that would cross it with
 * `BudgetExceeded` instead of queueing it; `costUsd` is one more weight,
 * corrected by `settle`.
 */

afterEach(() => {
  vi.useRealTimers();
});

/** The rejection of `promise` (fails the test if it resolves). */
async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("RateLimiter budget windows", () => {
  it("refuses the start that would cross maxCostUsd at once, with what was spent, and admits one that exactly fits", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, windows: [{ seconds: 60, maxCostUsd: 1, onExceed: "fail" }] });
    const a = await limiter.acquire({ costUsd: 0.4 });
    const b = await limiter.acquire({ costUsd: 0.4 });

    const error = await refusal(limiter.acquire({ costUsd: 0.4 }));

    expect(error).toBeInstanceOf(BudgetExceeded);
    expect(error).toMatchObject({ kind: "maxCostUsd", limit: 1, key: "" });
    expect((error as BudgetExceeded).spent).toBeCloseTo(0.8, 12);
    expect((error as BudgetExceeded).message).toMatch(/\$0\.4 would cross the 60 s budget window's maxCostUsd 1 \(\$0\.8 used\)/);
    // 0.4 + 0.4 + 0.2 is 1.0000000000000002 in floats: still within the budget.
    const c = await limiter.acquire({ costUsd: 0.2 });
    expect(limiter.pending).toBe(0);
    expect(limiter.stats.acquired).toBe(3);
    for (const p of [a, b, c]) p.release();
  });

  it("counts settled cost, not the estimate: a refund makes room, a charge takes it", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, windows: [{ seconds: 60, maxCostUsd: 1, onExceed: "fail" }] });
    const a = await limiter.acquire({ costUsd: 0.9 });
    await expect(limiter.acquire({ costUsd: 0.2 })).rejects.toBeInstanceOf(BudgetExceeded);

    a.settle({ costUsd: 0.3 });
    const b = await limiter.acquire({ costUsd: 0.2 });
    b.settle({ inputTokens: 10, costUsd: 0.7 }); // now 1.0 spent

    await expect(limiter.acquire({ costUsd: 0.01 })).rejects.toMatchObject({ name: "BudgetExceeded", limit: 1 });
    a.release();
    b.release();
  });

  it("keeps the spend of a settle that gives tokens only (the cost estimate stands)", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, windows: [{ seconds: 60, maxCostUsd: 1, onExceed: "fail" }] });
    const a = await limiter.acquire({ inputTokens: 10, costUsd: 0.6 });
    a.settle({ inputTokens: 2, outputTokens: 3 });

    await expect(limiter.acquire({ costUsd: 0.5 })).rejects.toBeInstanceOf(BudgetExceeded);
    a.release();
  });

  it("a budget frees as its window slides, like any window", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ maxConcurrent: 10, arrivalMarginSeconds: 0, windows: [{ seconds: 1, maxCostUsd: 0.5, onExceed: "fail" }] });
    (await limiter.acquire({ costUsd: 0.5 })).release();
    await expect(limiter.acquire({ costUsd: 0.1 })).rejects.toBeInstanceOf(BudgetExceeded);

    await vi.advanceTimersByTimeAsync(1001);
    const p = await limiter.acquire({ costUsd: 0.5 });
    p.release();
  });

  it("onExceed defaults to wait: the same window delays the start instead", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ maxConcurrent: 10, arrivalMarginSeconds: 0, windows: [{ seconds: 1, maxCostUsd: 0.5 }] });
    (await limiter.acquire({ costUsd: 0.5 })).release();
    let startedAt = -1;
    const t0 = performance.now();
    const waiting = limiter.acquire({ costUsd: 0.1 }).then((p) => {
      startedAt = performance.now() - t0;
      p.release();
    });

    await vi.advanceTimersByTimeAsync(500);
    expect(startedAt).toBe(-1);
    expect(limiter.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(600);
    await waiting;
    expect(startedAt).toBeGreaterThanOrEqual(1000);
  });

  it("a request budget refuses the start past maxRequests without waiting, while a waiting window beside it still delays", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({
      maxConcurrent: 10,
      arrivalMarginSeconds: 0,
      windows: [
        { seconds: 60, maxRequests: 3, onExceed: "fail" },
        { seconds: 1, maxRequests: 2 },
      ],
    });
    (await limiter.acquire()).release();
    (await limiter.acquire()).release();
    const third = limiter.acquire(); // waits for the per-second window, then fits the budget
    await vi.advanceTimersByTimeAsync(1001);
    (await third).release();

    const error = await refusal(limiter.acquire());
    expect(error).toMatchObject({ name: "BudgetExceeded", kind: "maxRequests", spent: 3, limit: 3 });
    expect(limiter.pending).toBe(0);
  });

  it("a waiter that reaches the head after the budget filled is refused there, not started", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1, windows: [{ seconds: 60, maxCostUsd: 1, onExceed: "fail" }] });
    const a = await limiter.acquire({ costUsd: 0.5 });
    const waiting = refusal(limiter.acquire({ costUsd: 0.4 })); // queued for the one slot; fits for now
    expect(limiter.pending).toBe(1);

    a.settle({ costUsd: 0.9 });
    a.release();

    expect(await waiting).toBeInstanceOf(BudgetExceeded);
    expect(limiter.active).toBe(0);
    expect(limiter.pending).toBe(0);
  });

  it("an estimate above the budget on its own is a BudgetExceeded, not a wait or a RangeError", async () => {
    const limiter = new RateLimiter({ windows: [{ seconds: 60, maxCostUsd: 0.1, onExceed: "fail" }] });
    const error = await refusal(limiter.acquire({ costUsd: 0.25 }));
    expect(error).toMatchObject({ name: "BudgetExceeded", spent: 0, limit: 0.1 });
  });

  it("run() is refused the same way and never calls the function", async () => {
    const limiter = new RateLimiter({ windows: [{ seconds: 60, maxCostUsd: 0.1, onExceed: "fail" }] });
    const fn = vi.fn(() => 1);
    await expect(limiter.run(fn, { costUsd: 0.2 })).rejects.toBeInstanceOf(BudgetExceeded);
    expect(fn).not.toHaveBeenCalled();
    expect(limiter.active).toBe(0);
  });

  it("lists budget windows apart from waiting windows of the same period", () => {
    const limiter = new RateLimiter({
      windows: [
        { seconds: 60, maxRequests: 100 },
        { seconds: 60, maxCostUsd: 2, maxTokens: 5000, onExceed: "fail" },
      ],
    });
    expect(limiter.windows).toEqual([
      { seconds: 60, maxRequests: 100 },
      { seconds: 60, onExceed: "fail", maxCostUsd: 2, maxTokens: 5000 },
    ]);
  });

  it("learned limits replace waiting windows but never a budget", () => {
    const limiter = new RateLimiter({
      learnLimits: true,
      windows: [
        { seconds: 60, maxRequests: 100 },
        { seconds: 60, maxRequests: 10, onExceed: "fail" },
      ],
    });
    limiter.learn({ requestsPerMinute: 500 });
    expect(limiter.windows).toContainEqual({ seconds: 60, maxRequests: 500 });
    expect(limiter.windows).toContainEqual({ seconds: 60, onExceed: "fail", maxRequests: 10 });
  });
});

describe("budget window bad input", () => {
  it.each([
    [{ seconds: 60, maxCostUsd: -1, onExceed: "fail" }, RangeError, /windows\[0\]\.maxCostUsd .*-1/],
    [{ seconds: 60, maxCostUsd: Number.NaN }, RangeError, /windows\[0\]\.maxCostUsd .*NaN/],
    [{ seconds: 60, maxCostUsd: "5" }, TypeError, /windows\[0\]\.maxCostUsd/],
    [{ seconds: 60, maxCostUsd: 1, onExceed: "stop" }, TypeError, /windows\[0\]\.onExceed must be "wait" or "fail", got "stop"/],
    [{ seconds: 60, onExceed: "fail" }, RangeError, /windows\[0\] has no limit: .*maxCostUsd/],
  ])("rejects the window %j", (window, type, message) => {
    expect(() => new RateLimiter({ windows: [window as never] })).toThrow(type);
    expect(() => new RateLimiter({ windows: [window as never] })).toThrow(message);
  });

  it("rejects a bad costUsd on acquire and on settle, naming it", async () => {
    const limiter = new RateLimiter({ windows: [{ seconds: 60, maxCostUsd: 1, onExceed: "fail" }] });
    await expect(limiter.acquire({ costUsd: Number.NaN })).rejects.toThrow(/costUsd must be a finite number >= 0, got NaN/);
    await expect(limiter.run(() => 1, { costUsd: -0.5 })).rejects.toThrow(/costUsd must be a finite number >= 0, got -0.5/);
    const p = await limiter.acquire({ costUsd: 0.1 });
    expect(() => p.settle({ costUsd: Number.POSITIVE_INFINITY })).toThrow(/settle costUsd must be a finite number >= 0/);
    p.release();
    expect(limiter.active).toBe(0);
  });
});

const answerM = (input: number, output: number) => answer(input, output, "m");

/** A window of $25 that fails, and a price of a dollar per input token for model "m". */
const dollarsWindow = () => new RateLimiter({ maxConcurrent: 1, windows: [{ seconds: 3600, maxCostUsd: 25, onExceed: "fail" }] });
const dollarPerToken = () => new UsageLedger({ prices: { m: { input: 1_000_000, output: 0 } } });

describe("nodes under a limiter's budget window", () => {
  it("price each start's estimate with the ledger, refuse the one that would cross, and start nothing after it", async () => {
    const ledger = dollarPerToken();
    const started: number[] = [];
    const node = new Calls({ limiter: dollarsWindow(), ledger }, async (item) => {
      started.push(item);
      return answerM(10, 0);
    });
    node.estimateTokens = () => 10;

    const error = await node.runAsync({ items: [1, 2, 3, 4, 5] }).catch((e: unknown) => e);

    // Before the first answer no model is known (its estimate costs 0); then each start reserves $10.
    expect(error).toBeInstanceOf(BudgetExceeded);
    expect(error).toMatchObject({ kind: "maxCostUsd", spent: 20, limit: 25 });
    expect(started).toEqual([1, 2]);
    expect(ledger.totals).toMatchObject({ requests: 2, costUsd: 20 });
  });

  it("settle each start at what the answer cost, so cheaper answers leave room for more", async () => {
    const started: number[] = [];
    // One at a time, so no start is asked for while another's $10 estimate is still in flight.
    const node = new Calls({ maxConcurrent: 1, limiter: dollarsWindow(), ledger: dollarPerToken() }, async (item) => {
      started.push(item);
      return answerM(2, 0); // $2, against a $10 estimate
    });
    node.estimateTokens = () => 10;

    const error = await node.runAsync({ items: Array.from({ length: 12 }, (_, i) => i + 1) }).catch((e: unknown) => e);

    // Item j starts while 2 (j - 1) + 10 <= 25: items 1 to 8; the 9th would reach $26.
    expect(started).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(error).toMatchObject({ name: "BudgetExceeded", spent: 16, limit: 25 });
  });

  it("price with the shipped table when the node has no ledger of its own", async () => {
    const started: number[] = [];
    const limiter = new RateLimiter({ maxConcurrent: 1, windows: [{ seconds: 3600, maxCostUsd: 0.5, onExceed: "fail" }] });
    const node = new Calls({ limiter }, async (item) => {
      started.push(item);
      return answer(1_000_000, 0, "gpt-4o-mini");
    });
    node.estimateTokens = () => 1_000_000;
    const price = priceOf(DEFAULT_PRICES, "gpt-4o-mini")?.input as number;

    const error = await node.runAsync({ items: [1, 2, 3, 4, 5, 6, 7, 8] }).catch((e: unknown) => e);

    const fits = 1 + Math.floor((0.5 - price) / price + 1e-9); // the first start is unpriced, then `price` each
    expect(started).toHaveLength(fits);
    expect(error).toBeInstanceOf(BudgetExceeded);
    expect((error as BudgetExceeded).spent).toBeCloseTo(fits * price, 9);
  });

  it("take a cost the hooks state: estimateTokens' costUsd reserves it, usageOf's settles it", async () => {
    const started: number[] = [];
    const node = new Calls({ limiter: dollarsWindow() }, async (item) => {
      started.push(item);
      return { cost: 3 };
    });
    node.estimateTokens = () => ({ inputTokens: 10, costUsd: 5 });
    node.usageOf = (result) => ({ inputTokens: 10, costUsd: (result as { cost: number }).cost });

    const error = await node.runAsync({ items: Array.from({ length: 10 }, (_, i) => i + 1) }).catch((e: unknown) => e);

    // Item j starts while 3 (j - 1) + 5 <= 25: items 1 to 7.
    expect(started).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(error).toMatchObject({ name: "BudgetExceeded", spent: 21, limit: 25 });
  });

  it("send one request alone until the first answer names the model, then run at full concurrency", async () => {
    let running = 0;
    const peaks: number[] = [];
    const limiter = new RateLimiter({ maxConcurrent: 4, windows: [{ seconds: 3600, maxCostUsd: 1000, onExceed: "fail" }] });
    const node = new Calls({ maxConcurrent: 4, limiter, ledger: dollarPerToken() }, async () => {
      peaks.push(++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return answerM(1, 0);
    });
    node.estimateTokens = () => 1;
    await node.runAsync({ items: Array.from({ length: 9 }, (_, i) => i) });
    expect(peaks[0]).toBe(1);
    expect(peaks[1]).toBe(1); // the second starts only after the first answered
    expect(Math.max(...peaks)).toBe(4);
  });

  it("count the estimates in flight: a start asked for while others hold theirs is refused if they would cross together", async () => {
    const release: Array<() => void> = [];
    const limiter = new RateLimiter({ maxConcurrent: 4, windows: [{ seconds: 3600, maxCostUsd: 25, onExceed: "fail" }] });
    const node = new Calls({ maxConcurrent: 4, limiter }, (item) => new Promise((resolve) => release.push(() => resolve({ item }))));
    node.estimateTokens = () => ({ inputTokens: 1, costUsd: 10 });
    const run = node.runAsync({ items: [1, 2, 3, 4] }).catch((e: unknown) => e);
    await flush();
    expect(release).toHaveLength(2); // $20 in flight; a third $10 would make $30
    for (const r of release) r();
    expect(await run).toMatchObject({ name: "BudgetExceeded", spent: 20, limit: 25 });
  });

  it("an abort while units wait for the first answer ends the run without a stall", async () => {
    const controller = new AbortController();
    const limiter = new RateLimiter({ maxConcurrent: 4, windows: [{ seconds: 3600, maxCostUsd: 25, onExceed: "fail" }] });
    const node = new Calls({ maxConcurrent: 4, limiter, ledger: dollarPerToken() }, () => new Promise(() => {})); // never answers
    node.estimateTokens = () => 1;
    const run = node.runAsync({ items: [1, 2, 3] }, { signal: controller.signal }).catch((e: unknown) => e);
    await flush();
    controller.abort(new Error("stop"));
    expect(await run).toMatchObject({ message: "stop" });
    expect(limiter.pending).toBe(0);
  });

  it("run every item when the spend stays within the window", async () => {
    const node = new Calls({ limiter: dollarsWindow(), ledger: dollarPerToken() }, async () => answerM(1, 0));
    node.estimateTokens = () => 1;
    const shared: Shared = { items: [1, 2, 3, 4, 5] };
    await node.runAsync(shared);
    expect(shared.results).toHaveLength(5);
  });
});

describe("flows under a limiter's budget window", () => {
  it("end the instances past the budget as rejected BudgetExceeded results", async () => {
    class Leaf extends AsyncNode {
      override async execAsync() {
        return "ok";
      }
    }
    let statuses: string[] = [];
    class PerItem extends ThrottledAsyncParallelBatchFlow<Record<string, never>> {
      override async prepAsync() {
        return [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }];
      }
      override async postAsync(_s: Record<string, never>, _p: unknown, results: FlowResult[] | undefined) {
        statuses = (results ?? []).map((r) => (r.status === "rejected" ? (r.reason as Error).name : r.status));
        return undefined;
      }
    }
    const limiter = new RateLimiter({ maxConcurrent: 1, windows: [{ seconds: 3600, maxCostUsd: 1, onExceed: "fail" }] });
    const flow = new PerItem(new Leaf(), { maxConcurrentFlows: 1, limiter });
    flow.estimateTokens = () => ({ inputTokens: 1, costUsd: 0.4 });
    await flow.runAsync({});
    expect(statuses).toEqual(["fulfilled", "fulfilled", "BudgetExceeded", "BudgetExceeded"]);
  });
});
