/**
 * RedisLimiter under faults on a throwaway redis-server of its own: Redis
 * killed with SIGKILL and restarted (`onStoreError: "local"`), a subscriber
 * connection dropped, a replica answering READONLY.
 */
import type { ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RedisLimiter, type RedisLimiterOptions } from "../src/limiters/redis/index.js";
import {
  freePort,
  isSettled,
  killHard,
  maxStartsInAnyWindow,
  sleep,
  startRedisServer,
  uniqueKey,
  until,
} from "./fixtures/redis-helpers.js";

const opened: Array<{ close(): Promise<unknown> }> = [];
const servers: ChildProcess[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map(killHard));
});

async function server(port: number, extra: string[] = []): Promise<void> {
  servers.push(await startRedisServer(port, extra));
}

async function stopServer(): Promise<void> {
  await killHard(servers.pop() as ChildProcess);
}

function limiter(port: number, options: Omit<RedisLimiterOptions, "redis">): RedisLimiter {
  const l = new RedisLimiter({ redis: `redis://127.0.0.1:${port}`, ...options });
  opened.push(l);
  return l;
}

/** Local options: a short store timeout so the switch to the fallback takes 300 ms, not 2 s. */
const LOCAL = { onStoreError: "local", storeTimeoutMs: 300 } as const;

describe('RedisLimiter onStoreError: "local": the limits hold within the process across both switches', () => {
  it("keeps maxPerWindow across the switch to the fallback: starts made through Redis still count", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const port = await freePort();
    await server(port);
    const l = limiter(port, { key: uniqueKey("window-down"), maxConcurrent: 10, maxPerWindow: 6, windowSeconds: 2, ...LOCAL });
    const starts: number[] = [];
    const start = async () => {
      const permit = await l.acquire();
      starts.push(performance.now());
      permit.release();
    };
    await Promise.all(Array.from({ length: 4 }, start));

    await stopServer();
    await Promise.all(Array.from({ length: 6 }, start));

    expect(l.usingLocalFallback).toBe(true);
    expect(starts).toHaveLength(10);
    expect(maxStartsInAnyWindow(starts, 2000 - 100)).toBeLessThanOrEqual(6); // 100 ms slack for the time the test reads
  });

  it("keeps maxConcurrent across the switch to the fallback: permits held from Redis still count", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const port = await freePort();
    await server(port);
    const l = limiter(port, { key: uniqueKey("slots-down"), maxConcurrent: 3, ...LOCAL });
    const fromRedis = [await l.acquire(), await l.acquire()];

    await stopServer();
    await l.acquire(); // the one slot left, from the fallback
    const fourth = l.acquire();
    await sleep(400);
    const heldBack = !(await isSettled(fourth));
    fromRedis[0]?.release();
    await fourth;

    expect(heldBack).toBe(true);
    expect(l.usingLocalFallback).toBe(true);
    expect(l.active).toBe(3);
  });

  it("keeps maxConcurrent across the return to Redis: permits held from the fallback still count", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const port = await freePort();
    await server(port);
    const l = limiter(port, { key: uniqueKey("slots-back"), maxConcurrent: 2, ...LOCAL });
    await l.run(() => undefined);
    await stopServer();
    const local = [await l.acquire(), await l.acquire()];

    await server(port);
    await until(() => !l.usingLocalFallback, 8000, "the return to Redis");
    const third = l.acquire();
    await sleep(400);
    const heldBack = !(await isSettled(third));
    local[0]?.release();
    await third;

    expect(heldBack).toBe(true);
    expect((await l.inspect()).active).toBe(1); // the third came from Redis
  });

  it("keeps maxPerWindow across the return to Redis: starts made on the fallback still count", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const port = await freePort();
    await server(port);
    const l = limiter(port, { key: uniqueKey("window-back"), maxConcurrent: 10, maxPerWindow: 3, windowSeconds: 5, ...LOCAL });
    await l.inspect(); // connected, no start yet
    await stopServer();
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) {
      (await l.acquire()).release();
      starts.push(performance.now());
    }

    await server(port);
    await until(() => !l.usingLocalFallback, 8000, "the return to Redis");
    (await l.acquire()).release();
    starts.push(performance.now());

    expect(maxStartsInAnyWindow(starts, 5000 - 100)).toBeLessThanOrEqual(3);
  }, 15_000);
});

describe('RedisLimiter onStoreError: "local" with several windows', () => {
  it("keeps every window, token windows too, across the switch to the fallback: starts made through Redis still count", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const port = await freePort();
    await server(port);
    const windows = [
      { seconds: 2, maxRequests: 4 },
      { seconds: 1.5, maxInputTokens: 300 },
    ];
    const l = limiter(port, { key: uniqueKey("windows-down"), maxConcurrent: 10, windows, ...LOCAL });
    const starts: Array<{ t: number; input: number }> = [];
    const start = async (input: number) => {
      const permit = await l.acquire({ inputTokens: input });
      starts.push({ t: performance.now(), input });
      permit.release();
    };
    await Promise.all([start(100), start(100)]);

    await stopServer();
    await Promise.all([start(100), start(100), start(10), start(10)]);

    const inAny = (ms: number, of: (s: { input: number }) => number) =>
      Math.max(...starts.map((a) => starts.filter((b) => b.t >= a.t && b.t < a.t + ms).reduce((sum, b) => sum + of(b), 0)));
    expect(l.usingLocalFallback).toBe(true);
    expect(l.windows).toEqual(windows);
    expect(starts).toHaveLength(6);
    expect(inAny(2000 - 100, () => 1)).toBeLessThanOrEqual(4); // 100 ms slack for the time the test reads
    expect(inAny(1500 - 100, (s) => s.input)).toBeLessThanOrEqual(300);
  });
});

describe("RedisLimiter: a dropped subscriber connection", () => {
  it("re-checks when the subscriber comes back, so a release it missed is taken within about a second", async () => {
    const port = await freePort();
    await server(port);
    const key = uniqueKey("sub-drop");
    const holder = limiter(port, { key, maxConcurrent: 1 });
    const waiter = limiter(port, { key, maxConcurrent: 1 });
    const admin = new Redis({ port, host: "127.0.0.1" });
    opened.push({ close: () => admin.quit() });
    const held = await holder.acquire();
    const waiting = waiter.acquire();
    await sleep(300); // the waiter subscribed and sleeps on the holder's 30 s lease

    const killed = await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    held.release(); // published while the waiter's subscriber is away
    const releasedAt = performance.now();
    await waiting;

    expect(killed).toBe(1);
    expect(performance.now() - releasedAt).toBeLessThan(3000);
  }, 10_000);
});

describe('RedisLimiter onStoreError: "local" and a replica', () => {
  it("falls back when Redis answers writes with READONLY, and stays on the fallback while it does", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const port = await freePort();
    await server(port, ["--replicaof", "127.0.0.1", String(await freePort())]); // its master never answers: a read-only replica
    const l = limiter(port, { key: uniqueKey("readonly"), maxConcurrent: 2, onStoreError: "local" });

    await Promise.all(Array.from({ length: 4 }, () => l.run(() => sleep(10))));
    await sleep(1500); // a probe ran (and was refused)

    expect(l.usingLocalFallback).toBe(true);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain("READONLY");
  });
});
