// fromBottleneck and fromPLimit: limiters people already share, as a node's `limiter`.
import Bottleneck from "bottleneck";
import pLimit from "p-limit";
import { Gauge, deferred, delay, flush } from "test-support";
import { describe, expect, it } from "vitest";
import { fromBottleneck, fromPLimit } from "../src/index.js";
import type { Limiter } from "../src/limiters/types.js";
import { AsyncNode } from "pocketflow-ts";
import { ThrottledAsyncParallelBatchFlow } from "../src/flows.js";
import { ThrottledParallelBatchNode } from "../src/nodes.js";
import { LimiterRegistry } from "../src/registry.js";

type Shared = { items: number[]; out?: number[] };

/** A node whose items enter a gauge, record their start time and wait `hold` (ms, or a promise). */
function nodeUnder(limiter: Limiter, gauge: Gauge, hold: () => Promise<void>, starts: number[] = []) {
  class Work extends ThrottledParallelBatchNode<Shared, number, number> {
    override async prepAsync(shared: Shared) {
      return shared.items;
    }
    override async execAsync(item: number) {
      starts.push(performance.now());
      gauge.enter();
      try {
        await hold();
      } finally {
        gauge.leave();
      }
      return item * 2;
    }
    override async postAsync(shared: Shared, _p: unknown, out: number[]) {
      shared.out = out;
      return undefined;
    }
  }
  return new Work({ limiter, maxConcurrent: 5 });
}

/** Bottleneck starts jobs on timers, so wait on the clock (generously), not on event-loop turns. */
async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error("condition never became true");
    await delay(2);
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("fromBottleneck", () => {
  it("caps a ThrottledParallelBatchNode at the Bottleneck's maxConcurrent, results in order", async () => {
    const bottleneck = new Bottleneck({ maxConcurrent: 2 });
    const limiter = fromBottleneck(bottleneck);
    expect(limiter.maxConcurrent).toBe(2);
    const gauge = new Gauge();
    const shared: Shared = { items: range(8) };
    await nodeUnder(limiter, gauge, () => delay(10)).runAsync(shared);
    expect(shared.out).toEqual(range(8).map((i) => i * 2));
    expect(gauge.peak).toBe(2);
    expect(bottleneck.counts()).toEqual({ RECEIVED: 0, QUEUED: 0, RUNNING: 0, EXECUTING: 0 });
  });

  it("spaces the node's starts by the Bottleneck's minTime", async () => {
    const starts: number[] = [];
    const limiter = fromBottleneck(new Bottleneck({ minTime: 40 }));
    await nodeUnder(limiter, new Gauge(), async () => {}, starts).runAsync({ items: range(4) });
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] as number));
    // Generous slack below minTime; an unthrottled node would start all four within a few ms.
    for (const gap of gaps) expect(gap).toBeGreaterThan(30);
  });

  it("starts no more items than the Bottleneck's reservoir holds, and an abort rejects with signal.reason", async () => {
    const bottleneck = new Bottleneck({ reservoir: 3 });
    const gauge = new Gauge();
    const starts: number[] = [];
    const controller = new AbortController();
    const run = nodeUnder(fromBottleneck(bottleneck), gauge, async () => {}, starts).runAsync(
      { items: range(5) },
      { signal: controller.signal },
    );
    await until(() => starts.length === 3);
    await delay(30);
    expect(starts).toHaveLength(3);
    const reason = new Error("enough");
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
  });

  it("leaves no job behind after an abort: the waiting items leave, and Bottleneck ends empty once the running item ends", async () => {
    const bottleneck = new Bottleneck({ maxConcurrent: 1 });
    const limiter = fromBottleneck(bottleneck);
    const gate = deferred();
    const gauge = new Gauge();
    const controller = new AbortController();
    const run = nodeUnder(limiter, gauge, () => gate.promise).runAsync({ items: range(4) }, { signal: controller.signal });
    await until(() => gauge.current === 1);
    await flush(3);
    expect(limiter.pending).toBeGreaterThan(0);
    controller.abort(new Error("stop"));
    await expect(run).rejects.toThrow("stop");
    expect(limiter.stats.aborted).toBeGreaterThan(0);
    gate.resolve();
    await until(() => {
      const c = bottleneck.counts();
      return c.RECEIVED + c.QUEUED + c.RUNNING + c.EXECUTING === 0;
    });
    expect(limiter.active).toBe(0);
    expect(limiter.pending).toBe(0);
    expect(gauge.peak).toBe(1);
  });

  it("frees one job for a permit released twice", async () => {
    const limiter = fromBottleneck(new Bottleneck({ maxConcurrent: 1 }));
    const first = await limiter.acquire();
    first.release();
    first.release();
    const second = await limiter.acquire();
    let thirdGranted = false;
    const third = limiter.acquire().then((p) => {
      thirdGranted = true;
      return p;
    });
    await flush(5);
    expect(thirdGranted).toBe(false);
    expect(limiter.active).toBe(1);
    second.release();
    (await third).release();
    expect(limiter.stats.acquired).toBe(3);
  });

  it("setConcurrency updates the Bottleneck's maxConcurrent; a stopped Bottleneck's refusal reaches the caller", async () => {
    const bottleneck = new Bottleneck({ maxConcurrent: 1 });
    const limiter = fromBottleneck(bottleneck);
    limiter.setConcurrency(3);
    expect(limiter.maxConcurrent).toBe(3);
    await flush(3);
    const permits = await Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire()]);
    expect(limiter.active).toBe(3);
    for (const p of permits) p.release();
    await bottleneck.stop();
    await expect(limiter.acquire()).rejects.toThrow(/stopped/);
  });

  it("holds this adapter's grants during a pause, and an aborted waiter during the pause leaves no timer", async () => {
    const limiter = fromBottleneck(new Bottleneck({ maxConcurrent: 2 }));
    limiter.pause(0.06);
    const began = performance.now();
    const permit = await limiter.acquire();
    expect(performance.now() - began).toBeGreaterThan(45);
    permit.release();
    limiter.pause(60);
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    controller.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    limiter.reset();
    (await limiter.acquire()).release();
  });

  it("reports unboundedConcurrency for a Bottleneck without maxConcurrent, and names the function for bad input", () => {
    expect(fromBottleneck(new Bottleneck({ minTime: 10 })).maxConcurrent).toBe(1);
    expect(fromBottleneck(new Bottleneck(), { unboundedConcurrency: 8 }).maxConcurrent).toBe(8);
    expect(() => fromBottleneck({} as never)).toThrow(/fromBottleneck needs a Bottleneck instance, got \[object Object\]/);
    expect(() => fromBottleneck(new Bottleneck(), { unboundedConcurrency: 0 })).toThrow(/unboundedConcurrency.*got 0/);
    expect(() => fromBottleneck(new Bottleneck(), { maxConcurrent: 2 } as never)).toThrow(/fromBottleneck has no option "maxConcurrent"/);
  });
});

describe("fromPLimit", () => {
  it("caps a node and the limit's other calls together at the limit's concurrency", async () => {
    const limit = pLimit(2);
    const limiter = fromPLimit(limit);
    expect(limiter.maxConcurrent).toBe(2);
    const gauge = new Gauge();
    const outside = range(3).map(() =>
      limit(async () => {
        gauge.enter();
        await delay(10);
        gauge.leave();
      }),
    );
    const shared: Shared = { items: range(6) };
    await Promise.all([nodeUnder(limiter, gauge, () => delay(10)).runAsync(shared), ...outside]);
    expect(shared.out).toEqual(range(6).map((i) => i * 2));
    expect(gauge.peak).toBe(2);
  });

  it("leaves nothing pending in the limit after an abort", async () => {
    const limit = pLimit(1);
    const limiter = fromPLimit(limit);
    const gate = deferred();
    const held = limit(() => gate.promise);
    const controller = new AbortController();
    const run = nodeUnder(limiter, new Gauge(), async () => {}).runAsync({ items: range(3) }, { signal: controller.signal });
    await flush(3);
    expect(limiter.pending).toBeGreaterThan(0);
    controller.abort(new Error("stop"));
    await expect(run).rejects.toThrow("stop");
    gate.resolve();
    await held;
    await until(() => limit.activeCount === 0 && limit.pendingCount === 0);
    expect(limiter.pending).toBe(0);
  });

  it("setConcurrency sets limit.concurrency; pLimit(Infinity) reports unboundedConcurrency; bad input names the function", () => {
    const limit = pLimit(2);
    fromPLimit(limit).setConcurrency(4);
    expect(limit.concurrency).toBe(4);
    expect(() => fromPLimit(limit).setConcurrency(0)).toThrow(/setConcurrency.*got 0/);
    expect(fromPLimit(pLimit(Number.POSITIVE_INFINITY), { unboundedConcurrency: 6 }).maxConcurrent).toBe(6);
    expect(() => fromPLimit(3 as never)).toThrow(/fromPLimit needs a p-limit limit function, got 3/);
  });
});

describe("adapters as a flow's limiter and in the registry", () => {
  it("runs a throttled flow's instances one at a time under fromBottleneck(maxConcurrent 1), and a registered fromPLimit under its name", async () => {
    const gauge = new Gauge();
    class Step extends AsyncNode<{ done: string[] }> {
      override async postAsync(shared: { done: string[] }) {
        gauge.enter();
        await delay(10);
        gauge.leave();
        shared.done.push(String(this.params.user));
        return undefined;
      }
    }
    class PerUser extends ThrottledAsyncParallelBatchFlow<{ done: string[] }> {
      override async prepAsync() {
        return [{ user: "a" }, { user: "b" }, { user: "c" }];
      }
    }
    const shared = { done: [] as string[] };
    await new PerUser(new Step(), { limiter: fromBottleneck(new Bottleneck({ maxConcurrent: 1 })) }).runAsync(shared);
    expect(shared.done.sort()).toEqual(["a", "b", "c"]);
    expect(gauge.peak).toBe(1);

    const name = `p-limit-${Math.random()}`;
    LimiterRegistry.register(name, fromPLimit(pLimit(2)));
    try {
      const byName = new Gauge();
      const out = { items: range(6) } as Shared;
      await nodeUnder(LimiterRegistry.get(name), byName, () => delay(5)).runAsync(out);
      const viaName = new (class extends ThrottledParallelBatchNode<Shared, number, number> {
        override async prepAsync(s: Shared) {
          return s.items;
        }
        override async execAsync(item: number) {
          byName.enter();
          await delay(5);
          byName.leave();
          return item;
        }
      })({ limiter: name });
      await viaName.runAsync({ items: range(6) });
      expect(out.out).toHaveLength(6);
      expect(byName.peak).toBe(2);
    } finally {
      LimiterRegistry.remove(name);
    }
  });
});

