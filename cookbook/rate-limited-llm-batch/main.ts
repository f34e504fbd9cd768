/**
 * Rate-limited LLM batch processing.
 *
 *   npx tsx main.ts                                  # the quick start (demo.ts): one batch unthrottled, throttled, learning its limits
 *   npx tsx main.ts --languages French,German        # translate a text with a ThrottledParallelBatchNode (simulated provider)
 *   OPENAI_API_KEY=... npx tsx main.ts --provider openai
 *   ANTHROPIC_API_KEY=... npx tsx main.ts --provider anthropic
 *   npx tsx main.ts --compare                        # sequential vs unthrottled vs throttled, measured live
 *
 * `--compare` runs the same 100 translations five ways against a strict
 * simulated provider (60 requests per 2 s window, 10 in flight at most) and
 * prints the time and the 429s each way provoked, counted by the server.
 */
import { parseArgs } from "node:util";
import { AsyncBatchNode, AsyncFlow, AsyncNode, AsyncParallelBatchNode } from "pocketflow-ts";
import {
  type Limiter,
  Presets,
  RateLimiter,
  type ThrottleOptions,
  ThrottledAsyncParallelBatchFlow,
  ThrottledParallelBatchNode,
} from "pocketflow-throttled";
import { runDemo } from "./demo.js";
import { BatchProgress } from "./progress.js";
import { callLlm, checkApiKey, type DemoProviderOptions, isMain, type LlmResult, makeTranslationPrompt, MissingApiKeyError, type ProviderName, PROVIDERS, secondsSince, type SimulatedProvider, sleep, startDemoProvider, stopMockProvider } from "./utils.js";

// =============================================================================
// Sample data
// =============================================================================

export const SAMPLE_TEXT = `PocketFlow is a minimalist LLM framework in just 100 lines of code.
It provides the core abstractions needed to build AI applications:
Nodes for tasks, Flows for orchestration, and a shared store for communication.
The framework is lightweight, expressive, and perfect for agentic coding.`;

export const TARGET_LANGUAGES = ["Spanish", "French", "German", "Italian", "Portuguese", "Japanese", "Chinese", "Korean"];

// =============================================================================
// The throttled translation node
// =============================================================================

interface TranslationShared {
  text: string;
  languages: string[];
  translations?: Record<string, string>;
}

type TranslationItem = readonly [text: string, language: string];

interface Translation {
  language: string;
  translation: string;
  /** Kept so the node's `usageOf` and header observation see the provider's answer. */
  usage: LlmResult["usage"];
  headers: Headers;
}

/**
 * Translates one text into several languages, at most 5 calls at once and 60
 * per minute (OpenAI Tier 1; Anthropic's standard tier is 5 and 50), each
 * call retried up to 3 times, 2 s apart.
 */
export class TranslateTextNode extends ThrottledParallelBatchNode<TranslationShared, TranslationItem, Translation> {
  override maxConcurrent = 5;
  override maxPerMinute = 60;
  override maxRetries = 3;
  override wait = 2;
  /** Called after each item (the progress display). */
  onItemDone: (() => void) | undefined;

  constructor(
    readonly provider: ProviderName = "mock",
    options: ThrottleOptions = {},
  ) {
    super(options);
  }

  override async prepAsync(shared: TranslationShared): Promise<TranslationItem[]> {
    return shared.languages.map((language) => [shared.text, language] as const);
  }

  override async execAsync([text, language]: TranslationItem): Promise<Translation> {
    const answer = await callLlm(makeTranslationPrompt(text, language), { provider: this.provider });
    this.onItemDone?.();
    return { language, translation: answer.text, usage: answer.usage, headers: answer.headers };
  }

  override async postAsync(shared: TranslationShared, _items: unknown, results: Translation[]): Promise<string> {
    shared.translations = Object.fromEntries(results.map((r) => [r.language, r.translation]));
    return "default";
  }
}

/** The same node with a preset's limits given to the constructor. */
export class TranslateWithPreset extends TranslateTextNode {
  constructor(provider: ProviderName = "mock") {
    super(provider, Presets.ANTHROPIC_STANDARD);
  }
}

export interface TranslationOptions {
  provider?: ProviderName;
  languages?: string[];
  text?: string;
  log?: (line: string) => void;
}

export interface TranslationReport {
  translations: Record<string, string>;
  seconds: number;
}

/** Translates `text` into `languages` and prints the translations. */
export async function runTranslation(options: TranslationOptions = {}): Promise<TranslationReport> {
  const provider = options.provider ?? "mock";
  const languages = options.languages ?? TARGET_LANGUAGES;
  const text = options.text ?? SAMPLE_TEXT;
  const log = options.log ?? ((line: string) => console.log(line));
  checkApiKey(provider);

  log("=".repeat(60));
  log("Rate-Limited LLM Batch Processing Demo");
  log("=".repeat(60));
  log(`\nProvider: ${provider}`);
  log(`Languages: ${languages.join(", ")}`);
  log(`\nSource text:\n${text.slice(0, 100)}...`);

  // The limiter is the node's own limits, made explicit so the progress line can show its queue.
  const node = new TranslateTextNode(provider);
  const limiter = new RateLimiter({ maxConcurrent: node.maxConcurrent, maxPerWindow: node.maxPerMinute, windowSeconds: 60 });
  node.limiter = limiter;
  const flow = new AsyncFlow(node);
  log("\nRate limit config:");
  log(`  - Max concurrent: ${node.maxConcurrent}`);
  log(`  - Max per minute: ${node.maxPerMinute}`);

  const shared: TranslationShared = { text, languages };
  log(`\nTranslating into ${languages.length} languages...`);
  const progress = new BatchProgress({ label: "translate", total: languages.length, limiter, log });
  node.onItemDone = () => progress.tick();
  const start = performance.now();
  try {
    await flow.runAsync(shared);
  } finally {
    progress.stop();
  }
  const seconds = secondsSince(start);

  log(`\nCompleted in ${seconds.toFixed(2)} s (${(languages.length / seconds).toFixed(1)} translations/s)`);
  log(`\n${"-".repeat(40)}\nTranslations:\n${"-".repeat(40)}`);
  const translations = shared.translations ?? {};
  for (const [language, translation] of Object.entries(translations)) {
    const shown = translation.length > 80 ? `${translation.slice(0, 80)}...` : translation;
    log(`\n[${language}]\n  ${shown.replaceAll("\n", " ")}`);
  }
  return { translations, seconds };
}

// =============================================================================
// --compare: the same batch five ways, measured against a strict provider
// =============================================================================

/** The strict provider of the comparison: 60 requests per 2 s window, 10 in flight, 30–80 ms per call. */
export const COMPARE_SERVER: DemoProviderOptions = {
  requestsPerWindow: 60,
  windowMs: 2000,
  maxConcurrent: 10,
  latencyMs: [30, 80],
};

export interface CompareOptions {
  /** Translations in the batch (default 100): `items / languages.length` sentences × languages. */
  items?: number;
  /** The simulated provider's limits (default {@link COMPARE_SERVER}). */
  server?: DemoProviderOptions;
  log?: (line: string) => void;
  /** How much longer our window is than the server's (default 0.25; see `providerLimiter`). */
  headroom?: number;
  /** Progress bars and summary lines (default true). */
  progress?: boolean;
}

export interface CompareRow {
  approach: string;
  seconds: number;
  /** Items translated. */
  done: number;
  total: number;
  /** 429 answers, counted by the server. */
  rateLimited: number;
  /** Most requests in flight at the server. */
  peakConcurrency: number;
  useCase: string;
}

const COMPARE_LANGUAGES = ["Spanish", "French", "German", "Japanese", "Korean"];

interface CompareShared {
  sentences: string[];
  languages: string[];
  /** "sentence:language" -> translation, for every item translated. */
  done: Map<string, string>;
}

type Pair = { sentence: number; text: string; language: string };

/** What every node of the comparison needs: the server, and the progress display. */
interface Context {
  server: SimulatedProvider;
  progress: BatchProgress | undefined;
}

function pairsOf(shared: CompareShared, sentences = shared.sentences.map((_, i) => i)): Pair[] {
  return sentences.flatMap((sentence) =>
    shared.languages.map((language) => ({ sentence, text: shared.sentences[sentence] ?? "", language })),
  );
}

function record(shared: CompareShared, pairs: readonly Pair[], results: readonly (LlmResult | undefined)[]): string {
  pairs.forEach((pair, i) => {
    const result = results[i];
    if (result !== undefined) shared.done.set(`${pair.sentence}:${pair.language}`, result.text);
  });
  return "default";
}

async function translatePair(pair: Pair, context: Context): Promise<LlmResult> {
  try {
    return await callLlm(makeTranslationPrompt(pair.text, pair.language), { server: context.server, maxTokens: 200 });
  } finally {
    context.progress?.tick();
  }
}

/** 1. One call after another. */
class SequentialTranslate extends AsyncBatchNode<CompareShared, Pair, LlmResult> {
  constructor(readonly context: Context) {
    super();
  }
  override async prepAsync(shared: CompareShared) {
    return pairsOf(shared);
  }
  override async execAsync(pair: Pair) {
    return translatePair(pair, this.context);
  }
  override async postAsync(shared: CompareShared, pairs: Iterable<Pair> | null | undefined, results: LlmResult[]) {
    return record(shared, [...(pairs ?? [])], results);
  }
}

/** 2. Every call at once, no limit, no retry: a failed item is left untranslated. */
class UnthrottledTranslate extends AsyncParallelBatchNode<CompareShared, Pair, LlmResult | undefined> {
  constructor(readonly context: Context) {
    super();
  }
  override async prepAsync(shared: CompareShared) {
    return pairsOf(shared);
  }
  override async execAsync(pair: Pair) {
    return translatePair(pair, this.context);
  }
  override async execFallbackAsync() {
    return undefined;
  }
  override async postAsync(shared: CompareShared, pairs: Iterable<Pair> | null | undefined, results: (LlmResult | undefined)[]) {
    return record(shared, [...(pairs ?? [])], results);
  }
}

/**
 * 3. The throttled node; its limiter holds the provider's limits. It returns
 * the whole answer, so the node reads its headers (x-ratelimit-remaining-requests).
 */
class ThrottledTranslate extends ThrottledParallelBatchNode<CompareShared, Pair, LlmResult> {
  constructor(
    readonly context: Context,
    limiter: Limiter,
  ) {
    super({ limiter, maxRetries: 3 });
  }
  override async prepAsync(shared: CompareShared) {
    return pairsOf(shared);
  }
  override async execAsync(pair: Pair) {
    return translatePair(pair, this.context);
  }
  override async postAsync(shared: CompareShared, pairs: Iterable<Pair> | null | undefined, results: LlmResult[]) {
    return record(shared, [...(pairs ?? [])], results);
  }
}

/** 4. One translation per flow instance, read from the instance's `params`. */
class TranslateOne extends AsyncNode<CompareShared, Pair, LlmResult> {
  constructor(readonly context: Context) {
    super({ maxRetries: 3 });
  }
  override async prepAsync() {
    return this.params as Pair;
  }
  override async execAsync(pair: Pair) {
    return translatePair(pair, this.context);
  }
  override async postAsync(shared: CompareShared, pair: Pair, result: LlmResult) {
    return record(shared, [pair], [result]);
  }
}

/** 5. One sentence per flow instance: at most 2 of its languages at once, each call under the provider-wide limiter. */
class TranslateSentence extends ThrottledParallelBatchNode<CompareShared, Pair, LlmResult> {
  override maxConcurrent = 2;
  constructor(
    readonly context: Context,
    readonly providerLimiter: Limiter,
  ) {
    super({ maxRetries: 3 });
  }
  override async prepAsync(shared: CompareShared) {
    return pairsOf(shared, [this.params.sentence as number]);
  }
  override async execAsync(pair: Pair) {
    return this.providerLimiter.run(() => translatePair(pair, this.context));
  }
  override async postAsync(shared: CompareShared, pairs: Iterable<Pair> | null | undefined, results: LlmResult[]) {
    return record(shared, [...(pairs ?? [])], results);
  }
}

class PerTranslationFlow extends ThrottledAsyncParallelBatchFlow<CompareShared> {
  override async prepAsync(shared: CompareShared) {
    return pairsOf(shared);
  }
}

class PerSentenceFlow extends ThrottledAsyncParallelBatchFlow<CompareShared> {
  override maxConcurrentFlows = 5;
  override async prepAsync(shared: CompareShared) {
    return shared.sentences.map((_, sentence) => ({ sentence }));
  }
}

/**
 * A limiter with the provider's limits, its window made longer by `headroom`.
 * Our limiter counts a request when it starts, the provider when it arrives:
 * on a busy machine the first calls of a batch (new connections, code not yet
 * optimised) can arrive a few hundred ms late, and the next window's calls on
 * time. Against a 60 s window that is under 1%; against this demo's 2 s window
 * it takes a quarter.
 */
function providerLimiter(server: DemoProviderOptions, headroom: number): RateLimiter {
  return new RateLimiter({
    maxConcurrent: server.maxConcurrent ?? 10,
    maxPerWindow: server.requestsPerWindow,
    windowSeconds: ((server.windowMs ?? 60_000) / 1000) * (1 + headroom),
  });
}

/**
 * Runs the same batch of translations five ways against a strict simulated
 * provider and prints the seed's comparison table, measured: time, items
 * translated, 429s (counted by the server) and the most calls in flight.
 */
export async function runComparison(options: CompareOptions = {}): Promise<CompareRow[]> {
  const serverOptions = options.server ?? COMPARE_SERVER;
  const headroom = options.headroom ?? 0.25;
  const windowMs = serverOptions.windowMs ?? 60_000;
  const log = options.log ?? ((line: string) => console.log(line));
  const sentenceCount = Math.max(1, Math.round((options.items ?? 100) / COMPARE_LANGUAGES.length));
  const sentences = Array.from({ length: sentenceCount }, (_, i) => `Sentence ${i + 1}: the quick brown fox jumps over the lazy dog.`);
  const total = sentences.length * COMPARE_LANGUAGES.length;
  const limits = `${serverOptions.requestsPerWindow ?? "unlimited"} requests per ${windowMs / 1000} s, ${serverOptions.maxConcurrent ?? "unlimited"} in flight`;
  log("=".repeat(72));
  log(`Comparison: ${total} translations against a strict simulated provider (${limits})`);
  log("=".repeat(72));

  const limiter = () => providerLimiter(serverOptions, headroom);
  const scenarios: Array<{ approach: string; useCase: string; limiter?: Limiter; build(c: Context): AsyncNode<CompareShared> }> = [
    { approach: "Sequential", useCase: "Simple, low volume", build: (c) => new SequentialTranslate(c) },
    { approach: "Parallel (no throttle)", useCase: "Don't: 429s", build: (c) => new UnthrottledTranslate(c) },
    ((l) => ({ approach: "Node throttled", useCase: "Single-node batches", limiter: l, build: (c: Context) => new ThrottledTranslate(c, l) }))(limiter()),
    ((l) => ({
      approach: "Flow throttled",
      useCase: "Multi-node pipelines",
      limiter: l,
      build: (c: Context) => new PerTranslationFlow(new TranslateOne(c), { limiter: l }),
    }))(limiter()),
    ((l) => ({
      approach: "Nested (flow × node)",
      useCase: "Complex pipelines",
      limiter: l,
      build: (c: Context) => new PerSentenceFlow(new TranslateSentence(c, l)),
    }))(limiter()),
  ];

  // One server for every run (its connections stay open between runs); each run waits until the
  // previous run's requests have left the server's window, so runs do not count against each other.
  const server = await startDemoProvider(serverOptions);
  const rows: CompareRow[] = [];
  try {
    for (const [index, scenario] of scenarios.entries()) {
      if (index > 0) await sleep(windowMs + 50);
      server.resetStats();
      const progress =
        options.progress === false
          ? undefined
          : new BatchProgress({
              label: scenario.approach,
              total,
              limiter: scenario.limiter,
              requests: () => server.stats.answered + server.stats.refused,
              rejected: () => server.stats.refused,
              log,
            });
      const shared: CompareShared = { sentences, languages: COMPARE_LANGUAGES, done: new Map() };
      const start = performance.now();
      try {
        await new AsyncFlow<CompareShared>(scenario.build({ server, progress })).runAsync(shared);
      } finally {
        progress?.stop();
      }
      const row: CompareRow = {
        approach: scenario.approach,
        seconds: secondsSince(start),
        done: shared.done.size,
        total,
        rateLimited: server.stats.refused,
        peakConcurrency: server.stats.maxConcurrentSeen,
        useCase: scenario.useCase,
      };
      rows.push(row);
      log(`${row.approach}: ${row.seconds.toFixed(2)} s, ${row.done}/${row.total} translated, ${row.rateLimited} × 429`);
    }
  } finally {
    await server.stop();
  }
  log("");
  log(formatTable(rows));
  return rows;
}

/** The comparison as a Markdown table. */
export function formatTable(rows: readonly CompareRow[]): string {
  const header = `| Approach | ${rows[0]?.total ?? 0} items | Translated | 429s | Peak in flight | Use case |`;
  const lines = [header, "|---|---:|---:|---:|---:|---|"];
  for (const row of rows) {
    lines.push(
      `| ${row.approach} | ${row.seconds.toFixed(2)} s | ${row.done} | ${row.rateLimited} | ${row.peakConcurrency} | ${row.useCase} |`,
    );
  }
  return lines.join("\n");
}

// =============================================================================
// Command line
// =============================================================================

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      provider: { type: "string" },
      languages: { type: "string" },
      compare: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log("Usage: npx tsx main.ts [--provider mock|mock-anthropic|openai|anthropic] [--languages a,b,c] [--compare]");
    console.log("  no option: the quick start, one batch unthrottled, throttled and learning its limits (simulated provider)");
    console.log("  --provider or --languages: translate a text into several languages with a throttled node");
    return;
  }
  const provider = (values.provider ?? "mock") as ProviderName;
  if (!PROVIDERS.includes(provider)) {
    console.error(`Unknown provider "${values.provider}": use one of ${PROVIDERS.join(", ")}`);
    process.exitCode = 1;
    return;
  }
  try {
    if (values.compare) {
      if (provider !== "mock") console.log("(--compare always measures against the simulated provider)\n");
      await runComparison();
    } else if (values.provider === undefined && values.languages === undefined) {
      await runDemo();
    } else {
      const languages = values.languages
        ?.split(",")
        .map((language) => language.trim())
        .filter(Boolean);
      await runTranslation({ provider, languages });
    }
  } catch (error) {
    if (!(error instanceof MissingApiKeyError)) throw error;
    console.error(`Error: ${error.message}`);
    process.exitCode = 1;
  } finally {
    // The simulated provider started on the first mock call: stop it so the process can exit.
    await stopMockProvider();
  }
}

if (isMain(import.meta.url)) await main();
