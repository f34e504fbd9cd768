/**
 * The quick start (`pnpm start`): one batch of summaries run three ways
 * against a simulated OpenAI-style provider, each run on a fresh provider:
 *
 * 1. unthrottled (`AsyncParallelBatchNode`, no retry): every call at once,
 *    most are refused with 429 and their items are lost;
 * 2. throttled (`ThrottledParallelBatchNode` told the provider's limits):
 *    no 429, nothing lost;
 * 3. told nothing (`learnLimits: true`): one call runs alone, its answer's
 *    `x-ratelimit-*` headers state the limits, the rest run under them.
 */
import { AsyncFlow, AsyncParallelBatchNode } from "pocketflow-ts";
import { type ThrottleOptions, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { type ProviderLimits, startSimulatedProvider } from "pocketflow-throttled/testing";
import { BatchProgress } from "./progress.js";
import { callLlm, type LlmResult, type SimulatedProvider, secondsSince } from "./utils.js";

/** Options of {@link runDemo}; the provider is OpenAI-style, 600 RPM, which OpenAI also enforces as 10 per second. */
export interface DemoOptions {
  /** Texts in the batch. @default 40 */
  texts?: number;
  /** The provider's limits (OpenAI style). @default { rpm: 600 } */
  limits?: { rpm: number };
  /** Time per answer in ms, `[min, max]`. @default [250, 450] */
  latencyMs?: readonly [number, number];
  /** Draw progress bars or lines. @default true */
  progress?: boolean;
  /** Where lines go. @default console.log */
  log?: (line: string) => void;
}

export interface DemoRow {
  approach: string;
  /** Items summarised. */
  done: number;
  /** Items that ended without a summary. */
  lost: number;
  /** 429 answers, counted by the provider. */
  refused: number;
  seconds: number;
}

const TOPICS = [
  "rate limits",
  "batch jobs",
  "retries with backoff",
  "token budgets",
  "sliding windows",
  "parallel calls",
  "provider headers",
  "queues",
  "flows and nodes",
  "shared limiters",
];

/** `count` short texts to summarise. */
export function demoTexts(count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const topic = TOPICS[i % TOPICS.length] as string;
    return `Note ${i + 1} on ${topic}: a batch of LLM calls that ignores ${topic} collects 429 answers, loses work and costs retries.`;
  });
}

interface DemoShared {
  texts: string[];
  summaries: (string | undefined)[];
}

type Item = { index: number; text: string };

function itemsOf(shared: DemoShared): Item[] {
  return shared.texts.map((text, index) => ({ index, text }));
}

function keep(shared: DemoShared, items: Iterable<Item> | null | undefined, results: readonly (LlmResult | undefined)[]): string {
  [...(items ?? [])].forEach((item, i) => {
    shared.summaries[item.index] = results[i]?.text;
  });
  return "default";
}

interface Context {
  server: SimulatedProvider;
  progress: BatchProgress | undefined;
}

async function summarise(item: Item, context: Context): Promise<LlmResult> {
  const answer = await callLlm(`Summarise in one sentence:\n${item.text}`, { server: context.server, maxTokens: 60 });
  context.progress?.tick();
  return answer;
}

/** Every call at once, no retry: a refused item keeps no summary. */
class Unthrottled extends AsyncParallelBatchNode<DemoShared, Item, LlmResult | undefined> {
  constructor(readonly context: Context) {
    super();
  }
  override async prepAsync(shared: DemoShared) {
    return itemsOf(shared);
  }
  override async execAsync(item: Item) {
    return summarise(item, this.context);
  }
  override async execFallbackAsync() {
    this.context.progress?.tick(); // the item is over, lost
    return undefined;
  }
  override async postAsync(shared: DemoShared, items: Iterable<Item> | null | undefined, results: (LlmResult | undefined)[]) {
    return keep(shared, items, results);
  }
}

/** The throttled node; it returns the whole answer, so it reads the answer's rate-limit headers. */
class Throttled extends ThrottledParallelBatchNode<DemoShared, Item, LlmResult> {
  constructor(
    readonly context: Context,
    options: ThrottleOptions,
  ) {
    // The margin: a batch's first calls open new connections and reach the provider up to a few hundred ms after
    // they start, the next second's calls on time; against a 1 s window that lag matters.
    super({ maxConcurrent: 10, maxRetries: 3, arrivalMarginSeconds: 0.5, ...options });
  }
  override async prepAsync(shared: DemoShared) {
    return itemsOf(shared);
  }
  override async execAsync(item: Item) {
    return summarise(item, this.context);
  }
  override async postAsync(shared: DemoShared, items: Iterable<Item> | null | undefined, results: LlmResult[]) {
    return keep(shared, items, results);
  }
}

/** Runs the demo and prints its table; returns one row per run. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoRow[]> {
  const count = options.texts ?? 40;
  const rpm = options.limits?.rpm ?? 600;
  const [minLatency, maxLatency] = options.latencyMs ?? [250, 450];
  const log = options.log ?? ((line: string) => console.log(line));
  const perSecond = Math.ceil(rpm / 60);
  const limits: ProviderLimits = { rpm };
  const texts = demoTexts(count);

  log("=".repeat(72));
  log(`Summarise ${count} texts, three ways, against a simulated OpenAI-style provider:`);
  log(`  ${rpm} requests per minute, enforced as OpenAI does also as ${perSecond} per second;`);
  log(`  ${minLatency}-${maxLatency} ms per answer; a request over the limit gets 429 + retry-after.`);
  log("=".repeat(72));

  const runs: Array<{ approach: string; build(c: Context): AsyncParallelBatchNode<DemoShared> }> = [
    { approach: "Unthrottled (AsyncParallelBatchNode)", build: (c) => new Unthrottled(c) },
    {
      approach: `Throttled (told ${rpm}/min, ${perSecond}/s)`,
      build: (c) => new Throttled(c, { maxPerMinute: rpm, maxPerSecond: perSecond }),
    },
    { approach: "Told nothing (learnLimits: true)", build: (c) => new Throttled(c, { learnLimits: true }) },
  ];
  const rows: DemoRow[] = [];
  for (const run of runs) {
    const server = await startSimulatedProvider({
      style: "openai",
      limits,
      latencyMs: minLatency,
      jitterMs: maxLatency - minLatency,
    });
    const progress =
      options.progress === false
        ? undefined
        : new BatchProgress({
            label: run.approach,
            total: count,
            requests: () => server.stats.answered + server.stats.refused,
            rejected: () => server.stats.refused,
            intervalMs: 1000,
            windowMs: 1000,
            log,
          });
    const shared: DemoShared = { texts, summaries: [] };
    const start = performance.now();
    try {
      await new AsyncFlow<DemoShared>(run.build({ server, progress })).runAsync(shared);
    } finally {
      progress?.stop();
      await server.stop();
    }
    const done = shared.summaries.filter((s) => s !== undefined).length;
    const row: DemoRow = { approach: run.approach, done, lost: count - done, refused: server.stats.refused, seconds: secondsSince(start) };
    rows.push(row);
    log(`${row.approach}: ${row.done}/${count} summarised, ${row.refused} × 429, ${row.seconds.toFixed(2)} s`);
    if (rows.length === 1) log(`  e.g. "${shared.summaries.find((s) => s !== undefined) ?? ""}"`);
  }
  log("");
  log(formatDemoTable(rows, count));
  log("");
  log("Refused: 429 answers counted by the provider. Lost: items left without a summary.");
  log("The throttled runs retry a 429 up to 3 times; with the limits known (or learned) none is needed.");
  return rows;
}

/** The demo's final table, plain text. */
export function formatDemoTable(rows: readonly DemoRow[], total: number): string {
  const header = ["Approach", "Summarised", "Lost", "Refused (429)", "Seconds"];
  const cells = rows.map((r) => [r.approach, `${r.done}/${total}`, String(r.lost), String(r.refused), r.seconds.toFixed(2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) => c.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}
