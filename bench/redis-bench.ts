/**
 * Redis round-trip cost: acquire/release cycles per second through a
 * `RedisLimiter` on the local Redis (127.0.0.1:6379) against the in-process
 * `RateLimiter` with the same options, one caller at a time and five at once.
 * One cycle through Redis is one Lua take (one network round trip); the
 * release is sent without waiting and rides ahead of the next take on the
 * same connection.
 */
import { createRequire } from "node:module";
import { RateLimiter } from "pocketflow-throttled";
// The built module directly: bench runs after `pnpm build`, and this works whether or not the package root re-exports it.
import { RedisLimiter } from "../packages/pocketflow-throttled/dist/limiters/redis/index.js";

const REDIS_URL = "redis://127.0.0.1:6379";
const OPTIONS = { maxConcurrent: 5, maxPerWindow: 1_000_000, windowSeconds: 60 };

interface CycleLimiter {
  acquire(): Promise<{ release(): void }>;
}

/** Cycles per second for `callers` concurrent loops doing `total` acquire/release cycles between them. */
async function cyclesPerSecond(limiter: CycleLimiter, total: number, callers: number): Promise<number> {
  const loop = async (n: number) => {
    for (let i = 0; i < n; i++) (await limiter.acquire()).release();
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: callers }, () => loop(total / callers)));
  return (total / (performance.now() - started)) * 1000;
}

/** Deletes the bench's keys (ioredis is a dev dependency of pocketflow-throttled). */
async function deleteKeys(prefix: string): Promise<void> {
  const require = createRequire(new URL("../packages/pocketflow-throttled/package.json", import.meta.url));
  const { Redis } = require("ioredis") as {
    Redis: new (url: string) => { keys(pattern: string): Promise<string[]>; del(...keys: string[]): Promise<number>; quit(): Promise<unknown> };
  };
  const client = new Redis(REDIS_URL);
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
  await client.quit();
}

/**
 * Round trips per second, Redis vs in-process; throws (naming the store) when
 * the local Redis does not answer.
 */
export async function benchRedis(): Promise<Record<string, number>> {
  const key = `pocketflow-bench:redis:${process.pid}:${Date.now()}`;
  const redis = new RedisLimiter({ redis: REDIS_URL, key, ...OPTIONS });
  const local = new RateLimiter(OPTIONS);
  try {
    await cyclesPerSecond(redis, 200, 1); // warm-up: connection, script load, subscriber
    await cyclesPerSecond(local, 10_000, 1);
    const redisSequential = await cyclesPerSecond(redis, 3000, 1);
    const redisParallel = await cyclesPerSecond(redis, 3000, 5);
    const localSequential = await cyclesPerSecond(local, 300_000, 1);
    const localParallel = await cyclesPerSecond(local, 300_000, 5);
    return {
      redisRoundTripsPerSecond: Math.round(redisSequential),
      redisRoundTripsPerSecond5Callers: Math.round(redisParallel),
      localRoundTripsPerSecond: Math.round(localSequential),
      localRoundTripsPerSecond5Callers: Math.round(localParallel),
      redisMsPerRoundTrip: Number((1000 / redisSequential).toFixed(3)),
      localMsPerRoundTrip: Number((1000 / localSequential).toFixed(5)),
    };
  } finally {
    await redis.close();
    await deleteKeys(key);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchRedis());
}
