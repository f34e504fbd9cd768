/**
 * Section 7, Redis: figures from `redis-bench.ts` (written alongside the
 * Redis limiter), included when that file exists and the local Redis
 * answers; otherwise the section is skipped with a note.
 */
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { compact, type Row, row, type SectionResult, times } from "./lib.js";

const FILE = fileURLToPath(new URL("./redis-bench.ts", import.meta.url));

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
function reachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * A figure's key as people read it: `redisRoundTripsPerSecond5Callers` ->
 * "RedisLimiter: round trips per second, 5 callers".
 */
export function redisFigureLabel(key: string): string {
  const owner = key.startsWith("redis") ? "RedisLimiter" : key.startsWith("local") ? "RateLimiter (in-process)" : "";
  const rest = owner ? key.replace(/^(redis|local)/, "") : key;
  const words = rest
    .replace(/(\d+)([A-Z])/g, ", $1 $2")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .trim();
  return owner ? `${owner}: ${words}` : words;
}

/** The Redis section, or `{ skipped }` saying why not. */
export async function benchRedisSection(): Promise<SectionResult | { skipped: string }> {
  if (!existsSync(FILE)) return { skipped: "bench/redis-bench.ts does not exist" };
  if (!(await reachable("127.0.0.1", 6379, 1000))) return { skipped: "Redis is unreachable on 127.0.0.1:6379" };
  const { benchRedis } = (await import("./redis-bench.js")) as { benchRedis: () => Promise<Record<string, number>> };
  const figures = await benchRedis();
  const rows: Row[] = Object.entries(figures).map(([name, value]) => {
    // A redis* figure is compared with its local* twin when there is one.
    const twin = name.startsWith("redis") ? figures[`local${name.slice("redis".length)}`] : undefined;
    const isBaseline = name.startsWith("local") && !name.includes("Ms");
    const ratio = isBaseline ? "baseline" : twin === undefined || name.includes("Ms") ? "" : `${times(value / twin)} in-process`;
    return row("7 redis", redisFigureLabel(name), compact(value), value, ratio);
  });
  rows.push(...(await distributedRows(figures)));
  return { rows, data: figures };
}

/** 4 worker processes sharing one RedisLimiter against the strict simulated provider (the cookbook's example). */
async function distributedRows(figures: Record<string, number>): Promise<Row[]> {
  const { runDistributed } = await import("../cookbook/rate-limited-llm-batch/distributed-example.js");
  // A 10% window margin absorbs the grant-to-arrival jitter of 4 processes on 2 cores (docs/distributed.md).
  const windowSeconds = 1.1;
  const r = await runDistributed({ workers: 4, items: 50, windowSeconds });
  const ratio = r.startSpanSeconds / r.theoreticalMinimumSeconds;
  const ownMinimum = r.theoreticalMinimumSeconds * windowSeconds;
  Object.assign(figures, {
    distributed429s: r.rejected429,
    distributedMaxInWindow: r.maxStartsInAnyWindow,
    distributedSpanRatio: ratio,
  });
  const label = `4 processes x 50 req, provider 20/1s`;
  return [
    row("7 redis", `${label}: 429s`, String(r.rejected429), r.rejected429, "-", "0", r.rejected429 === 0),
    row("7 redis", `${label}: most in any 1 s`, `${r.maxStartsInAnyWindow}/20`, r.maxStartsInAnyWindow, "-", "<= 20", r.maxStartsInAnyWindow <= 20),
    row(
      "7 redis",
      `${label}: first-to-last start span (limiter window ${windowSeconds} s)`,
      `${r.startSpanSeconds.toFixed(2)} s`,
      r.startSpanSeconds,
      `${times(ratio)} provider min ${r.theoreticalMinimumSeconds.toFixed(2)} s; ${times(r.startSpanSeconds / ownMinimum)} limiter's own`,
    ),
  ];
}
