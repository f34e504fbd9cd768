import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LimiterTimeout, RateLimiter, TokenBucket } from "../src/index.js";
import { ZERO_WEIGHT } from "../src/limiters/limiter.js";
import { settledSoon, trackTimers } from "test-support";

/** maxWaitSeconds and LimiterTimeout, abort listeners, long pauses. */

afterEach(() => {
  vi.useRealTimers();
});

/** Collects process warnings emitted while `fn` runs (and one turn after). */
async function warningsDuring(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onWarning = (w: Error) => seen.push(w.name);
  process.on("warning", onWarning);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("warning", onWarning);
  }
  return seen;
}

describe("LimiterTimeout", () => {
  it("is an Error named LimiterTimeout carrying waitSeconds and an optional cause", () => {
    const hint = new Error("429");
    const err = new LimiterTimeout("too long", { waitSeconds: 12, cause: hint });

    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("LimiterTimeout");
    expect(err.waitSeconds).toBe(12);
    expect(err.cause).toBe(hint);
    expect("cause" in new LimiterTimeout("too long", { waitSeconds: 1 })).toBe(false);
  });
});

describe("maxWaitSeconds", () => {
  it("fails at once when a pause already makes the wait longer, with the pause's cause and the wait needed", async () => {
    const limiter = new RateLimiter();
    const hint = new Error("retry in 10 s");
    limiter.pause(10, hint);

    const waiting = limiter.acquire({ maxWaitSeconds: 1 });

    expect(await settledSoon(waiting)).toBe(true);
    const err = (await waiting.catch((e: unknown) => e)) as LimiterTimeout;
    expect(err).toBeInstanceOf(LimiterTimeout);
    expect(err.waitSeconds).toBeGreaterThan(9.9);
    expect(err.cause).toBe(hint);
    expect(limiter.pending).toBe(0);
    expect(limiter.stats.timedOut).toBe(1);
  });

  it("fails at once when a full window already makes the wait longer", async () => {
    const limiter = new RateLimiter({ maxPerWindow: 1, windowSeconds: 60 });
    await limiter.acquire();

    const waiting = limiter.run(() => "never", { maxWaitSeconds: 5 });

    expect(await settledSoon(waiting)).toBe(true);
    await expect(waiting).rejects.toThrow(LimiterTimeout);
    await expect(waiting).rejects.toThrow("maxWaitSeconds 5");
  });

  it("fails a wait for a concurrency slot when maxWaitSeconds runs out, and leaves no timer", async () => {
    vi.useFakeTimers();
    const timers = trackTimers();
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    await limiter.acquire();
    const waiting = limiter.acquire({ maxWaitSeconds: 0.5 });
    const outcome = waiting.catch((e: unknown) => e);

    await vi.advanceTimersByTimeAsync(499);
    const pendingBefore = limiter.pending;
    await vi.advanceTimersByTimeAsync(1);
    timers.restore();

    expect(pendingBefore).toBe(1);
    expect(await outcome).toBeInstanceOf(LimiterTimeout);
    expect(((await outcome) as LimiterTimeout).waitSeconds).toBeGreaterThanOrEqual(0.5);
    expect(limiter.pending).toBe(0);
    expect(timers.pending()).toBe(0);
  });

  it("uses the limiter's maxWaitSeconds for acquires without their own; an acquire's own wins", async () => {
    const limiter = new RateLimiter({ maxWaitSeconds: 1 });
    limiter.pause(5);

    const byDefault = limiter.acquire();
    const own = limiter.acquire({ maxWaitSeconds: 10 });

    await expect(byDefault).rejects.toThrow(LimiterTimeout);
    expect(await settledSoon(own)).toBe(false);
    limiter.reset();
    await own;
  });

  it("fails waiters at once when a later pause ends after their deadline, the one behind the head included", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    limiter.pause(0.05);
    const head = limiter.acquire({ maxWaitSeconds: 1 });
    const behind = limiter.acquire({ maxWaitSeconds: 2 });
    const patient = limiter.acquire({ maxWaitSeconds: 60 });
    const waitedBefore = !(await settledSoon(head));

    limiter.pause(10);

    expect(waitedBefore).toBe(true);
    await expect(head).rejects.toThrow(LimiterTimeout);
    await expect(behind).rejects.toThrow(LimiterTimeout);
    expect(await settledSoon(patient)).toBe(false);
    limiter.reset();
    await patient;
  });

  it("lets a start that makes its deadline run, and clears its deadline timer", async () => {
    const timers = trackTimers();
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const held = await limiter.acquire();
    const waiting = limiter.acquire({ maxWaitSeconds: 30 });

    held.release();
    (await waiting).release();
    timers.restore();

    expect(timers.created()).toBe(1);
    expect(timers.pending()).toBe(0);
  });

  it("arms one clamped timer for a 1e9-second bound, with no TimeoutOverflowWarning", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    await limiter.acquire();
    const timers = trackTimers();
    let waiting: Promise<unknown> = Promise.resolve();
    const warnings = await warningsDuring(async () => {
      waiting = limiter.acquire({ maxWaitSeconds: 1e9 });
      await settledSoon(waiting);
    });
    const live = timers.pending();
    limiter.setConcurrency(2);
    await waiting;
    timers.restore();

    expect(warnings).toEqual([]);
    expect(live).toBe(1);
    expect(timers.pending()).toBe(0);
  });

  it("works on a TokenBucket too", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 0.01, burst: 1 });
    await bucket.acquire();

    await expect(bucket.acquire({ maxWaitSeconds: 1 })).rejects.toThrow(LimiterTimeout);
  });

  it("is honoured by the gate's waitStart, given in milliseconds", async () => {
    const limiter = new RateLimiter();
    limiter.pause(10);

    await expect(limiter.gate.waitStart(ZERO_WEIGHT, undefined, 1000)).rejects.toThrow(LimiterTimeout);
  });
});

describe("abort listeners", () => {
  it("11 acquires sharing one signal add one abort listener and print no MaxListenersExceededWarning", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const held = await limiter.acquire();
    const controller = new AbortController();
    const reason = new Error("stop");
    let waits: Promise<unknown>[] = [];

    const warnings = await warningsDuring(async () => {
      waits = Array.from({ length: 11 }, () => limiter.acquire({ signal: controller.signal }).catch((e: unknown) => e));
    });
    const listeners = getEventListeners(controller.signal, "abort").length;
    controller.abort(reason);
    const outcomes = await Promise.all(waits);

    expect(warnings).toEqual([]);
    expect(listeners).toBe(1);
    expect(outcomes.every((o) => o === reason)).toBe(true);
    expect(limiter.pending).toBe(0);
    expect(limiter.stats.aborted).toBe(11);
    held.release();
  });

  it("removes the shared listener when the last waiter on the signal leaves by being granted", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const held = await limiter.acquire();
    const controller = new AbortController();
    const a = limiter.acquire({ signal: controller.signal });
    const b = limiter.acquire({ signal: controller.signal });
    await settledSoon(a);
    const during = getEventListeners(controller.signal, "abort").length;

    held.release();
    (await a).release();
    (await b).release();

    expect(during).toBe(1);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });
});

describe("pause bounds", () => {
  it.each([Number.POSITIVE_INFINITY, Number.NaN, -1])("rejects pause(%s) with a RangeError naming pause(seconds)", (seconds) => {
    const limiter = new RateLimiter();

    expect(() => limiter.pause(seconds)).toThrow(RangeError);
    expect(() => limiter.pause(seconds)).toThrow("pause(seconds)");
  });

  it("a pause(1e9) arms one clamped timer for a waiter and prints no TimeoutOverflowWarning", async () => {
    const limiter = new RateLimiter();
    const controller = new AbortController();
    const timers = trackTimers();
    let waiting: Promise<unknown> = Promise.resolve();

    const warnings = await warningsDuring(async () => {
      limiter.pause(1e9);
      waiting = limiter.acquire({ signal: controller.signal }).catch((e: unknown) => e);
      await settledSoon(waiting);
    });
    const live = timers.pending();
    controller.abort(new Error("done"));
    await waiting;
    timers.restore();

    expect(warnings).toEqual([]);
    expect(live).toBe(1);
    expect(timers.pending()).toBe(0);
  });
});
