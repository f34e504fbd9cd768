/**
 * Section 3, compliance: N items through a node whose limiter matches the
 * strict simulated provider's request window (the provider runs in its own
 * process). The server refuses (429) any request that would put more than
 * `limit` arrivals in a half-open interval `[t, t + window)`, the interval
 * the limiter counts starts in; the client's window is longer by a small
 * documented margin, because a request arrives some milliseconds after the
 * limiter starts it, and not always the same number (docs/performance.md).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { delay, HttpError, percent, postJson, type Row, row, type SectionResult, seconds, times } from "./lib.js";
import { startRemoteProvider } from "./provider.js";

export interface ComplianceConfig {
  items: number;
  /** Requests per window, on both sides. */
  limit: number;
  windowMs: number;
  latencyMs: number;
  /** How much longer the client's window is than the server's, in ms. */
  marginMs: number;
}

export const COMPLIANCE: ComplianceConfig = { items: 100, limit: 20, windowMs: 8000, latencyMs: 20, marginMs: 50 };

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
 * code once), then waits until those requests have left its window: a cold
 * process's first requests leave 50-150 ms after they start, far more than
 * later ones (see docs/performance.md).
 */
export async function warmUp(url: string, connections: number, windowMs: number): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, () => postJson(url, { model: "sim", messages: [{ role: "user", content: "warm-up" }] })),
  );
  await delay(windowMs + 20);
}

export async function benchCompliance(config: ComplianceConfig = COMPLIANCE): Promise<SectionResult> {
  const provider = await startRemoteProvider({
    requestsPerWindow: config.limit,
    windowMs: config.windowMs,
    latencyMs: config.latencyMs,
    seed: 3,
  });
  try {
    const url = `${provider.baseURL}/chat/completions`;
    await warmUp(url, config.limit, config.windowMs);
    await provider.resetStats();
    // Diagnostics for results.json: when 429s came, and how long the client's event loop stalled.
    const refusals: { atMs: number; retryAfterMs: string | null }[] = [];
    const stalls = monitorEventLoopDelay({ resolution: 1 });
    let started = 0;
    // Every start (retries too), in ms since the batch began: the compliance chart.
    const startsMs: number[] = [];
    class Complete extends ThrottledParallelBatchNode<Shared, string, unknown> {
      override async prepAsync(shared: Shared) {
        return shared.prompts;
      }
      override async execAsync(prompt: string) {
        // Only the body: the limiter alone keeps the window (errors still carry their headers).
        startsMs.push(performance.now() - started);
        try {
          return (await postJson(url, { model: "sim", messages: [{ role: "user", content: prompt }] })).body;
        } catch (error) {
          if (error instanceof HttpError && error.status === 429) {
            refusals.push({ atMs: performance.now() - started, retryAfterMs: error.headers.get("retry-after-ms") });
          }
          throw error;
        }
      }
      override async postAsync(shared: Shared, _p: unknown, answers: unknown[]) {
        shared.answers = answers;
        return undefined;
      }
    }
    const limiter = new RateLimiter({
      maxConcurrent: 64,
      maxPerWindow: config.limit,
      windowSeconds: config.windowMs / 1000,
      // The bench's margin, in place of the default (0.1 s): one margin, not the two a longer window would add.
      arrivalMarginSeconds: config.marginMs / 1000,
    });
    // maxRetries 3: a 429 (if any) pauses the limiter for the server's hint and is retried, not fatal.
    const node = new Complete({ limiter, maxRetries: 3 });
    const shared: Shared = { prompts: Array.from({ length: config.items }, (_, i) => `Say hello to item ${i}`) };
    stalls.enable();
    started = performance.now();
    let failure: unknown;
    try {
      await node.runAsync(shared);
    } catch (error) {
      failure = error;
    }
    const makespan = performance.now() - started;
    stalls.disable();
    const minimum = minimumMakespan(config.items, config.limit, config.windowMs, config.latencyMs);
    const stats = await provider.stats();
    const peak = await provider.maxInAnyWindow(config.windowMs);
    const answered = (shared.answers ?? []).filter((a) => a !== undefined).length;
    const violations = stats.rejectedRequests + Math.max(0, peak - config.limit);
    const label = `${config.items} req at ${config.limit}/${config.windowMs / 1000}s`;
    const section = "3 compliance";
    const rows: Row[] = [
      row(section, `${label}: 429s`, String(stats.rejected), stats.rejected, "", "0", stats.rejected === 0),
      row(
        section,
        `${label}: window violations`,
        `${violations} (peak ${peak}/${config.limit})`,
        violations,
        "",
        "0",
        violations === 0,
      ),
      row(
        section,
        `${label}: makespan (margin ${config.marginMs} ms)`,
        seconds(makespan),
        makespan,
        `${times(makespan / minimum)} min ${seconds(minimum)}`,
        "<= 1.01x",
        makespan / minimum <= 1.01,
      ),
      row(
        section,
        `${label}: items answered`,
        `${answered}/${config.items}`,
        answered,
        percent(answered / config.items),
        "100%",
        answered === config.items,
      ),
    ];
    return {
      rows,
      data: {
        config,
        makespanMs: makespan,
        minimumMs: minimum,
        serverStats: stats,
        peakInWindow: peak,
        answered,
        refusals,
        startsMs,
        clientEventLoopDelayMs: { p99: stalls.percentile(99) / 1e6, max: stalls.max / 1e6 },
        failure: failure === undefined ? undefined : String(failure),
      },
    };
  } finally {
    await provider.close();
  }
}
