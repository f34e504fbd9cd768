/**
 * The run engine under faults (issue 13's defects): what one attempt gives
 * back, what a huge retry hint does, what a flow does when its limiter fails,
 * and what a hook returning nonsense does.
 */
import { AsyncFlow, AsyncNode, sleep } from "pocketflow-ts";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AcquireOptions,
  AdaptiveThrottledBatchFlow,
  AdaptiveThrottledNode,
  type FlowResult,
  type Limiter,
  LimiterRegistry,
  type Permit,
  RateLimiter,
  RateLimitHit,
  ThrottledAsyncParallelBatchFlow,
  ThrottledParallelBatchNode,
} from "../src/index.js";
import { delay } from "test-support";

interface Shared {
  items: unknown[];
  results?: unknown[];
}

/** A node over `shared.items` whose `execAsync` is `exec`. */
function nodeOf(exec: (item: unknown) => Promise<unknown>, options: ConstructorParameters<typeof ThrottledParallelBatchNode>[0]) {
  class N extends ThrottledParallelBatchNode<Shared, unknown, unknown> {
    override async prepAsync(shared: Shared) {
      return shared.items;
    }
    override async execAsync(item: unknown) {
      return exec(item);
    }
    override async postAsync(shared: Shared, _p: unknown, results: unknown[]) {
      shared.results = results;
      return undefined;
    }
  }
  return new N(options);
}

/** Collects process warnings while `work` runs. */
async function warningsDuring(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const onWarning = (warning: Error) => seen.push(`${warning.name}: ${warning.message}`);
  process.on("warning", onWarning);
  try {
    await work();
    await delay(20); // warnings are emitted on a later tick
  } finally {
    process.off("warning", onWarning);
  }
  return seen;
}

afterEach(() => LimiterRegistry.reset());

describe("an attempt that throws undefined", () => {
  it("runs once, rejects the run with undefined, and gives the in-process slot back", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    let calls = 0;
    const node = nodeOf(
      async () => {
        calls++;
        throw undefined;
      },
      { limiter, maxRetries: 1 },
    );

    const outcome = await node.runAsync({ items: [1] }).then(
      () => "resolved",
      (reason: unknown) => ({ reason }),
    );

    expect(outcome).toEqual({ reason: undefined });
    expect(calls).toBe(1);
    expect(limiter.active).toBe(0);
  });

  it("gives the slot back for Promise.reject() with no reason, too", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const node = nodeOf(() => Promise.reject(), { limiter });

    await expect(node.runAsync({ items: [1, 2] })).rejects.toBeUndefined();
    await delay(5); // the second worker's in-flight item settles
    expect(limiter.active).toBe(0);
  });

  it("never deadlocks a shared registry limiter: later runs still start after two such runs", async () => {
    LimiterRegistry.register("undefined-throws", { maxConcurrent: 2 });
    const failing = nodeOf(
      async () => {
        throw undefined;
      },
      { limiter: "undefined-throws" },
    );
    await expect(failing.runAsync({ items: [1] })).rejects.toBeUndefined();
    await expect(failing.runAsync({ items: [1] })).rejects.toBeUndefined();

    const healthy = nodeOf(async (item) => item, { limiter: "undefined-throws" });
    const shared: Shared = { items: [1, 2, 3] };
    await healthy.runAsync(shared);

    expect(shared.results).toEqual([1, 2, 3]);
    expect(LimiterRegistry.get("undefined-throws").active).toBe(0);
  });

  it("on the adaptive node and with retries left, still one attempt per try and no slot held", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 3 });
    let calls = 0;
    class Adaptive extends AdaptiveThrottledNode<Shared, unknown, unknown> {
      override async prepAsync(shared: Shared) {
        return shared.items;
      }
      override async execAsync() {
        calls++;
        throw undefined;
      }
    }

    await expect(new Adaptive({ limiter, maxRetries: 2 }).runAsync({ items: [1] })).rejects.toBeUndefined();

    expect(calls).toBe(2);
    expect(limiter.active).toBe(0);
  });
});

describe("a retry hint far beyond setTimeout's limit", () => {
  const hints: Array<[string, () => Error]> = [
    ["retry-after: 1e9 seconds", () => Object.assign(new Error("429"), { status: 429, headers: { "retry-after": "1000000000" } })],
    ["an HTTP date in 2099", () => Object.assign(new Error("429"), { status: 429, headers: { "retry-after": "Thu, 01 Jan 2099 00:00:00 GMT" } })],
    ["retryAfter: 1e9", () => new RateLimitHit("slow down", { retryAfter: 1e9 })],
  ];

  for (const [name, error] of hints) {
    it(`${name}: the node waits without a TimeoutOverflowWarning and an abort ends it with its reason`, async () => {
      const limiter = new RateLimiter({ maxConcurrent: 2 });
      const node = nodeOf(async () => {
        throw error();
      }, { limiter });
      const controller = new AbortController();
      const reason = new Error("enough");

      const warnings = await warningsDuring(async () => {
        const run = node.runAsync({ items: [1] }, { signal: controller.signal });
        await delay(20);
        controller.abort(reason);
        await expect(run).rejects.toBe(reason);
      });

      expect(warnings.filter((w) => w.startsWith("TimeoutOverflowWarning"))).toEqual([]);
      expect(limiter.active).toBe(0);
      limiter.reset();
    });
  }

  it("the adaptive flow pauses for a huge RateLimitHit hint without a warning, and an abort ends it", async () => {
    class Limited extends AsyncNode {
      override async execAsync(): Promise<never> {
        throw new RateLimitHit("slow down", { retryAfter: 1e9 });
      }
    }
    class PerItem extends AdaptiveThrottledBatchFlow {
      override async prepAsync() {
        return [{ i: 1 }, { i: 2 }, { i: 3 }];
      }
    }
    const flow = new PerItem(new Limited(), { initialConcurrentFlows: 1, maxConcurrentFlows: 2 });
    const controller = new AbortController();
    const reason = new Error("stop waiting");

    const warnings = await warningsDuring(async () => {
      const run = flow.runAsync({}, { signal: controller.signal });
      await delay(20);
      controller.abort(reason);
      await expect(run).rejects.toBe(reason);
    });

    expect(warnings.filter((w) => w.startsWith("TimeoutOverflowWarning"))).toEqual([]);
  });

  it("the base runtime's sleep of 1e12 ms arms a clamped timer: no warning, and abort ends it", async () => {
    const controller = new AbortController();
    const warnings = await warningsDuring(async () => {
      const slept = sleep(1e12, controller.signal);
      controller.abort("done");
      await expect(slept).rejects.toBe("done");
    });

    expect(warnings).toEqual([]);
  });
});

/** A limiter whose acquire fails from the `failFrom`-th call on, and that counts what it granted. */
class FailingLimiter implements Limiter {
  readonly inner = new RateLimiter({ maxConcurrent: 2 });
  calls = 0;
  constructor(private readonly failFrom: number) {}
  get maxConcurrent() {
    return this.inner.maxConcurrent;
  }
  get active() {
    return this.inner.active;
  }
  get pending() {
    return this.inner.pending;
  }
  get stats() {
    return this.inner.stats;
  }
  async acquire(options?: AcquireOptions): Promise<Permit> {
    if (++this.calls >= this.failFrom) throw new Error(`store unreachable (call ${this.calls})`);
    return this.inner.acquire(options);
  }
  run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    return this.inner.run(fn, options);
  }
  setConcurrency(n: number) {
    this.inner.setConcurrency(n);
  }
  pause(seconds: number) {
    this.inner.pause(seconds);
  }
  observe(headers: unknown) {
    this.inner.observe(headers);
  }
  reset() {
    this.inner.reset();
  }
}

describe("a throttled flow whose limiter fails to grant a start", () => {
  class Work extends AsyncNode {
    static started = 0;
    override async execAsync(): Promise<string> {
      Work.started++;
      await delay(2);
      return "ok";
    }
  }
  class PerItem extends ThrottledAsyncParallelBatchFlow<{ out?: FlowResult[] }> {
    override async prepAsync() {
      return Array.from({ length: 30 }, (_, i) => ({ i }));
    }
    override async postAsync(shared: { out?: FlowResult[] }, _p: unknown, results: FlowResult[] | undefined) {
      shared.out = results;
      return undefined;
    }
  }

  it("reports those instances as rejected results, resolves, and starts nothing after it settled", async () => {
    Work.started = 0;
    const limiter = new FailingLimiter(6);
    const shared: { out?: FlowResult[] } = {};

    await new PerItem(new Work(), { limiter }).runAsync(shared);
    const startedAtSettle = Work.started;
    await delay(30);

    expect(shared.out).toHaveLength(30);
    expect(shared.out?.filter((r) => r.status === "fulfilled")).toHaveLength(5);
    const rejected = shared.out?.filter((r) => r.status === "rejected") ?? [];
    expect(rejected).toHaveLength(25);
    expect(String((rejected[0] as PromiseRejectedResult).reason)).toMatch(/store unreachable/);
    expect(Work.started).toBe(startedAtSettle);
    expect(limiter.active).toBe(0);
  });

  it("reports an instance whose estimateTokens returns NaN as rejected, naming estimateTokens", async () => {
    class BadEstimate extends PerItem {
      override estimateTokens(): number {
        return Number.NaN;
      }
    }
    const shared: { out?: FlowResult[] } = {};

    await new BadEstimate(new Work(), { maxTokensPerMinute: 1000 }).runAsync(shared);

    expect(shared.out?.every((r) => r.status === "rejected")).toBe(true);
    expect(String((shared.out as FlowResult[])[0] && ((shared.out as FlowResult[])[0] as PromiseRejectedResult).reason)).toMatch(/estimateTokens .*NaN/);
  });
});

describe("hooks that return nonsense", () => {
  const limited = { maxTokensPerMinute: 10_000 };

  for (const [label, value, pattern] of [
    ["NaN", Number.NaN, /usageOf .*NaN/],
    ["-1", -1, /usageOf .*-1/],
    ['the string "12"', "12", /usageOf .*"12"/],
  ] as const) {
    it(`usageOf returning ${label} fails with an error naming usageOf and the value, and frees the slot`, async () => {
      const limiter = new RateLimiter({ maxConcurrent: 2, maxTokensPerWindow: 10_000 });
      class BadUsage extends ThrottledParallelBatchNode<Shared, unknown, unknown> {
        override async prepAsync(shared: Shared) {
          return shared.items;
        }
        override async execAsync(item: unknown) {
          return item;
        }
        override usageOf(): number {
          return value as number;
        }
      }

      await expect(new BadUsage({ limiter }).runAsync({ items: [1, 2] })).rejects.toThrow(pattern);
      await delay(5);
      expect(limiter.active).toBe(0);
    });
  }

  it("estimateTokens returning NaN fails the run with an error naming estimateTokens", async () => {
    class BadEstimate extends ThrottledParallelBatchNode<Shared, unknown, unknown> {
      override async prepAsync(shared: Shared) {
        return shared.items;
      }
      override estimateTokens(): number {
        return Number.NaN;
      }
    }

    await expect(new BadEstimate(limited).runAsync({ items: [1] })).rejects.toThrow(/estimateTokens .*NaN/);
  });
});

describe("adaptive ceilings below the default start", () => {
  it("AdaptiveThrottledNode({ maxConcurrent: 3 }) starts at 3 and runs", async () => {
    let running = 0;
    let peak = 0;
    class Adaptive extends AdaptiveThrottledNode<Shared, unknown, unknown> {
      override async prepAsync(shared: Shared) {
        return shared.items;
      }
      override async execAsync(item: unknown) {
        peak = Math.max(peak, ++running);
        await delay(2);
        running--;
        return item;
      }
    }
    const node = new Adaptive({ maxConcurrent: 3 });

    await node.runAsync({ items: Array.from({ length: 12 }, (_, i) => i) });

    expect(node.initialConcurrent).toBe(3);
    expect(peak).toBe(3);
  });

  it("AdaptiveThrottledBatchFlow(start, { maxConcurrentFlows: 2 }) starts at 2 and runs", async () => {
    class Step extends AsyncNode {
      override async execAsync() {
        return "ok";
      }
    }
    class PerItem extends AdaptiveThrottledBatchFlow {
      override async prepAsync() {
        return [{ i: 1 }, { i: 2 }, { i: 3 }];
      }
    }
    const flow = new PerItem(new Step(), { maxConcurrentFlows: 2 });

    await new AsyncFlow(flow).runAsync({});

    expect(flow.initialConcurrentFlows).toBe(2);
    expect(flow.stats.completedFlows).toBe(3);
  });
});
