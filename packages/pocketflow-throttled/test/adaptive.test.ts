import { AsyncFlow } from "pocketflow-ts";
import { describe, expect, it } from "vitest";
import { AdaptiveThrottledNode, RateLimiter, RateLimitHit } from "../src/index.js";
import { deferred, delay, flush } from "test-support";

interface Shared<Item = unknown, Result = unknown> {
  items: Item[];
  results?: Result[];
}

/** An adaptive node that reads `shared.items` and writes `shared.results`. */
class Adaptive<Item = unknown, Result = unknown> extends AdaptiveThrottledNode<Shared<Item, Result>, Item, Result> {
  override async prepAsync(shared: Shared<Item, Result>) {
    return shared.items;
  }

  override async postAsync(shared: Shared<Item, Result>, _prep: unknown, results: Result[]) {
    shared.results = results;
    return undefined;
  }
}

async function runBatch<Item, Result>(node: Adaptive<Item, Result>, items: Item[], signal?: AbortSignal) {
  const shared: Shared<Item, Result> = { items };
  await node.runAsync(shared, signal ? { signal } : {});
  return shared.results;
}

/** An error shaped like the `openai` SDK's 429, asking to retry after `retryAfterMs`. */
function rateLimitError(retryAfterMs = 1): Error {
  return Object.assign(new Error("429 Too Many Requests"), {
    status: 429,
    headers: new Headers({ "retry-after-ms": String(retryAfterMs) }),
  });
}

/** Rate-limits the first attempt of each listed item, succeeds otherwise; counts attempts per item. */
class LimitedOnce extends Adaptive<number, number> {
  attempts = new Map<number, number>();
  limitedItems = new Set<number>();

  override async execAsync(n: number) {
    const attempt = (this.attempts.get(n) ?? 0) + 1;
    this.attempts.set(n, attempt);
    if (attempt === 1 && this.limitedItems.has(n)) throw rateLimitError();
    return n;
  }
}

/** Always rate-limited: counts attempts and throws the same provider error each time. */
class AlwaysLimited extends Adaptive<number, number> {
  attempts = 0;
  readonly providerError = rateLimitError();

  override async execAsync(): Promise<number> {
    this.attempts++;
    throw this.providerError;
  }
}

describe("AdaptiveThrottledNode options", () => {
  it("has the documented defaults, each readable as a property", () => {
    const node = new AdaptiveThrottledNode();

    expect(node.initialConcurrent).toBe(5);
    expect(node.minConcurrent).toBe(1);
    expect(node.maxConcurrent).toBe(20);
    expect(node.backoffFactor).toBe(0.5);
    expect(node.recoveryThreshold).toBe(10);
    expect(node.recoveryFactor).toBe(1.2);
    expect(node.maxRateLimitRetries).toBe(5);
    expect(node.propagateRateLimit).toBe(false);
    expect(node.adaptRate).toBe(false);
    expect(node.maxPerMinute).toBeUndefined();
  });

  it("reports the initial level in stats before its first run", () => {
    const node = new AdaptiveThrottledNode({ initialConcurrent: 7 });

    expect(node.currentConcurrent).toBe(7);
    expect(node.stats).toEqual({ currentConcurrent: 7, totalSuccesses: 0, totalRateLimits: 0, consecutiveSuccesses: 0, resumed: 0 });
  });

  it("lets constructor options win over subclass fields", () => {
    class Fields extends AdaptiveThrottledNode {
      override initialConcurrent = 10;
      override maxConcurrent = 50;
      override backoffFactor = 0.25;
    }

    const node = new Fields({ initialConcurrent: 4 });

    expect(node.initialConcurrent).toBe(4);
    expect(node.maxConcurrent).toBe(50);
    expect(node.backoffFactor).toBe(0.25);
  });

  it.each([
    ["backoffFactor", { backoffFactor: 0 }, "0"],
    ["backoffFactor", { backoffFactor: 1 }, "1"],
    ["backoffFactor", { backoffFactor: 1.5 }, "1.5"],
    ["recoveryFactor", { recoveryFactor: 1 }, "1"],
    ["recoveryFactor", { recoveryFactor: 0.8 }, "0.8"],
    ["recoveryThreshold", { recoveryThreshold: 0 }, "0"],
    ["minConcurrent", { minConcurrent: 0 }, "0"],
    ["initialConcurrent", { initialConcurrent: 2.5 }, "2.5"],
    ["maxRateLimitRetries", { maxRateLimitRetries: -1 }, "-1"],
    ["maxPerMinute", { maxPerMinute: 0 }, "0"],
  ])("rejects a bad %s with a RangeError naming it and the value", (name, options, shown) => {
    expect(() => new AdaptiveThrottledNode(options)).toThrow(RangeError);
    expect(() => new AdaptiveThrottledNode(options)).toThrow(name);
    expect(() => new AdaptiveThrottledNode(options)).toThrow(shown);
  });

  it("rejects minConcurrent above maxConcurrent, naming both", () => {
    expect(() => new AdaptiveThrottledNode({ minConcurrent: 10, maxConcurrent: 5 })).toThrow(RangeError);
    expect(() => new AdaptiveThrottledNode({ minConcurrent: 10, maxConcurrent: 5 })).toThrow(
      "minConcurrent (10) must not exceed maxConcurrent (5)",
    );
  });

  it("rejects initialConcurrent above maxConcurrent", () => {
    expect(() => new AdaptiveThrottledNode({ initialConcurrent: 30, maxConcurrent: 20 })).toThrow(RangeError);
  });

  it("accepts maxRateLimitRetries 0", () => {
    expect(new AdaptiveThrottledNode({ maxRateLimitRetries: 0 }).maxRateLimitRetries).toBe(0);
  });

  it("rejects bounds set by fields that conflict when the run starts", async () => {
    class Conflicting extends Adaptive<number, number> {
      override minConcurrent = 30;
    }

    await expect(runBatch(new Conflicting(), [1])).rejects.toThrow("minConcurrent (30) must not exceed maxConcurrent (20)");
  });

  it("rejects an initialConcurrent field above maxConcurrent when the run starts", async () => {
    class TooHigh extends Adaptive<number, number> {
      override initialConcurrent = 30;
    }

    await expect(runBatch(new TooHigh(), [1])).rejects.toThrow("initialConcurrent (30) must not exceed maxConcurrent (20)");
  });

  it("rejects a non-boolean propagateRateLimit with a TypeError naming it", () => {
    expect(() => new AdaptiveThrottledNode({ propagateRateLimit: "yes" } as never)).toThrow(TypeError);
    expect(() => new AdaptiveThrottledNode({ propagateRateLimit: "yes" } as never)).toThrow("propagateRateLimit");
  });
});

describe("AdaptiveThrottledNode adaptation", () => {
  it("halves its concurrency on a rate limit (rounding down) and resets the streak", async () => {
    const node = new LimitedOnce({ initialConcurrent: 9, recoveryThreshold: 100 });
    node.limitedItems.add(0);

    await runBatch(node, [0]);

    expect(node.stats).toEqual({ currentConcurrent: 4, totalSuccesses: 1, totalRateLimits: 1, consecutiveSuccesses: 1, resumed: 0 });
  });

  it("never backs off below minConcurrent", async () => {
    const node = new LimitedOnce({ initialConcurrent: 4, minConcurrent: 3, recoveryThreshold: 100 });
    node.limitedItems = new Set([0, 1]);

    await runBatch(node, [0, 1]);

    expect(node.stats.totalRateLimits).toBe(2);
    expect(node.currentConcurrent).toBe(3);
  });

  it("climbs back from 1 to 2 after recoveryThreshold successes in a row", async () => {
    const node = new LimitedOnce({ initialConcurrent: 1, recoveryThreshold: 3, recoveryFactor: 1.2 });

    await runBatch(node, [0, 1, 2]);

    expect(node.stats).toEqual({ currentConcurrent: 2, totalSuccesses: 3, totalRateLimits: 0, consecutiveSuccesses: 0, resumed: 0 });
  });

  it("steps up to floor(current x recoveryFactor), capped at maxConcurrent", async () => {
    const node = new LimitedOnce({ initialConcurrent: 10, maxConcurrent: 20, recoveryThreshold: 2, recoveryFactor: 1.5 });

    await runBatch(node, [0, 1]);
    expect(node.currentConcurrent).toBe(15);
    await runBatch(node, [2, 3]);
    expect(node.currentConcurrent).toBe(20);
  });

  it("counts successes since the last rate limit in consecutiveSuccesses", async () => {
    const node = new LimitedOnce({ initialConcurrent: 1, recoveryThreshold: 10 });
    node.limitedItems.add(2);

    await runBatch(node, [0, 1, 2, 3]);

    // 0 and 1 succeed, 2 is rate-limited (streak to 0), then 2 again and 3 succeed.
    expect(node.stats).toEqual({ currentConcurrent: 1, totalSuccesses: 4, totalRateLimits: 1, consecutiveSuccesses: 2, resumed: 0 });
  });

  it("applies a backoff live to the running batch", async () => {
    let running = 0;
    let peakBefore = 0;
    const runningAtStartsAfter: number[] = [];
    class Burst extends Adaptive<number, number> {
      override async execAsync(n: number) {
        running++;
        if (this.stats.totalRateLimits === 0) peakBefore = Math.max(peakBefore, running);
        else runningAtStartsAfter.push(running);
        try {
          await delay(10);
          if (n === 0 && this.stats.totalRateLimits === 0) throw rateLimitError();
          return n;
        } finally {
          running--;
        }
      }
    }
    const node = new Burst({ initialConcurrent: 8, maxConcurrent: 8, recoveryThreshold: 1000 });

    const results = await runBatch(node, Array.from({ length: 40 }, (_, i) => i));

    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(peakBefore).toBe(8);
    expect(node.currentConcurrent).toBe(4);
    expect(runningAtStartsAfter.length).toBeGreaterThan(0);
    expect(Math.max(...runningAtStartsAfter)).toBeLessThanOrEqual(4);
  });

  it("backs off before it frees a rate-limited item's slot, so no waiting item takes it", async () => {
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    class Gated extends Adaptive<number, number> {
      override async execAsync(n: number) {
        started.push(n);
        await gates[n]?.promise;
        // No retry hint: a hint would pause the limiter and hide which comes first, backoff or release.
        if (n === 0 && started.indexOf(0) === started.lastIndexOf(0)) throw Object.assign(new Error("429"), { status: 429 });
        return n;
      }
    }
    // Ceiling 4: four workers pull items while only two may run.
    const node = new Gated({ initialConcurrent: 2, maxConcurrent: 4, maxRateLimitRetries: 1 });
    const run = runBatch(node, [0, 1, 2, 3]);
    await flush();
    expect(started).toEqual([0, 1]);

    gates[0]?.resolve(); // rate-limited while item 1 still runs: concurrency 2 -> 1
    await flush();

    expect(node.currentConcurrent).toBe(1);
    expect(started).toEqual([0, 1]);
    for (const gate of gates) gate.resolve();
    await expect(run).resolves.toEqual([0, 1, 2, 3]);
  });

  it("does not adapt on errors that are not rate limits", async () => {
    const failure = new Error("bad request");
    class Fails extends Adaptive<number, number> {
      override async execAsync(): Promise<number> {
        throw failure;
      }
    }
    const node = new Fails({ initialConcurrent: 8 });

    await expect(runBatch(node, [0])).rejects.toBe(failure);
    expect(node.stats).toEqual({ currentConcurrent: 8, totalSuccesses: 0, totalRateLimits: 0, consecutiveSuccesses: 0, resumed: 0 });
  });
});

describe("AdaptiveThrottledNode rate-limited items", () => {
  it("re-runs rate-limited items so no item is lost", async () => {
    const node = new LimitedOnce({ initialConcurrent: 4, recoveryThreshold: 100 });
    node.limitedItems = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const results = await runBatch(node, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...node.attempts.values()]).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(node.stats.totalRateLimits).toBe(10);
    expect(node.stats.totalSuccesses).toBe(10);
  });

  it("makes 1 + maxRateLimitRetries attempts, backing off on each, then fails with the provider's own error", async () => {
    const node = new AlwaysLimited({ initialConcurrent: 8, maxRateLimitRetries: 2, recoveryThreshold: 100 });

    await expect(runBatch(node, [0])).rejects.toBe(node.providerError);

    expect(node.attempts).toBe(3);
    expect(node.stats.totalRateLimits).toBe(3);
    expect(node.currentConcurrent).toBe(1);
  });

  it("does not add ordinary retries (maxRetries) to the rate-limit re-runs", async () => {
    const node = new AlwaysLimited({ maxRateLimitRetries: 2, maxRetries: 3 });

    await expect(runBatch(node, [0])).rejects.toBe(node.providerError);

    expect(node.attempts).toBe(3);
  });

  it("fails on the first rate limit with maxRateLimitRetries 0", async () => {
    const node = new AlwaysLimited({ maxRateLimitRetries: 0, maxRetries: 3 });

    await expect(runBatch(node, [0])).rejects.toBe(node.providerError);

    expect(node.attempts).toBe(1);
    expect(node.stats.totalRateLimits).toBe(1);
  });

  it("waits retryAfter before re-running a rate-limited item", async () => {
    const attemptTimes: number[] = [];
    class Hinted extends Adaptive<number, number> {
      override async execAsync(n: number) {
        attemptTimes.push(performance.now());
        if (attemptTimes.length === 1) throw new RateLimitHit("slow down", { retryAfter: 0.05 });
        return n;
      }
    }

    await runBatch(new Hinted(), [0]);

    expect(attemptTimes).toHaveLength(2);
    expect((attemptTimes[1] as number) - (attemptTimes[0] as number)).toBeGreaterThanOrEqual(45);
  });

  it("with propagateRateLimit fails with a RateLimitHit carrying the provider's error as cause", async () => {
    const node = new AlwaysLimited({ propagateRateLimit: true, maxRateLimitRetries: 1 });

    const failure = await runBatch(node, [0]).then(
      () => undefined,
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(RateLimitHit);
    expect((failure as RateLimitHit).cause).toBe(node.providerError);
    expect((failure as RateLimitHit).source).toBe("AlwaysLimited");
    expect((failure as RateLimitHit).retryAfter).toBe(0.001);
    expect(node.attempts).toBe(2);
  });

  it("ends a rate-limit wait when the run is aborted, rejecting with exactly signal.reason", async () => {
    class LongWait extends Adaptive<number, number> {
      override async execAsync(): Promise<number> {
        throw new RateLimitHit("slow down", { retryAfter: 60 });
      }
    }
    const controller = new AbortController();
    const reason = new Error("cancelled");
    const run = runBatch(new LongWait(), [0], controller.signal);

    await delay(20);
    const t0 = performance.now();
    controller.abort(reason);

    await expect(run).rejects.toBe(reason);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe("AdaptiveThrottledNode state across runs and flows", () => {
  it("shares its stats with the copies an AsyncFlow makes", async () => {
    const node = new LimitedOnce({ initialConcurrent: 8, recoveryThreshold: 100 });
    node.limitedItems.add(1);
    const shared: Shared<number, number> = { items: [0, 1, 2, 3] };

    await new AsyncFlow(node).runAsync(shared);

    expect(shared.results).toEqual([0, 1, 2, 3]);
    expect(node.stats).toEqual({ currentConcurrent: 4, totalSuccesses: 4, totalRateLimits: 1, consecutiveSuccesses: 3, resumed: 0 });
  });

  it("carries what it learned into the next run", async () => {
    let running = 0;
    let peak = 0;
    class Count extends Adaptive<number, number> {
      override async execAsync(n: number) {
        running++;
        peak = Math.max(peak, running);
        await delay(5);
        running--;
        if (n < 0) throw rateLimitError();
        return n;
      }
    }
    const node = new Count({ initialConcurrent: 8, maxRateLimitRetries: 0, recoveryThreshold: 1000 });
    await expect(runBatch(node, [-1])).rejects.toThrow("429");
    expect(node.currentConcurrent).toBe(4);

    peak = 0;
    await runBatch(node, Array.from({ length: 20 }, (_, i) => i));

    expect(peak).toBe(4);
  });

  it("resetAdaptiveState() starts over from initialConcurrent with zeroed counters", async () => {
    const node = new LimitedOnce({ initialConcurrent: 8, recoveryThreshold: 100 });
    node.limitedItems.add(0);
    await runBatch(node, [0, 1]);
    expect(node.currentConcurrent).toBe(4);

    node.resetAdaptiveState();

    expect(node.stats).toEqual({ currentConcurrent: 8, totalSuccesses: 0, totalRateLimits: 0, consecutiveSuccesses: 0, resumed: 0 });
  });
});

describe("AdaptiveThrottledNode adaptRate", () => {
  it("reports the configured per-minute rate before its first run", () => {
    const node = new AdaptiveThrottledNode({ maxPerMinute: 100, adaptRate: true });

    expect(node.stats.currentPerMinute).toBe(100);
  });

  it("lowers its own per-minute rate on a rate limit", async () => {
    const node = new LimitedOnce({ maxPerMinute: 100, adaptRate: true, recoveryThreshold: 100 });
    node.limitedItems.add(0);

    await runBatch(node, [0]);

    expect(node.stats.currentPerMinute).toBe(50);
  });

  it("adapts a shared limiter's rate within its own window and limit, not maxPerMinute", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 10, windowSeconds: 1 });
    const node = new LimitedOnce({ limiter, maxPerMinute: 100, adaptRate: true, recoveryThreshold: 100 });
    node.limitedItems.add(0);

    await runBatch(node, [0]);

    expect(limiter.maxPerWindow).toBe(5);
    expect(limiter.windowSeconds).toBe(1);
  });

  it("lets a shared limiter's rate recover up to its registered limit in a later run", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 10, windowSeconds: 1 });
    const node = new LimitedOnce({ limiter, maxPerMinute: 100, adaptRate: true, recoveryThreshold: 1 });
    node.limitedItems.add(0);
    await runBatch(node, [0]);

    await runBatch(node, [1, 2, 3, 4, 5, 6]);

    expect(limiter.maxPerWindow).toBe(10);
  });

  it("leaves a shared limiter without a window alone (no rate to adapt)", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    const node = new LimitedOnce({ limiter, maxPerMinute: 100, adaptRate: true, recoveryThreshold: 100 });
    node.limitedItems.add(0);

    await runBatch(node, [0]);

    expect(limiter.maxPerWindow).toBeUndefined();
  });

  it("leaves the rate alone without adaptRate", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 100, windowSeconds: 60 });
    const node = new LimitedOnce({ limiter, maxPerMinute: 100, recoveryThreshold: 100 });
    node.limitedItems.add(0);

    await runBatch(node, [0]);

    expect(node.stats.currentPerMinute).toBeUndefined();
    expect(limiter.maxPerWindow).toBe(100);
  });
});
