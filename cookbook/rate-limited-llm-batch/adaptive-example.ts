/**
 * Adaptive throttling: an `AdaptiveThrottledNode` finds an API's limit by
 * itself. It starts at 10 calls at once; every 429 halves that, every 5
 * successes in a row raise it by half again, within [2, 30]. Rate-limited
 * items wait (the answer's `retry-after-ms`) and run again: none is lost.
 *
 * The API is the embedded simulated provider with a limit the node is not
 * told: at most 6 requests in flight, one more is a 429.
 *
 *   npx tsx adaptive-example.ts
 */
import { AdaptiveThrottledNode, type AdaptiveNodeStats } from "pocketflow-throttled";
import { callLlm, type DemoProviderOptions, isMain, type LlmResult, secondsSince, type SimulatedProvider, startDemoProvider } from "./utils.js";

/** The API's hidden limit: 6 in flight; 50–150 ms per call. */
export const UNPREDICTABLE_API: DemoProviderOptions = { maxConcurrent: 6, latencyMs: [50, 150] };

interface Shared {
  items: number[];
  results?: string[];
}

/**
 * Processes items with adaptive concurrency: starts at 10, backs off to no
 * fewer than 2, caps at 30, recovers after 5 successes in a row by 50%.
 */
export class AdaptiveProcessingNode extends AdaptiveThrottledNode<Shared, number, LlmResult> {
  override initialConcurrent = 10;
  override minConcurrent = 2;
  override maxConcurrent = 30;
  override backoffFactor = 0.5; // halve on a rate limit
  override recoveryThreshold = 5; // successes in a row before stepping up
  override recoveryFactor = 1.5; // +50% per step
  override maxRateLimitRetries = 10; // an item waits and re-runs up to 10 times before it fails
  override maxPerMinute = 3000; // a safety net far above what the API allows

  constructor(readonly api: SimulatedProvider) {
    super();
  }

  override async prepAsync(shared: Shared) {
    return shared.items;
  }

  override async execAsync(item: number) {
    return callLlm(`Process item ${item}`, { server: this.api, maxTokens: 50 });
  }

  override async postAsync(shared: Shared, _items: unknown, results: LlmResult[]) {
    shared.results = results.map((r) => r.text);
    return "default";
  }
}

export interface AdaptiveOptions {
  batches?: number;
  batchSize?: number;
  api?: DemoProviderOptions;
  log?: (line: string) => void;
}

export interface BatchFigures extends AdaptiveNodeStats {
  batch: number;
  items: number;
  processed: number;
  seconds: number;
  /** 429s the API sent during this batch. */
  rateLimited: number;
}

export interface AdaptiveReport {
  batches: BatchFigures[];
  final: AdaptiveNodeStats;
  /** Requests the API served / refused over the whole run. */
  served: number;
  rejected: number;
  peakConcurrency: number;
  /** Items that never got a result (must be 0). */
  lost: number;
}

/** Runs `batches` batches through one adaptive node, which keeps what it learnt between them. */
export async function runAdaptiveDemo(options: AdaptiveOptions = {}): Promise<AdaptiveReport> {
  const batches = options.batches ?? 5;
  const batchSize = options.batchSize ?? 50;
  const log = options.log ?? ((line: string) => console.log(line));
  const api = await startDemoProvider(options.api ?? UNPREDICTABLE_API);
  try {
    const node = new AdaptiveProcessingNode(api);
    log("=".repeat(60));
    log("Adaptive Throttling Demo");
    log("=".repeat(60));
    log("\nInitial configuration:");
    log(`  - Initial concurrent: ${node.initialConcurrent}`);
    log(`  - Min concurrent: ${node.minConcurrent}`);
    log(`  - Max concurrent: ${node.maxConcurrent}`);
    log(`  - Backoff factor: ${node.backoffFactor}`);
    log(`  - Recovery threshold: ${node.recoveryThreshold}`);
    log(`  - Recovery factor: ${node.recoveryFactor}`);
    log(`\nThe API allows ${(options.api ?? UNPREDICTABLE_API).maxConcurrent ?? "unlimited"} requests in flight (the node is not told).`);
    log(`\n${"-".repeat(40)}\nProcessing batches (watch the concurrency adapt):\n${"-".repeat(40)}`);

    const figures: BatchFigures[] = [];
    let lost = 0;
    for (let batch = 1; batch <= batches; batch++) {
      const items = Array.from({ length: batchSize }, (_, i) => (batch - 1) * batchSize + i);
      const shared: Shared = { items };
      const rejectedBefore = api.stats.refused;
      const start = performance.now();
      await node.runAsync(shared);
      const processed = shared.results?.length ?? 0;
      lost += items.length - processed;
      const row: BatchFigures = {
        batch,
        items: items.length,
        processed,
        seconds: secondsSince(start),
        rateLimited: api.stats.refused - rejectedBefore,
        ...node.stats,
      };
      figures.push(row);
      log(`\nBatch ${batch}:`);
      log(`  - Items processed: ${row.processed}/${row.items}`);
      log(`  - Time: ${row.seconds.toFixed(2)} s`);
      log(`  - 429s from the API: ${row.rateLimited}`);
      log(`  - Current concurrent: ${row.currentConcurrent}`);
      log(`  - Total successes: ${row.totalSuccesses}`);
      log(`  - Total rate limits: ${row.totalRateLimits}`);
      log(`  - Consecutive successes: ${row.consecutiveSuccesses}`);
    }

    const report: AdaptiveReport = {
      batches: figures,
      final: node.stats,
      served: api.stats.answered,
      rejected: api.stats.refused,
      peakConcurrency: api.stats.maxConcurrentSeen,
      lost,
    };
    log(`\n${"-".repeat(40)}\nFinal statistics:\n${"-".repeat(40)}`);
    log(`  - Final concurrency: ${report.final.currentConcurrent}`);
    log(`  - Calls that succeeded: ${report.final.totalSuccesses}`);
    log(`  - Rate limits hit: ${report.final.totalRateLimits}`);
    log(`  - API: ${report.served} served, ${report.rejected} refused (429), peak ${report.peakConcurrency} in flight`);
    log(`  - Items lost: ${report.lost}`);
    log(`
The AdaptiveThrottledNode:
1. backs off on a rate limit: concurrency × ${node.backoffFactor}, success streak reset;
2. recovers after ${node.recoveryThreshold} successes in a row: concurrency × ${node.recoveryFactor} (at least +1);
3. retries the rate-limited item after the API's retry-after, so nothing is lost;
4. keeps what it learnt for the next batch (node.stats; resetAdaptiveState() starts over).`);
    return report;
  } finally {
    await api.stop();
  }
}

if (isMain(import.meta.url)) await runAdaptiveDemo();
