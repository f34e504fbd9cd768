/**
 * Soak test: 1,000,000 items with 5% injected 429s (errors with `status: 429`
 * thrown at once), through
 *   1. a ThrottledParallelBatchNode with maxRateLimitRetries 2, whose re-runs absorb them, and
 *   2. an AdaptiveThrottledNode with maxRateLimitRetries 5, backing off on each
 *      (every 429 carries `retryAfter: 0`, so a re-run waits no backoff).
 * Every item must be accounted for exactly once, in order: as its result, or
 * (if every attempt met a 429) as its fallback value. Prints items, 429s,
 * retries, time and peak RSS; exits with code 1 if anything is missing.
 *
 * Run: node --import tsx packages/pocketflow-throttled/scripts/soak.ts [items]
 */
import { AdaptiveThrottledNode, ThrottledParallelBatchNode } from "../src/index.js";

const ITEMS = Number(process.argv[2] ?? 1_000_000);
const RATE_LIMIT_SHARE = 0.05;

/** A small seeded PRNG (mulberry32), so a run is reproducible. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tally {
  attempts: number;
  rateLimits: number;
}

function rateLimitError(retryAfter?: number): Error {
  const error = Object.assign(new Error("429 Too Many Requests"), { status: 429 });
  return retryAfter === undefined ? error : Object.assign(error, { retryAfter });
}

const items = Array.from({ length: ITEMS }, (_, i) => i);

/** A fallback value that still identifies its item: -(i + 1). */
const fallbackOf = (i: number) => -(i + 1);

class RetryingNode extends ThrottledParallelBatchNode<{ results?: number[] }, number, number> {
  constructor(
    private readonly tally: Tally,
    private readonly roll: () => number,
  ) {
    super({ maxConcurrent: 64, maxRateLimitRetries: 2 });
  }
  override async prepAsync() {
    return items;
  }
  override async execAsync(i: number) {
    this.tally.attempts++;
    if (this.roll() < RATE_LIMIT_SHARE) {
      this.tally.rateLimits++;
      throw rateLimitError(0);
    }
    return i;
  }
  override async execFallbackAsync(i: number) {
    return fallbackOf(i);
  }
  override async postAsync(shared: { results?: number[] }, _p: unknown, results: number[]) {
    shared.results = results;
    return undefined;
  }
}

class AdaptiveNode extends AdaptiveThrottledNode<{ results?: number[] }, number, number> {
  constructor(
    private readonly tally: Tally,
    private readonly roll: () => number,
  ) {
    super({ initialConcurrent: 32, minConcurrent: 4, maxConcurrent: 64, maxRateLimitRetries: 5 });
  }
  override async prepAsync() {
    return items;
  }
  override async execAsync(i: number) {
    this.tally.attempts++;
    if (this.roll() < RATE_LIMIT_SHARE) {
      this.tally.rateLimits++;
      throw rateLimitError(0);
    }
    return i;
  }
  override async execFallbackAsync(i: number) {
    return fallbackOf(i);
  }
  override async postAsync(shared: { results?: number[] }, _p: unknown, results: number[]) {
    shared.results = results;
    return undefined;
  }
}

/** Items whose result is neither their own value nor their fallback (missing, duplicated or out of order). */
function unaccounted(results: number[] | undefined): { wrong: number; fellBack: number } {
  if (!results || results.length !== ITEMS) return { wrong: ITEMS, fellBack: 0 };
  let wrong = 0;
  let fellBack = 0;
  for (let i = 0; i < ITEMS; i++) {
    if (results[i] === fallbackOf(i)) fellBack++;
    else if (results[i] !== i) wrong++;
  }
  return { wrong, fellBack };
}

const fmt = (n: number) => n.toLocaleString("en-US");

async function soak(name: string, node: ThrottledParallelBatchNode<{ results?: number[] }, number, number>, tally: Tally) {
  const shared: { results?: number[] } = {};
  const start = performance.now();
  await node.runAsync(shared);
  const seconds = (performance.now() - start) / 1000;
  const { wrong, fellBack } = unaccounted(shared.results);
  const retries = tally.attempts - ITEMS;
  console.log(
    `${name}: items ${fmt(ITEMS)} | 429s ${fmt(tally.rateLimits)} | retries ${fmt(retries)} | fell back ${fmt(fellBack)} | ` +
      `${seconds.toFixed(1)} s | ${wrong === 0 ? "every item accounted for" : `${fmt(wrong)} ITEMS UNACCOUNTED FOR`}`,
  );
  return wrong === 0 && tally.rateLimits > 0;
}

const total = performance.now();
const retryingTally: Tally = { attempts: 0, rateLimits: 0 };
const adaptiveTally: Tally = { attempts: 0, rateLimits: 0 };
const adaptive = new AdaptiveNode(adaptiveTally, random(2));
const ok = [
  await soak("ThrottledParallelBatchNode (maxConcurrent 64, maxRateLimitRetries 2)", new RetryingNode(retryingTally, random(1)), retryingTally),
  await soak("AdaptiveThrottledNode (concurrency 4..64, retryAfter 0)", adaptive, adaptiveTally),
];
const { currentConcurrent, totalRateLimits } = adaptive.stats;
const adaptiveConsistent = currentConcurrent >= 4 && currentConcurrent <= 64 && totalRateLimits === adaptiveTally.rateLimits;
console.log(`adaptive: final concurrency ${currentConcurrent}, totalRateLimits ${fmt(totalRateLimits)}${adaptiveConsistent ? "" : " INCONSISTENT"}`);
console.log(
  `total ${((performance.now() - total) / 1000).toFixed(1)} s | peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`,
);
if (!ok.every(Boolean) || !adaptiveConsistent) process.exitCode = 1;
