/**
 * Budget windows of a `RedisLimiter` (DESIGN section 12: "on a RedisLimiter
 * budgets are shared like every window"), against the real local Redis
 * (127.0.0.1:6379): a window with `onExceed: "fail"` refuses a start that
 * would cross it with `BudgetExceeded`, atomically for every process on the
 * key; `costUsd` is one more weight, corrected by `settle`. The last test runs
 * three OS processes (test/fixtures/budget-window-worker.mjs, which imports
 * the built package: run `pnpm build` first).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BudgetExceeded } from "../src/errors.js";
import { RedisLimiter, type RedisLimiterOptions } from "../src/limiters/redis/index.js";
import { decodeRules, describeRules, encodeRules } from "../src/limiters/redis/windows.js";
import { windowRules } from "../src/limiters/windows.js";
import { connectOrFail, deleteKeys, freePort, isSettled, killHard, REDIS_URL, sleep, startRedisServer, uniqueKey } from "./fixtures/redis-helpers.js";

const WORKER = fileURLToPath(new URL("./fixtures/budget-window-worker.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../dist/index.js", import.meta.url));

let admin: Redis;
let prefix: string;
const opened: Array<{ close(): Promise<unknown> }> = [];

beforeAll(async () => {
  admin = await connectOrFail();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((l) => l.close()));
  await deleteKeys(admin, prefix);
});

afterAll(async () => {
  await admin?.quit();
});

function limiter(options: Omit<RedisLimiterOptions, "redis" | "key"> = {}, redis: RedisLimiterOptions["redis"] = REDIS_URL): RedisLimiter {
  const l = new RedisLimiter({ redis, key: prefix, ...options });
  opened.push(l);
  return l;
}

/** The rejection of `promise` (fails the test if it resolves). */
async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

const DOLLAR = [{ seconds: 60, maxCostUsd: 1, onExceed: "fail" as const }];

describe("RedisLimiter budget windows", () => {
  it("refuses the start that would cross maxCostUsd at once, with the in-process message, admits one that exactly fits, and leaves no lease", async () => {
    prefix = uniqueKey("bw-refuse");
    const l = limiter({ maxConcurrent: 10, windows: DOLLAR });
    const a = await l.acquire({ costUsd: 0.4 });
    const b = await l.acquire({ costUsd: 0.4 });

    const error = await refusal(l.acquire({ costUsd: 0.4 }));

    expect(error).toBeInstanceOf(BudgetExceeded);
    expect(error).toMatchObject({ kind: "maxCostUsd", limit: 1, key: "" });
    expect((error as BudgetExceeded).spent).toBeCloseTo(0.8, 12);
    expect((error as BudgetExceeded).message).toMatch(/\$0\.4 would cross the 60 s budget window's maxCostUsd 1 \(\$0\.8 used\)/);
    expect((await l.inspect()).active).toBe(2); // the refused start took no lease
    // 0.4 + 0.4 + 0.2 is 1.0000000000000002 in floats: still within the budget.
    const c = await l.acquire({ costUsd: 0.2 });
    expect(l.pending).toBe(0);
    expect(l.stats.acquired).toBe(3);
    for (const p of [a, b, c]) p.release();
  });

  it("stores a fractional limit as stable text that Lua reads back exactly: three starts of $0.1 fit $0.3, a fourth is refused", async () => {
    prefix = uniqueKey("bw-float");
    const l = limiter({ maxConcurrent: 10, windows: [{ seconds: 60, maxCostUsd: 0.3, onExceed: "fail" }] });
    for (let i = 0; i < 3; i++) (await l.acquire({ costUsd: 0.1 })).release(); // 0.30000000000000004 in floats

    const error = await refusal(l.acquire({ costUsd: 0.1 }));

    expect(error).toMatchObject({ name: "BudgetExceeded", limit: 0.3 });
    expect((error as BudgetExceeded).spent).toBeCloseTo(0.3, 12);
    expect(await admin.hget(`${prefix}:config`, "windows")).toBe("60:c:0.3:0:f");
    expect(await admin.hvals(`${prefix}:weights`)).toEqual(["0:0:0:0.1", "0:0:0:0.1", "0:0:0:0.1"]);
  });

  it("counts settled cost, not the estimate: a refund makes room, a charge takes it", async () => {
    prefix = uniqueKey("bw-settle");
    const l = limiter({ maxConcurrent: 10, windows: DOLLAR });
    const a = await l.acquire({ costUsd: 0.9 });
    await expect(l.acquire({ costUsd: 0.2 })).rejects.toBeInstanceOf(BudgetExceeded);

    a.settle({ costUsd: 0.3 });
    await l.flush();
    const b = await l.acquire({ costUsd: 0.2 });
    b.settle({ inputTokens: 10, costUsd: 0.7 }); // now 1.0 spent
    await l.flush();

    const error = await refusal(l.acquire({ costUsd: 0.01 }));
    expect(error).toMatchObject({ name: "BudgetExceeded", limit: 1 });
    expect((error as BudgetExceeded).spent).toBeCloseTo(1, 12);
    a.release();
    b.release();
  });

  it("keeps the spend of a settle that gives tokens only (the cost estimate stands in Redis)", async () => {
    prefix = uniqueKey("bw-settle-tokens");
    const l = limiter({ maxConcurrent: 10, windows: [...DOLLAR, { seconds: 60, maxInputTokens: 1000 }] });
    const a = await l.acquire({ inputTokens: 10, costUsd: 0.6 });
    a.settle({ inputTokens: 2, outputTokens: 3 });
    await l.flush();

    expect(await admin.hvals(`${prefix}:weights`)).toEqual(["5:2:3:0.6"]);
    await expect(l.acquire({ costUsd: 0.5 })).rejects.toBeInstanceOf(BudgetExceeded);
    a.release();
  });

  it("onExceed defaults to wait: the same window delays the start until the spend leaves it", async () => {
    prefix = uniqueKey("bw-wait");
    const l = limiter({ maxConcurrent: 10, arrivalMarginSeconds: 0, windows: [{ seconds: 1, maxCostUsd: 0.5 }] });
    const first = await l.acquire({ costUsd: 0.5 });
    first.release();

    const waiting = l.acquire({ costUsd: 0.1 });
    await sleep(400);
    expect(await isSettled(waiting)).toBe(false);
    expect(l.pending).toBe(1);
    const second = await waiting;
    second.release();

    expect((second.startedAt as number) - (first.startedAt as number)).toBeGreaterThanOrEqual(1000);
  });

  it("a request budget refuses the start past maxRequests without waiting, while a waiting window beside it still delays", async () => {
    prefix = uniqueKey("bw-requests");
    const l = limiter({
      maxConcurrent: 10,
      arrivalMarginSeconds: 0,
      windows: [
        { seconds: 60, maxRequests: 3, onExceed: "fail" },
        { seconds: 0.5, maxRequests: 2 },
      ],
    });
    const first = await l.acquire();
    (await l.acquire()).release();
    first.release();
    const third = await l.acquire(); // waits for the half-second window, then fits the budget
    third.release();
    expect((third.startedAt as number) - (first.startedAt as number)).toBeGreaterThanOrEqual(500);

    const error = await refusal(l.acquire());
    expect(error).toMatchObject({ name: "BudgetExceeded", kind: "maxRequests", spent: 3, limit: 3 });
    expect(l.pending).toBe(0);
  });

  it("refuses at once while every slot is taken: a budget is never a reason to queue", async () => {
    prefix = uniqueKey("bw-slots");
    const l = limiter({ maxConcurrent: 1, windows: DOLLAR });
    const a = await l.acquire({ costUsd: 0.9 });

    const error = await refusal(l.acquire({ costUsd: 0.2 }));

    expect(error).toBeInstanceOf(BudgetExceeded);
    expect(l.active).toBe(1);
    a.release();
  });

  it("a waiter that reaches Redis after the budget filled is refused there, not started", async () => {
    prefix = uniqueKey("bw-head");
    const l = limiter({ maxConcurrent: 1, windows: DOLLAR });
    const a = await l.acquire({ costUsd: 0.5 });
    const waiting = refusal(l.acquire({ costUsd: 0.4 })); // queued for the one slot; fits for now
    await sleep(100);
    expect(l.pending).toBe(1);

    a.settle({ costUsd: 0.9 });
    a.release();

    expect(await waiting).toBeInstanceOf(BudgetExceeded);
    expect(l.active).toBe(0);
    expect(l.pending).toBe(0);
    expect((await l.inspect()).active).toBe(0);
  });

  it("an estimate above the budget on its own is a BudgetExceeded, not a wait or a RangeError; run() never calls its function", async () => {
    prefix = uniqueKey("bw-alone");
    const l = limiter({ windows: [{ seconds: 60, maxCostUsd: 0.1, onExceed: "fail" }] });
    const error = await refusal(l.acquire({ costUsd: 0.25 }));
    expect(error).toMatchObject({ name: "BudgetExceeded", spent: 0, limit: 0.1 });

    const fn = vi.fn(() => 1);
    await expect(l.run(fn, { costUsd: 0.2 })).rejects.toBeInstanceOf(BudgetExceeded);
    expect(fn).not.toHaveBeenCalled();
    expect(l.active).toBe(0);
  });

  it("two limiters on two connections share one budget: what one spent refuses the other, and a refund in one makes room in the other", async () => {
    prefix = uniqueKey("bw-shared");
    const clients = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
    opened.push(...clients.map((c) => ({ close: () => c.quit() })));
    const a = limiter({ maxConcurrent: 10, windows: DOLLAR }, clients[0]);
    const b = limiter({ maxConcurrent: 10, windows: DOLLAR }, clients[1]);
    const pa = await a.acquire({ costUsd: 0.6 });
    const pb = await b.acquire({ costUsd: 0.3 });

    const error = await refusal(b.acquire({ costUsd: 0.2 }));
    expect((error as BudgetExceeded).spent).toBeCloseTo(0.9, 12);
    const fromA = await refusal(a.acquire({ costUsd: 0.2 }));
    expect((fromA as BudgetExceeded).spent).toBeCloseTo(0.9, 12);

    pa.settle({ costUsd: 0.1 });
    await a.flush();
    const pb2 = await b.acquire({ costUsd: 0.5 }); // 0.1 + 0.3 + 0.5
    for (const p of [pa, pb, pb2]) p.release();
  });

  it("rejects a process whose budget windows differ from those stored with the key, naming both", async () => {
    prefix = uniqueKey("bw-mismatch");
    (await limiter({ windows: [{ seconds: 60, maxRequests: 100 }, ...DOLLAR] }).acquire()).release();
    const without = limiter({ windows: [{ seconds: 60, maxRequests: 100 }] });
    const waiting = limiter({ windows: [{ seconds: 60, maxRequests: 100 }, { seconds: 60, maxCostUsd: 1 }] });

    await expect(without.acquire()).rejects.toThrow(
      /limits \{ maxConcurrent: 5, windows: \[\{ seconds: 60, maxRequests: 100 \}\].*differ from the limits stored in Redis.*\{ seconds: 60, maxCostUsd: 1, onExceed: "fail" \}\]/,
    );
    await expect(waiting.acquire()).rejects.toMatchObject({ name: "RedisLimitsMismatchError" });
  });

  it("lists budget windows apart from waiting windows of the same period", () => {
    prefix = uniqueKey("bw-list");
    const l = limiter({
      windows: [
        { seconds: 60, maxRequests: 100 },
        { seconds: 60, maxCostUsd: 2, maxTokens: 5000, onExceed: "fail" },
      ],
    });
    expect(l.windows).toEqual([
      { seconds: 60, maxRequests: 100 },
      { seconds: 60, onExceed: "fail", maxCostUsd: 2, maxTokens: 5000 },
    ]);
  });

  it("learned limits replace waiting windows but never a budget, in this process and in Redis", async () => {
    prefix = uniqueKey("bw-learn");
    const l = limiter({
      learnLimits: true,
      maxConcurrent: 10,
      windows: [
        { seconds: 60, maxRequests: 100 },
        { seconds: 60, maxRequests: 2, onExceed: "fail" },
      ],
    });
    l.learn({ requestsPerMinute: 500 });
    await l.flush();
    expect(l.windows).toContainEqual({ seconds: 60, maxRequests: 500 });
    expect(l.windows).toContainEqual({ seconds: 60, onExceed: "fail", maxRequests: 2 });

    // A second process, its view from Redis alone: the budget still refuses the third start.
    const other = limiter({ learnLimits: true, maxConcurrent: 10, windows: [{ seconds: 60, maxRequests: 100 }, { seconds: 60, maxRequests: 2, onExceed: "fail" }] });
    (await other.acquire()).release();
    (await other.acquire()).release();
    await expect(other.acquire()).rejects.toMatchObject({ name: "BudgetExceeded", kind: "maxRequests", spent: 2 });
  });

  it("validates budget windows like RateLimiter does", () => {
    prefix = uniqueKey("bw-bad");
    const make = (window: unknown) => () => new RedisLimiter({ redis: REDIS_URL, key: prefix, windows: [window as never] });
    expect(make({ seconds: 60, maxCostUsd: -1, onExceed: "fail" })).toThrow(/windows\[0\]\.maxCostUsd .*-1/);
    expect(make({ seconds: 60, maxCostUsd: 1, onExceed: "stop" })).toThrow(/windows\[0\]\.onExceed must be "wait" or "fail", got "stop"/);
    expect(make({ seconds: 60, onExceed: "fail" })).toThrow(/windows\[0\] has no limit: .*maxCostUsd/);
  });
});

describe("budget rule text", () => {
  it("round-trips every kind and the fail flag; a waiting window's text reads as before (four parts)", () => {
    const rules = windowRules([
      { seconds: 60, maxRequests: 10, maxCostUsd: 0.3, onExceed: "fail" },
      { seconds: 1, maxTokens: 900, maxCostUsd: 0.1 },
    ]);
    const text = encodeRules(rules);

    expect(text).toBe("60:r:10:0:f,60:c:0.3:0:f,1:t:900:0,1:c:0.1:0");
    expect(decodeRules(text, false)).toEqual(rules);
    expect(decodeRules("60:r:10:0", false)).toEqual([
      { seconds: 60, kind: "maxRequests", limit: 10, option: "maxRequests", learned: false, share: false, fail: false },
    ]);
    expect(describeRules(text)).toBe(
      'windows: [{ seconds: 60, maxRequests: 10, onExceed: "fail" }, { seconds: 60, maxCostUsd: 0.3, onExceed: "fail" }, { seconds: 1, maxTokens: 900 }, { seconds: 1, maxCostUsd: 0.1 }]',
    );
  });
});

describe('RedisLimiter budget windows on the fallback (onStoreError: "local")', () => {
  it("refuses by the process's own spend while Redis is away: starts made through Redis still count", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    prefix = uniqueKey("bw-fallback");
    const port = await freePort();
    const server = await startRedisServer(port);
    opened.push({ close: () => killHard(server) });
    const l = limiter({ maxConcurrent: 10, windows: DOLLAR, onStoreError: "local", storeTimeoutMs: 300 }, `redis://127.0.0.1:${port}`);
    (await l.acquire({ costUsd: 0.6 })).release();

    await killHard(server);
    (await l.acquire({ costUsd: 0.3 })).release();
    const error = await refusal(l.acquire({ costUsd: 0.2 }));

    expect(l.usingLocalFallback).toBe(true);
    expect(error).toBeInstanceOf(BudgetExceeded);
    expect((error as BudgetExceeded).spent).toBeCloseTo(0.9, 12);
  });
});

interface WorkerReport {
  pid: number;
  starts: number;
  spent: number;
  refusals: Array<{ name: string; kind: string; spent: number; limit: number }>;
  other: string[];
}

function runWorker(config: object): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe"] });
    opened.push({ close: () => killHard(child) });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim()) as WorkerReport) : reject(new Error(`worker exited ${code}: ${err}`))));
  });
}

describe("RedisLimiter budget windows across OS processes", () => {
  it("three processes on one key spend at most the budget plus what the starts in flight overran, and all end refused", async () => {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`pnpm build\` before these tests`);
    prefix = uniqueKey("bw-processes");
    const budget = 1;
    const limits = { maxConcurrent: 4, windows: [{ seconds: 60, maxCostUsd: budget, onExceed: "fail" }] };
    const estimate = 0.03;
    const maxActual = 0.05;
    const config = { url: REDIS_URL, key: prefix, limits, lanes: 4, estimate, minActual: 0.01, maxActual, startAt: Date.now() + 3000 };

    const reports = await Promise.all([runWorker(config), runWorker(config), runWorker(config)]);

    const spent = reports.reduce((sum, r) => sum + r.spent, 0);
    const starts = reports.reduce((sum, r) => sum + r.starts, 0);
    const inRedis = (await admin.hvals(`${prefix}:weights`)).reduce((sum, v) => sum + Number(v.split(":")[3]), 0);
    const looseBound = budget + 3 * limits.maxConcurrent * maxActual;
    // Each admission keeps the shared spend within the budget; after the last one only the starts then in
    // flight (at most maxConcurrent across all processes: a settle reaches Redis before its release) can
    // still overrun their estimate, each by at most maxActual - estimate.
    const tightBound = budget + limits.maxConcurrent * (maxActual - estimate);
    const refusals = reports.flatMap((r) => r.refusals);
    console.log(
      `[redis budget windows] 3 processes x ${config.lanes} lanes, maxConcurrent ${limits.maxConcurrent}, budget $${budget}, estimate $${estimate}, actual in [$0.01, $${maxActual}]: ` +
        `${starts} starts (per process ${reports.map((r) => r.starts).join("/")}), spent $${spent.toFixed(4)} (Redis holds $${inRedis.toFixed(4)}), ` +
        `overshoot $${Math.max(0, spent - budget).toFixed(4)} (bounds: $${(tightBound - budget).toFixed(2)} tight, $${(looseBound - budget).toFixed(2)} loose); ` +
        `refusals per process ${reports.map((r) => r.refusals.length).join("/")}, spent seen at refusal $${Math.min(...refusals.map((r) => r.spent)).toFixed(4)}..$${Math.max(...refusals.map((r) => r.spent)).toFixed(4)}`,
    );

    expect(reports.flatMap((r) => r.other)).toEqual([]);
    expect(inRedis).toBeCloseTo(spent, 9); // every settle reached Redis
    expect(spent).toBeLessThanOrEqual(looseBound);
    expect(spent).toBeLessThanOrEqual(tightBound + 1e-9);
    // Refused only once the budget was nearly spent (a refusal needs more than budget - estimate in the window).
    expect(spent).toBeGreaterThan(budget - estimate - limits.maxConcurrent * (estimate - config.minActual));
    expect(reports.filter((r) => r.starts > 0).length).toBeGreaterThanOrEqual(2); // the processes did share it
    for (const r of reports) {
      expect(r.refusals).toHaveLength(config.lanes);
      for (const f of r.refusals) {
        expect(f).toMatchObject({ name: "BudgetExceeded", kind: "maxCostUsd", limit: budget });
        expect(f.spent + estimate).toBeGreaterThan(budget);
      }
    }
  });
});
