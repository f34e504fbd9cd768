/**
 * Section 4, adaptive: `AdaptiveThrottledNode` against a provider whose limit
 * it is not told (at most `maxConcurrent` requests in flight; one more is a
 * 429 with a retry hint). Baseline: a `ThrottledParallelBatchNode` given the
 * limit, in the same invocation.
 */
import { type AdaptiveThrottleOptions, AdaptiveThrottledNode, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { sampler } from "./charts.js";
import { compact, percent, postJson, type Row, row, type SectionResult } from "./lib.js";
import { startRemoteProvider } from "./provider.js";

export interface AdaptiveConfig {
  items: number;
  /** The provider's concurrency limit, unknown to the adaptive node. */
  serverConcurrent: number;
  latencyMs: number;
}

export const ADAPTIVE: AdaptiveConfig = { items: 1500, serverConcurrent: 8, latencyMs: 25 };

interface Shared {
  prompts: string[];
  answers?: unknown[];
}

/** Makes `node` send each of `shared.prompts` through `call` and store the answers. */
function asking<N extends ThrottledParallelBatchNode<Shared, string, unknown>>(node: N, call: (prompt: string) => Promise<unknown>): N {
  node.prepAsync = async (shared: Shared) => shared.prompts;
  node.execAsync = call;
  node.postAsync = async (shared: Shared, _prompts: unknown, answers: unknown[]) => {
    shared.answers = answers;
    return undefined;
  };
  return node;
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

    // Baseline: told the limit.
    const known: Shared = { prompts };
    ends = [];
    let started = performance.now();
    await asking(new ThrottledParallelBatchNode<Shared, string, unknown>({ maxConcurrent: config.serverConcurrent }), call).runAsync(known);
    const base = figures(started, ends, known.answers?.length ?? 0);
    const baseStats = await provider.stats();
    await provider.resetStats();

    // Adaptive, not told the limit: the default options (start at 5, ceiling 20, backoff 0.5), then a gentler backoff.
    const variants: { name: string; options: AdaptiveThrottleOptions }[] = [
      { name: "defaults", options: {} },
      { name: "backoffFactor 0.8", options: { backoffFactor: 0.8 } },
    ];
    const limitPerSecond = (config.serverConcurrent / config.latencyMs) * 1000;
    const section = "4 adaptive";
    const rows: Row[] = [
      row(
        section,
        `ThrottledParallelBatchNode told the limit: steady throughput`,
        `${compact(base.steadyPerSecond)} items/s`,
        base.steadyPerSecond,
        `baseline (${percent(base.steadyPerSecond / limitPerSecond)} of ${compact(limitPerSecond)}/s nominal)`,
      ),
    ];
    const results: Record<string, unknown> = {};
    for (const { name, options } of variants) {
      const learner = asking(new AdaptiveThrottledNode<Shared, string, unknown>(options), call);
      const learned: Shared = { prompts };
      ends = [];
      let failure: unknown;
      // The concurrency in force over time: the adaptive chart.
      const concurrency = sampler(() => learner.currentConcurrent);
      started = performance.now();
      try {
        await learner.runAsync(learned);
      } catch (error) {
        failure = error; // an item failed for good and the batch rejected
      }
      const concurrencyOverTime = concurrency.stop();
      const adaptive = figures(started, ends, ends.length);
      const lost = config.items - ends.length;
      const stats = await provider.stats();
      await provider.resetStats();
      const share = adaptive.steadyPerSecond / base.steadyPerSecond;
      const label = `AdaptiveThrottledNode (${name})`;
      rows.push(
        row(section, `${label}: items lost`, String(lost), lost, "", "0", lost === 0),
        row(section, `${label}: 429s taken`, `${stats.rejected} (${percent(stats.rejected / config.items)} of items)`, stats.rejected),
        row(
          section,
          `${label}: steady throughput`,
          `${compact(adaptive.steadyPerSecond)} items/s`,
          adaptive.steadyPerSecond,
          `${percent(share)} of baseline`,
          ">= 85%",
          share >= 0.85,
        ),
      );
      results[name] = {
        options,
        ...adaptive,
        lost,
        serverStats: stats,
        nodeStats: learner.stats,
        concurrencyOverTime,
        failure: failure === undefined ? undefined : String(failure),
      };
    }
    return {
      rows,
      data: { config, limitPerSecond, baseline: { ...base, serverStats: baseStats }, adaptive: results },
    };
  } finally {
    await provider.close();
  }
}

/** The per-window scenario: the provider caps requests per window (no concurrency cap), unknown to the node. */
export interface AdaptiveRateConfig {
  items: number;
  requestsPerWindow: number;
  windowMs: number;
  latencyMs: number;
}

export const ADAPTIVE_RATE: AdaptiveRateConfig = { items: 600, requestsPerWindow: 100, windowMs: 1000, latencyMs: 25 };

/**
 * `AdaptiveThrottledNode` (defaults) against a provider that limits requests
 * per window, the common case for LLM APIs. Its 429s carry `retry-after-ms`,
 * which pauses the whole limiter until the window has room again.
 */
export async function benchAdaptiveRate(config: AdaptiveRateConfig = ADAPTIVE_RATE): Promise<SectionResult> {
  const provider = await startRemoteProvider({
    requestsPerWindow: config.requestsPerWindow,
    windowMs: config.windowMs,
    latencyMs: config.latencyMs,
    seed: 5,
  });
  try {
    const url = `${provider.baseURL}/chat/completions`;
    const ends: number[] = [];
    const call = async (prompt: string) => {
      const { body } = await postJson(url, { model: "sim", messages: [{ role: "user", content: prompt }] });
      ends.push(performance.now());
      return body;
    };
    const learner = asking(new AdaptiveThrottledNode<Shared, string, unknown>(), call);
    const shared: Shared = { prompts: Array.from({ length: config.items }, (_, i) => `Classify ticket ${i}`) };
    const concurrency = sampler(() => learner.currentConcurrent);
    const started = performance.now();
    let failure: unknown;
    try {
      await learner.runAsync(shared);
    } catch (error) {
      failure = error;
    }
    const concurrencyOverTime = concurrency.stop();
    const run = figures(started, ends, ends.length);
    const stats = await provider.stats();
    const limitPerSecond = (config.requestsPerWindow / config.windowMs) * 1000;
    const share = run.steadyPerSecond / limitPerSecond;
    const lost = config.items - ends.length;
    const label = `AdaptiveThrottledNode (defaults) vs ${config.requestsPerWindow} req/${config.windowMs / 1000}s provider`;
    const section = "4 adaptive";
    return {
      rows: [
        row(section, `${label}: items lost`, String(lost), lost, "", "0", lost === 0),
        row(section, `${label}: 429s taken`, `${stats.rejected} (${percent(stats.rejected / config.items)} of items)`, stats.rejected),
        row(
          section,
          `${label}: steady throughput`,
          `${compact(run.steadyPerSecond)} items/s`,
          run.steadyPerSecond,
          `${percent(share)} of the provider's limit`,
          ">= 85%",
          share >= 0.85,
        ),
      ],
      data: { config, ...run, lost, serverStats: stats, nodeStats: learner.stats, concurrencyOverTime, failure: failure === undefined ? undefined : String(failure) },
    };
  } finally {
    await provider.close();
  }
}
