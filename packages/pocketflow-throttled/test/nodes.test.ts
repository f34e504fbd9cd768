import { AsyncFlow } from "pocketflow-ts";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AcquireOptions,
  type Limiter,
  LimiterRegistry,
  Presets,
  RateLimiter,
  ThrottledParallelBatchNode,
  TokenBucket,
} from "../src/index.js";
import { deferred, delay } from "test-support";
import { maxWeightInAnySpan } from "./limiter-support.js";

interface Shared<Item = unknown, Result = unknown> {
  items: Iterable<Item> | null | undefined;
  results?: Result[];
}

/** A throttled batch node that reads `shared.items` and writes `shared.results`. */
class Batch<Item = unknown, Result = unknown> extends ThrottledParallelBatchNode<Shared<Item, Result>, Item, Result> {
  override async prepAsync(shared: Shared<Item, Result>) {
    return shared.items;
  }

  override async postAsync(shared: Shared<Item, Result>, _prep: unknown, results: Result[]) {
    shared.results = results;
    return undefined;
  }
}

/** Runs `node` over `items` and returns the results `postAsync` received. */
async function runBatch<Item, Result>(
  node: Batch<Item, Result>,
  items: Iterable<Item> | null | undefined,
  signal?: AbortSignal,
): Promise<Result[] | undefined> {
  const shared: Shared<Item, Result> = { items };
  await node.runAsync(shared, signal ? { signal } : {});
  return shared.results;
}

/** An error shaped like the `openai` SDK's 429. */
function rateLimitError(headers: Record<string, string> = {}): Error {
  return Object.assign(new Error("429 Too Many Requests"), { status: 429, headers });
}

afterEach(() => {
  LimiterRegistry.reset();
});

describe("ThrottledParallelBatchNode options", () => {
  it("defaults to 5 at once, no per-minute limit, one attempt, no wait, its own limiter, headers observed", () => {
    const node = new ThrottledParallelBatchNode();

    expect(node.maxConcurrent).toBe(5);
    expect(node.maxPerMinute).toBeUndefined();
    expect(node.maxTokensPerMinute).toBeUndefined();
    expect(node.maxRetries).toBe(1);
    expect(node.wait).toBe(0);
    expect(node.limiter).toBeUndefined();
    expect(node.observeHeaders).toBe(true);
  });

  it("takes every option from the constructor", () => {
    const limiter = new RateLimiter();
    const node = new ThrottledParallelBatchNode({
      maxConcurrent: 7,
      maxPerMinute: 100,
      maxTokensPerMinute: 10_000,
      maxRetries: 3,
      wait: 0.5,
      limiter,
      observeHeaders: false,
    });

    expect(node.maxConcurrent).toBe(7);
    expect(node.maxPerMinute).toBe(100);
    expect(node.maxTokensPerMinute).toBe(10_000);
    expect(node.maxRetries).toBe(3);
    expect(node.wait).toBe(0.5);
    expect(node.limiter).toBe(limiter);
    expect(node.observeHeaders).toBe(false);
  });

  it("takes options as subclass fields", () => {
    class Fields extends ThrottledParallelBatchNode {
      override maxConcurrent = 3;
      override maxPerMinute = 60;
      override maxRetries = 2;
    }

    const node = new Fields();

    expect(node.maxConcurrent).toBe(3);
    expect(node.maxPerMinute).toBe(60);
    expect(node.maxRetries).toBe(2);
  });

  it("lets a constructor option win over a subclass field, readable right after new", () => {
    class Fields extends ThrottledParallelBatchNode {
      override maxConcurrent = 3;
      override maxPerMinute = 60;
    }

    const node = new Fields({ maxConcurrent: 7 });

    expect(node.maxConcurrent).toBe(7);
    expect(node.maxPerMinute).toBe(60);
  });

  it("takes a preset as constructor options", () => {
    const node = new Batch(Presets.OPENAI_TIER1);

    expect(node.maxConcurrent).toBe(5);
    expect(node.maxPerMinute).toBe(60);
  });

  it("lets a preset win over subclass fields", () => {
    class Fields extends ThrottledParallelBatchNode {
      override maxConcurrent = 1;
      override maxPerMinute = 1;
    }

    const node = new Fields(Presets.OPENAI_TIER1);

    expect(node.maxConcurrent).toBe(5);
    expect(node.maxPerMinute).toBe(60);
  });

  it("accepts an assignment after construction and validates it", () => {
    const node = new ThrottledParallelBatchNode({ maxConcurrent: 2 });

    node.maxConcurrent = 9;
    expect(node.maxConcurrent).toBe(9);

    expect(() => {
      node.maxConcurrent = 0;
    }).toThrow(RangeError);
    expect(() => {
      node.maxConcurrent = 0;
    }).toThrow("maxConcurrent");
    expect(node.maxConcurrent).toBe(9);
  });

  it("rejects an unknown option with a TypeError naming it", () => {
    expect(() => new ThrottledParallelBatchNode({ maxConcurent: 3 } as never)).toThrow(TypeError);
    expect(() => new ThrottledParallelBatchNode({ maxConcurent: 3 } as never)).toThrow('"maxConcurent"');
  });

  it("does not take Object.prototype names as options", () => {
    class Named extends ThrottledParallelBatchNode {
      override toString = () => "a custom name";
    }

    expect(() => new ThrottledParallelBatchNode({ constructor: 1 } as never)).toThrow(TypeError);
    expect(String(new Named())).toBe("a custom name");
  });

  it.each([
    ["maxConcurrent", { maxConcurrent: 0 }, "0"],
    ["maxConcurrent", { maxConcurrent: 1.5 }, "1.5"],
    ["maxPerMinute", { maxPerMinute: 0 }, "0"],
    ["maxTokensPerMinute", { maxTokensPerMinute: 0 }, "0"],
    ["maxRetries", { maxRetries: 0 }, "0"],
    ["wait", { wait: -1 }, "-1"],
  ])("rejects a bad %s with a RangeError naming it and the value", (name, options, shown) => {
    expect(() => new ThrottledParallelBatchNode(options)).toThrow(RangeError);
    expect(() => new ThrottledParallelBatchNode(options)).toThrow(name);
    expect(() => new ThrottledParallelBatchNode(options)).toThrow(shown);
  });

  it("rejects a bad subclass field with a RangeError naming it", () => {
    class Bad extends ThrottledParallelBatchNode {
      override maxPerMinute = 0;
    }

    expect(() => new Bad()).toThrow(RangeError);
    expect(() => new Bad()).toThrow("maxPerMinute");
  });

  it.each([
    ["limiter", { limiter: 42 }],
    ["observeHeaders", { observeHeaders: "yes" }],
    ["maxConcurrent", { maxConcurrent: "5" }],
    ["maxRetries", { maxRetries: "2" }],
    ["wait", { wait: "1" }],
  ])("rejects a %s of the wrong type with a TypeError naming it", (name, options) => {
    expect(() => new ThrottledParallelBatchNode(options as never)).toThrow(TypeError);
    expect(() => new ThrottledParallelBatchNode(options as never)).toThrow(name);
  });
});

describe("ThrottledParallelBatchNode running items", () => {
  it("returns results in input order, whatever order items finish in", async () => {
    class Reverse extends Batch<number, string> {
      override async execAsync(n: number) {
        await delay((5 - n) * 5);
        return `item ${n}`;
      }
    }

    const results = await runBatch(new Reverse(), [0, 1, 2, 3, 4]);

    expect(results).toEqual(["item 0", "item 1", "item 2", "item 3", "item 4"]);
  });

  it("treats an undefined prepAsync result as an empty batch", async () => {
    await expect(runBatch(new Batch(), undefined)).resolves.toEqual([]);
  });

  it("accepts any iterable, such as a Set", async () => {
    class Double extends Batch<number, number> {
      override async execAsync(n: number) {
        return n * 2;
      }
    }

    await expect(runBatch(new Double(), new Set([1, 2, 3]))).resolves.toEqual([2, 4, 6]);
  });

  it("never runs more than maxConcurrent items at once, and reaches it", async () => {
    let running = 0;
    let peak = 0;
    class Count extends Batch<number, number> {
      override async execAsync(n: number) {
        running++;
        peak = Math.max(peak, running);
        await delay(5);
        running--;
        return n;
      }
    }

    await runBatch(new Count({ maxConcurrent: 3 }), Array.from({ length: 12 }, (_, i) => i));

    expect(peak).toBe(3);
  });

  it("keeps the per-window limit of the limiter it runs under", async () => {
    const limiter = new RateLimiter({ maxPerWindow: 3, windowSeconds: 0.2, maxConcurrent: 10 });
    const starts: number[] = [];
    const t0 = performance.now();
    class Stamp extends Batch<number, number> {
      override async execAsync(n: number) {
        starts.push(performance.now() - t0);
        return n;
      }
    }

    await runBatch(new Stamp({ limiter }), [0, 1, 2, 3, 4, 5]);

    expect(Math.max(...starts)).toBeGreaterThanOrEqual(190);
    expect(maxWeightInAnySpan(starts, 200 - 10)).toBeLessThanOrEqual(3);
  });

  it("applies maxPerMinute to its own limiter", async () => {
    let started = 0;
    class Count extends Batch<number, number> {
      override async execAsync(n: number) {
        started++;
        return n;
      }
    }
    const controller = new AbortController();
    const run = runBatch(new Count({ maxPerMinute: 2, maxConcurrent: 5 }), [0, 1, 2, 3], controller.signal);

    await delay(50);
    controller.abort(new Error("stop waiting"));

    await expect(run).rejects.toThrow("stop waiting");
    expect(started).toBe(2);
  });

  it("gives each execution its own limiter: two runs do not share a window", async () => {
    class Echo extends Batch<number, number> {
      override async execAsync(n: number) {
        return n;
      }
    }
    const node = new Echo({ maxPerMinute: 3 });

    await expect(runBatch(node, [1, 2, 3])).resolves.toEqual([1, 2, 3]);
    await expect(runBatch(node, [4, 5, 6])).resolves.toEqual([4, 5, 6]);
  });

  it("runs under a registry limiter given by name", async () => {
    const shared = LimiterRegistry.register("test-api", { maxConcurrent: 2 });
    let running = 0;
    let peak = 0;
    class Count extends Batch<number, number> {
      override async execAsync(n: number) {
        running++;
        peak = Math.max(peak, running);
        await delay(5);
        running--;
        return n;
      }
    }

    await runBatch(new Count({ limiter: "test-api", maxConcurrent: 10 }), [0, 1, 2, 3, 4, 5]);

    expect(peak).toBe(2);
    expect(shared.stats.acquired).toBe(6);
  });

  it("fails a run whose registry limiter does not exist, naming it", async () => {
    class Echo extends Batch<number, number> {
      override async execAsync(n: number) {
        return n;
      }
    }

    await expect(runBatch(new Echo({ limiter: "missing-api" }), [1])).rejects.toThrow('"missing-api"');
  });

  it("runs under a TokenBucket given as limiter", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 10, maxConcurrent: 2 });
    class Echo extends Batch<number, number> {
      override async execAsync(n: number) {
        return n;
      }
    }

    await expect(runBatch(new Echo({ limiter: bucket }), [1, 2, 3])).resolves.toEqual([1, 2, 3]);
    expect(bucket.stats.acquired).toBe(3);
  });

  it("runs inside an AsyncFlow", async () => {
    class Upper extends Batch<string, string> {
      override async execAsync(text: string) {
        return text.toUpperCase();
      }
    }
    const shared: Shared<string, string> = { items: ["a", "b"] };

    await new AsyncFlow(new Upper({ maxConcurrent: 2 })).runAsync(shared);

    expect(shared.results).toEqual(["A", "B"]);
  });
});

describe("ThrottledParallelBatchNode failures and retries", () => {
  it("rejects with the first failing item's own error object and pulls no further items", async () => {
    const failure = new Error("item 2 failed");
    const seen: number[] = [];
    class Fail extends Batch<number, number> {
      override async execAsync(n: number) {
        seen.push(n);
        if (n === 2) throw failure;
        return n;
      }
    }

    await expect(runBatch(new Fail({ maxConcurrent: 1 }), [0, 1, 2, 3, 4, 5])).rejects.toBe(failure);
    expect(seen).toEqual([0, 1, 2]);
  });

  it("starts no further attempt of its other items once the batch has failed", async () => {
    const fatal = new Error("item 0 fails for good");
    const gate = deferred();
    const attempts = new Map<number, number>();
    class Fail extends Batch<number, number> {
      override async execAsync(n: number): Promise<number> {
        attempts.set(n, (attempts.get(n) ?? 0) + 1);
        if (n === 0) throw fatal;
        await gate.promise;
        throw new Error(`item ${n}: transient`);
      }
    }

    await expect(runBatch(new Fail({ maxConcurrent: 3, maxRetries: 3 }), [0, 1, 2])).rejects.toBe(fatal);
    gate.resolve();
    await delay(20);

    expect(Object.fromEntries(attempts)).toEqual({ 0: 3, 1: 1, 2: 1 });
  });

  it("takes items waiting for the limiter out of its queue once the batch has failed", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 1, windowSeconds: 60 });
    const fatal = new Error("item 0 fails for good");
    const seen: number[] = [];
    class Fail extends Batch<number, number> {
      override async execAsync(n: number): Promise<number> {
        seen.push(n);
        await delay(5);
        throw fatal;
      }
    }

    await expect(runBatch(new Fail({ limiter }), [0, 1, 2])).rejects.toBe(fatal);

    expect(limiter.pending).toBe(0);
    expect(seen).toEqual([0]);
    expect(limiter.stats.acquired).toBe(1);
  });

  it("takes a start from the limiter for every attempt", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    let attempts = 0;
    class Flaky extends Batch<string, string> {
      override async execAsync(item: string) {
        attempts++;
        if (attempts < 3) throw new Error("transient");
        return item;
      }
    }

    await expect(runBatch(new Flaky({ limiter, maxRetries: 3 }), ["x"])).resolves.toEqual(["x"]);
    expect(limiter.stats.acquired).toBe(3);
  });

  it("reads each item's own attempt in this.curRetry while items retry side by side", async () => {
    const seen: Record<string, number[]> = { a: [], b: [], c: [] };
    const failuresLeft: Record<string, number> = { a: 2, b: 1, c: 0 };
    class Flaky extends Batch<string, string> {
      override async execAsync(item: string) {
        seen[item]?.push(this.curRetry);
        await delay(5);
        if ((failuresLeft[item] as number) > 0) {
          failuresLeft[item] = (failuresLeft[item] as number) - 1;
          throw new Error(`${item} failed`);
        }
        return item;
      }
    }

    await runBatch(new Flaky({ maxRetries: 3, maxConcurrent: 3 }), ["a", "b", "c"]);

    expect(seen).toEqual({ a: [0, 1, 2], b: [0, 1], c: [0] });
  });

  it("waits `wait` seconds between attempts", async () => {
    const attemptTimes: number[] = [];
    class Flaky extends Batch<string, string> {
      override async execAsync(item: string) {
        attemptTimes.push(performance.now());
        if (attemptTimes.length === 1) throw new Error("transient");
        return item;
      }
    }

    await runBatch(new Flaky({ maxRetries: 2, wait: 0.05 }), ["x"]);

    expect((attemptTimes[1] as number) - (attemptTimes[0] as number)).toBeGreaterThanOrEqual(45);
  });

  it("hands an item that failed every attempt to execFallbackAsync with its last error", async () => {
    const errors: unknown[] = [];
    class WithFallback extends Batch<number, string> {
      override async execAsync(n: number): Promise<string> {
        if (n % 2 === 1) throw new Error(`odd ${n}`);
        return `ok ${n}`;
      }

      override async execFallbackAsync(n: number, error: unknown) {
        errors.push(error);
        return `fallback ${n}`;
      }
    }

    const results = await runBatch(new WithFallback({ maxRetries: 2 }), [0, 1, 2, 3]);

    expect(results).toEqual(["ok 0", "fallback 1", "ok 2", "fallback 3"]);
    expect(errors.map((e) => (e as Error).message)).toEqual(expect.arrayContaining(["odd 1", "odd 3"]));
  });
});

describe("ThrottledParallelBatchNode rate-limit errors and headers", () => {
  it("pauses the whole limiter when a rate-limited error carries a retry hint", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 3 });
    const t0 = performance.now();
    let limitedAt = 0;
    const startsAfterLimit: number[] = [];
    class Limited extends Batch<number, number> {
      override async execAsync(n: number) {
        if (limitedAt > 0) startsAfterLimit.push(performance.now() - t0);
        if (n === 0 && limitedAt === 0) {
          await delay(5);
          limitedAt = performance.now() - t0;
          throw rateLimitError({ "retry-after-ms": "150" });
        }
        await delay(20);
        return n;
      }
    }

    await runBatch(new Limited({ limiter, maxRetries: 2 }), [0, 1, 2, 3, 4, 5]);

    expect(startsAfterLimit.length).toBeGreaterThan(0);
    expect(Math.min(...startsAfterLimit) - limitedAt).toBeGreaterThanOrEqual(140);
  });

  it("recognises rate limits by an overridden static isRateLimitError", async () => {
    const slowDown = () => Object.assign(new Error("please slow down"), { code: "SLOW_DOWN", retryAfter: 60 });
    class Default extends Batch<number, number> {
      override async execAsync(): Promise<number> {
        throw slowDown();
      }
    }
    class Custom extends Default {
      static override isRateLimitError(error: unknown) {
        return (error as { code?: string }).code === "SLOW_DOWN";
      }
    }
    const plain = new RateLimiter();
    const custom = new RateLimiter();

    await expect(runBatch(new Default({ limiter: plain }), [1])).rejects.toThrow("please slow down");
    await expect(runBatch(new Custom({ limiter: custom, maxRateLimitRetries: 0 }), [1])).rejects.toThrow("please slow down");

    expect(plain.pausedUntil).toBe(0);
    expect(custom.pausedUntil).toBeGreaterThan(0);
    custom.reset();
  });

  it("observes rate-limit headers of results: remaining 0 holds the next start until the reset", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const times: number[] = [];
    class WithHeaders extends Batch<number, { n: number; headers?: Headers }> {
      override async execAsync(n: number) {
        times.push(performance.now());
        if (n === 0) {
          return { n, headers: new Headers({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "150ms" }) };
        }
        return { n };
      }
    }

    await runBatch(new WithHeaders({ limiter }), [0, 1]);

    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(140);
  });

  it("observes rate-limit headers of errors, retried ones included", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const times: number[] = [];
    class WithHeaders extends Batch<number, number> {
      override async execAsync(n: number) {
        times.push(performance.now());
        if (times.length === 1) {
          throw Object.assign(new Error("server error"), {
            status: 500,
            headers: { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "150ms" },
          });
        }
        return n;
      }
    }

    await runBatch(new WithHeaders({ limiter, maxRetries: 2 }), [0]);

    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(140);
  });

  it("observes rate-limit headers of an error that execFallbackAsync handles", async () => {
    const limiter = new RateLimiter();
    class Handled extends Batch<number, string> {
      override async execAsync(): Promise<string> {
        throw Object.assign(new Error("server error"), {
          headers: { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m" },
        });
      }

      override async execFallbackAsync() {
        return "fallback";
      }
    }

    await expect(runBatch(new Handled({ limiter }), [0])).resolves.toEqual(["fallback"]);

    expect(limiter.pausedUntil).toBeGreaterThan(0);
    limiter.reset();
  });

  it("ignores headers when observeHeaders is false", async () => {
    const limiter = new RateLimiter();
    class WithHeaders extends Batch<number, { headers: Record<string, string> }> {
      override async execAsync() {
        return { headers: { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m" } };
      }
    }

    await runBatch(new WithHeaders({ limiter, observeHeaders: false }), [0]);

    expect(limiter.pausedUntil).toBe(0);
  });
});

describe("ThrottledParallelBatchNode tokens", () => {
  it("estimates about one token per 4 characters of the item's JSON", () => {
    const node = new ThrottledParallelBatchNode();
    const item = { text: "a".repeat(400), language: "French" };
    const quarter = JSON.stringify(item).length / 4;

    expect(Math.abs((node.estimateTokens(item) as number) - quarter)).toBeLessThanOrEqual(quarter * 0.1);
  });

  it("reads OpenAI's and Anthropic's usage as input and output tokens with their total", () => {
    const node = new ThrottledParallelBatchNode();

    expect(node.usageOf({ usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })).toEqual({
      inputTokens: 10,
      outputTokens: 5,
      tokens: 15,
    });
    expect(node.usageOf({ usage: { input_tokens: 12, output_tokens: 30 } })).toEqual({ inputTokens: 12, outputTokens: 30, tokens: 42 });
  });

  it("keeps the estimate (undefined) for results without a usage", () => {
    const node = new ThrottledParallelBatchNode();

    expect(node.usageOf({ text: "hi" })).toBeUndefined();
    expect(node.usageOf("plain text")).toBeUndefined();
    expect(node.usageOf(null)).toBeUndefined();
  });

  it("settles each item's actual usage in the token window, so refunds let waiting items start", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxTokensPerWindow: 100, windowSeconds: 60 });
    class Llm extends Batch<string, { usage: { total_tokens: number } }> {
      override estimateTokens() {
        return 40;
      }

      override async execAsync() {
        await delay(2);
        return { usage: { total_tokens: 5 } };
      }
    }

    const results = await runBatch(new Llm({ limiter }), Array.from({ length: 10 }, (_, i) => `text ${i}`));

    expect(results).toHaveLength(10);
    expect(limiter.currentWindowTokens).toBe(50);
  });

  it("reserves the estimate in a token budget set by maxTokensPerMinute", async () => {
    let started = 0;
    class Llm extends Batch<string, string> {
      override estimateTokens() {
        return 60;
      }

      override async execAsync(text: string) {
        started++;
        return text;
      }
    }
    const controller = new AbortController();
    const run = runBatch(new Llm({ maxTokensPerMinute: 100 }), ["a", "b"], controller.signal);

    await delay(50);
    controller.abort(new Error("stop"));

    await expect(run).rejects.toThrow("stop");
    expect(started).toBe(1);
  });

  it("fails an item whose estimate exceeds the whole token budget instead of waiting forever", async () => {
    class Huge extends Batch<string, string> {
      override estimateTokens() {
        return 1000;
      }
    }

    await expect(runBatch(new Huge({ maxTokensPerMinute: 100 }), ["a"])).rejects.toThrow(RangeError);
  });

  it("fails an item whose estimate is not a finite number >= 0", async () => {
    class Broken extends Batch<string, string> {
      override estimateTokens() {
        return Number.NaN;
      }
    }

    await expect(runBatch(new Broken({ maxTokensPerMinute: 100 }), ["a"])).rejects.toThrow("estimateTokens");
  });

  it("passes the estimate to any Limiter given as limiter", async () => {
    const inner = new RateLimiter();
    const seen: Array<number | undefined> = [];
    const recording: Limiter = {
      get maxConcurrent() {
        return inner.maxConcurrent;
      },
      get active() {
        return inner.active;
      },
      get pending() {
        return inner.pending;
      },
      get stats() {
        return inner.stats;
      },
      acquire(options?: AcquireOptions) {
        seen.push(options?.tokens);
        return inner.acquire(options);
      },
      run: (fn, options) => inner.run(fn, options),
      setConcurrency: (n) => inner.setConcurrency(n),
      pause: (seconds) => inner.pause(seconds),
      observe: (headers) => inner.observe(headers),
      reset: () => inner.reset(),
    };
    class Echo extends Batch<string, string> {
      override estimateTokens(text: string) {
        return text.length;
      }

      override async execAsync(text: string) {
        return text;
      }
    }

    await runBatch(new Echo({ limiter: recording }), ["abc", "defgh"]);

    expect(seen).toEqual([3, 5]);
  });
});

describe("ThrottledParallelBatchNode abort and memory", () => {
  it("gives back a slot granted just as the run is aborted, without calling execAsync", async () => {
    const inner = new RateLimiter();
    const controller = new AbortController();
    const reason = new Error("aborted while granted");
    // A limiter that grants even though the caller's run is aborted at that very moment.
    const late: Limiter = {
      get maxConcurrent() {
        return inner.maxConcurrent;
      },
      get active() {
        return inner.active;
      },
      get pending() {
        return inner.pending;
      },
      get stats() {
        return inner.stats;
      },
      async acquire() {
        const permit = await inner.acquire();
        controller.abort(reason);
        return permit;
      },
      run: (fn, options) => inner.run(fn, options),
      setConcurrency: (n) => inner.setConcurrency(n),
      pause: (seconds) => inner.pause(seconds),
      observe: (headers) => inner.observe(headers),
      reset: () => inner.reset(),
    };
    let calls = 0;
    class Echo extends Batch<number, number> {
      override async execAsync(n: number) {
        calls++;
        return n;
      }
    }

    await expect(runBatch(new Echo({ limiter: late }), [1], controller.signal)).rejects.toBe(reason);
    await delay(0);

    expect(calls).toBe(0);
    expect(inner.active).toBe(0);
  });

  it("rejects with exactly signal.reason and ends the waits for the limiter's window", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 2, windowSeconds: 60 });
    let started = 0;
    class Echo extends Batch<number, number> {
      override async execAsync(n: number) {
        started++;
        return n;
      }
    }
    const controller = new AbortController();
    const reason = new Error("cancelled by user");
    const run = runBatch(new Echo({ limiter }), [0, 1, 2, 3, 4], controller.signal);
    await delay(20);
    expect(limiter.pending).toBeGreaterThan(0);

    controller.abort(reason);

    await expect(run).rejects.toBe(reason);
    await delay(0);
    expect(limiter.pending).toBe(0);
    expect(started).toBe(2);
  });

  it("pulls items as workers free up: 200,000 generated items never run more than the concurrency ahead", async () => {
    let pulled = 0;
    let completed = 0;
    let maxAhead = 0;
    function* generate() {
      for (let i = 0; i < 200_000; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - completed);
        yield i;
      }
    }
    class Count extends Batch<number, number> {
      override async prepAsync() {
        return generate();
      }

      override async execAsync(n: number) {
        await Promise.resolve();
        completed++;
        return n;
      }

      override async postAsync() {
        return undefined;
      }
    }

    await new Count({ maxConcurrent: 8 }).runAsync({ items: undefined });

    expect(completed).toBe(200_000);
    expect(maxAhead).toBeLessThanOrEqual(8);
  });
});
