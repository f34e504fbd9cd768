/**
 * RedisLimiter when Redis is not there: an unused port, and a throwaway
 * redis-server stopped and restarted mid-run.
 */
import type { ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { delay as sleep } from "test-support";
import { RedisLimiter, RedisStoreError } from "../src/limiters/redis/index.js";
import { freePort, killHard, maxOverlap, startRedisServer, uniqueKey } from "./fixtures/redis-helpers.js";

const opened: RedisLimiter[] = [];
const servers: ChildProcess[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((l) => l.close()));
  await Promise.all(servers.splice(0).map(killHard));
});

function track(l: RedisLimiter): RedisLimiter {
  opened.push(l);
  return l;
}

describe("RedisLimiter: Redis unreachable", () => {
  it("rejects acquire within about 2 s with a RedisStoreError naming the URL", async () => {
    const port = await freePort();
    const l = track(new RedisLimiter({ redis: `redis://127.0.0.1:${port}`, key: uniqueKey("down") }));
    const before = performance.now();

    const error = await l.acquire().catch((e: unknown) => e);

    expect(performance.now() - before).toBeLessThan(2600);
    expect(error).toBeInstanceOf(RedisStoreError);
    expect((error as Error).message).toContain(`redis://127.0.0.1:${port}`);
    expect((error as Error).message).toContain("unreachable");
    expect(l.active).toBe(0);
  });

  it("names host:port of a given client", async () => {
    const port = await freePort();
    const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true, retryStrategy: () => 200 });
    client.on("error", () => undefined);
    const l = track(new RedisLimiter({ redis: client, key: uniqueKey("down-client") }));

    const error = await l.acquire().catch((e: unknown) => e);
    client.disconnect();

    expect((error as RedisStoreError).store).toBe(`127.0.0.1:${port}`);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('falls back to an in-process limiter with one warning under onStoreError: "local"', async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const port = await freePort();
    const l = track(
      new RedisLimiter({ redis: `redis://127.0.0.1:${port}`, key: uniqueKey("fallback"), maxConcurrent: 2, onStoreError: "local" }),
    );
    const intervals: Array<[number, number]> = [];

    await Promise.all(
      Array.from({ length: 8 }, () =>
        l.run(async () => {
          const start = performance.now();
          await sleep(10);
          intervals.push([start, performance.now()]);
        }),
      ),
    );

    expect(intervals).toHaveLength(8);
    expect(maxOverlap(intervals)).toBeLessThanOrEqual(2);
    expect(l.usingLocalFallback).toBe(true);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain(`127.0.0.1:${port}`);
    expect(String(warn.mock.calls[0]?.[0])).toContain("in-process limiter");
  });
});

describe("RedisLimiter: Redis stopped mid-run", () => {
  it("rejects new acquisitions with a clear error while down and works again once Redis is back", async () => {
    const port = await freePort();
    servers.push(await startRedisServer(port));
    const l = track(new RedisLimiter({ redis: `redis://127.0.0.1:${port}`, key: uniqueKey("midrun"), maxConcurrent: 2 }));
    const held = await l.acquire();

    await killHard(servers.pop() as ChildProcess);
    const whileDown = await l.acquire().catch((e: unknown) => e);
    held.release(); // must not throw: the lease lapses on its own
    servers.push(await startRedisServer(port));
    await sleep(1200); // the client reconnects (retries at most every second)
    const afterRestart = await l.acquire();
    const state = await l.inspect();
    afterRestart.release();

    expect(whileDown).toBeInstanceOf(RedisStoreError);
    expect((whileDown as Error).message).toContain(`127.0.0.1:${port}`);
    expect(state.active).toBe(1); // counted in the restarted Redis
  });

  it('under onStoreError: "local", falls back with one warning when Redis stops and returns to Redis when it answers', async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const port = await freePort();
    servers.push(await startRedisServer(port));
    const l = track(
      new RedisLimiter({ redis: `redis://127.0.0.1:${port}`, key: uniqueKey("return"), maxConcurrent: 2, onStoreError: "local" }),
    );
    await l.run(() => undefined);

    await killHard(servers.pop() as ChildProcess);
    await l.run(() => undefined);
    await l.run(() => undefined);
    const fellBack = l.usingLocalFallback;
    servers.push(await startRedisServer(port));
    await sleep(3500); // reconnect + the next once-a-second probe
    const permit = await l.acquire();
    const state = await l.inspect();
    permit.release();

    expect(fellBack).toBe(true);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(l.usingLocalFallback).toBe(false);
    expect(state.active).toBe(1); // that permit came from Redis
  });
});
