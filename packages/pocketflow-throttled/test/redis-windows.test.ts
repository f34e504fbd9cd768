/**
 * RedisLimiter with several windows, weights, bounded waits and learned
 * limits, against the real local Redis (127.0.0.1:6379). Two limiters with
 * their own connections stand in for two processes (the multi-process test
 * runs real ones).
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LimiterTimeout } from "../src/errors.js";
import { RedisLimiter, type RedisLimiterOptions } from "../src/limiters/redis/index.js";
import { LimiterRegistry } from "../src/registry.js";
import { connectOrFail, deleteKeys, isSettled, REDIS_URL, sleep, uniqueKey } from "./fixtures/redis-helpers.js";

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

function limiter(options: Omit<RedisLimiterOptions, "redis" | "key"> = {}): RedisLimiter {
  const l = new RedisLimiter({ redis: REDIS_URL, key: prefix, ...options });
  opened.push(l);
  return l;
}

async function startOf(l: RedisLimiter, options?: Parameters<RedisLimiter["acquire"]>[0]): Promise<number> {
  const permit = await l.acquire(options);
  permit.release();
  return permit.startedAt as number;
}

describe("RedisLimiter: several windows at once", () => {
  it("checks every window for two limiters on one key: with 2 per 0.3 s and 3 per 1 s the 4th start waits for the 1 s window", async () => {
    prefix = uniqueKey("windows-two");
    const windows = [
      { seconds: 0.3, maxRequests: 2 },
      { seconds: 1, maxRequests: 3 },
    ];
    const a = limiter({ windows });
    const b = limiter({ windows });

    const first = await startOf(a);
    const second = await startOf(b);
    const third = await startOf(a);
    const fourth = await startOf(b);

    expect(second - first).toBeLessThan(300);
    expect(third - first).toBeGreaterThanOrEqual(350); // 0.3 s + the 0.05 s arrival margin
    expect(fourth - first).toBeGreaterThanOrEqual(1050);
  });

  it("reads the windows in force, the shorthand as one more window", () => {
    prefix = uniqueKey("windows-read");
    const l = limiter({ maxPerWindow: 100, windowSeconds: 60, windows: [{ seconds: 1, maxRequests: 3, maxInputTokens: 900 }] });

    expect(l.windows).toEqual([
      { seconds: 60, maxRequests: 100 },
      { seconds: 1, maxRequests: 3, maxInputTokens: 900 },
    ]);
    expect(l.maxPerWindow).toBe(100);
  });

  it("rejects a process whose windows differ from those stored with the key, naming both", async () => {
    prefix = uniqueKey("windows-mismatch");
    await startOf(limiter({ windows: [{ seconds: 1, maxRequests: 3 }] }));
    const other = limiter({ windows: [{ seconds: 1, maxRequests: 4 }] });

    await expect(other.acquire()).rejects.toThrow(/maxRequests: 4 \}\].*differ from the limits stored in Redis.*maxRequests: 3 \}\]/);
  });

  it("is registered from { redis, windows, arrivalMarginSeconds, maxWaitSeconds, learnLimits }, as a RateLimiter is from the same options", async () => {
    prefix = uniqueKey("windows-registry");
    const options = { windows: [{ seconds: 2, maxRequests: 5 }], arrivalMarginSeconds: 0.1, maxWaitSeconds: 30, learnLimits: true };
    const shared = LimiterRegistry.register(`redis-${prefix}`, { redis: REDIS_URL, key: prefix, ...options }) as RedisLimiter;
    const local = LimiterRegistry.register(`local-${prefix}`, options);
    try {
      expect(shared).toBeInstanceOf(RedisLimiter);
      expect([shared.windows, shared.arrivalMarginSeconds, shared.learnLimits]).toEqual([[{ seconds: 2, maxRequests: 5 }], 0.1, true]);
      expect(local.windows).toEqual([{ seconds: 2, maxRequests: 5 }]);
    } finally {
      LimiterRegistry.remove(`redis-${prefix}`);
      LimiterRegistry.remove(`local-${prefix}`);
    }
  });
});

describe("RedisLimiter: input and output token weights", () => {
  it("rejects a request above a window's limit of its kind with a RangeError naming that window", async () => {
    prefix = uniqueKey("weights-range");
    const l = limiter({ windows: [{ seconds: 60, maxRequests: 50, maxInputTokens: 1000, maxOutputTokens: 200 }] });

    await expect(l.acquire({ inputTokens: 1001 })).rejects.toThrow(RangeError);
    await expect(l.acquire({ outputTokens: 300 })).rejects.toThrow(/300 output tokens can never start under the 60 s window's maxOutputTokens 200/);
    await expect(l.run(() => 1, { inputTokens: 5000 })).rejects.toThrow(/60 s window's maxInputTokens 1000/);
  });

  it("rejects wrong types with a TypeError quoting the value", async () => {
    prefix = uniqueKey("weights-types");
    const l = limiter({ windows: [{ seconds: 1, maxTokens: 100 }] });

    await expect(l.acquire({ signal: "x" } as never)).rejects.toThrow(/signal must be an AbortSignal, got string "x"/);
    await expect(l.acquire({ tokens: "5" } as never)).rejects.toThrow(TypeError);
    await expect(l.acquire({ tokens: "5" } as never)).rejects.toThrow(/tokens must be a number, got string "5"/);
    await expect(l.run(() => 1, { maxWaitSeconds: "1" } as never)).rejects.toThrow(/maxWaitSeconds must be a number, got string "1"/);
    const permit = await l.acquire({ tokens: 10 });
    expect(() => permit.settle({ outputTokens: "3" } as never)).toThrow(/settle outputTokens must be a number, got string "3"/);
  });

  it("counts input and output tokens apart: a refund of output tokens by settle lets another process's waiter start at once", async () => {
    prefix = uniqueKey("weights-refund");
    const windows = [{ seconds: 30, maxInputTokens: 1000, maxOutputTokens: 100 }];
    const a = limiter({ windows });
    const b = limiter({ windows });
    const held = await a.acquire({ inputTokens: 100, outputTokens: 80 });

    const waiting = b.acquire({ inputTokens: 100, outputTokens: 50 });
    await sleep(300);
    const blocked = !(await isSettled(waiting));
    held.settle({ outputTokens: 20 });
    const granted = await waiting;

    expect(blocked).toBe(true);
    expect(granted.tokens).toBe(150); // tokens defaults to inputTokens + outputTokens
    await a.flush();
    expect(await a.inspect()).toMatchObject({ windowCount: 2, windowTokens: 120 + 150 }); // the settled start: 100 input + 20 output
  });

  it("takes tokens as the total for maxTokens windows, and a number in settle as the total", async () => {
    prefix = uniqueKey("weights-total");
    const windows = [{ seconds: 30, maxTokens: 100 }];
    const a = limiter({ windows });
    const b = limiter({ windows });
    const held = await a.acquire({ inputTokens: 60, outputTokens: 30 });

    const waiting = b.acquire({ tokens: 20 });
    await sleep(300);
    const blocked = !(await isSettled(waiting));
    held.settle(70);
    await waiting;

    expect(blocked).toBe(true);
  });
});

describe("RedisLimiter: bounded waits", () => {
  it("fails at once with LimiterTimeout when a full window makes the wait longer than maxWaitSeconds", async () => {
    prefix = uniqueKey("wait-window");
    const l = limiter({ windows: [{ seconds: 20, maxRequests: 1 }] });
    await startOf(l);

    const began = performance.now();
    const error = await l.acquire({ maxWaitSeconds: 5 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LimiterTimeout);
    expect((error as LimiterTimeout).waitSeconds).toBeGreaterThan(19);
    expect(performance.now() - began).toBeLessThan(4000); // long before the 5 s bound: it knew at once
    expect(l.stats.timedOut).toBe(1);
  });

  it("fails at once for a pause longer than the limiter's maxWaitSeconds, with the pause's cause", async () => {
    prefix = uniqueKey("wait-pause");
    const hint = new Error("429: retry after 60 s");
    const l = limiter({ maxWaitSeconds: 2 });
    l.pause(60, hint);

    const began = performance.now();
    const error = await l.acquire().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LimiterTimeout);
    expect((error as LimiterTimeout).cause).toBe(hint);
    expect(performance.now() - began).toBeLessThan(1500);
  });

  it("fails with LimiterTimeout once maxWaitSeconds ran out waiting for a slot, and frees nothing it did not hold", async () => {
    prefix = uniqueKey("wait-slot");
    const l = limiter({ maxConcurrent: 1 });
    const held = await l.acquire();

    const error = await l.acquire({ maxWaitSeconds: 0.3 }).catch((e: unknown) => e);
    held.release();
    const next = await l.acquire({ maxWaitSeconds: 2 });
    next.release();

    expect(error).toBeInstanceOf(LimiterTimeout);
    expect((error as LimiterTimeout).cause).toBeUndefined();
    expect(l.stats).toMatchObject({ timedOut: 1, acquired: 2, pending: 0 });
  });

  it("lets a start that fits within maxWaitSeconds wait and start", async () => {
    prefix = uniqueKey("wait-fits");
    const l = limiter({ windows: [{ seconds: 0.3, maxRequests: 1 }], maxWaitSeconds: 5 });
    const first = await startOf(l);

    const second = await startOf(l);

    expect(second - first).toBeGreaterThanOrEqual(350);
  });
});

describe("RedisLimiter: limits learned from the provider", () => {
  it("enforces a limit one process learned in another: 120 per minute with its share of 2 per second", async () => {
    prefix = uniqueKey("learn-shared");
    const a = limiter({ maxConcurrent: 10 });
    const b = limiter({ maxConcurrent: 10 });
    a.learn({ requestsPerMinute: 120 });
    await a.flush();

    const starts = [await startOf(b), await startOf(b), await startOf(b)];

    expect(b.windows).toEqual([
      { seconds: 60, maxRequests: 120 },
      { seconds: 1, maxRequests: 2 },
    ]);
    expect((starts[2] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(1050);
  });

  it("replaces a configured window of the same kind and period, and keeps the others", async () => {
    prefix = uniqueKey("learn-replace");
    const l = limiter({ windows: [{ seconds: 60, maxRequests: 1000, maxOutputTokens: 5000 }] });

    l.learn({ requestsPerMinute: 300, inputTokensPerMinute: 6000 });
    await l.flush();

    expect(l.windows).toEqual([
      { seconds: 60, maxOutputTokens: 5000, maxRequests: 300, maxInputTokens: 6000 },
      { seconds: 1, maxRequests: 5, maxInputTokens: 100 },
    ]);
  });

  it("lets a request above a learned per-second share start alone, and one above the per-minute limit never", async () => {
    prefix = uniqueKey("learn-share");
    const l = limiter();
    l.learn({ inputTokensPerMinute: 600 }); // 10 per second
    await l.flush();

    await startOf(l, { inputTokens: 400 });

    await expect(l.acquire({ inputTokens: 601 })).rejects.toThrow(/maxInputTokens \(learned\) 600/);
  });

  it("forgets learned limits for every process on reset()", async () => {
    prefix = uniqueKey("learn-reset");
    const a = limiter({ windows: [{ seconds: 10, maxRequests: 50 }] });
    const b = limiter({ windows: [{ seconds: 10, maxRequests: 50 }] });
    a.learn({ requestsPerDay: 1000 });
    await a.flush();
    await startOf(b);
    const learned = b.windows;

    a.reset();
    await a.flush();
    await startOf(b);

    expect(learned).toEqual([
      { seconds: 10, maxRequests: 50 },
      { seconds: 86400, maxRequests: 1000 },
    ]);
    expect(b.windows).toEqual([{ seconds: 10, maxRequests: 50 }]);
    expect(await admin.hget(`${prefix}:state`, "learned")).toBeNull();
  });

  it("with learnLimits and no window, runs one request alone across processes until the first answer", async () => {
    prefix = uniqueKey("learn-solo");
    const a = limiter({ maxConcurrent: 5, learnLimits: true });
    const b = limiter({ maxConcurrent: 5, learnLimits: true });
    const first = await a.acquire();

    const second = b.acquire();
    await sleep(300);
    const aloneBeforeAnswer = !(await isSettled(second));
    a.observe({});
    (await second).release();
    const more = await Promise.all([a.acquire(), b.acquire(), b.acquire()]);

    expect(aloneBeforeAnswer).toBe(true);
    expect(more).toHaveLength(3);
    for (const p of [first, ...more]) p.release();
  });
});
