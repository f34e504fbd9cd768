/**
 * Section 6a, token budgets: chat requests of varied size through a node
 * whose shared limiter holds the strict simulated provider's tokens-per-window
 * budget (the provider runs in its own process and charges each request its
 * prompt tokens plus `max_tokens`). Runs: with exact estimates, with
 * estimates 30% high that `settle` corrects from the answers' `usage`, and
 * (for comparison) with the same estimates left unsettled.
 */
import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { simulatedReply } from "pocketflow-throttled/testing";
import { sampler } from "./charts.js";
import { warmUp } from "./compliance.js";
import { percent, postJson, type Row, row, type SectionResult, seconds, times } from "./lib.js";
import { startRemoteProvider } from "./provider.js";

export interface TokenConfig {
  items: number;
  /** Tokens per window, on both sides. */
  tokensPerWindow: number;
  windowMs: number;
  latencyMs: number;
  /** How much longer the client's window is than the server's, in ms (as in section 3). */
  marginMs: number;
}

export const TOKENS: TokenConfig = { items: 150, tokensPerWindow: 4000, windowMs: 3000, latencyMs: 20, marginMs: 100 };

/** One chat request and what the server will charge for it. */
interface Request {
  prompt: string;
  maxTokens: number;
  /** Prompt tokens + `max_tokens`: the server's charge (and, with a reply of exactly `max_tokens`, the usage). */
  cost: number;
}

interface Shared {
  requests: Request[];
  answers?: unknown[];
}

/** The simulated provider's count: about one token per 4 characters. */
const tokensOf = (text: string) => Math.ceil(text.length / 4);

/** Requests of 25 to 125 prompt tokens whose reply uses exactly `max_tokens`, in a fixed pseudo-random order. */
export function makeRequests(n: number): Request[] {
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Array.from({ length: n }, (_, i) => {
    const words = `Request ${i}: ${"lorem ipsum dolor sit amet ".repeat(20)}`;
    const prompt = words.slice(0, 100 + Math.floor(next() * 400));
    const maxTokens = tokensOf(simulatedReply(prompt));
    return { prompt, maxTokens, cost: tokensOf(prompt) + maxTokens };
  });
}

/** Lower bound of the makespan: every window full to the token, back to back, then one latency. */
export function minimumTokenMakespan(totalTokens: number, perWindow: number, windowMs: number, latencyMs: number): number {
  return (Math.ceil(totalTokens / perWindow) - 1) * windowMs + latencyMs;
}

async function runOnce(config: TokenConfig, overestimate: number, settle: boolean) {
  const provider = await startRemoteProvider({
    tokensPerWindow: config.tokensPerWindow,
    windowMs: config.windowMs,
    latencyMs: config.latencyMs,
    seed: 6,
  });
  try {
    const url = `${provider.baseURL}/chat/completions`;
    await warmUp(url, 40, config.windowMs);
    await provider.resetStats();
    class Complete extends ThrottledParallelBatchNode<Shared, Request, unknown> {
      override async prepAsync(shared: Shared) {
        return shared.requests;
      }
      override estimateTokens(request: Request) {
        return Math.ceil(request.cost * overestimate);
      }
      // With settle, the default usageOf reads the answer's usage.total_tokens; without, the estimate stays.
      override usageOf(result: unknown) {
        return settle ? super.usageOf(result) : undefined;
      }
      override async execAsync(request: Request) {
        const body = { model: "sim", max_tokens: request.maxTokens, messages: [{ role: "user", content: request.prompt }] };
        return (await postJson(url, body)).body;
      }
      override async postAsync(shared: Shared, _p: unknown, answers: unknown[]) {
        shared.answers = answers;
        return undefined;
      }
    }
    const limiter = new RateLimiter({
      maxConcurrent: 64,
      maxTokensPerWindow: config.tokensPerWindow,
      windowSeconds: config.windowMs / 1000,
      // The margin as the limiter's own (a longer window would add it to the default margin: counted twice).
      arrivalMarginSeconds: config.marginMs / 1000,
    });
    const shared: Shared = { requests: makeRequests(config.items) };
    const totalTokens = shared.requests.reduce((sum, r) => sum + r.cost, 0);
    // Tokens the limiter counts in its window over time: the token-window chart.
    const window = sampler(() => limiter.currentWindowTokens);
    const started = performance.now();
    let failure: unknown;
    try {
      await new Complete({ limiter, maxRetries: 3 }).runAsync(shared);
    } catch (error) {
      failure = error;
    }
    const makespanMs = performance.now() - started;
    const tokenWindowOverTime = window.stop();
    const used = (shared.answers ?? []).reduce<number>(
      (sum, a) => sum + ((a as { usage?: { total_tokens?: number } } | undefined)?.usage?.total_tokens ?? 0),
      0,
    );
    return {
      makespanMs,
      minimumMs: minimumTokenMakespan(totalTokens, config.tokensPerWindow, config.windowMs, config.latencyMs),
      totalTokens,
      usedTokens: used,
      serverStats: await provider.stats(),
      peakTokensInWindow: await provider.maxTokensInAnyWindow(config.windowMs),
      tokenWindowOverTime,
      failure: failure === undefined ? undefined : String(failure),
    };
  } finally {
    await provider.close();
  }
}

export async function benchTokens(config: TokenConfig = TOKENS): Promise<SectionResult> {
  const exact = await runOnce(config, 1, true);
  const high = await runOnce(config, 1.3, true);
  const unsettled = await runOnce(config, 1.3, false);
  const section = "6 tokens";
  const label = `${config.items} req, ${config.tokensPerWindow} tok/${config.windowMs / 1000}s`;
  const rows: Row[] = [];
  for (const [name, r] of [
    ["exact estimates", exact],
    ["estimates +30%, settled", high],
    ["estimates +30%, not settled", unsettled],
  ] as const) {
    const ratio = r.makespanMs / r.minimumMs;
    rows.push(
      row(section, `${label}, ${name}: token 429s`, String(r.serverStats.rejectedTokens), r.serverStats.rejectedTokens, "", "0", r.serverStats.rejectedTokens === 0),
      row(
        section,
        `${label}, ${name}: makespan`,
        seconds(r.makespanMs),
        r.makespanMs,
        `${times(ratio)} min ${seconds(r.minimumMs)}`,
        name === "exact estimates" ? "<= 1.05x" : "",
        name === "exact estimates" ? ratio <= 1.05 : undefined,
      ),
      row(
        section,
        `${label}, ${name}: budget used`,
        `${percent(r.minimumMs / r.makespanMs)} avg, peak ${percent(r.peakTokensInWindow / config.tokensPerWindow)}`,
        r.minimumMs / r.makespanMs,
      ),
    );
  }
  return { rows, data: { config, exact, overestimatedSettled: high, overestimatedUnsettled: unsettled } };
}
