/**
 * Several OS processes sharing one RedisLimiter key on the local Redis. The
 * workers (test/fixtures/redis-worker.mjs) import the built package, so run
 * `pnpm build` first (the root `pnpm test` does).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { delay as sleep } from "test-support";
import { RedisLimiter } from "../src/limiters/redis/index.js";
import {
  connectOrFail,
  deleteKeys,
  isSettled,
  killHard,
  maxOverlap,
  maxStartsInAnyWindow,
  REDIS_URL,
  uniqueKey,
} from "./fixtures/redis-helpers.js";

const WORKER = fileURLToPath(new URL("./fixtures/redis-worker.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../dist/limiters/redis/index.js", import.meta.url));

interface WorkerReport {
  pid: number;
  records: Array<{ startedAt: number; endedAt: number }>;
  stats: { acquired: number; leasesLost: number };
  windows: Array<Record<string, number>>;
}

/** The largest sum of weights whose times fall in one half-open interval [t, t + windowMs). */
function maxSumInAnyWindow(points: ReadonlyArray<{ t: number; w: number }>, windowMs: number): number {
  const sorted = [...points].sort((a, b) => a.t - b.t);
  let best = 0;
  for (let first = 0; first < sorted.length; first++) {
    let sum = 0;
    for (let i = first; i < sorted.length && (sorted[i] as { t: number }).t < (sorted[first] as { t: number }).t + windowMs; i++) {
      sum += (sorted[i] as { w: number }).w;
    }
    best = Math.max(best, sum);
  }
  return best;
}

let admin: Redis;
let prefix: string;
const children: ChildProcess[] = [];
const opened: RedisLimiter[] = [];

beforeAll(async () => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`pnpm build\` before these tests`);
  admin = await connectOrFail();
});

afterEach(async () => {
  await Promise.all(children.splice(0).map(killHard));
  await Promise.all(opened.splice(0).map((l) => l.close()));
  await deleteKeys(admin, prefix);
});

afterAll(async () => {
  await admin?.quit();
});

function startWorker(config: Record<string, unknown>): ChildProcess {
  const child = spawn(process.execPath, [WORKER, JSON.stringify({ url: REDIS_URL, key: prefix, ...config })], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return child;
}

/** Resolves with the worker's stdout once it exits with code 0. */
function output(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited with ${code}: ${err}`))));
  });
}

/** Resolves once the worker prints `line`. */
function printed(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(line)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`worker exited with ${code} before printing ${line}`)));
  });
}

describe("RedisLimiter across OS processes", () => {
  it("4 processes sharing one key never start more than maxPerWindow in any window nor run more than maxConcurrent at once", async () => {
    prefix = uniqueKey("multiprocess");
    const limits = { maxConcurrent: 3, maxPerWindow: 10, windowSeconds: 0.5 };
    const workers = Array.from({ length: 4 }, () => startWorker({ mode: "run", limits, items: 25, holdMs: 20 }));

    const reports = (await Promise.all(workers.map(output))).map((text) => JSON.parse(text) as WorkerReport);

    const records = reports.flatMap((r) => r.records);
    const starts = records.map((r) => r.startedAt);
    const makespan = Math.max(...starts) - Math.min(...starts);
    const theoreticalMin = (records.length / limits.maxPerWindow - 1) * limits.windowSeconds * 1000;
    console.log(
      `[redis multi-process] ${reports.length} processes, ${records.length} starts; per process ${reports.map((r) => r.records.length).join("/")}; ` +
        `max starts in any 500 ms window: ${maxStartsInAnyWindow(starts, 500)} (limit 10); max running at once: ${maxOverlap(records.map((r) => [r.startedAt, r.endedAt] as const))} (limit 3); ` +
        `start span ${makespan.toFixed(0)} ms = ${(makespan / theoreticalMin).toFixed(3)} x the theoretical minimum ${theoreticalMin} ms`,
    );
    expect(records).toHaveLength(100);
    expect(maxStartsInAnyWindow(starts, 500)).toBeLessThanOrEqual(10);
    expect(maxOverlap(records.map((r) => [r.startedAt, r.endedAt] as const))).toBeLessThanOrEqual(3);
    expect(reports.every((r) => r.stats.leasesLost === 0)).toBe(true);
  });

  it("gives a kill -9'd worker's slots back within leaseSeconds while a live worker's slots stay held", async () => {
    prefix = uniqueKey("kill");
    const limits = { maxConcurrent: 2, leaseSeconds: 1 };
    const holder = startWorker({ mode: "hold", limits, count: 2 });
    await printed(holder, "holding");
    const survivor = new RedisLimiter({ redis: REDIS_URL, key: prefix, ...limits });
    opened.push(survivor);

    const waiting = survivor.acquire();
    await sleep(1500); // past leaseSeconds: the live holder renews
    const blockedWhileHolderLives = !(await isSettled(waiting));
    const killedAt = performance.now();
    await killHard(holder);
    const permit = await waiting;
    const recoveryMs = performance.now() - killedAt;
    permit.release();
    const done = await Promise.all(Array.from({ length: 10 }, (_, i) => survivor.run(() => i)));

    console.log(`[redis lease recovery] slot back ${recoveryMs.toFixed(0)} ms after kill -9 (leaseSeconds 1)`);
    expect(blockedWhileHolderLives).toBe(true);
    expect(recoveryMs).toBeLessThan(1000 + 600);
    expect(done).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe("RedisLimiter across OS processes: several windows and learned limits", () => {
  it("3 processes sharing windows of 3/s, 8/5 s and 400 input / 200 output tokens per 2 s never exceed any window (margin included)", async () => {
    prefix = uniqueKey("multiprocess-windows");
    const margin = 0.05;
    const windows = [
      { seconds: 1, maxRequests: 3 },
      { seconds: 5, maxRequests: 8 },
      { seconds: 2, maxInputTokens: 400, maxOutputTokens: 200 },
    ];
    const limits = { maxConcurrent: 6, windows, arrivalMarginSeconds: margin };
    // Each process its own weights; one settles below its estimate (a refund the others may use at once).
    const plans = [
      { weight: { inputTokens: 100, outputTokens: 60 }, settle: { outputTokens: 40 }, input: 100, output: 40 },
      { weight: { inputTokens: 150, outputTokens: 30 }, settle: undefined, input: 150, output: 30 },
      { weight: { inputTokens: 50, outputTokens: 90 }, settle: undefined, input: 50, output: 90 },
    ];
    const workers = plans.map((p) =>
      startWorker({ mode: "run", limits, items: 5, holdMs: 20, weight: p.weight, ...(p.settle ? { settle: p.settle } : {}) }),
    );

    const reports = (await Promise.all(workers.map(output))).map((text) => JSON.parse(text) as WorkerReport);

    const starts = reports.flatMap((r) => r.records.map((x) => x.startedAt));
    const weighted = reports.flatMap((r, i) => r.records.map((x) => ({ t: x.startedAt, plan: plans[i] as (typeof plans)[number] })));
    const span = (seconds: number) => (seconds + margin) * 1000;
    const perSecond = maxStartsInAnyWindow(starts, span(1));
    const perFive = maxStartsInAnyWindow(starts, span(5));
    const input = maxSumInAnyWindow(weighted.map((x) => ({ t: x.t, w: x.plan.input })), span(2));
    const outputTokens = maxSumInAnyWindow(weighted.map((x) => ({ t: x.t, w: x.plan.output })), span(2));
    console.log(
      `[redis multi-process windows] ${reports.length} processes, ${starts.length} starts over ${(Math.max(...starts) - Math.min(...starts)).toFixed(0)} ms; ` +
        `max in any 1.05 s: ${perSecond} (limit 3); in any 5.05 s: ${perFive} (limit 8); ` +
        `input tokens in any 2.05 s: ${input} (limit 400); output tokens (settled) in any 2.05 s: ${outputTokens} (limit 200)`,
    );
    expect(starts).toHaveLength(15);
    expect(perSecond).toBeLessThanOrEqual(3);
    expect(perFive).toBeLessThanOrEqual(8);
    expect(input).toBeLessThanOrEqual(400);
    expect(outputTokens).toBeLessThanOrEqual(200);
    expect(perFive).toBe(8); // the 5 s window was reached, so the check had something to hold back
    expect(reports.every((r) => r.stats.leasesLost === 0)).toBe(true);
  }, 30_000);

  it("enforces a limit one process learned in two other processes: 120 per minute becomes at most 2 in any second", async () => {
    prefix = uniqueKey("multiprocess-learned");
    const limits = { maxConcurrent: 4, learnLimits: true };
    const learner = JSON.parse(await output(startWorker({ mode: "learn", limits, learn: { requestsPerMinute: 120 } }))) as WorkerReport;
    const workers = Array.from({ length: 2 }, () => startWorker({ mode: "run", limits, items: 4, holdMs: 10 }));

    const reports = (await Promise.all(workers.map(output))).map((text) => JSON.parse(text) as WorkerReport);

    const starts = reports.flatMap((r) => r.records.map((x) => x.startedAt));
    const perSecond = maxStartsInAnyWindow(starts, 1050);
    console.log(
      `[redis multi-process learned] 1 process learned 120/min; ${reports.length} others made ${starts.length} starts over ` +
        `${(Math.max(...starts) - Math.min(...starts)).toFixed(0)} ms; max in any 1.05 s: ${perSecond} (learned limit 2)`,
    );
    const learned = [
      { seconds: 60, maxRequests: 120 },
      { seconds: 1, maxRequests: 2 },
    ];
    expect(learner.windows).toEqual(learned);
    for (const r of reports) expect(r.windows).toEqual(learned);
    expect(starts).toHaveLength(8);
    expect(perSecond).toBeLessThanOrEqual(2);
  }, 30_000);
});
