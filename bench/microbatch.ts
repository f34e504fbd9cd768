/**
 * Section 6b, micro-batching: 10,000 embeddings through
 * `ThrottledMicroBatchNode` against the simulated provider's
 * `/v1/embeddings` (array input), at `batchSize` 100 vs 1 (the baseline),
 * same node, same concurrency.
 */
import { ThrottledMicroBatchNode } from "pocketflow-throttled";
import { compact, postJson, type Row, row, type SectionResult, seconds, times } from "./lib.js";
import { startRemoteProvider } from "./provider.js";

export interface MicroBatchConfig {
  items: number;
  batchSizes: readonly number[];
  concurrency: number;
  latencyMs: number;
}

export const MICRO_BATCH: MicroBatchConfig = { items: 10_000, batchSizes: [1, 100], concurrency: 32, latencyMs: 10 };

interface Shared {
  texts: string[];
  vectors?: number[][];
}

interface EmbeddingsAnswer {
  data: { index: number; embedding: number[] }[];
}

export async function benchMicroBatch(config: MicroBatchConfig = MICRO_BATCH): Promise<SectionResult> {
  const provider = await startRemoteProvider({ latencyMs: config.latencyMs, seed: 8 });
  try {
    const url = `${provider.baseURL}/embeddings`;
    class Embed extends ThrottledMicroBatchNode<Shared, string, number[]> {
      override async prepAsync(shared: Shared) {
        return shared.texts;
      }
      override async execBatchAsync(texts: string[]) {
        const { body } = await postJson<EmbeddingsAnswer>(url, { model: "sim-embedding", input: texts });
        return body.data.map((d) => d.embedding);
      }
      override async postAsync(shared: Shared, _p: unknown, vectors: number[][]) {
        shared.vectors = vectors;
        return undefined;
      }
    }
    const texts = Array.from({ length: config.items }, (_, i) => `Document ${i}: a short passage to embed.`);
    const runs = [];
    for (const batchSize of config.batchSizes) {
      await provider.resetStats();
      const node = new Embed({ batchSize, maxConcurrent: config.concurrency });
      const shared: Shared = { texts };
      const started = performance.now();
      await node.runAsync(shared);
      const ms = performance.now() - started;
      const complete = shared.vectors?.length === config.items && shared.vectors.every((v) => Array.isArray(v));
      runs.push({ batchSize, ms, apiCalls: node.stats.apiCalls, served: (await provider.stats()).served, complete });
    }
    const base = runs[0] as (typeof runs)[number];
    const label = `${compact(config.items)} embeddings at ${config.concurrency} concurrent`;
    const rows: Row[] = runs.flatMap((r) => [
      row(
        "6 micro-batch",
        `${label}, batchSize ${r.batchSize}: API calls`,
        `${r.apiCalls}${r.complete ? "" : " (INCOMPLETE)"}`,
        r.apiCalls,
        r === base ? "baseline" : `${times(r.apiCalls / base.apiCalls)} batchSize ${base.batchSize} (${compact(base.apiCalls / r.apiCalls)}x fewer)`,
      ),
      row(
        "6 micro-batch",
        `${label}, batchSize ${r.batchSize}: time`,
        seconds(r.ms),
        r.ms,
        r === base ? "baseline" : `${times(r.ms / base.ms)} batchSize ${base.batchSize} (${compact(base.ms / r.ms)}x faster)`,
      ),
    ]);
    return { rows, data: { config, runs } };
  } finally {
    await provider.close();
  }
}

