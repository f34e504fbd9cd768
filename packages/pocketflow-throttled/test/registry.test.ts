import { AsyncNode, AsyncParallelBatchNode, type Params } from "pocketflow-ts";
import { afterEach, describe, expect, it } from "vitest";
import { ThrottledAsyncParallelBatchFlow } from "../src/flows.js";
import { RateLimiter } from "../src/limiters/sliding-window.js";
import { TokenBucket } from "../src/limiters/token-bucket.js";
import { ThrottledParallelBatchNode } from "../src/nodes.js";
import { LimiterRegistry } from "../src/registry.js";
import { delay, flush, Gauge } from "test-support";

afterEach(() => {
  LimiterRegistry.reset();
});

/** A throttled node over `count` items, each one counted by `gauge` for `ms`. */
class Calls extends ThrottledParallelBatchNode<unknown, number, number> {
  constructor(
    readonly gauge: Gauge,
    readonly count: number,
    options: ConstructorParameters<typeof ThrottledParallelBatchNode>[0] = {},
    readonly ms = 10,
  ) {
    super(options);
  }
  override async prepAsync(): Promise<number[]> {
    return Array.from({ length: this.count }, (_, i) => i);
  }
  override async execAsync(item: number): Promise<number> {
    this.gauge.enter();
    await delay(this.ms);
    this.gauge.leave();
    return item;
  }
}

describe("LimiterRegistry.register and get", () => {
  it("registers a RateLimiter under a name and returns it", () => {
    const limiter = LimiterRegistry.register("openai", { maxConcurrent: 10, maxPerWindow: 500, windowSeconds: 60 });

    expect(limiter).toBeInstanceOf(RateLimiter);
    expect(LimiterRegistry.get("openai")).toBe(limiter);
    expect(limiter.maxConcurrent).toBe(10);
  });

  it("uses the RateLimiter defaults when given no options", () => {
    LimiterRegistry.register("plain");

    expect(LimiterRegistry.listAll()).toStrictEqual({
      plain: { maxConcurrent: 5, maxPerWindow: undefined, windowSeconds: 60 },
    });
  });

  it("throws when the name is taken, saying how to replace it", () => {
    const first = LimiterRegistry.register("api", { maxConcurrent: 2 });

    expect(() => LimiterRegistry.register("api", { maxConcurrent: 3 })).toThrow(/"api".*already registered.*replace: true/);
    expect(LimiterRegistry.get("api")).toBe(first);
  });

  it("replaces the limiter with { replace: true }", () => {
    const first = LimiterRegistry.register("api", { maxConcurrent: 2 });

    const second = LimiterRegistry.register("api", { maxConcurrent: 3 }, { replace: true });

    expect(second).not.toBe(first);
    expect(LimiterRegistry.get("api")).toBe(second);
    expect(LimiterRegistry.get("api").maxConcurrent).toBe(3);
  });

  it("throws for a missing name, naming it and saying how to register it", () => {
    expect(() => LimiterRegistry.get("anthropic")).toThrow(/"anthropic".*LimiterRegistry\.register\("anthropic"/);
  });

  it("lists the registered names in the missing-name error", () => {
    LimiterRegistry.register("openai");

    expect(() => LimiterRegistry.get("opneai")).toThrow(/registered: openai/);
  });

  it.each([
    [{ maxConcurrent: 0 }, /maxConcurrent.*\b0\b/],
    [{ maxConcurrent: 1.5 }, /maxConcurrent.*1\.5/],
    [{ maxPerWindow: 0 }, /maxPerWindow.*\b0\b/],
    [{ windowSeconds: 0 }, /windowSeconds.*\b0\b/],
    [{ windowSeconds: -1 }, /windowSeconds.*-1/],
  ])("rejects %o with a RangeError naming the option, registering nothing", (options, message) => {
    expect(() => LimiterRegistry.register("bad", options)).toThrow(RangeError);
    expect(() => LimiterRegistry.register("bad", options)).toThrow(message);
    expect(LimiterRegistry.exists("bad")).toBe(false);
  });

  it("rejects an option a RateLimiter does not have, such as the node option maxPerMinute", () => {
    const options = { maxConcurrent: 2, maxPerMinute: 60 } as unknown as { maxConcurrent: number };

    expect(() => LimiterRegistry.register("typo", options)).toThrow(TypeError);
    expect(() => LimiterRegistry.register("typo", options)).toThrow(/"maxPerMinute".*maxPerWindow/);
    expect(LimiterRegistry.exists("typo")).toBe(false);
  });

  it("rejects an empty name", () => {
    expect(() => LimiterRegistry.register("")).toThrow(/name/);
  });

  it("accepts a TokenBucket instance as is", () => {
    const bucket = new TokenBucket({ ratePerSecond: 50, burst: 10, maxConcurrent: 2 });

    LimiterRegistry.register("bucket", bucket);

    expect(LimiterRegistry.get("bucket")).toBe(bucket);
    expect(LimiterRegistry.listAll().bucket).toMatchObject({ maxConcurrent: 2, ratePerSecond: 50, burst: 10 });
  });

  it("accepts a RateLimiter instance as is", () => {
    const limiter = new RateLimiter({ maxConcurrent: 4 });

    expect(LimiterRegistry.register("mine", limiter)).toBe(limiter);
    expect(LimiterRegistry.get("mine")).toBe(limiter);
  });
});

describe("LimiterRegistry.getOrCreate", () => {
  it("creates the limiter with the given options when missing", () => {
    const limiter = LimiterRegistry.getOrCreate("lazy", { maxConcurrent: 7 });

    expect(LimiterRegistry.get("lazy")).toBe(limiter);
    expect(limiter.maxConcurrent).toBe(7);
  });

  it("returns the existing limiter unchanged, ignoring the options", () => {
    const existing = LimiterRegistry.register("lazy", { maxConcurrent: 2 });

    const found = LimiterRegistry.getOrCreate("lazy", { maxConcurrent: 9 });

    expect(found).toBe(existing);
    expect(found.maxConcurrent).toBe(2);
  });
});

describe("LimiterRegistry.remove, reset, exists, listNames", () => {
  it("remove returns true when it removed a limiter", () => {
    LimiterRegistry.register("a");

    expect(LimiterRegistry.remove("a")).toBe(true);
    expect(LimiterRegistry.exists("a")).toBe(false);
  });

  it("remove returns false when there was none", () => {
    expect(LimiterRegistry.remove("never-registered")).toBe(false);
  });

  it("reset(name) removes only that limiter", () => {
    LimiterRegistry.register("a");
    LimiterRegistry.register("b");

    LimiterRegistry.reset("a");

    expect(LimiterRegistry.listNames()).toEqual(["b"]);
  });

  it("reset(name) of a missing name does nothing", () => {
    LimiterRegistry.register("a");

    LimiterRegistry.reset("zzz");

    expect(LimiterRegistry.listNames()).toEqual(["a"]);
  });

  it("reset() removes every limiter", () => {
    LimiterRegistry.register("a");
    LimiterRegistry.register("b");

    LimiterRegistry.reset();

    expect(LimiterRegistry.listNames()).toEqual([]);
  });

  it("exists tells whether a name is registered", () => {
    LimiterRegistry.register("a");

    expect(LimiterRegistry.exists("a")).toBe(true);
    expect(LimiterRegistry.exists("b")).toBe(false);
  });

  it("listNames gives the names in registration order", () => {
    LimiterRegistry.register("openai");
    LimiterRegistry.register("anthropic");
    LimiterRegistry.register("google");

    expect(LimiterRegistry.listNames()).toEqual(["openai", "anthropic", "google"]);
  });
});

describe("LimiterRegistry.listAll and stats", () => {
  it("listAll gives each limiter's limits keyed by name", () => {
    LimiterRegistry.register("openai", { maxConcurrent: 10, maxPerWindow: 500, windowSeconds: 60 });
    LimiterRegistry.register("local", { maxConcurrent: 2 });

    expect(LimiterRegistry.listAll()).toStrictEqual({
      openai: { maxConcurrent: 10, maxPerWindow: 500, windowSeconds: 60 },
      local: { maxConcurrent: 2, maxPerWindow: undefined, windowSeconds: 60 },
    });
  });

  it("listAll is empty with nothing registered", () => {
    expect(LimiterRegistry.listAll()).toStrictEqual({});
  });

  it("stats gives the limits, the current window count and the limiter's counters", async () => {
    LimiterRegistry.register("api", { maxConcurrent: 3, maxPerWindow: 10, windowSeconds: 60 });
    await LimiterRegistry.get("api").run(() => "a");
    await LimiterRegistry.get("api").run(() => "b");

    expect(LimiterRegistry.stats("api")).toMatchObject({
      maxConcurrent: 3,
      maxPerWindow: 10,
      windowSeconds: 60,
      currentWindowCount: 2,
      acquired: 2,
      throttled: 0,
      totalWaitMs: 0,
      active: 0,
      pending: 0,
    });
  });

  it("stats counts the acquisitions that had to wait", async () => {
    LimiterRegistry.register("narrow", { maxConcurrent: 1 });
    const limiter = LimiterRegistry.get("narrow");

    await Promise.all([limiter.run(() => delay(5)), limiter.run(() => delay(5))]);

    expect(LimiterRegistry.stats("narrow").throttled).toBe(1);
  });

  it("stats throws like get for a missing name", () => {
    expect(() => LimiterRegistry.stats("nope")).toThrow(/"nope".*LimiterRegistry\.register\("nope"/);
  });
});

describe("LimiterRegistry: shared use", () => {
  it("limits plain code in any execAsync through get(name).run(fn)", async () => {
    LimiterRegistry.register("api", { maxConcurrent: 2 });
    const gauge = new Gauge();
    class CallApi extends AsyncParallelBatchNode<unknown, number, number> {
      override async prepAsync(): Promise<number[]> {
        return [1, 2, 3, 4, 5, 6];
      }
      override async execAsync(item: number): Promise<number> {
        return LimiterRegistry.get("api").run(async () => {
          gauge.enter();
          await delay(10);
          gauge.leave();
          return item * 10;
        });
      }
      override async postAsync(shared: { out?: number[] }, _p: number[], results: number[]): Promise<undefined> {
        shared.out = results;
        return undefined;
      }
    }
    const shared: { out?: number[] } = {};

    await new CallApi().runAsync(shared);

    expect(gauge.peak).toBe(2);
    expect(shared.out).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it("lets a node use a registered limiter by name through the limiter option", async () => {
    LimiterRegistry.register("api", { maxConcurrent: 2, maxPerWindow: 100, windowSeconds: 60 });
    const gauge = new Gauge();

    await new Calls(gauge, 6, { limiter: "api", maxConcurrent: 10 }).runAsync({});

    expect(gauge.peak).toBe(2);
    expect(LimiterRegistry.stats("api").currentWindowCount).toBe(6);
  });

  it("keeps counting across runs and nodes that use the same name", async () => {
    LimiterRegistry.register("api", { maxConcurrent: 5, maxPerWindow: 100, windowSeconds: 60 });

    await new Calls(new Gauge(), 3, { limiter: "api" }).runAsync({});
    await new Calls(new Gauge(), 4, { limiter: "api" }).runAsync({});

    expect(LimiterRegistry.stats("api").acquired).toBe(7);
  });

  it("finds the limiter when the node runs, so it may be registered after the node is created", async () => {
    const node = new Calls(new Gauge(), 2, { limiter: "late" });
    LimiterRegistry.register("late", { maxConcurrent: 1 });

    await node.runAsync({});

    expect(LimiterRegistry.stats("late").acquired).toBe(2);
  });

  it("fails a node run whose limiter name is not registered, naming it", async () => {
    await expect(new Calls(new Gauge(), 2, { limiter: "missing" }).runAsync({})).rejects.toThrow(
      /"missing".*LimiterRegistry\.register\("missing"/,
    );
  });

  it("lets a flow start its instances under a registered limiter by name", async () => {
    LimiterRegistry.register("flows", { maxConcurrent: 2 });
    const gauge = new Gauge();
    class Work extends AsyncNode {
      override async execAsync(): Promise<void> {
        gauge.enter();
        await delay(10);
        gauge.leave();
      }
    }
    class PerUser extends ThrottledAsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }];
      }
    }

    const flow = new PerUser(new Work(), { limiter: "flows" });
    await flow.runAsync({});

    expect(gauge.peak).toBe(2);
    expect(flow.stats.completedFlows).toBe(5);
    expect(LimiterRegistry.stats("flows").acquired).toBe(5);
  });

  it("fails a flow run whose limiter name is not registered, naming it", async () => {
    class PerUser extends ThrottledAsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ id: 1 }];
      }
    }

    await expect(new PerUser(new AsyncNode(), { limiter: "missing" }).runAsync({})).rejects.toThrow(/"missing"/);
  });

  it("limits two nodes and a flow running at the same time to one shared maxConcurrent", async () => {
    LimiterRegistry.register("shared", { maxConcurrent: 4 });
    const gauge = new Gauge();
    class Work extends AsyncNode {
      override async execAsync(): Promise<void> {
        gauge.enter();
        await delay(10);
        gauge.leave();
      }
    }
    class PerUser extends ThrottledAsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return Array.from({ length: 8 }, (_, id) => ({ id }));
      }
    }
    class Summaries extends Calls {}
    class Translations extends Calls {}
    const summaries = new Summaries(gauge, 12, { limiter: "shared", maxConcurrent: 10 });
    const translations = new Translations(gauge, 12, { limiter: "shared", maxConcurrent: 10 });
    const users = new PerUser(new Work(), { limiter: "shared", maxConcurrentFlows: 10 });

    await Promise.all([summaries.runAsync({}), translations.runAsync({}), users.runAsync({})]);

    console.log(`shared limiter: observed maximum across 2 nodes and 1 flow = ${gauge.peak} (limit 4)`);
    expect(gauge.peak).toBe(4);
    expect(LimiterRegistry.stats("shared").acquired).toBe(32);
  });

  it("limits a node through a registered TokenBucket", async () => {
    LimiterRegistry.register("bucket", new TokenBucket({ ratePerSecond: 1000, burst: 100, maxConcurrent: 2 }));
    const gauge = new Gauge();

    await new Calls(gauge, 6, { limiter: "bucket" }).runAsync({});

    expect(gauge.peak).toBe(2);
  });

  it("shares a limiter registered under a name with code holding its instance", async () => {
    const limiter = LimiterRegistry.register("api", { maxConcurrent: 1 });
    const gauge = new Gauge();
    const permit = await limiter.acquire();

    const run = new Calls(gauge, 2, { limiter: "api" }).runAsync({});
    await flush();
    expect(gauge.current).toBe(0);
    permit.release();
    await run;

    expect(gauge.peak).toBe(1);
  });
});
