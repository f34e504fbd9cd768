/**
 * Section 5, flow level: 10,000 instances of a two-node flow (no-op async
 * nodes) through `ThrottledAsyncParallelBatchFlow` vs the same flow run from
 * a bare pull pool at the same concurrency, each in its own process.
 */
import { best, type ChildResult, compact, interleave, type Row, row, runChild, type SectionResult, seconds, times } from "./lib.js";

export interface FlowConfig {
  instances: number;
  concurrency: number;
  /** Timed repeats inside each child (the best counts). */
  repeats: number;
  runs: number;
}

export const FLOW: FlowConfig = { instances: 10_000, concurrency: 64, repeats: 20, runs: 3 };

export async function benchFlow(config: FlowConfig = FLOW): Promise<SectionResult> {
  const variants = ["bare-pool", "throttled-flow"];
  const runs = await interleave(variants, config.runs, (variant) =>
    runChild("flow.mjs", [variant, config.instances, config.concurrency, config.repeats]),
  );
  const bare = best(runs.get("bare-pool") as ChildResult[], "flowsPerSecond");
  const throttled = best(runs.get("throttled-flow") as ChildResult[], "flowsPerSecond");
  const label = `${compact(config.instances)} two-node flows at ${config.concurrency}`;
  const rows: Row[] = [
    row("5 flow", `bare pool + AsyncFlow.runAsync: ${label}`, `${seconds(bare.ms)} (${compact(bare.flowsPerSecond as number)} flows/s)`, bare.ms, "baseline"),
    row(
      "5 flow",
      `ThrottledAsyncParallelBatchFlow: ${label}`,
      `${seconds(throttled.ms)} (${compact(throttled.flowsPerSecond as number)} flows/s)`,
      throttled.ms,
      `${times(throttled.ms / bare.ms)} bare time`,
    ),
  ];
  return { rows, data: { config, runs: Object.fromEntries(runs) } };
}
