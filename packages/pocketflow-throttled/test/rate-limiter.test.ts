import { describe, expect, it, vi } from "vitest";
import { type Permit, RateLimiter } from "../src/index.js";
import { deferred, delay, flush, settledSoon, trackTimers } from "test-support";
import { maxWeightInAnySpan } from "./limiter-support.js";

/** Starts `count` jobs through `limiter.run`, each held open until the test releases it. */
function holdJobs(limiter: RateLimiter, count: number) {
  const gates = Array.from({ length: count }, () => deferred());
  const started: number[] = [];
  let running = 0;
  let peak = 0;
  const done = gates.map((gate, i) =>
    limiter.run(async () => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await gate.promise;
      running--;
      return i;
    }),
  );
  return {
    gates,
    started,
    done,
    get peak() {
      return peak;
    },
  };
}

/** Runs `count` instant jobs and returns when each started, in ms since the call. */
async function startTimes(limiter: RateLimiter, count: number, tokens?: number): Promise<number[]> {
  const t0 = performance.now();
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: count }, () =>
      limiter.run(
        () => {
          times.push(performance.now() - t0);
        },
        tokens === undefined ? {} : { tokens },
      ),
    ),
  );
  return times;
}

describe("maxWeightInAnySpan (test helper)", () => {
  it("counts the starts inside the busiest half-open span", () => {
    expect(maxWeightInAnySpan([0, 10, 20, 100, 49], 50)).toBe(4);
    expect(maxWeightInAnySpan([0, 50, 100], 50)).toBe(1);
    expect(maxWeightInAnySpan([0, 10, 60], 50, [30, 40, 50])).toBe(70);
  });
});

describe("RateLimiter options", () => {
  it("defaults to 5 at once, no window limit, a 60 s window and no token budget", () => {
    const limiter = new RateLimiter();

    expect(limiter.maxConcurrent).toBe(5);
    expect(limiter.maxPerWindow).toBeUndefined();
    expect(limiter.windowSeconds).toBe(60);
    expect(limiter.maxTokensPerWindow).toBeUndefined();
  });

  it("keeps the given values", () => {
    const limiter = new RateLimiter({ maxConcurrent: 3, maxPerWindow: 100, windowSeconds: 30, maxTokensPerWindow: 5000 });

    expect(limiter.maxConcurrent).toBe(3);
    expect(limiter.maxPerWindow).toBe(100);
    expect(limiter.windowSeconds).toBe(30);
    expect(limiter.maxTokensPerWindow).toBe(5000);
  });

  it("describes itself with its limits", () => {
    const limiter = new RateLimiter({ maxConcurrent: 3, maxPerWindow: 100, windowSeconds: 30 });

    expect(String(limiter)).toBe("RateLimiter(maxConcurrent=3, maxPerWindow=100, windowSeconds=30)");
  });

  it.each([
    ["maxConcurrent", { maxConcurrent: 0 }, "0"],
    ["maxConcurrent", { maxConcurrent: -1 }, "-1"],
    ["maxConcurrent", { maxConcurrent: 2.5 }, "2.5"],
    ["maxConcurrent", { maxConcurrent: Number.NaN }, "NaN"],
    ["maxPerWindow", { maxPerWindow: 0 }, "0"],
    ["maxPerWindow", { maxPerWindow: 1.5 }, "1.5"],
    ["windowSeconds", { windowSeconds: 0 }, "0"],
    ["windowSeconds", { windowSeconds: -5 }, "-5"],
    ["windowSeconds", { windowSeconds: Number.POSITIVE_INFINITY }, "Infinity"],
    ["maxTokensPerWindow", { maxTokensPerWindow: 0 }, "0"],
  ])("rejects a bad %s with a RangeError naming it and the value (%o)", (name, options, shown) => {
    expect(() => new RateLimiter(options)).toThrow(RangeError);
    expect(() => new RateLimiter(options)).toThrow(name);
    expect(() => new RateLimiter(options)).toThrow(shown);
  });

  it("rejects a misspelt option with a TypeError naming it", () => {
    expect(() => new RateLimiter({ maxConcurent: 3 } as never)).toThrow(TypeError);
    expect(() => new RateLimiter({ maxConcurent: 3 } as never)).toThrow('"maxConcurent"');
  });

  it("rejects options that are not an object with a TypeError", () => {
    expect(() => new RateLimiter(5 as never)).toThrow(TypeError);
    expect(() => new RateLimiter(5 as never)).toThrow("RateLimiter options must be an object, got 5");
  });

  it.each([
    ["maxConcurrent", { maxConcurrent: "5" }],
    ["maxPerWindow", { maxPerWindow: "10" }],
    ["windowSeconds", { windowSeconds: "60" }],
  ])("rejects a %s of the wrong type with a TypeError naming it", (name, options) => {
    expect(() => new RateLimiter(options as never)).toThrow(TypeError);
    expect(() => new RateLimiter(options as never)).toThrow(name);
  });
});

describe("RateLimiter concurrency gate", () => {
  it("never runs more than maxConcurrent at once, and reaches that limit", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 3 });
    const jobs = holdJobs(limiter, 10);
    await flush();

    expect(jobs.started).toEqual([0, 1, 2]);
    for (const gate of jobs.gates) {
      gate.resolve();
      await flush();
    }
    await Promise.all(jobs.done);

    expect(jobs.peak).toBe(3);
    expect(jobs.started).toHaveLength(10);
  });

  it("with maxConcurrent 1 runs jobs one at a time, in call order", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const jobs = holdJobs(limiter, 4);
    await flush();

    expect(jobs.started).toEqual([0]);
    jobs.gates[0]?.resolve();
    await flush();
    expect(jobs.started).toEqual([0, 1]);
    for (const gate of jobs.gates) gate.resolve();
    await Promise.all(jobs.done);

    expect(jobs.started).toEqual([0, 1, 2, 3]);
    expect(jobs.peak).toBe(1);
  });

  it("with a high limit starts every job at once", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 50 });
    const jobs = holdJobs(limiter, 50);
    await flush();

    expect(jobs.started).toHaveLength(50);
    expect(limiter.active).toBe(50);
    for (const gate of jobs.gates) gate.resolve();
    await Promise.all(jobs.done);
  });

  it("returns what the job returns", async () => {
    const limiter = new RateLimiter();

    await expect(limiter.run(async () => "answer")).resolves.toBe("answer");
    await expect(limiter.run(() => 42)).resolves.toBe(42);
  });

  it("counts waiting acquisitions in pending and granted ones in active", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 2 });
    const first = await limiter.acquire();
    await limiter.acquire();
    const third = limiter.acquire();
    const fourth = limiter.acquire();

    expect(limiter.active).toBe(2);
    expect(limiter.pending).toBe(2);

    first.release();
    await third;
    expect(limiter.active).toBe(2);
    expect(limiter.pending).toBe(1);
    fourth.then((p) => p.release());
  });
});

describe("RateLimiter sliding window", () => {
  it("holds 10 starts at 5 per 0.2 s to at least one window, and no 0.2 s interval holds more than 5", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxPerWindow: 5, windowSeconds: 0.2 });

    const times = await startTimes(limiter, 10);

    expect(Math.max(...times)).toBeGreaterThanOrEqual(190);
    expect(maxWeightInAnySpan(times, 200 - 10)).toBeLessThanOrEqual(5);
  });

  it("without a window limit starts everything at once", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 100 });

    const times = await startTimes(limiter, 100);

    expect(Math.max(...times)).toBeLessThan(100);
  });

  it("counts the starts inside the current window in currentWindowCount", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxPerWindow: 10, windowSeconds: 0.1 });
    expect(limiter.currentWindowCount).toBe(0);

    await startTimes(limiter, 3);
    expect(limiter.currentWindowCount).toBe(3);

    await delay(100 + limiter.arrivalMarginSeconds * 1000 + 50); // the window, the arrival margin, and slack
    expect(limiter.currentWindowCount).toBe(0);
  });

  it("reset() clears the window, and callers waiting only on the window start at once", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxPerWindow: 2, windowSeconds: 60 });
    (await limiter.acquire()).release();
    (await limiter.acquire()).release();
    const waiting = limiter.acquire();
    expect(await settledSoon(waiting)).toBe(false);

    limiter.reset();

    expect(await settledSoon(waiting)).toBe(true);
    expect(limiter.currentWindowCount).toBe(1);
    (await waiting).release();
  });

  it("reset() does not start callers waiting for a concurrency slot", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const held = await limiter.acquire();
    const waiting = limiter.acquire();

    limiter.reset();

    expect(await settledSoon(waiting)).toBe(false);
    held.release();
    (await waiting).release();
  });
});

describe("RateLimiter queue order", () => {
  it("serves waiters first come, first served at the concurrency gate", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const held = await limiter.acquire();
    const order: number[] = [];
    const waiters = [0, 1, 2, 3, 4].map((i) =>
      limiter.acquire().then((permit) => {
        order.push(i);
        permit.release();
      }),
    );

    held.release();
    await Promise.all(waiters);

    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it("serves waiters first come, first served at the window gate", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxPerWindow: 2, windowSeconds: 0.05 });
    const order: number[] = [];

    await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) =>
        limiter.run(() => {
          order.push(i);
        }),
      ),
    );

    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe("RateLimiter permits", () => {
  it("acquire() resolves to a permit whose release() frees the slot", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const permit = await limiter.acquire();
    expect(limiter.active).toBe(1);

    permit.release();

    expect(limiter.active).toBe(0);
  });

  it("release() is idempotent: a second call does not free another caller's slot", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const first = await limiter.acquire();
    const second = limiter.acquire();
    const third = limiter.acquire();

    first.release();
    await second;
    first.release();

    expect(limiter.active).toBe(1);
    expect(await settledSoon(third)).toBe(false);
    (await second).release();
    (await third).release();
  });

  it("await using releases the permit when the block ends", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    {
      await using permit = await limiter.acquire();
      expect(permit.tokens).toBe(0);
      expect(limiter.active).toBe(1);
    }
    expect(limiter.active).toBe(0);
  });

  it("using (synchronous dispose) releases the permit too", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    {
      using _permit = await limiter.acquire();
      expect(limiter.active).toBe(1);
    }
    expect(limiter.active).toBe(0);
  });

  it("await using releases the permit when the block throws", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const failure = new Error("boom");
    const work = async () => {
      await using _permit = await limiter.acquire();
      throw failure;
    };

    await expect(work()).rejects.toBe(failure);
    expect(limiter.active).toBe(0);
  });

  it("run(fn) releases the slot when fn throws or rejects", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const syncError = new Error("sync");
    const asyncError = new Error("async");

    await expect(
      limiter.run(() => {
        throw syncError;
      }),
    ).rejects.toBe(syncError);
    await expect(limiter.run(async () => Promise.reject(asyncError))).rejects.toBe(asyncError);

    expect(limiter.active).toBe(0);
    await expect(limiter.run(() => "still works")).resolves.toBe("still works");
  });
});

describe("RateLimiter abort", () => {
  it("an aborted acquire leaves the queue at once and rejects with exactly signal.reason", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const held = await limiter.acquire();
    const controller = new AbortController();
    const reason = { why: "user cancelled" };
    const waiting = limiter.acquire({ signal: controller.signal });
    expect(limiter.pending).toBe(1);

    controller.abort(reason);

    expect(limiter.pending).toBe(0);
    await expect(waiting).rejects.toBe(reason);
    expect(limiter.stats.aborted).toBe(1);
    held.release();
  });

  it("an aborted waiter never runs, and the next waiter takes its place", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const held = await limiter.acquire();
    const controller = new AbortController();
    const ran: string[] = [];
    const aborted = limiter.run(() => ran.push("aborted"), { signal: controller.signal });
    const next = limiter.run(() => ran.push("next"));

    controller.abort(new Error("stop"));
    held.release();
    await expect(aborted).rejects.toThrow("stop");
    await next;

    expect(ran).toEqual(["next"]);
    expect(limiter.active).toBe(0);
  });

  it("waiters aborted by one signal all leave, even when the first to leave unblocks the others", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 60 });
    (await limiter.acquire({ tokens: 1 })).release();
    const controller = new AbortController();
    const signal = controller.signal;
    // The head needs the whole budget; the two behind it would fit as soon as it leaves.
    const waiting = [
      limiter.acquire({ signal, tokens: 100 }),
      limiter.acquire({ signal, tokens: 1 }),
      limiter.acquire({ signal, tokens: 1 }),
    ];

    controller.abort("cancelled");

    for (const w of waiting) await expect(w).rejects.toBe("cancelled");
    expect(limiter.active).toBe(0);
    expect(limiter.stats.acquired).toBe(1);
  });

  it("an already-aborted signal rejects with its reason without taking a free slot", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const reason = new Error("already aborted");
    const signal = AbortSignal.abort(reason);
    let ran = false;

    await expect(limiter.acquire({ signal })).rejects.toBe(reason);
    await expect(
      limiter.run(() => {
        ran = true;
      }, { signal }),
    ).rejects.toBe(reason);

    expect(ran).toBe(false);
    expect(limiter.active).toBe(0);
  });

  it("an abort ends a wait for the window and leaves no timer behind", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 1, windowSeconds: 60 });
    (await limiter.acquire()).release();
    const timers = trackTimers();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    expect(timers.pending()).toBe(1);

    controller.abort("enough");

    await expect(waiting).rejects.toBe("enough");
    expect(timers.pending()).toBe(0);
    timers.restore();
  });
});

describe("RateLimiter setConcurrency", () => {
  it("raising the limit starts waiters at once", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const jobs = holdJobs(limiter, 4);
    await flush();
    expect(jobs.started).toEqual([0]);

    limiter.setConcurrency(3);
    await flush();

    expect(limiter.maxConcurrent).toBe(3);
    expect(jobs.started).toEqual([0, 1, 2]);
    for (const gate of jobs.gates) gate.resolve();
    await Promise.all(jobs.done);
  });

  it("lowering the limit keeps in-flight work and starts no one until active drops below it", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 3 });
    const jobs = holdJobs(limiter, 4);
    await flush();

    limiter.setConcurrency(1);

    expect(limiter.active).toBe(3);
    jobs.gates[0]?.resolve();
    jobs.gates[1]?.resolve();
    await flush();
    expect(jobs.started).toEqual([0, 1, 2]);
    expect(limiter.active).toBe(1);
    jobs.gates[2]?.resolve();
    await flush();
    expect(jobs.started).toEqual([0, 1, 2, 3]);
    jobs.gates[3]?.resolve();
    await Promise.all(jobs.done);
    expect(limiter.active).toBe(0);
  });

  it("keeps the window history", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1, maxPerWindow: 2, windowSeconds: 60 });
    (await limiter.acquire()).release();
    (await limiter.acquire()).release();

    limiter.setConcurrency(5);

    expect(limiter.currentWindowCount).toBe(2);
    const third = limiter.acquire();
    expect(await settledSoon(third)).toBe(false);
    limiter.reset();
    (await third).release();
  });

  it.each([0, -1, 1.5])("rejects setConcurrency(%s) with a RangeError naming maxConcurrent", (value) => {
    const limiter = new RateLimiter();

    expect(() => limiter.setConcurrency(value)).toThrow(RangeError);
    expect(() => limiter.setConcurrency(value)).toThrow(`maxConcurrent must be an integer >= 1, got ${value}`);
    expect(limiter.maxConcurrent).toBe(5);
  });
});

describe("RateLimiter stats", () => {
  it("starts at zero", () => {
    expect(new RateLimiter().stats).toEqual({
      acquired: 0,
      throttled: 0,
      totalWaitMs: 0,
      averageWaitMs: 0,
      aborted: 0,
      timedOut: 0,
      active: 0,
      pending: 0,
    });
  });

  it("counts acquisitions, the ones that waited, and how long they waited", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const first = await limiter.acquire();
    const second = limiter.acquire();
    const third = limiter.acquire();

    await delay(40);
    first.release();
    (await second).release();
    (await third).release();
    const stats = limiter.stats;

    expect(stats.acquired).toBe(3);
    expect(stats.throttled).toBe(2);
    expect(stats.totalWaitMs).toBeGreaterThanOrEqual(2 * 35);
    expect(stats.averageWaitMs).toBeCloseTo(stats.totalWaitMs / 2, 6);
    expect(stats.active).toBe(0);
    expect(stats.pending).toBe(0);
  });
});

describe("RateLimiter timers", () => {
  it("leaves no timer behind once the queue has emptied", async () => {
    const timers = trackTimers();
    const limiter = new RateLimiter({ maxConcurrent: 3, maxPerWindow: 2, windowSeconds: 0.05 });

    await startTimes(limiter, 6);
    timers.restore();

    expect(timers.pending()).toBe(0);
  });

  it("leaves no timer behind after a pause that nobody waited on", async () => {
    const timers = trackTimers();
    const limiter = new RateLimiter();

    limiter.pause(60);
    limiter.observe({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m" });
    timers.restore();

    expect(timers.pending()).toBe(0);
  });

  it("sets no timer when nothing waits on the clock", async () => {
    const timers = trackTimers();
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const held = await limiter.acquire();
    const waiting = limiter.acquire();
    held.release();
    (await waiting).release();
    timers.restore();

    expect(timers.created()).toBe(0);
  });
});

describe("RateLimiter token budget", () => {
  it("never starts more than maxTokensPerWindow tokens in any window", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxTokensPerWindow: 100, windowSeconds: 0.1 });

    const times = await startTimes(limiter, 6, 40);

    expect(maxWeightInAnySpan(times, 100 - 10, times.map(() => 40))).toBeLessThanOrEqual(100);
    expect(Math.max(...times)).toBeGreaterThanOrEqual(190);
  });

  it("allows a window whose tokens sum exactly to the limit", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxTokensPerWindow: 100, windowSeconds: 60 });

    const permits = await Promise.all([1, 2, 3, 4].map(() => limiter.acquire({ tokens: 25 })));

    expect(limiter.active).toBe(4);
    expect(limiter.currentWindowTokens).toBe(100);
    const fifth = limiter.acquire({ tokens: 1 });
    expect(await settledSoon(fifth)).toBe(false);
    for (const permit of permits) permit.release();
    limiter.reset();
    (await fifth).release();
  });

  it("rejects a request above maxTokensPerWindow with a RangeError naming it, without queueing it", async () => {
    const limiter = new RateLimiter({ maxTokensPerWindow: 100, windowSeconds: 60 });

    await expect(limiter.acquire({ tokens: 101 })).rejects.toThrow(RangeError);
    await expect(limiter.acquire({ tokens: 101 })).rejects.toThrow("maxTokensPerWindow");
    await expect(limiter.run(() => "never", { tokens: 500 })).rejects.toThrow("maxTokensPerWindow");
    expect(limiter.pending).toBe(0);
    expect(limiter.active).toBe(0);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])("rejects a token estimate of %s with a RangeError", async (tokens) => {
    const limiter = new RateLimiter({ maxTokensPerWindow: 100 });

    await expect(limiter.acquire({ tokens })).rejects.toThrow(RangeError);
  });

  it("a settle() refund lets a waiter that now fits start at once", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxTokensPerWindow: 100, windowSeconds: 60 });
    const big = await limiter.acquire({ tokens: 80 });
    const waiting = limiter.acquire({ tokens: 50 });
    expect(await settledSoon(waiting)).toBe(false);

    big.settle(10);

    expect(await settledSoon(waiting)).toBe(true);
    expect(limiter.currentWindowTokens).toBe(60);
    big.release();
    (await waiting).release();
  });

  it("a settle() charge may take the window over the limit and only holds back later starts", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, maxTokensPerWindow: 100, windowSeconds: 60 });
    const first = await limiter.acquire({ tokens: 20 });
    const second = await limiter.acquire({ tokens: 20 });

    first.settle(150);

    expect(limiter.currentWindowTokens).toBe(170);
    expect(limiter.active).toBe(2);
    const later = limiter.acquire({ tokens: 1 });
    expect(await settledSoon(later)).toBe(false);
    first.release();
    second.release();
    limiter.reset();
    (await later).release();
  });

  it("settles the right start after compacting a long log of expired starts", async () => {
    const limiter = new RateLimiter({
      maxConcurrent: 2000,
      maxPerWindow: 5000,
      maxTokensPerWindow: 1_000_000,
      windowSeconds: 0.05,
      arrivalMarginSeconds: 0,
    });
    for (let i = 0; i < 1100; i++) (await limiter.acquire({ tokens: 1 })).release();
    await delay(80);
    const permit = await limiter.acquire({ tokens: 10 });

    expect(limiter.currentWindowCount).toBe(1);
    permit.settle(3);

    expect(limiter.currentWindowTokens).toBe(3);
    permit.release();
  });

  it("rejects a settle() with a negative usage", async () => {
    const limiter = new RateLimiter({ maxTokensPerWindow: 100 });
    const permit = await limiter.acquire({ tokens: 10 });

    expect(() => permit.settle(-5)).toThrow(RangeError);
    permit.release();
  });
});

describe("RateLimiter pause", () => {
  it("holds new starts until the pause ends, even with free slots", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    const t0 = performance.now();

    limiter.pause(0.15);
    await limiter.run(() => undefined);

    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it("keeps waiters in their order", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    const order: number[] = [];
    limiter.pause(0.05);

    await Promise.all(
      [0, 1, 2, 3, 4, 5, 6].map((i) =>
        limiter.run(async () => {
          order.push(i);
          await delay(5);
        }),
      ),
    );

    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("does not stop work already running", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 2 });
    const running = await limiter.acquire();

    limiter.pause(60);

    expect(limiter.active).toBe(1);
    running.release();
    expect(limiter.active).toBe(0);
    limiter.reset();
  });

  it("is lifted by reset()", async () => {
    const limiter = new RateLimiter();
    limiter.pause(60);
    const waiting = limiter.acquire();

    limiter.reset();

    expect(await settledSoon(waiting)).toBe(true);
    (await waiting).release();
  });
});

describe("RateLimiter observe(headers)", () => {
  const openAiExhausted = { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "200ms" };

  it("holds new starts until the reset when OpenAI's Headers say no requests remain", async () => {
    const limiter = new RateLimiter();
    const t0 = performance.now();

    limiter.observe(new Headers(openAiExhausted));
    await limiter.run(() => undefined);

    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it("reads the same headers from a plain object, any key case", async () => {
    const limiter = new RateLimiter();
    const t0 = performance.now();

    limiter.observe({ "X-RateLimit-Remaining-Requests": "0", "X-RateLimit-Reset-Requests": "200ms" });
    await limiter.run(() => undefined);

    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it("holds new starts when no tokens remain", async () => {
    const limiter = new RateLimiter();
    const t0 = performance.now();

    limiter.observe({ "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "150ms" });
    await limiter.run(() => undefined);

    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it("holds new starts until Anthropic's RFC 3339 reset time", async () => {
    const limiter = new RateLimiter();
    const resetAt = new Date(Date.now() + 250).toISOString();
    const t0 = performance.now();

    limiter.observe(
      new Headers({ "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": resetAt }),
    );
    await limiter.run(() => undefined);

    expect(performance.now() - t0).toBeGreaterThanOrEqual(200);
  });

  it("never holds while requests remain", async () => {
    const limiter = new RateLimiter();

    limiter.observe({ "x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "6m0s" });
    limiter.observe(
      new Headers({
        "anthropic-ratelimit-requests-remaining": "1",
        "anthropic-ratelimit-requests-reset": new Date(Date.now() + 60_000).toISOString(),
      }),
    );
    const permit = limiter.acquire();

    expect(await settledSoon(permit)).toBe(true);
    (await permit).release();
  });

  it("ignores values that are not headers", async () => {
    const limiter = new RateLimiter();

    limiter.observe(undefined);
    limiter.observe("x-ratelimit-remaining-requests: 0");
    limiter.observe({});

    const permit: Promise<Permit> = limiter.acquire();
    expect(await settledSoon(permit)).toBe(true);
    (await permit).release();
  });
});

describe("RateLimiter with a wait longer than setTimeout's range", () => {
  it("arms one clamped timer instead of spinning when paused for 30 days", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    limiter.pause(30 * 24 * 3600);
    const spy = vi.spyOn(globalThis, "setTimeout");
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });

    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const armed = spy.mock.calls.filter(([, ms]) => typeof ms === "number" && ms > 1_000_000);
    const spins = spy.mock.calls.filter(([, ms]) => ms === 1);
    controller.abort(new Error("done"));
    await expect(waiting).rejects.toThrow("done");
    spy.mockRestore();

    expect(armed.map(([, ms]) => ms)).toEqual([2_147_483_647]);
    expect(spins).toHaveLength(0);
  });
});
