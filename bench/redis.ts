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
    return row("7 redis", name, compact(value), value, ratio);
  });
  return { rows, data: figures };
}
