/**
 * Three OS processes on one RedisLimiter key share one cost budget. The
 * workers (test/fixtures/budget-worker.mjs) import the built package, so run
 * `pnpm build` first (the root `pnpm test` does).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectOrFail, deleteKeys, REDIS_URL, uniqueKey } from "./fixtures/redis-helpers.js";

const WORKER = fileURLToPath(new URL("./fixtures/budget-worker.mjs", import.meta.url));

interface Report {
  totals: { requests: number; costUsd: number };
  refused: boolean;
}

function runWorker(config: object): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim()) as Report) : reject(new Error(`worker exited ${code}: ${err}`))));
  });
}

describe("budgets on a RedisLimiter", () => {
  let client: Redis;
  const key = uniqueKey("budget");
  beforeAll(async () => {
    client = await connectOrFail();
  });
  afterAll(async () => {
    await deleteKeys(client, key);
    await client.quit();
  });

  it("three processes on one key never spend more than the budget plus the estimates in flight", async () => {
    const budget = 0.05; // estimate $0.001 a call, actual $0.0015: at most ~33 calls fit
    const reports = await Promise.all([0, 1, 2].map(() => runWorker({ url: REDIS_URL, key, items: 40, budget })));
    const spent = reports.reduce((s, r) => s + r.totals.costUsd, 0);
    const requests = reports.reduce((s, r) => s + r.totals.requests, 0);
    const inFlight = 3 * 4 * 0.0015; // every slot of every process holding a call
    console.info(`shared budget $${budget}: ${requests} calls spent $${spent.toFixed(4)}, overshoot $${Math.max(0, spent - budget).toFixed(4)} (bound $${inFlight})`);
    expect(reports.every((r) => r.refused)).toBe(true);
    expect(spent).toBeLessThanOrEqual(budget + inFlight + 1e-9);
    // The budget was really used (reservations of starts that a refusal aborted are given back, so not all of it).
    expect(spent).toBeGreaterThan(budget / 2);
    // Redis holds the same sum the three ledgers recorded.
    const [hashKey] = await client.keys(`${key}:budget:*`);
    expect(Number(await client.hget(hashKey as string, "c"))).toBeCloseTo(spent, 9);
  }, 60_000);
});
