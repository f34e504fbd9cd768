/**
 * RedisLimiter against the real local Redis (127.0.0.1:6379): two limiters
 * with their own connections stand in for two processes. These tests fail,
 * never skip, when Redis does not answer.
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deferred, delay as sleep } from "test-support";
import { LimiterRegistry } from "../src/registry.js";
import { RedisLimiter, type RedisLimiterOptions } from "../src/limiters/redis/index.js";
import {
  connectOrFail,
  deleteKeys,
  isSettled,
  maxOverlap,
  maxStartsInAnyWindow,
  REDIS_URL,
  uniqueKey,
} from "./fixtures/redis-helpers.js";

let admin: Redis;
let prefix: string;
const opened: RedisLimiter[] = [];

beforeAll(async () => {
  admin = await connectOrFail();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
  await deleteKeys(admin, prefix);
});

afterAll(async () => {
  await admin?.quit();
});

/** A limiter with its own connection to the local Redis, closed after the test. */
function limiter(options: Omit<RedisLimiterOptions, "redis" | "key"> & { key?: string }): RedisLimiter {
  const l = new RedisLimiter({ redis: REDIS_URL, key: prefix, ...options });
  opened.push(l);
  return l;
}

function startedAt(permit: unknown): number {
  return (permit as { startedAt: number }).startedAt;
}

describe("timeline helpers used by these tests", () => {
  it("maxStartsInAnyWindow counts a half-open window: a start exactly windowMs later is in the next one", () => {
    expect(maxStartsInAnyWindow([0, 100, 500, 600], 500)).toBe(2);
  });

  it("maxOverlap lets an interval end and another start at the same instant", () => {
    expect(maxOverlap([[0, 10], [10, 20], [5, 15]])).toBe(2);
  });

  it("isSettled tells a settled promise from a pending one", async () => {
    expect(await isSettled(Promise.resolve(1))).toBe(true);
    expect(await isSettled(Promise.reject(new Error("x")))).toBe(true);
    expect(await isSettled(new Promise(() => undefined))).toBe(false);
  });
});

describe("RedisLimiter: concurrency shared through Redis", () => {
  it("grants no more than maxConcurrent between two limiters on one key, and wakes the other on release", async () => {
    prefix = uniqueKey("concurrency");
    const a = limiter({ maxConcurrent: 3 });
    const b = limiter({ maxConcurrent: 3 });
    const a1 = await a.acquire();
    await a.acquire();
    await b.acquire();

    const fourth = b.acquire();
    await sleep(200);
    const blockedWhileFull = await isSettled(fourth);
    const releasedAt = performance.now();
    a1.release();
    await fourth;

    expect(blockedWhileFull).toBe(false);
    expect(performance.now() - releasedAt).toBeLessThan(1000); // pub/sub wake-up, not the 30 s lease expiry
  });

  it("keeps running jobs at or under maxConcurrent across two limiters under load", async () => {
    prefix = uniqueKey("load");
    const a = limiter({ maxConcurrent: 3 });
    const b = limiter({ maxConcurrent: 3 });
    const intervals: Array<[number, number]> = [];
    const job = (l: RedisLimiter) =>
      l.run(async () => {
        const start = performance.now();
        await sleep(5);
        intervals.push([start, performance.now()]);
      });

    await Promise.all(Array.from({ length: 30 }, (_, i) => job(i % 2 === 0 ? a : b)));

    expect(intervals).toHaveLength(30);
    expect(maxOverlap(intervals)).toBeLessThanOrEqual(3);
  });

  it("serves waiters of one process first come, first served", async () => {
    prefix = uniqueKey("fifo");
    const l = limiter({ maxConcurrent: 1 });
    const order: number[] = [];
    const first = await l.acquire();
    const waiters = [1, 2, 3].map((n) =>
      l.acquire().then((permit) => {
        order.push(n);
        permit.release();
      }),
    );

    first.release();
    await Promise.all(waiters);

    expect(order).toEqual([1, 2, 3]);
  });

  it("releases idempotently and through await using", async () => {
    prefix = uniqueKey("dispose");
    const l = limiter({ maxConcurrent: 2 });
    {
      await using _permit = await l.acquire();
      expect((await l.inspect()).active).toBe(1);
    }
    const permit = await l.acquire();
    permit.release();
    permit.release();
    await l.flush();

    expect((await l.inspect()).active).toBe(0);
    expect(l.active).toBe(0);
  });

  it("run returns the function's result and frees the slot when it throws", async () => {
    prefix = uniqueKey("run");
    const l = limiter({ maxConcurrent: 1 });

    const value = await l.run(() => 42);
    const failure = l.run(() => {
      throw new Error("boom");
    });
    await expect(failure).rejects.toThrow("boom");
    await l.flush();

    expect(value).toBe(42);
    expect((await l.inspect()).active).toBe(0);
  });

  it("renews a long job's lease so nobody else gets its slot", async () => {
    prefix = uniqueKey("renew");
    const holder = limiter({ maxConcurrent: 1, leaseSeconds: 0.3 });
    const other = limiter({ maxConcurrent: 1, leaseSeconds: 0.3 });
    const permit = await holder.acquire();

    const waiting = other.acquire();
    await sleep(1000); // more than three lease lengths
    const stillBlocked = !(await isSettled(waiting));
    permit.release();
    (await waiting).release();

    expect(stillBlocked).toBe(true);
    expect(holder.stats.leasesLost).toBe(0);
  });

  it("counts a lease that lapsed while its job ran (the process stalled past leaseSeconds) in stats.leasesLost", async () => {
    prefix = uniqueKey("lost");
    const l = limiter({ maxConcurrent: 1, leaseSeconds: 0.2 });
    const permit = await l.acquire();

    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600); // blocks the event loop: no renewal
    permit.release();
    await l.flush();

    expect(l.stats.leasesLost).toBe(1);
  });
});

describe("RedisLimiter: sliding window shared through Redis", () => {
  it("never lets two limiters together start more than maxPerWindow in any window (Redis clock)", async () => {
    prefix = uniqueKey("window");
    const a = limiter({ maxConcurrent: 10, maxPerWindow: 5, windowSeconds: 0.5 });
    const b = limiter({ maxConcurrent: 10, maxPerWindow: 5, windowSeconds: 0.5 });

    const starts: number[] = [];
    await Promise.all(
      Array.from({ length: 15 }, async (_, i) => {
        const permit = await (i % 2 === 0 ? a : b).acquire();
        starts.push(startedAt(permit));
        permit.release();
      }),
    );

    expect(starts).toHaveLength(15);
    expect(maxStartsInAnyWindow(starts, 500)).toBeLessThanOrEqual(5);
  });

  it("spaces the 11th start a full two windows after the 1st", async () => {
    prefix = uniqueKey("spacing");
    const a = limiter({ maxConcurrent: 10, maxPerWindow: 5, windowSeconds: 0.3 });
    const b = limiter({ maxConcurrent: 10, maxPerWindow: 5, windowSeconds: 0.3 });
    const starts: number[] = [];

    await Promise.all(
      Array.from({ length: 11 }, async (_, i) => {
        const permit = await (i % 2 === 0 ? a : b).acquire();
        starts.push(startedAt(permit));
        permit.release();
      }),
    );

    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(600);
  });

  it("reset() lets a process waiting only on the window start at once", async () => {
    prefix = uniqueKey("reset");
    const a = limiter({ maxConcurrent: 5, maxPerWindow: 1, windowSeconds: 60 });
    const b = limiter({ maxConcurrent: 5, maxPerWindow: 1, windowSeconds: 60 });
    (await a.acquire()).release();
    const waiting = b.acquire();
    await sleep(100);

    a.reset();

    await waiting; // would otherwise wait 60 s
    expect((await a.inspect()).windowCount).toBe(1);
  });
});

describe("RedisLimiter: token window and settle", () => {
  it("admits a waiter of another process as soon as a refund makes room", async () => {
    prefix = uniqueKey("refund");
    const a = limiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 5 });
    const b = limiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 5 });
    const first = await a.acquire({ tokens: 60 });
    const second = b.acquire({ tokens: 60 });
    await sleep(100);
    const heldBack = !(await isSettled(second));

    first.settle(20);
    await second;

    expect(heldBack).toBe(true);
    expect((await a.inspect()).windowTokens).toBe(80);
  });

  it("allows a window whose tokens sum exactly to the limit", async () => {
    prefix = uniqueKey("exact");
    const a = limiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 5 });
    const b = limiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 5 });

    await a.acquire({ tokens: 40 });
    await b.acquire({ tokens: 60 });

    expect((await a.inspect()).windowTokens).toBe(100);
  });

  it("holds later starts back after a settle charge until the charged start leaves the window", async () => {
    prefix = uniqueKey("charge");
    const a = limiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 0.4 });
    const b = limiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 0.4 });
    const first = await a.acquire({ tokens: 10 });
    first.settle(100);
    await a.flush();

    const second = await b.acquire({ tokens: 1 });

    expect(startedAt(second) - startedAt(first)).toBeGreaterThanOrEqual(400);
  });

  it("rejects a request above maxTokensPerWindow with a RangeError naming it", async () => {
    prefix = uniqueKey("oversize");
    const l = limiter({ maxTokensPerWindow: 100 });

    await expect(l.acquire({ tokens: 101 })).rejects.toThrow(RangeError);
    await expect(l.acquire({ tokens: 101 })).rejects.toThrow(/maxTokensPerWindow 100/);
  });
});

describe("RedisLimiter: keys, stored limits, shared settings", () => {
  it("keeps two keys independent", async () => {
    prefix = uniqueKey("keys");
    const one = limiter({ key: `${prefix}:one`, maxConcurrent: 1, maxPerWindow: 1 });
    const two = limiter({ key: `${prefix}:two`, maxConcurrent: 1, maxPerWindow: 1 });
    await one.acquire();

    const fromTheOtherKey = await Promise.race([two.acquire().then(() => "granted"), sleep(1000).then(() => "blocked")]);

    expect(fromTheOtherKey).toBe("granted");
  });

  it("rejects a process whose limits differ from those stored with the key, naming both", async () => {
    prefix = uniqueKey("mismatch");
    await limiter({ maxConcurrent: 2, maxPerWindow: 10, windowSeconds: 1 }).acquire();
    const other = limiter({ maxConcurrent: 2, maxPerWindow: 20, windowSeconds: 1 });

    const attempt = other.acquire();

    await expect(attempt).rejects.toThrow(/maxPerWindow: 20.*differ from the limits stored in Redis.*maxPerWindow: 10/);
  });

  it("applies setConcurrency from one process to the others", async () => {
    prefix = uniqueKey("setconcurrency");
    const a = limiter({ maxConcurrent: 1 });
    const b = limiter({ maxConcurrent: 1 });
    await a.acquire();

    b.setConcurrency(2);
    await b.flush();
    await a.acquire();

    expect(a.maxConcurrent).toBe(2);
    expect((await a.inspect()).active).toBe(2);
  });

  it("accepts a process created with the original limits after setConcurrency changed the live value", async () => {
    prefix = uniqueKey("declared");
    const a = limiter({ maxConcurrent: 4 });
    a.setConcurrency(1);
    await a.flush();

    const late = limiter({ maxConcurrent: 4 });
    await late.acquire();

    expect(late.maxConcurrent).toBe(1);
  });

  it("pauses every process when one calls pause", async () => {
    prefix = uniqueKey("pause");
    const a = limiter({ maxConcurrent: 5 });
    const b = limiter({ maxConcurrent: 5 });
    b.pause(0.4);
    await b.flush();

    const before = performance.now();
    await a.acquire();

    expect(performance.now() - before).toBeGreaterThanOrEqual(300);
  });

  it("pauses every process when one observes headers saying no requests remain", async () => {
    prefix = uniqueKey("observe");
    const a = limiter({ maxConcurrent: 5 });
    const b = limiter({ maxConcurrent: 5 });
    b.observe({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "400ms" });
    await b.flush();

    const before = performance.now();
    await a.acquire();

    expect(performance.now() - before).toBeGreaterThanOrEqual(300);
  });

  it("does not pause when the headers say requests remain", async () => {
    prefix = uniqueKey("observe-remaining");
    const l = limiter({ maxConcurrent: 5 });

    l.observe({ "x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "10s" });
    await l.flush();

    expect((await l.inspect()).pausedMs).toBe(0);
  });
});

describe("RedisLimiter: aborts", () => {
  it("rejects a waiting acquisition with exactly signal.reason and leaves the queue", async () => {
    prefix = uniqueKey("abort");
    const l = limiter({ maxConcurrent: 1 });
    await l.acquire();
    const controller = new AbortController();
    const reason = new Error("stop waiting");
    const waiting = l.acquire({ signal: controller.signal });
    await sleep(50);

    controller.abort(reason);

    await expect(waiting).rejects.toBe(reason);
    expect(l.pending).toBe(0);
    expect(l.stats.aborted).toBe(1);
  });

  it("gives the lease back when aborted after the store granted it, keeping its start in the window", async () => {
    prefix = uniqueKey("abort-granted");
    const l = limiter({ maxConcurrent: 1, maxPerWindow: 10 });
    await l.inspect(); // connected, so the take below is on the wire before the abort
    const controller = new AbortController();

    const attempt = l.acquire({ signal: controller.signal });
    controller.abort("late");
    await expect(attempt).rejects.toBe("late");
    await l.flush();

    const state = await l.inspect();
    expect(state.active).toBe(0);
    expect(state.windowCount).toBe(1);
  });

  it("rejects at once for a signal that is already aborted", async () => {
    prefix = uniqueKey("aborted");
    const l = limiter({});

    await expect(l.acquire({ signal: AbortSignal.abort("already") })).rejects.toBe("already");
  });
});

describe("RedisLimiter: construction, registry, client, close", () => {
  it.each([
    ["maxConcurrent", { maxConcurrent: 0 }],
    ["maxPerWindow", { maxPerWindow: 0 }],
    ["windowSeconds", { windowSeconds: 0 }],
    ["leaseSeconds", { leaseSeconds: 0 }],
    ["maxTokensPerWindow", { maxTokensPerWindow: 0 }],
  ])("throws a RangeError naming %s", (name, options) => {
    expect(() => new RedisLimiter({ redis: REDIS_URL, key: "k", ...options })).toThrow(new RegExp(name));
  });

  it.each([
    ["maxPerMinute", { maxPerMinute: 60 }, /has no option "maxPerMinute" \(use maxPerWindow with windowSeconds: 60\)/],
    ["maxConcurent", { maxConcurent: 1 }, /has no option "maxConcurent"; known options: redis, key, maxConcurrent/],
  ])("throws a TypeError naming the unknown option %s instead of ignoring it", (_name, options, message) => {
    const create = () => new RedisLimiter({ redis: REDIS_URL, key: "k", ...options } as unknown as RedisLimiterOptions);

    expect(create).toThrow(TypeError);
    expect(create).toThrow(message);
  });

  it("throws at construction for a redis string that is not a Redis URL, naming the option and quoting the value", () => {
    const create = () => new RedisLimiter({ redis: "not a url", key: "k" });

    expect(create).toThrow(TypeError);
    expect(create).toThrow(/redis must be a Redis URL.*got "not a url"/);
  });

  it.each([
    ["storeTimeoutMs", { storeTimeoutMs: 3e9 }, /storeTimeoutMs must be between 1 and 60000, got 3000000000/],
    ["storeTimeoutMs", { storeTimeoutMs: 0.5 }, /storeTimeoutMs must be between 1 and 60000, got 0.5/],
    ["leaseSeconds", { leaseSeconds: 0.005 }, /leaseSeconds must be between 0.1 and 1000000000, got 0.005/],
    ["leaseSeconds", { leaseSeconds: 1e12 }, /leaseSeconds must be between 0.1 and 1000000000/],
  ])("throws a RangeError for %s outside its bounds", (_name, options, message) => {
    const create = () => new RedisLimiter({ redis: REDIS_URL, key: "k", ...options });

    expect(create).toThrow(RangeError);
    expect(create).toThrow(message);
  });

  it("throws for an onStoreError other than error or local", () => {
    const options = { redis: REDIS_URL, key: "k", onStoreError: "retry" } as unknown as RedisLimiterOptions;

    expect(() => new RedisLimiter(options)).toThrow(/onStoreError/);
  });

  it("is created by LimiterRegistry.register with redis, under pocketflow:limiter:<name> by default", async () => {
    const name = `test-${uniqueKey("registry").split(":").pop()}`;
    prefix = `pocketflow:limiter:${name}`;
    const registered = LimiterRegistry.register(name, { redis: REDIS_URL, maxConcurrent: 2, maxPerWindow: 7 });
    opened.push(registered as RedisLimiter);

    await registered.run(() => undefined);

    expect(registered).toBeInstanceOf(RedisLimiter);
    expect(await admin.hget(`${prefix}:config`, "windows")).toBe("60:R:7:0"); // scripts/layout.ts: seconds:kind:limit:share
    expect(LimiterRegistry.listAll()[name]).toEqual({ maxConcurrent: 2, maxPerWindow: 7, windowSeconds: 60 });
    LimiterRegistry.remove(name);
  });

  it("uses a given ioredis client and leaves it open on close", async () => {
    prefix = uniqueKey("client");
    const client = await connectOrFail();
    const l = new RedisLimiter({ redis: client, key: prefix, maxConcurrent: 1 });

    await l.run(() => undefined);
    await l.close();

    expect(l.store).toBe("127.0.0.1:6379");
    expect(await client.ping()).toBe("PONG");
    await client.quit();
  });

  it("rejects waiters when closed", async () => {
    prefix = uniqueKey("close");
    const l = limiter({ maxConcurrent: 1 });
    await l.acquire();
    const outcome = l.acquire().catch((error: unknown) => error);
    await sleep(50);

    await l.close();

    expect(await outcome).toBeInstanceOf(Error);
    expect(String(await outcome)).toMatch(/closed/);
  });

  it("gives back a grant that arrives after close: five limiters closed mid-take leave no lease on the key", async () => {
    prefix = uniqueKey("close-inflight");
    const outcomes: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const l = new RedisLimiter({ redis: REDIS_URL, key: prefix, maxConcurrent: 5 });
      await l.inspect(); // connected, so the take below is on the wire when close() is called
      const attempt = l.acquire().catch((error: unknown) => error);
      await l.close();
      outcomes.push(await attempt);
    }

    expect(outcomes.every((o) => o instanceof Error && /closed/.test(o.message))).toBe(true);
    expect(await admin.zcard(`${prefix}:leases`)).toBe(0);
    const next = limiter({ maxConcurrent: 5 });
    await Promise.all(Array.from({ length: 5 }, () => next.acquire())); // all five slots free
  });

  it("exposes the Limiter interface's window members and leaves gate undefined", () => {
    prefix = uniqueKey("interface");
    const l = limiter({ maxPerWindow: 7, windowSeconds: 30, maxTokensPerWindow: 900 });

    expect([l.maxPerWindow, l.windowSeconds, l.maxTokensPerWindow]).toEqual([7, 30, 900]);
    expect((l as { gate?: unknown }).gate).toBeUndefined();
    expect(typeof l.close).toBe("function");
  });

  it("reports LimiterStats counters plus leasesLost", async () => {
    prefix = uniqueKey("stats");
    const l = limiter({ maxConcurrent: 1 });
    const first = await l.acquire();
    const gate = deferred();
    const second = l.acquire().then((p) => {
      gate.resolve();
      return p;
    });
    await sleep(50);
    first.release();
    await gate.promise;
    (await second).release();

    expect(l.stats).toMatchObject({ acquired: 2, throttled: 1, aborted: 0, active: 0, pending: 0, leasesLost: 0 });
    expect(l.stats.totalWaitMs).toBeGreaterThan(0);
  });
});
