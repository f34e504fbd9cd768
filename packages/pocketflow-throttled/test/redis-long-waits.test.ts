/**
 * Waits longer than setTimeout's limit (~24.8 days) on a RedisLimiter: one
 * clamped timer that re-arms, no polling of Redis, no TimeoutOverflowWarning.
 */
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RedisLimiter, type RedisLimiterOptions } from "../src/limiters/redis/index.js";
import { longTimeout, MAX_TIMER_MS } from "../src/limiters/redis/timer.js";
import { connectOrFail, deleteKeys, isSettled, sleep, uniqueKey } from "./fixtures/redis-helpers.js";

const MONTH_SECONDS = 30 * 86_400;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("longTimeout", () => {
  it("arms one clamped timer for a delay beyond setTimeout's limit and re-arms it until the delay has passed", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const fn = vi.fn();

    longTimeout(fn, MAX_TIMER_MS * 2 + 5);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    const afterFirst = fn.mock.calls.length;
    const timersAfterFirst = vi.getTimerCount();
    vi.advanceTimersByTime(MAX_TIMER_MS);
    const afterSecond = fn.mock.calls.length;
    vi.advanceTimersByTime(10);

    expect(afterFirst).toBe(0);
    expect(timersAfterFirst).toBe(1);
    expect(afterSecond).toBe(0);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("cancels", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const fn = vi.fn();

    const cancel = longTimeout(fn, MAX_TIMER_MS * 3);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    cancel();
    vi.advanceTimersByTime(MAX_TIMER_MS * 3);

    expect(fn).not.toHaveBeenCalled();
  });
});

interface Case {
  options: Omit<RedisLimiterOptions, "redis" | "key">;
  /** Makes the next acquire wait about a month; returns what lets it start. */
  block(l: RedisLimiter): Promise<() => void>;
}

const CASES: Array<[string, Case]> = [
  [
    "a monthly window",
    {
      options: { maxPerWindow: 1, windowSeconds: MONTH_SECONDS },
      block: async (l) => {
        (await l.acquire()).release();
        return () => l.reset();
      },
    },
  ],
  [
    "a month-long pause",
    {
      options: {},
      block: async (l) => {
        l.pause(MONTH_SECONDS);
        return () => l.reset();
      },
    },
  ],
  [
    "a month-long lease under maxWaitSeconds of two months",
    {
      options: { maxConcurrent: 1, leaseSeconds: MONTH_SECONDS, maxWaitSeconds: 2 * MONTH_SECONDS },
      block: async (l) => {
        const held = await l.acquire();
        return () => held.release();
      },
    },
  ],
  [
    "a month-long lease",
    {
      options: { maxConcurrent: 1, leaseSeconds: MONTH_SECONDS },
      block: async (l) => {
        const held = await l.acquire();
        return () => held.release();
      },
    },
  ],
];

describe("RedisLimiter: waits beyond setTimeout's limit", () => {
  let client: Redis | undefined;
  let prefix = "";

  afterEach(async () => {
    if (!client) return;
    await deleteKeys(client, prefix);
    await client.quit();
    client = undefined;
  });

  it.each(CASES)("waits for %s without polling Redis or a TimeoutOverflowWarning, and still wakes on a change", async (_name, c) => {
    client = await connectOrFail();
    prefix = uniqueKey("long-wait");
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    const l = new RedisLimiter({ redis: client, key: prefix, ...c.options });
    try {
      const unblock = await c.block(l);
      await l.flush();
      const evalsha = vi.spyOn(client, "evalsha");

      const waiting = l.acquire();
      await sleep(300); // take, subscribe, take again, then sleep
      const settling = evalsha.mock.calls.length;
      await sleep(1000);
      const whileWaiting = evalsha.mock.calls.length - settling;
      const stillWaiting = !(await isSettled(waiting));
      unblock();
      (await waiting).release();
      await l.flush();

      expect(settling).toBeLessThanOrEqual(3);
      expect(whileWaiting).toBe(0);
      expect(stillWaiting).toBe(true);
      expect(warnings.filter((w) => w.name === "TimeoutOverflowWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      await l.close();
    }
  });
});
