import { describe, expect, it, vi } from "vitest";
import { deferred, flush as macrotaskTurns, until } from "test-support";
import type { AcquireOptions, Limiter, Permit } from "../src/limiters/limiter.js";
import { RateLimiter } from "../src/limiters/sliding-window.js";
import { ThrottledMicroBatchNode } from "../src/micro-batch.js";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

interface Shared {
  items: number[];
  results?: string[];
}

/** An error that remembers which batch it came from. */
class BatchError extends Error {
  constructor(readonly batch: number[]) {
    super(`batch [${batch.join(",")}] failed`);
  }
}

/**
 * Answers `r<item>` for each item, records every call, and counts each item
 * as `item` tokens so packing by tokens is easy to read.
 */
class Batcher extends ThrottledMicroBatchNode<Shared, number, string> {
  calls: number[][] = [];

  override async prepAsync(shared: Shared): Promise<number[]> {
    return shared.items;
  }

  override estimateTokens(item: number): number {
    return item;
  }

  override async execBatchAsync(items: number[]): Promise<string[]> {
    this.calls.push([...items]);
    return items.map((item) => `r${item}`);
  }

  override async postAsync(shared: Shared, _prepRes: unknown, results: string[]): Promise<undefined> {
    shared.results = results;
    return undefined;
  }
}

/** Fails every batch that holds `bad`, with a `BatchError` naming that batch. */
class FailsOn extends Batcher {
  bad = 6;

  override async execBatchAsync(items: number[]): Promise<string[]> {
    this.calls.push([...items]);
    if (items.includes(this.bad)) throw new BatchError([...items]);
    return items.map((item) => `r${item}`);
  }
}

/** A limiter that records the tokens of every acquisition and delegates to a RateLimiter. */
class RecordingLimiter implements Limiter {
  readonly inner = new RateLimiter({ maxConcurrent: 5 });
  readonly acquiredTokens: number[] = [];

  get maxConcurrent(): number {
    return this.inner.maxConcurrent;
  }
  get active(): number {
    return this.inner.active;
  }
  get pending(): number {
    return this.inner.pending;
  }
  get stats() {
    return this.inner.stats;
  }
  acquire(options: AcquireOptions = {}): Promise<Permit> {
    this.acquiredTokens.push(options.tokens ?? 0);
    return this.inner.acquire(options);
  }
  run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    return this.inner.run(fn, options);
  }
  setConcurrency(n: number): void {
    this.inner.setConcurrency(n);
  }
  pause(seconds: number): void {
    this.inner.pause(seconds);
  }
  observe(headers: unknown): void {
    this.inner.observe(headers);
  }
  reset(): void {
    this.inner.reset();
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const answers = (items: number[]): string[] => items.map((item) => `r${item}`);

// ---------------------------------------------------------------------------
// Packing
// ---------------------------------------------------------------------------

describe("ThrottledMicroBatchNode packing", () => {
  it("packs items in order into batches of batchSize, the last one holding the rest", async () => {
    const node = new Batcher({ batchSize: 3, maxConcurrent: 1 });

    await node.runAsync({ items: range(1, 7) });

    expect(node.calls).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it("packs greedily by maxBatchTokens: a batch takes items until the next would exceed it", async () => {
    const node = new Batcher({ maxBatchTokens: 5, maxConcurrent: 1 });

    await node.runAsync({ items: [2, 2, 2, 2, 2] });

    expect(node.calls).toEqual([[2, 2], [2, 2], [2]]);
  });

  it("lets a batch sum exactly to maxBatchTokens", async () => {
    const node = new Batcher({ maxBatchTokens: 8, maxConcurrent: 1 });

    await node.runAsync({ items: [3, 5, 4, 4] });

    expect(node.calls).toEqual([
      [3, 5],
      [4, 4],
    ]);
  });

  it("sends an item that alone exceeds maxBatchTokens as a batch of its own", async () => {
    const node = new Batcher({ maxBatchTokens: 8, maxConcurrent: 1 });

    await node.runAsync({ items: [1, 9, 1] });

    expect(node.calls).toEqual([[1], [9], [1]]);
  });

  it("closes a batch at whichever bound, batchSize or maxBatchTokens, comes first", async () => {
    const node = new Batcher({ batchSize: 2, maxBatchTokens: 10, maxConcurrent: 1 });

    await node.runAsync({ items: [6, 5, 1, 1, 1] });

    expect(node.calls).toEqual([[6], [5, 1], [1, 1]]);
  });

  it("does not estimate tokens when nothing bounds them", async () => {
    const node = new Batcher({ batchSize: 2 });
    const estimate = vi.spyOn(node, "estimateTokens");

    await node.runAsync({ items: range(1, 4) });

    expect(estimate).not.toHaveBeenCalled();
  });

  it("keeps each batch within the limiter's maxTokensPerWindow, so every batch can start", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1, maxTokensPerWindow: 10, windowSeconds: 0.05 });
    const node = new Batcher({ limiter });

    await node.runAsync({ items: [4, 4, 4] });

    expect(node.calls).toEqual([[4, 4], [4]]);
  });

  it("rejects with a RangeError naming maxTokensPerWindow for an item that alone exceeds the limiter's budget", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1, maxTokensPerWindow: 10, windowSeconds: 60 });
    const node = new Batcher({ limiter });

    const run = node.runAsync({ items: [4, 20] });

    await expect(run).rejects.toThrow(RangeError);
    await expect(run).rejects.toThrow(/maxTokensPerWindow/);
    expect(node.calls).toEqual([[4]]);
  });
});

// ---------------------------------------------------------------------------
// The limiter
// ---------------------------------------------------------------------------

describe("ThrottledMicroBatchNode under its limiter", () => {
  it("takes one start per batch, carrying the batch's summed token estimate", async () => {
    const limiter = new RecordingLimiter();
    const node = new Batcher({ batchSize: 3, limiter, maxConcurrent: 1 });

    await node.runAsync({ items: [10, 20, 30, 40, 50, 60, 70] });

    expect(limiter.acquiredTokens).toEqual([60, 150, 70]);
  });

  it("counts one start per batch and the batches' tokens in a shared RateLimiter's window", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 4, maxTokensPerWindow: 10_000, windowSeconds: 60 });
    const node = new Batcher({ batchSize: 3, limiter });

    await node.runAsync({ items: [10, 20, 30, 40, 50, 60, 70] });

    expect(limiter.stats.acquired).toBe(3);
    expect(limiter.currentWindowCount).toBe(3);
    expect(limiter.currentWindowTokens).toBe(280);
  });

  it("settles each batch with the summed usage of its results", async () => {
    class WithUsage extends ThrottledMicroBatchNode<Shared, number, { usage: { total_tokens: number } }> {
      override async prepAsync(shared: Shared): Promise<number[]> {
        return shared.items;
      }
      override estimateTokens(): number {
        return 100;
      }
      override async execBatchAsync(items: number[]): Promise<Array<{ usage: { total_tokens: number } }>> {
        return items.map(() => ({ usage: { total_tokens: 7 } }));
      }
    }
    const limiter = new RateLimiter({ maxConcurrent: 2, maxTokensPerWindow: 10_000, windowSeconds: 60 });
    const node = new WithUsage({ batchSize: 4, limiter });

    await node.runAsync({ items: range(1, 6) });

    expect(limiter.currentWindowCount).toBe(2);
    expect(limiter.currentWindowTokens).toBe(6 * 7);
  });

  it("settles a batch whose results report usage only in part with each other item's estimate", async () => {
    class PartUsage extends ThrottledMicroBatchNode<Shared, number, { usage?: { total_tokens: number } }> {
      override async prepAsync(shared: Shared): Promise<number[]> {
        return shared.items;
      }
      override estimateTokens(item: number): number {
        return item;
      }
      override async execBatchAsync(items: number[]): Promise<Array<{ usage?: { total_tokens: number } }>> {
        return items.map((item) => (item === 100 ? { usage: { total_tokens: 1 } } : {}));
      }
    }
    const limiter = new RateLimiter({ maxConcurrent: 1, maxTokensPerWindow: 10_000, windowSeconds: 60 });
    const node = new PartUsage({ batchSize: 3, limiter });

    await node.runAsync({ items: [100, 20, 30] });

    expect(limiter.currentWindowTokens).toBe(1 + 20 + 30);
  });
});

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

describe("ThrottledMicroBatchNode results", () => {
  it("hands postAsync the results in input order while batches finish out of order", async () => {
    const finish = new Map<number, () => void>();
    const started: number[] = [];
    let running = 0;
    let peak = 0;
    class Slow extends Batcher {
      override async execBatchAsync(items: number[]): Promise<string[]> {
        const done = deferred<void>();
        finish.set(items[0] as number, () => done.resolve());
        started.push(items[0] as number);
        running++;
        peak = Math.max(peak, running);
        await done.promise;
        running--;
        return answers(items);
      }
    }
    const node = new Slow({ batchSize: 2, maxConcurrent: 3 });
    const shared: Shared = { items: range(1, 8) };

    const run = node.runAsync(shared);
    await until(() => started.length === 3);
    finish.get(5)?.();
    finish.get(3)?.();
    await until(() => started.length === 4);
    finish.get(7)?.();
    finish.get(1)?.();
    await run;

    expect(started).toEqual([1, 3, 5, 7]);
    expect(peak).toBe(3);
    expect(shared.results).toEqual(answers(range(1, 8)));
  });

  it("makes no call and hands postAsync an empty list for an empty batch", async () => {
    const node = new Batcher();
    const shared: Shared = { items: [] };

    await node.runAsync(shared);

    expect(shared.results).toEqual([]);
    expect(node.stats).toEqual({ totalItems: 0, apiCalls: 0, splits: 0, resumed: 0 });
  });

  it("rejects a batch answer of another length with an error naming both lengths", async () => {
    class Short extends Batcher {
      override async execBatchAsync(items: number[]): Promise<string[]> {
        return answers(items.slice(1));
      }
    }
    const node = new Short({ batchSize: 3, splitOnError: false });

    const run = node.runAsync({ items: [1, 2, 3] });

    await expect(run).rejects.toThrow(TypeError);
    await expect(run).rejects.toThrow(/returned 2 results for a batch of 3 items/);
  });

  it("rejects a batch answer that is not an array with an error naming the batch length", async () => {
    class NotAList extends Batcher {
      override async execBatchAsync(): Promise<string[]> {
        return "r1,r2" as unknown as string[];
      }
    }
    const node = new NotAList({ batchSize: 2, splitOnError: false });

    await expect(node.runAsync({ items: [1, 2] })).rejects.toThrow(/string \(not an array\) for a batch of 2 items/);
  });

  it("rejects a batch answered with the wrong number of results without splitting it, naming both lengths", async () => {
    // A wrong count is the node's bug (its execBatchAsync contract), not an item's: splitting would only multiply calls.
    class ShortWhenLarge extends Batcher {
      override async execBatchAsync(items: number[]): Promise<string[]> {
        this.calls.push([...items]);
        return items.length > 2 ? answers(items.slice(1)) : answers(items);
      }
    }
    const node = new ShortWhenLarge({ batchSize: 4 });

    await expect(node.runAsync({ items: range(1, 4) })).rejects.toThrow(/returned 3 results for a batch of 4 items/);
    expect(node.stats).toEqual({ totalItems: 4, apiCalls: 1, splits: 0, resumed: 0 });
  });

  it("rejects naming execBatchAsync when a subclass does not implement it", async () => {
    class Missing extends ThrottledMicroBatchNode<Shared, number, string> {
      override async prepAsync(shared: Shared): Promise<number[]> {
        return shared.items;
      }
    }

    await expect(new Missing().runAsync({ items: [1] })).rejects.toThrow(/execBatchAsync/);
  });
});

// ---------------------------------------------------------------------------
// Failures and splitting
// ---------------------------------------------------------------------------

describe("ThrottledMicroBatchNode splitting", () => {
  it("splits a failed batch in halves down to the single bad item", async () => {
    const node = new FailsOn({ batchSize: 8 });
    node.execFallbackAsync = async (item) => `fallback ${item}`;

    await node.runAsync({ items: range(1, 8) });

    expect(node.calls).toHaveLength(7);
    expect(node.calls).toEqual(
      expect.arrayContaining([range(1, 8), [1, 2, 3, 4], [5, 6, 7, 8], [5, 6], [7, 8], [5], [6]]),
    );
  });

  it("hands the single bad item and its own error to execFallbackAsync, and every other item keeps its result", async () => {
    const node = new FailsOn({ batchSize: 8 });
    const fallback = vi.fn(async (item: number, _error: unknown) => `fallback ${item}`);
    node.execFallbackAsync = fallback;
    const shared: Shared = { items: range(1, 8) };

    await node.runAsync(shared);

    expect(shared.results).toEqual(["r1", "r2", "r3", "r4", "r5", "fallback 6", "r7", "r8"]);
    expect(fallback).toHaveBeenCalledTimes(1);
    expect(fallback).toHaveBeenCalledWith(6, new BatchError([6]));
    expect(fallback.mock.calls[0]?.[1]).toMatchObject({ batch: [6] });
  });

  it("with the default fallback rejects with the bad item's own error", async () => {
    const node = new FailsOn({ batchSize: 8 });

    const run = node.runAsync({ items: range(1, 8) });

    await expect(run).rejects.toBeInstanceOf(BatchError);
    await expect(run).rejects.toMatchObject({ batch: [6] });
  });

  it("with splitOnError false rejects with the whole batch's error, without splitting or falling back", async () => {
    const node = new FailsOn({ batchSize: 8, splitOnError: false });
    const fallback = vi.fn(async (item: number) => `fallback ${item}`);
    node.execFallbackAsync = fallback;

    const run = node.runAsync({ items: range(1, 8) });

    await expect(run).rejects.toMatchObject({ batch: range(1, 8) });
    expect(node.stats).toEqual({ totalItems: 8, apiCalls: 1, splits: 0, resumed: 0 });
    expect(fallback).not.toHaveBeenCalled();
  });

  it("with splitOnError false still hands a failed batch of one item to execFallbackAsync", async () => {
    const node = new FailsOn({ batchSize: 1, splitOnError: false, maxConcurrent: 1 });
    node.execFallbackAsync = async (item) => `fallback ${item}`;
    const shared: Shared = { items: [5, 6, 7] };

    await node.runAsync(shared);

    expect(shared.results).toEqual(["r5", "fallback 6", "r7"]);
  });

  it("retries a failed batch maxRetries times before splitting it, each attempt counting as an API call", async () => {
    const node = new FailsOn({ batchSize: 2, maxRetries: 2 });
    node.bad = 2;
    node.execFallbackAsync = async (item) => `fallback ${item}`;
    const shared: Shared = { items: [1, 2] };

    await node.runAsync(shared);

    expect(shared.results).toEqual(["r1", "fallback 2"]);
    expect(node.calls).toEqual(expect.arrayContaining([[1, 2], [1, 2], [1], [2], [2]]));
    expect(node.stats).toEqual({ totalItems: 2, apiCalls: 5, splits: 1, resumed: 0 });
  });

  it("never splits a batch that failed on a rate limit: with no re-runs left it rejects with the provider's error after one call", async () => {
    const limited = Object.assign(new Error("Too Many Requests"), { status: 429 });
    class RateLimited extends Batcher {
      override async execBatchAsync(items: number[]): Promise<string[]> {
        this.calls.push([...items]);
        throw limited;
      }
    }
    const node = new RateLimited({ batchSize: 4, maxRateLimitRetries: 0 });

    await expect(node.runAsync({ items: range(1, 4) })).rejects.toBe(limited);
    expect(node.stats).toEqual({ totalItems: 4, apiCalls: 1, splits: 0, resumed: 0 });
  });

  it("retries a rate-limited batch whole, within maxRetries", async () => {
    class LimitedOnce extends Batcher {
      override async execBatchAsync(items: number[]): Promise<string[]> {
        this.calls.push([...items]);
        if (this.calls.length === 1) throw Object.assign(new Error("Too Many Requests"), { status: 429 });
        return answers(items);
      }
    }
    const node = new LimitedOnce({ batchSize: 4, maxRetries: 2 });
    const shared: Shared = { items: range(1, 4) };

    await node.runAsync(shared);

    expect(shared.results).toEqual(answers(range(1, 4)));
    expect(node.calls).toEqual([range(1, 4), range(1, 4)]);
    expect(node.stats).toEqual({ totalItems: 4, apiCalls: 2, splits: 0, resumed: 0 });
  });

  it("makes no further call once the run has failed: a batch still in flight is neither retried nor split", async () => {
    const gate = deferred<void>();
    const calls: string[] = [];
    let rejected = false;
    class Fatal extends Batcher {
      override async execBatchAsync(items: number[]): Promise<string[]> {
        calls.push(`${items.join(",")}${rejected ? " after the rejection" : ""}`);
        if (items.includes(1)) throw new BatchError([...items]);
        await gate.promise;
        throw new Error("transient");
      }
    }
    // Three slots: [1,2] and its halves never wait for the slot [3,4] holds while it is gated.
    const node = new Fatal({ batchSize: 2, maxConcurrent: 3, maxRetries: 2 });

    await expect(node.runAsync({ items: range(1, 4) })).rejects.toMatchObject({ batch: [1] });
    rejected = true;
    gate.resolve(); // [3,4] now fails: retrying or splitting it would be calls for a run that is over
    await macrotaskTurns(10);

    expect(calls.filter((call) => call.endsWith("after the rejection"))).toEqual([]);
  });

  it("rejects with exactly signal.reason when aborted while a batch waits for the window", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 2, maxPerWindow: 1, windowSeconds: 60 });
    const node = new Batcher({ batchSize: 1, limiter });
    const controller = new AbortController();
    const reason = new Error("stop");

    const run = node.runAsync({ items: [1, 2] }, { signal: controller.signal });
    await until(() => limiter.pending === 1);
    controller.abort(reason);

    await expect(run).rejects.toBe(reason);
    expect(node.calls).toEqual([[1]]);
    await until(() => limiter.pending === 0);
  });

  it("stops packing new batches once the run has failed", async () => {
    const firstBatch = deferred<void>();
    class HoldsFirst extends Batcher {
      override estimateTokens(item: number): number {
        if (item === 3) throw new Error("cannot estimate 3");
        return item;
      }
      override async execBatchAsync(items: number[]): Promise<string[]> {
        this.calls.push([...items]);
        if (items[0] === 1) await firstBatch.promise;
        return answers(items);
      }
    }
    const node = new HoldsFirst({ batchSize: 2, maxBatchTokens: 100, maxConcurrent: 2 });

    await expect(node.runAsync({ items: range(1, 6) })).rejects.toThrow("cannot estimate 3");
    firstBatch.resolve();
    await macrotaskTurns(5); // room for the first worker to pull another batch, were it still pulling

    expect(node.calls).toEqual([[1, 2]]);
  });
});

// ---------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------

describe("ThrottledMicroBatchNode stats", () => {
  it("counts items, calls of execBatchAsync and split operations exactly", async () => {
    // [1-4] ok; [5-8] fails -> [5,6] fails -> [5] ok, [6] falls back; [7,8] ok; [9,10] ok.
    const node = new FailsOn({ batchSize: 4 });
    node.execFallbackAsync = async (item) => `fallback ${item}`;

    await node.runAsync({ items: range(1, 10) });

    expect(node.stats).toEqual({ totalItems: 10, apiCalls: 7, splits: 2, resumed: 0 });
  });

  it("starts the counters again on each run", async () => {
    const node = new Batcher({ batchSize: 2 });
    await node.runAsync({ items: range(1, 6) });

    await node.runAsync({ items: range(1, 3) });

    expect(node.stats).toEqual({ totalItems: 3, apiCalls: 2, splits: 0, resumed: 0 });
  });

  it("returns a copy that later runs do not change", async () => {
    const node = new Batcher({ batchSize: 2 });
    await node.runAsync({ items: range(1, 2) });
    const before = node.stats;

    await node.runAsync({ items: range(1, 6) });

    expect(before).toEqual({ totalItems: 2, apiCalls: 1, splits: 0, resumed: 0 });
  });
});

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

describe("ThrottledMicroBatchNode options", () => {
  it("defaults to batches of 10, no token bound and splitting on error", () => {
    const node = new Batcher();

    expect(node.batchSize).toBe(10);
    expect(node.maxBatchTokens).toBeUndefined();
    expect(node.splitOnError).toBe(true);
  });

  it("keeps the values given to the constructor", () => {
    const node = new Batcher({ batchSize: 100, maxBatchTokens: 8000, splitOnError: false });

    expect(node.batchSize).toBe(100);
    expect(node.maxBatchTokens).toBe(8000);
    expect(node.splitOnError).toBe(false);
  });

  it("takes its options from class fields and packs by them", async () => {
    class Fields extends Batcher {
      override batchSize = 2;
      override maxBatchTokens = 100;
      override splitOnError = false;
    }
    const node = new Fields({ maxConcurrent: 1 });

    await node.runAsync({ items: range(1, 5) });

    expect(node.batchSize).toBe(2);
    expect(node.maxBatchTokens).toBe(100);
    expect(node.splitOnError).toBe(false);
    expect(node.calls).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("lets a constructor option win over a class field", () => {
    class Fields extends Batcher {
      override batchSize = 2;
    }

    expect(new Fields({ batchSize: 50 }).batchSize).toBe(50);
  });

  it.each([
    ["batchSize", { batchSize: 0 }],
    ["batchSize", { batchSize: -1 }],
    ["batchSize", { batchSize: 2.5 }],
    ["maxBatchTokens", { maxBatchTokens: 0 }],
    ["maxBatchTokens", { maxBatchTokens: 0.5 }],
  ])("rejects a bad %s given to the constructor with a RangeError naming it", (name, options) => {
    expect(() => new Batcher(options)).toThrow(RangeError);
    expect(() => new Batcher(options)).toThrow(name);
  });

  it("rejects batchSize = 0 as a class field with a RangeError naming it", () => {
    class Zero extends Batcher {
      override batchSize = 0;
    }

    expect(() => new Zero()).toThrow(RangeError);
    expect(() => new Zero()).toThrow(/batchSize/);
  });

  it("rejects maxBatchTokens = 0 as a class field with a RangeError naming it", () => {
    class Zero extends Batcher {
      override maxBatchTokens = 0;
    }

    expect(() => new Zero()).toThrow(RangeError);
    expect(() => new Zero()).toThrow(/maxBatchTokens/);
  });

  it("rejects a splitOnError that is not a boolean with a TypeError naming it", () => {
    expect(() => new Batcher({ splitOnError: "yes" as unknown as boolean })).toThrow(/splitOnError/);
  });
});
