/**
 * Micro-batching: embed texts 100 per call instead of one per call.
 *
 * A provider that allows 60 requests per second allows 60 texts per second
 * one by one, and 6,000 in batches of 100 (OpenAI's `/v1/embeddings` takes an
 * array). `ThrottledMicroBatchNode` packs the items into batches, runs one
 * `execBatchAsync(batch)` per batch under its limiter, and hands back one
 * result per item in input order.
 *
 *   npx tsx micro-batch-example.ts
 */
import { RateLimiter, ThrottledMicroBatchNode } from "pocketflow-throttled";
import { type DemoProviderOptions, embedTexts, isMain, secondsSince, type SimulatedProvider, sleep, startDemoProvider } from "./utils.js";

/** The embeddings provider: 60 requests per 1 s window, 10 in flight, 30–80 ms per call. */
export const EMBEDDINGS_SERVER: DemoProviderOptions = {
  requestsPerWindow: 60,
  windowMs: 1000,
  maxConcurrent: 10,
  latencyMs: [30, 80],
};

interface Shared {
  texts: string[];
  vectors?: number[][];
}

/** Embeds texts, `batchSize` per call to `/v1/embeddings`. */
export class EmbedNode extends ThrottledMicroBatchNode<Shared, string, number[]> {
  constructor(
    readonly api: SimulatedProvider,
    limiter: RateLimiter,
    batchSize: number,
  ) {
    super({ limiter, batchSize, maxRetries: 3 });
  }

  override async prepAsync(shared: Shared) {
    return shared.texts;
  }

  /** One call for the whole batch; one vector per text, in order. */
  override async execBatchAsync(texts: string[]) {
    return (await embedTexts(texts, { server: this.api })).vectors;
  }

  override async postAsync(shared: Shared, _texts: unknown, vectors: number[][]) {
    shared.vectors = vectors;
    return "default";
  }
}

export interface EmbeddingRun {
  batchSize: number;
  texts: number;
  vectors: number;
  /** Calls of `execBatchAsync` (the node's stats). */
  apiCalls: number;
  /** Requests the provider answered. */
  served: number;
  rateLimited: number;
  seconds: number;
}

export interface MicroBatchOptions {
  texts?: number;
  batchSizes?: number[];
  server?: DemoProviderOptions;
  /** How much longer our window is than the server's (default 0.25: see main.ts's `providerLimiter`). */
  headroom?: number;
  log?: (line: string) => void;
}

export async function runMicroBatchExample(options: MicroBatchOptions = {}): Promise<EmbeddingRun[]> {
  const serverOptions = options.server ?? EMBEDDINGS_SERVER;
  const log = options.log ?? ((line: string) => console.log(line));
  const windowMs = serverOptions.windowMs ?? 60_000;
  const headroom = options.headroom ?? 0.25;
  const texts = Array.from({ length: options.texts ?? 240 }, (_, i) => `Customer review #${i + 1}: fast delivery, works as described.`);
  const batchSizes = options.batchSizes ?? [100, 1];

  log("=".repeat(64));
  log(`Micro-batching: ${texts.length} embeddings`);
  log("=".repeat(64));
  log(
    `Provider: ${serverOptions.requestsPerWindow ?? "unlimited"} requests per ${windowMs / 1000} s window, ${serverOptions.maxConcurrent ?? "unlimited"} in flight\n`,
  );

  const server = await startDemoProvider(serverOptions);
  const runs: EmbeddingRun[] = [];
  try {
    for (const batchSize of batchSizes) {
      if (runs.length > 0) await sleep(windowMs + 50); // the previous run leaves the server's window
      server.resetStats();
      const limiter = new RateLimiter({
        maxConcurrent: serverOptions.maxConcurrent ?? 10,
        maxPerWindow: serverOptions.requestsPerWindow,
        windowSeconds: (windowMs / 1000) * (1 + headroom),
      });
      const node = new EmbedNode(server, limiter, batchSize);
      const shared: Shared = { texts };
      const start = performance.now();
      await node.runAsync(shared);
      const run: EmbeddingRun = {
        batchSize,
        texts: texts.length,
        vectors: shared.vectors?.length ?? 0,
        apiCalls: node.stats.apiCalls,
        served: server.stats.answered,
        rateLimited: server.stats.refused,
        seconds: secondsSince(start),
      };
      runs.push(run);
      log(`batchSize ${batchSize}: ${run.vectors} vectors, ${run.apiCalls} calls, ${run.seconds.toFixed(2)} s, ${run.rateLimited} × 429`);
    }
  } finally {
    await server.stop();
  }
  log("\n| batchSize | texts | calls | time | 429s |\n|---:|---:|---:|---:|---:|");
  for (const run of runs) log(`| ${run.batchSize} | ${run.texts} | ${run.apiCalls} | ${run.seconds.toFixed(2)} s | ${run.rateLimited} |`);
  const [batched, single] = runs;
  if (batched !== undefined && single !== undefined && batched.apiCalls > 0) {
    log(
      `\nSame limiter, same provider: batches of ${batched.batchSize} make ${Math.round(single.apiCalls / batched.apiCalls)}× fewer calls, so the request limit no longer binds.`,
    );
  }
  return runs;
}

if (isMain(import.meta.url)) await runMicroBatchExample();
