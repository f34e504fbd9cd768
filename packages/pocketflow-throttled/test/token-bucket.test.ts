import { describe, expect, it } from "vitest";
import { TokenBucket } from "../src/index.js";
import { deferred, flush, settledSoon, trackTimers } from "test-support";

/** Runs `count` instant jobs and returns when each started, in ms since the call. */
async function startTimes(bucket: TokenBucket, count: number, tokens?: number): Promise<number[]> {
  const t0 = performance.now();
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: count }, () =>
      bucket.run(
        () => {
          times.push(performance.now() - t0);
        },
        tokens === undefined ? {} : { tokens },
      ),
    ),
  );
  return times;
}

describe("TokenBucket options", () => {
  it("defaults burst to one second's worth of starts and maxConcurrent to 5", () => {
    const bucket = new TokenBucket({ ratePerSecond: 10 });

    expect(bucket.ratePerSecond).toBe(10);
    expect(bucket.burst).toBe(10);
    expect(bucket.maxConcurrent).toBe(5);
  });

  it("defaults burst to at least 1 for slow rates", () => {
    expect(new TokenBucket({ ratePerSecond: 0.5 }).burst).toBe(1);
  });

  it("keeps the given values", () => {
    const bucket = new TokenBucket({ ratePerSecond: 2.5, burst: 20, maxConcurrent: 8 });

    expect(bucket.ratePerSecond).toBe(2.5);
    expect(bucket.burst).toBe(20);
    expect(bucket.maxConcurrent).toBe(8);
  });

  it.each([
    ["ratePerSecond", { ratePerSecond: 0 }],
    ["ratePerSecond", { ratePerSecond: -1 }],
    ["ratePerSecond", { ratePerSecond: Number.POSITIVE_INFINITY }],
    ["burst", { ratePerSecond: 10, burst: 0 }],
    ["burst", { ratePerSecond: 10, burst: 2.5 }],
    ["maxConcurrent", { ratePerSecond: 10, maxConcurrent: 0 }],
  ])("rejects a bad %s with a RangeError naming it (%o)", (name, options) => {
    expect(() => new TokenBucket(options)).toThrow(RangeError);
    expect(() => new TokenBucket(options)).toThrow(name);
  });

  it("rejects a misspelt option with a TypeError naming it", () => {
    expect(() => new TokenBucket({ ratePerSecond: 1, brust: 3 } as never)).toThrow(TypeError);
    expect(() => new TokenBucket({ ratePerSecond: 1, brust: 3 } as never)).toThrow('"brust"');
  });

  it("rejects a missing or non-numeric ratePerSecond with a TypeError naming it", () => {
    expect(() => new TokenBucket({} as never)).toThrow(TypeError);
    expect(() => new TokenBucket({ ratePerSecond: "10" } as never)).toThrow("ratePerSecond");
    expect(() => new TokenBucket(undefined as never)).toThrow("ratePerSecond");
  });
});

describe("TokenBucket rate", () => {
  it("starts a burst at once, then one start per 1/ratePerSecond", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 20, burst: 3, maxConcurrent: 10 });

    const times = await startTimes(bucket, 6);

    // The burst: three starts at once.
    expect(Math.max(...times.slice(0, 3))).toBeLessThan(30);
    // Then the bucket refills one start per 50 ms.
    expect(times[3]).toBeGreaterThanOrEqual(45);
    expect(times[4]).toBeGreaterThanOrEqual(95);
    expect(times[5]).toBeGreaterThanOrEqual(145);
  });

  it("counts starts, not tokens: a large token estimate takes one start", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 0.1, burst: 2, maxConcurrent: 10 });

    const first = await bucket.acquire({ tokens: 1_000_000 });
    expect(bucket.available).toBe(1);
    const second = await bucket.acquire({ tokens: 1_000_000 });
    expect(bucket.available).toBe(0);

    expect(first.tokens).toBe(1_000_000);
    first.settle(5);
    second.release();
    first.release();
  });

  it("holds the next start once the bucket is empty, until it refills", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 0.1, burst: 1 });
    (await bucket.acquire()).release();

    const waiting = bucket.acquire();

    expect(await settledSoon(waiting)).toBe(false);
    expect(bucket.pending).toBe(1);
    bucket.reset();
    expect(await settledSoon(waiting)).toBe(true);
    (await waiting).release();
  });

  it("reset() refills the bucket", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 0.1, burst: 3 });
    await startTimes(bucket, 3);
    expect(bucket.available).toBe(0);

    bucket.reset();

    expect(bucket.available).toBe(3);
  });

  it("leaves no timer behind once the queue has emptied", async () => {
    const timers = trackTimers();
    const bucket = new TokenBucket({ ratePerSecond: 50, burst: 1 });

    await startTimes(bucket, 4);
    timers.restore();

    expect(timers.pending()).toBe(0);
  });
});

describe("TokenBucket concurrency gate", () => {
  it("never runs more than maxConcurrent at once, whatever the bucket holds", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 100, maxConcurrent: 2 });
    const gates = [deferred(), deferred(), deferred(), deferred()];
    let running = 0;
    let peak = 0;
    const done = gates.map((gate) =>
      bucket.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await gate.promise;
        running--;
      }),
    );
    await flush();

    expect(bucket.active).toBe(2);
    expect(bucket.pending).toBe(2);
    for (const gate of gates) gate.resolve();
    await Promise.all(done);
    expect(peak).toBe(2);
  });

  it("serves waiters first come, first served", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 100, burst: 1, maxConcurrent: 10 });
    const order: number[] = [];

    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        bucket.run(() => {
          order.push(i);
        }),
      ),
    );

    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it("setConcurrency(n) changes the gate live", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 100, maxConcurrent: 1 });
    const held = await bucket.acquire();
    const waiting = bucket.acquire();
    expect(await settledSoon(waiting)).toBe(false);

    bucket.setConcurrency(2);

    expect(await settledSoon(waiting)).toBe(true);
    held.release();
    (await waiting).release();
  });

  it("pause(seconds) holds new starts with tokens in the bucket", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 100 });
    bucket.pause(60);

    const waiting = bucket.acquire();

    expect(await settledSoon(waiting)).toBe(false);
    bucket.reset();
    (await waiting).release();
  });
});
