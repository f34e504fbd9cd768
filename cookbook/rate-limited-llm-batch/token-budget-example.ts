/**
 * Token budgets: a batch whose binding limit is tokens per window (TPM), not
 * requests.
 *
 * The simulated provider allows 100 requests but only 2,000 tokens per 2 s
 * window, and charges each request what it could use: its prompt plus its
 * `max_tokens` (150 here), giving back the unused part when it answers. So a
 * request is charged about 200 tokens up front and really uses about 70:
 * tokens, not requests, bind.
 *
 * The node's limiter has the same token budget. `estimateTokens(item)`
 * reserves what the provider will charge; when the answer comes, the node
 * settles the reservation to the `usage` the provider reports (`usageOf`),
 * freeing the difference at once for the next requests. The run is done
 * twice: with settlement (the default) and without (estimates kept), to
 * show what settling buys.
 *
 * With a real provider, the node option `maxTokensPerMinute` does the same
 * over a 60 s window: `new SummarizeNode({ maxTokensPerMinute: 200_000 })`.
 *
 *   npx tsx token-budget-example.ts
 */
import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { callLlm, type DemoProviderOptions, isMain, type LlmResult, secondsSince, type SimulatedProvider, sleep, startDemoProvider, totalTokens } from "./utils.js";

/** A provider whose token budget binds: 2,000 tokens and 100 requests per 2 s window, 10 in flight. */
export const TPM_SERVER: DemoProviderOptions = {
  tokensPerWindow: 2000,
  requestsPerWindow: 100,
  windowMs: 2000,
  maxConcurrent: 10,
  latencyMs: [30, 80],
};

/** Longest answer we ask for: the provider charges it up front. */
const MAX_TOKENS = 150;

const SENTENCES = [
  "Rate limits protect shared infrastructure from bursts of traffic.",
  "Providers count requests and tokens over sliding windows.",
  "A batch that ignores the token budget is refused with 429 answers.",
  "Estimating the tokens of a request before sending it lets a client wait instead of failing.",
  "Settling the estimate with the reported usage gives unused tokens back.",
];

/** Documents of different lengths (1 to 5 sentences). */
export function makeDocuments(count: number): string[] {
  return Array.from({ length: count }, (_, i) => SENTENCES.slice(0, 1 + (i % SENTENCES.length)).join(" "));
}

function promptOf(document: string): string {
  return `Summarize in one sentence:\n${document}`;
}

interface Shared {
  documents: string[];
  summaries?: string[];
}

/** Summarizes documents under a token budget; records each item's estimate and settled usage. */
export class SummarizeNode extends ThrottledParallelBatchNode<Shared, string, LlmResult> {
  readonly estimates: number[] = [];
  readonly settled: number[] = [];

  constructor(
    readonly api: SimulatedProvider,
    limiter: RateLimiter,
    readonly settle = true,
  ) {
    super({ limiter, maxRetries: 3 });
  }

  /** What the provider charges up front: about one token per 4 characters of the prompt, plus max_tokens. */
  override estimateTokens(document: string): number {
    const estimate = Math.ceil(promptOf(document).length / 4) + MAX_TOKENS;
    this.estimates.push(estimate);
    return estimate;
  }

  /** The usage the provider reports (`usage.total_tokens`); without settlement, keep the estimate. */
  override usageOf(result: LlmResult): number | undefined {
    const used = totalTokens(result.usage);
    if (used !== undefined) this.settled.push(used);
    return this.settle ? used : undefined;
  }

  override async prepAsync(shared: Shared) {
    return shared.documents;
  }

  override async execAsync(document: string) {
    return callLlm(promptOf(document), { server: this.api, maxTokens: MAX_TOKENS });
  }

  override async postAsync(shared: Shared, _documents: unknown, results: LlmResult[]) {
    shared.summaries = results.map((r) => r.text);
    return "default";
  }
}

export interface TokenRun {
  mode: "settled" | "estimates only";
  items: number;
  summarized: number;
  seconds: number;
  estimatedTokens: number;
  usedTokens: number;
  /** Most tokens the server charged to any window (after give-backs), against its limit. */
  maxTokensInWindow: number;
  tokenLimit: number;
  rateLimited: number;
  tokenRateLimited: number;
}

export interface TokenBudgetOptions {
  documents?: number;
  server?: DemoProviderOptions;
  /** How much longer our window is than the server's (default 0.25: see main.ts's `providerLimiter`). */
  headroom?: number;
  log?: (line: string) => void;
}

export async function runTokenBudgetExample(options: TokenBudgetOptions = {}): Promise<TokenRun[]> {
  const serverOptions = options.server ?? TPM_SERVER;
  const log = options.log ?? ((line: string) => console.log(line));
  const windowMs = serverOptions.windowMs ?? 60_000;
  const headroom = options.headroom ?? 0.25;
  const tokenLimit = serverOptions.tokensPerWindow ?? Number.POSITIVE_INFINITY;
  const documents = makeDocuments(options.documents ?? 30);

  log("=".repeat(64));
  log("Token budget: tokens, not requests, bind");
  log("=".repeat(64));
  log(
    `Provider: ${serverOptions.requestsPerWindow ?? "unlimited"} requests and ${tokenLimit} tokens per ${windowMs / 1000} s window, ${serverOptions.maxConcurrent ?? "unlimited"} in flight`,
  );
  log(`Batch: ${documents.length} documents, max_tokens ${MAX_TOKENS} each\n`);

  const server = await startDemoProvider(serverOptions);
  const runs: TokenRun[] = [];
  try {
    for (const settle of [true, false]) {
      if (runs.length > 0) await sleep(windowMs + 50); // the previous run leaves the server's window
      server.resetStats();
      const limiter = new RateLimiter({
        maxConcurrent: serverOptions.maxConcurrent ?? 10,
        maxPerWindow: serverOptions.requestsPerWindow,
        maxTokensPerWindow: serverOptions.tokensPerWindow,
        windowSeconds: (windowMs / 1000) * (1 + headroom),
      });
      const node = new SummarizeNode(server, limiter, settle);
      const shared: Shared = { documents };
      const start = performance.now();
      await node.runAsync(shared);
      const run: TokenRun = {
        mode: settle ? "settled" : "estimates only",
        items: documents.length,
        summarized: shared.summaries?.length ?? 0,
        seconds: secondsSince(start),
        estimatedTokens: sum(node.estimates),
        usedTokens: sum(node.settled),
        maxTokensInWindow: server.maxTokensInAnyWindow(windowMs),
        tokenLimit,
        rateLimited: server.stats.refused,
        tokenRateLimited: server.stats.refusedBy.tokens,
      };
      runs.push(run);
      log(`${settle ? "With settlement (usageOf reads usage.total_tokens)" : "Without settlement (usageOf returns undefined)"}:`);
      log(`  - Summarized: ${run.summarized}/${run.items} in ${run.seconds.toFixed(2)} s`);
      log(`  - Tokens estimated (reserved up front): ${run.estimatedTokens}`);
      log(`  - Tokens used (reported by the provider): ${run.usedTokens}`);
      log(
        `  - Most tokens in any ${windowMs / 1000} s window at the server: ${run.maxTokensInWindow} of ${tokenLimit} (${Math.round((100 * run.maxTokensInWindow) / tokenLimit)}% of the budget used)`,
      );
      log(`  - 429s: ${run.rateLimited} (for tokens: ${run.tokenRateLimited})\n`);
    }
  } finally {
    await server.stop();
  }
  const [settled, kept] = runs;
  if (settled !== undefined && kept !== undefined) {
    log(`Estimates were ${Math.round((100 * settled.estimatedTokens) / Math.max(1, settled.usedTokens))}% of the real usage.`);
    log(
      `Settling them gave the unused tokens back at once: ${settled.seconds.toFixed(2)} s instead of ${kept.seconds.toFixed(2)} s (token 429s: ${settled.tokenRateLimited} and ${kept.tokenRateLimited}).`,
    );
  }
  return runs;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

if (isMain(import.meta.url)) await runTokenBudgetExample();
