/**
 * Section 1, overhead: 1,000,000 no-op items at concurrency 64, no rate limit,
 * each variant in its own process (throughput and peak RSS), best of two runs.
 */
import { best, type ChildResult, compact, interleave, lowest, type Row, row, runChild, type SectionResult, times } from "./lib.js";

export interface OverheadConfig {
  items: number;
  concurrency: number;
  /** Runs (processes) per variant; the best counts. The fast variants time ~0.1 s, so they get more. */
  runs: Readonly<Record<(typeof VARIANTS)[number], number>>;
}

const VARIANTS = ["bare", "p-limit", "parallel-node", "throttled-node"] as const;

export const OVERHEAD: OverheadConfig = {
  items: 1_000_000,
  concurrency: 64,
  runs: { bare: 4, "p-limit": 2, "parallel-node": 2, "throttled-node": 4 },
};

/** The throttled node observed: a no-op subscriber on the three channels, and OTel instrumented. */
const OBSERVED = ["throttled-node-subscriber", "throttled-node-otel"] as const;

const OBSERVED_LABELS: Record<(typeof OBSERVED)[number], string> = {
  "throttled-node-subscriber": "ThrottledParallelBatchNode + channel subscriber",
  "throttled-node-otel": "ThrottledParallelBatchNode + OTel instrument()",
};

const LABELS: Record<(typeof VARIANTS)[number], string> = {
  bare: "bare pull pool (64 workers)",
  "p-limit": "p-limit over Promise.all",
  "parallel-node": "AsyncParallelBatchNode (unthrottled)",
  "throttled-node": "ThrottledParallelBatchNode",
};

export async function benchOverhead(config: OverheadConfig = OVERHEAD): Promise<SectionResult> {
  const rounds = Math.max(...Object.values(config.runs));
  const runs = await interleave(VARIANTS, rounds, (variant, round) =>
    round < config.runs[variant as (typeof VARIANTS)[number]]
      ? runChild("overhead.mjs", [variant, config.items, config.concurrency])
      : undefined,
  );
  const rate = (v: string) => best(runs.get(v) as ChildResult[], "itemsPerSecond").itemsPerSecond as number;
  const rss = (v: string) => lowest(runs.get(v) as ChildResult[], "peakRssMb");
  const bare = rate("bare");
  const bareRss = rss("bare");
  const section = "1 overhead";
  const rows: Row[] = [];
  for (const v of VARIANTS) {
    const r = rate(v);
    const isThrottled = v === "throttled-node";
    rows.push(
      row(
        section,
        `${LABELS[v]}: items/s`,
        `${compact(r)} items/s`,
        r,
        v === "bare" ? "baseline" : `${times(r / bare)} bare pool`,
        isThrottled ? ">= 0.333x" : "",
        isThrottled ? r / bare >= 1 / 3 : undefined,
      ),
    );
  }
  const throttled = rate("throttled-node");
  // Observed: with a subscriber on every channel, and with OTel instrumented (fewer items: they are slow).
  const observed = await interleave(OBSERVED, config.runs["throttled-node"], (variant) =>
    runChild("overhead.mjs", [variant, Math.ceil(config.items / 10), config.concurrency]),
  );
  for (const v of OBSERVED) {
    const r = best(observed.get(v) as ChildResult[], "itemsPerSecond").itemsPerSecond as number;
    rows.push(row(section, `${OBSERVED_LABELS[v]} (${compact(Math.ceil(config.items / 10))} items): items/s`, `${compact(r)} items/s`, r, `${times(r / throttled)} unobserved`, "", undefined));
  }
  const pLimit = rate("p-limit");
  rows.push(
    row(
      section,
      "ThrottledParallelBatchNode vs p-limit: items/s",
      `${compact(throttled)} items/s`,
      throttled,
      `${times(throttled / pLimit)} p-limit`,
      ">= 20x",
      throttled / pLimit >= 20,
    ),
  );
  for (const v of VARIANTS) {
    const m = rss(v);
    const isThrottled = v === "throttled-node";
    rows.push(
      row(
        section,
        `${LABELS[v]}: peak RSS`,
        `${m.toFixed(0)} MB`,
        m,
        v === "bare" ? "baseline" : `${times(m / bareRss)} bare pool`,
        isThrottled ? "<= 2x" : "",
        isThrottled ? m / bareRss <= 2 : undefined,
      ),
    );
  }
  return { rows, data: { config, runs: Object.fromEntries(runs), observed: Object.fromEntries(observed) } };
}
