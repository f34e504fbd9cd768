/**
 * Section 2, limiter start rate: starts per second of 64 concurrent no-op
 * jobs, all submitted at once, under a rate window far longer than the run,
 * each variant in its own process. Baseline: Bottleneck at the same
 * concurrency (it starts a few hundred jobs a second, so it gets fewer jobs).
 */
import { best, type ChildResult, compact, interleave, type Row, row, runChild, type SectionResult, times } from "./lib.js";

export interface LimiterConfig {
  concurrency: number;
  bottleneckJobs: number;
  rateLimiterJobs: number;
  runs: number;
}

export const LIMITER: LimiterConfig = { concurrency: 64, bottleneckJobs: 2_000, rateLimiterJobs: 200_000, runs: 1 };

const LABELS = {
  bottleneck: "Bottleneck({ maxConcurrent: 64 }).schedule",
  "rate-limiter-run": "RateLimiter.run (all queued at once)",
  "rate-limiter-node": "ThrottledParallelBatchNode({ limiter: RateLimiter })",
} as const;

export async function benchLimiter(config: LimiterConfig = LIMITER): Promise<SectionResult> {
  const variants = Object.keys(LABELS) as (keyof typeof LABELS)[];
  const runs = await interleave(variants, config.runs, (variant) =>
    runChild("limiter.mjs", [
      variant,
      variant === "bottleneck" ? config.bottleneckJobs : config.rateLimiterJobs,
      config.concurrency,
    ]),
  );
  const rate = (v: string) => best(runs.get(v) as ChildResult[], "startsPerSecond");
  const bottleneck = rate("bottleneck").startsPerSecond as number;
  const rows: Row[] = variants.map((v) => {
    const r = rate(v);
    const perSecond = r.startsPerSecond as number;
    return row(
      "2 limiter",
      `${LABELS[v]} (${compact(r.items)} jobs)`,
      `${compact(perSecond)} starts/s`,
      perSecond,
      v === "bottleneck" ? "baseline" : `${times(perSecond / bottleneck)} Bottleneck`,
    );
  });
  return { rows, data: { config, runs: Object.fromEntries(runs) } };
}
