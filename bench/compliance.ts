/**
 * Section 3, compliance: N items through a node whose limiter matches the
 * strict simulated provider's request window. The server refuses (429) any
 * request that would put more than `limit` arrivals in a half-open interval
 * `[t, t + window)`, the same interval the limiter counts starts in.
 */
import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { startSimulatedProvider } from "../cookbook/rate-limited-llm-batch/simulated-provider.js";
import { delay, percent, postJson, type Row, row, type SectionResult, seconds, times } from "./lib.js";

export interface ComplianceConfig {
  items: number;
  /** Requests per window, on both sides. */
  limit: number;
  windowMs: number;
  latencyMs: number;
  /** Extra length of the client's window over the server's, in ms (see docs/performance.md). */
  marginMs: number;
}

export const COMPLIANCE: ComplianceConfig = { items: 100, limit: 20, windowMs: 2000, latencyMs: 20, marginMs: 12 };

interface Shared {
  prompts: string[];
  answers?: unknown[];
}

/** Theoretical minimum makespan: full windows back to back, then one latency. */
export function minimumMakespan(items: number, perWindow: number, windowMs: number, latencyMs: number): number {
  return (Math.ceil(items / perWindow) - 1) * windowMs + latencyMs;
}

/**
 * Opens `connections` keep-alive connections to the server (and runs the HTTP
 * code paths once), then waits until those requests have left its window: a
 * cold process's first requests leave 50-150 ms after their start, which no
 * window margin short of that absorbs (see docs/performance.md).
 */
export async function warmUp(url: string, connections: number, windowMs: number): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, () => postJson(url, { model: "sim", messages: [{ role: "user", content: "warm-up" }] })),
  );
  await delay(windowMs + 20);
}

export async function benchCompliance(config: ComplianceConfig = COMPLIANCE): Promise<SectionResult> {
  const provider = await startSimulatedProvider({
    requestsPerWindow: config.limit,
    windowMs: config.windowMs,
    latencyMs: config.latencyMs,
    seed: 1,
  });
  try {
    const url = `${provider.baseURL}/chat/completions`;
    await warmUp(url, config.limit, config.windowMs);
    provider.resetStats();
    class Complete extends ThrottledParallelBatchNode<Shared, string, unknown> {
      async prepAsync(shared: Shared) {
        return shared.prompts;
      }
      async execAsync(prompt: string) {
        // Only the body: the limiter alone keeps the window (errors carry their headers).
        return (await postJson(url, { model: "sim", messages: [{ role: "user", content: prompt }] })).body;
      }
      async postAsync(shared: Shared, _p: unknown, answers: unknown[]) {
        shared.answers = answers;
        return undefined;
      }
    }
    const limiter = new RateLimiter({
      maxConcurrent: 64,
      maxPerWindow: config.limit,
      windowSeconds: (config.windowMs + config.marginMs) / 1000,
    });
    // maxRetries 3: a 429 (if any) is retried after the server's hint instead of failing the batch.
    const node = new Complete({ limiter, maxRetries: 3 });
    const shared: Shared = { prompts: Array.from({ length: config.items }, (_, i) => `Say hello to item ${i}`) };
    const started = performance.now();
    await node.runAsync(shared);
    const makespan = performance.now() - started;
    const minimum = minimumMakespan(config.items, config.limit, config.windowMs, config.latencyMs);
    const stats = { ...provider.stats };
    const peak = provider.maxInAnyWindow(config.windowMs);
    const answered = (shared.answers ?? []).filter((a) => a !== undefined).length;
    const violations = stats.rejectedRequests + Math.max(0, peak - config.limit);
    const label = `${config.items} req, ${config.limit}/${config.windowMs / 1000}s`;
    const rows: Row[] = [
      row("3 compliance", `${label}: 429s`, String(stats.rejected), stats.rejected, "", "0", stats.rejected === 0),
      row(
        "3 compliance",
        `${label}: window violations`,
        `${violations} (peak ${peak}/${config.limit} in a window)`,
        violations,
        "",
        "0",
        violations === 0,
      ),
      row(
        "3 compliance",
        `${label}: makespan`,
        seconds(makespan),
        makespan,
        `${times(makespan / minimum)} min ${seconds(minimum)}`,
        "<= 1.01x",
        makespan / minimum <= 1.01,
      ),
      row("3 compliance", `${label}: items answered`, `${answered}/${config.items}`, answered, percent(answered / config.items), "100%", answered === config.items),
    ];
    return { rows, data: { config, makespanMs: makespan, minimumMs: minimum, serverStats: stats, peakInWindow: peak, answered } };
  } finally {
    await provider.close();
  }
}
