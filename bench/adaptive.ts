/**
 * Section 4, adaptive: `AdaptiveThrottledNode` against a provider whose limit
 * it is not told (at most `maxConcurrent` requests in flight; one more is a
 * 429 with a retry hint). Baseline: a `ThrottledParallelBatchNode` given the
 * limit, in the same invocation.
 */
import { AdaptiveThrottledNode, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { compact, percent, postJson, type Row, row, type SectionResult, seconds } from "./lib.js";
import { startRemoteProvider } from "./provider.js";

export interface AdaptiveConfig {
  items: number;
  /** The provider's concurrency limit, unknown to the adaptive node. */
  serverConcurrent: number;
  latencyMs: number;
}

export const ADAPTIVE: AdaptiveConfig = { items: 2000, serverConcurrent: 8, latencyMs: 25 };

interface Shared {
  prompts: string[];
  answers?: unknown[];
}

/** Completion times of one run, and the figures derived from them. */
interface RunFigures {
  makespanMs: number;
  answered: number;
  /** Items per second over the second half of the run (time-wise): the steady state. */
  steadyPerSecond: number;
  overallPerSecond: number;
}

function figures(started: number, ends: number[], answered: number): RunFigures {
  const makespanMs = (ends.at(-1) ?? started) - started;
  const half = started + makespanMs / 2;
  const late = ends.filter((t) => t >= half).length;
  return {
    makespanMs,
    answered,
    steadyPerSecond: (late / (makespanMs / 2)) * 1000,
    overallPerSecond: (ends.length / makespanMs) * 1000,
  };
}

export async function benchAdaptive(config: AdaptiveConfig = ADAPTIVE): Promise<SectionResult> {
  const provider = await startRemoteProvider({ maxConcurrent: config.serverConcurrent, latencyMs: config.latencyMs, seed: 4 });
  try {
    const url = `${provider.baseURL}/chat/completions`;
    const prompts = Array.from({ length: config.items }, (_, i) => `Summarise record ${i}`);
    let ends: number[] = [];
    const call = async (prompt: string) => {
      const { body } = await postJson(url, { model: "sim", messages: [{ role: "user", content: prompt }] });
      ends.push(performance.now());
      return body;
    };

    class Known extends ThrottledParallelBatchNode<Shared, string, unknown> {
      async prepAsync(shared: Shared) {
        return shared.prompts;
      }
      execAsync = call;
      async postAsync(shared: Shared, _p: unknown, answers: unknown[]) {
        shared.answers = answers;
        return undefined;
      }
    }
    class Learner extends AdaptiveThrottledNode<Shared, string, unknown> {
      async prepAsync(shared: Shared) {
        return shared.prompts;
      }
      execAsync = call;
      async postAsync(shared: Shared, _p: unknown, answers: unknown[]) {
        shared.answers = answers;
        return undefined;
      }
    }

    // Baseline: told the limit.
    const known: Shared = { prompts };
    ends = [];
    let started = performance.now();
    await new Known({ maxConcurrent: config.serverConcurrent }).runAsync(known);
    const base = figures(started, ends, known.answers?.length ?? 0);
    const baseStats = await provider.stats();
    await provider.resetStats();

    // Adaptive: default options (starts at 5, ceiling 20), not told the limit.
    const learner = new Learner();
    const learned: Shared = { prompts };
    ends = [];
    let lost = 0;
    started = performance.now();
    try {
      await learner.runAsync(learned);
    } catch {
      lost = config.items - ends.length; // an item failed for good: the batch rejected
    }
    const adaptive = figures(started, ends, ends.length);
    lost ||= config.items - (learned.answers?.filter((a) => a !== undefined).length ?? 0);
    const stats = await provider.stats();
    const nodeStats = learner.stats;
    const limitPerSecond = (config.serverConcurrent / config.latencyMs) * 1000;
    const share = adaptive.steadyPerSecond / base.steadyPerSecond;
    const label = `limit ${config.serverConcurrent} in flight, ${config.items} items`;
    const rows: Row[] = [
      row(
        "4 adaptive",
        `told the limit (baseline): steady throughput`,
        `${compact(base.steadyPerSecond)} items/s`,
        base.steadyPerSecond,
        `${percent(base.steadyPerSecond / limitPerSecond)} of ${compact(limitPerSecond)}/s nominal`,
      ),
      row("4 adaptive", `${label}: items lost`, String(lost), lost, "", "0", lost === 0),
      row(
        "4 adaptive",
        `${label}: 429s taken`,
        `${stats.rejected} (${percent(stats.rejected / config.items)} of items)`,
        stats.rejected,
      ),
      row(
        "4 adaptive",
        `${label}: steady throughput`,
        `${compact(adaptive.steadyPerSecond)} items/s`,
        adaptive.steadyPerSecond,
        `${percent(share)} of baseline`,
        ">= 85%",
        share >= 0.85,
      ),
      row(
        "4 adaptive",
        `${label}: makespan`,
        seconds(adaptive.makespanMs),
        adaptive.makespanMs,
        `${(adaptive.makespanMs / base.makespanMs).toFixed(3)}x baseline ${seconds(base.makespanMs)}`,
      ),
    ];
    return {
      rows,
      data: { config, baseline: base, baselineServerStats: baseStats, adaptive, serverStats: stats, nodeStats, lost, limitPerSecond },
    };
  } finally {
    await provider.close();
  }
}
