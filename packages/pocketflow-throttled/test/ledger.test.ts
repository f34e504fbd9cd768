import { describe, expect, it, vi } from "vitest";
import { answer, Calls } from "./ledger-support.js";
import { LIMITER_CHANNEL, type LimiterMessage } from "../src/observe/channels.js";
import { BudgetExceeded } from "../src/errors.js";
import { UsageLedger } from "../src/ledger/ledger.js";
import { DEFAULT_PRICES, priceOf } from "../src/ledger/prices.js";
import { type FlowResult, ThrottledAsyncParallelBatchFlow } from "../src/flows.js";
import { AsyncNode } from "pocketflow-ts";
import { collect, flush } from "test-support";
import { booksFor } from "../src/ledger/options.js";
import { RateLimiter } from "../src/limiters/sliding-window.js";
import { Attempts } from "../src/run/attempt.js";
import { RunLifecycle } from "../src/run/pool.js";
import { composePolicies } from "../src/run/retry.js";


describe("UsageLedger", () => {
  it("records each successful attempt's usage and prices it by the result's model", async () => {
    const ledger = new UsageLedger();
    await new Calls({ ledger, maxConcurrent: 2 }, async () => answer(1000, 500)).runAsync({ items: [1, 2] });
    const price = DEFAULT_PRICES["gpt-4o-mini"] as { input: number; output: number };
    expect(ledger.totals).toEqual({
      requests: 2,
      inputTokens: 2000,
      outputTokens: 1000,
      costUsd: expect.closeTo((2000 * price.input + 1000 * price.output) / 1e6, 12),
      failedAttempts: 0,
      wastedTokens: 0,
    });
    expect(Object.keys(ledger.byModel)).toEqual(["gpt-4o-mini"]);
  });

  it("counts a failed attempt whose error's response carries usage as failed and wasted, and the retry's too", async () => {
    const ledger = new UsageLedger();
    let calls = 0;
    await new Calls({ ledger, maxRetries: 2 }, async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error("bad json"), { response: answer(100, 50) });
      return answer(100, 60);
    }).runAsync({ items: [1] });
    expect(ledger.totals).toMatchObject({ requests: 2, inputTokens: 200, outputTokens: 110, failedAttempts: 1, wastedTokens: 150 });
  });

  it("a manual record with the item replaces the automatic one (no double count) and a parse failure after it is wasted", async () => {
    const ledger = new UsageLedger();
    let calls = 0;
    await new Calls({ ledger, maxRetries: 2 }, async (item) => {
      calls++;
      const raw = answer(10, 5);
      ledger.record({ inputTokens: 10, outputTokens: 5 }, { model: raw.model, item });
      if (calls === 1) throw new Error("could not parse");
      return raw; // carries the same usage: must not be counted again
    }).runAsync({ items: [7] });
    expect(ledger.totals).toMatchObject({ requests: 2, inputTokens: 20, outputTokens: 10, failedAttempts: 1, wastedTokens: 15 });
  });

  it("an unknown model's cost is undefined, never 0, and warns once", async () => {
    const warnings: string[] = [];
    const ledger = new UsageLedger({ warn: (m) => warnings.push(m) });
    await new Calls({ ledger }, async () => answer(10, 10, "my-own-model")).runAsync({ items: [1, 2, 3] });
    expect(ledger.totals.costUsd).toBeUndefined();
    expect(ledger.byModel["my-own-model"]?.costUsd).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"my-own-model"');
  });

  it("given prices override the shipped table, and a dated model name finds its base price", () => {
    const ledger = new UsageLedger({ prices: { "gpt-4o": { input: 1, output: 2 } } });
    ledger.record({ inputTokens: 1_000_000, outputTokens: 1_000_000 }, { model: "gpt-4o-2024-08-06" });
    expect(ledger.totals.costUsd).toBe(3);
    expect(priceOf(DEFAULT_PRICES, "gpt-4o-mini-2024-07-18")).toBe(DEFAULT_PRICES["gpt-4o-mini"]);
  });

  it("cached input tokens are priced at the cached price", () => {
    const ledger = new UsageLedger({ prices: { m: { input: 2, cachedInput: 1, output: 0 } } });
    ledger.record({ inputTokens: 1_000_000, cachedInputTokens: 500_000, outputTokens: 0 }, { model: "m" });
    expect(ledger.totals.costUsd).toBe(1.5);
  });

  it("rejects a negative or NaN price or usage with an error naming the field", () => {
    expect(() => new UsageLedger({ prices: { m: { input: -1, output: 1 } } })).toThrow(/prices\["m"\]\.input .*-1/);
    expect(() => new UsageLedger({ prices: { m: { input: 1, output: Number.NaN } } })).toThrow(/prices\["m"\]\.output .*NaN/);
    const ledger = new UsageLedger();
    expect(() => ledger.record({ inputTokens: -5 })).toThrow(/usage\.inputTokens .*-5/);
    expect(() => ledger.record({ outputTokens: Number.NaN })).toThrow(/usage\.outputTokens .*NaN/);
  });
});

describe("budget", () => {
  it("a start whose estimate would cross maxTokens fails with BudgetExceeded, and no further item starts", async () => {
    const started: number[] = [];
    const node = new Calls({ maxConcurrent: 1, budget: { maxTokens: 250 } }, async (item) => {
      started.push(item);
      return answer(100, 0);
    });
    node.estimateTokens = () => 100;
    const error = await node.runAsync({ items: [1, 2, 3, 4, 5] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceeded);
    expect(error).toMatchObject({ kind: "maxTokens", spent: 200, limit: 250, key: "" });
    expect(started).toEqual([1, 2]);
  });

  it("in-flight items finish and are recorded when a start is refused", async () => {
    const ledger = new UsageLedger();
    const release: Array<() => void> = [];
    const node = new Calls({ ledger, maxConcurrent: 2, budget: { maxRequests: 2 } }, (item) =>
      new Promise((resolve) => release.push(() => resolve(answer(item, 1)))),
    );
    const run = node.runAsync({ items: [1, 2, 3] }).catch((e: unknown) => e);
    await flush();
    expect(release).toHaveLength(2);
    (release[0] as () => void)(); // item 1 ends; item 3 is refused while item 2 is still in flight
    expect(await run).toBeInstanceOf(BudgetExceeded);
    (release[1] as () => void)();
    await flush();
    expect(ledger.totals).toMatchObject({ requests: 2, inputTokens: 3 });
  });

  it("per-key budgets: one user's exhausted budget names that key", async () => {
    const node = new Calls({ maxConcurrent: 1, budget: { maxRequests: 1, key: (item: number) => `user-${item % 2}` } }, async () => answer(1, 1));
    const error = await node.runAsync({ items: [0, 1, 2] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "BudgetExceeded", key: "user-0", limit: 1, spent: 1 });
  });

  it("onAlert is called once per period when a limit's use crosses alertAt", async () => {
    const alerts: unknown[] = [];
    const node = new Calls({ maxConcurrent: 1, budget: { maxRequests: 10, onAlert: (a) => alerts.push(a) } }, async () => answer(1, 1));
    await node.runAsync({ items: [1, 2, 3, 4, 5, 6, 7, 8, 9] });
    expect(alerts).toEqual([{ key: "", kind: "maxRequests", spent: 8, limit: 10, alertAt: 0.8 }]);
  });

  it("publishes budget-alert on the limiter channel once per key and period, beside onAlert", async () => {
    const channel = collect<LimiterMessage>(LIMITER_CHANNEL);
    const day = 86_400_000;
    let now = 20_000 * day + 1000; // an hour into a day: the clock is the test's, so no run straddles two periods
    const clock = vi.spyOn(Date, "now").mockImplementation(() => now);
    try {
      const alerts: unknown[] = [];
      const budget = { maxRequests: 5, periodSeconds: 86_400, key: (item: number) => (item < 100 ? "a" : "b"), onAlert: (a: unknown) => alerts.push(a) };
      const node = new Calls({ maxConcurrent: 1, budget }, async () => answer(1, 1));
      await node.runAsync({ items: [1, 2, 3, 4] }); // a reaches 4 of 5: 80%
      await node.runAsync({ items: [5, 101, 102, 103, 104] }); // a again in the same day: no second alert; b's own
      now += day; // the next day: a's count starts again, and so does its alert
      await node.runAsync({ items: [6, 7, 8, 9] });
      const alert = (key: string) => ({ event: "budget-alert", source: "Calls", key, kind: "maxRequests", spent: 4, limit: 5, alertAt: 0.8 });
      expect(channel.messages.filter((m) => m.event === "budget-alert")).toEqual([alert("a"), alert("b"), alert("a")]);
      expect(alerts).toEqual([alert("a"), alert("b"), alert("a")].map(({ event: _e, source: _s, ...a }) => a));
    } finally {
      clock.mockRestore();
      channel.stop();
    }
  });

  it("a cost budget prices start estimates with the ledger's latest model", async () => {
    const ledger = new UsageLedger({ prices: { m: { input: 1_000_000, output: 0 } } }); // a dollar a token
    const node = new Calls({ ledger, maxConcurrent: 1, budget: { maxCostUsd: 25, model: "m" } }, async () => answer(10, 0, "m"));
    node.estimateTokens = () => 10;
    const error = await node.runAsync({ items: [1, 2, 3] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "maxCostUsd", spent: 20, limit: 25 });
    expect(ledger.totals.costUsd).toBe(20);
  });

  it("a periodSeconds budget is kept across runs of the node", async () => {
    const node = new Calls({ maxConcurrent: 1, budget: { maxRequests: 3, periodSeconds: 3600 } }, async () => answer(1, 1));
    await node.runAsync({ items: [1, 2] });
    await expect(node.runAsync({ items: [3, 4] })).rejects.toBeInstanceOf(BudgetExceeded);
  });

  it("a key function that throws fails that item with its error", async () => {
    const boom = new Error("no user");
    const node = new Calls({ budget: { maxRequests: 5, key: () => { throw boom; } } }, async () => answer(1, 1));
    await expect(node.runAsync({ items: [1] })).rejects.toBe(boom);
  });

  it("rejects a negative or NaN budget with an error naming the field", () => {
    expect(() => new Calls({ budget: { maxCostUsd: -1 } }, async () => 0)).toThrow(/budget\.maxCostUsd/);
    expect(() => new Calls({ budget: { maxTokens: Number.NaN } }, async () => 0)).toThrow(/budget\.maxTokens/);
  });

  it("a flow's budget refuses further instances with BudgetExceeded results", async () => {
    class Leaf extends AsyncNode {
      override async execAsync() {
        return "ok";
      }
    }
    let statuses: string[] = [];
    class PerItem extends ThrottledAsyncParallelBatchFlow<Record<string, never>> {
      override async prepAsync() {
        return [{ n: 1 }, { n: 2 }, { n: 3 }];
      }
      override async postAsync(_s: Record<string, never>, _p: unknown, results: FlowResult[] | undefined) {
        statuses = (results ?? []).map((r) => (r.status === "rejected" ? (r.reason as Error).name : r.status));
        return undefined;
      }
    }
    await new PerItem(new Leaf(), { maxConcurrentFlows: 1, budget: { maxRequests: 2 } }).runAsync({});
    expect(statuses).toEqual(["fulfilled", "fulfilled", "BudgetExceeded"]);
  });
});

describe("ledger and budget options", () => {
  const hooks = {
    call: async () => 1,
    estimate: () => 0,
    usage: () => undefined,
    fallback: async (_u: unknown, e: unknown) => {
      throw e;
    },
    classify: () => undefined,
    retryAfter: () => undefined,
    setAttempt: () => {},
  };
  const attemptsWith = (books: ReturnType<typeof booksFor>) =>
    new Attempts({ limiter: new RateLimiter({ maxConcurrent: 2 }), lifecycle: new RunLifecycle(undefined), hooks, policy: composePolicies(), observe: true, books });

  it("without a ledger or budget a run keeps the allocation-free fast path; with one it leaves it", () => {
    const limiter = new RateLimiter({ maxConcurrent: 2 });
    expect(booksFor({}, {}, limiter, "N")).toBeUndefined();
    expect(attemptsWith(undefined).fast).toBe(true);
    expect(attemptsWith(booksFor({}, { ledger: new UsageLedger() }, limiter, "N")).fast).toBe(false);
  });

  it("rejects a ledger that is not a UsageLedger, a budget without a limit, and a key that returns no string", async () => {
    expect(() => new Calls({ ledger: {} as UsageLedger }, async () => 0)).toThrow(/ledger must be a UsageLedger/);
    expect(() => new Calls({ budget: { periodSeconds: 60 } }, async () => 0)).toThrow(/budget has no limit/);
    const node = new Calls({ budget: { maxRequests: 1, key: () => 42 as unknown as string } }, async () => 0);
    await expect(node.runAsync({ items: [1] })).rejects.toThrow(/budget\.key must return a string, got number 42/);
  });
});
