/**
 * Rate-limit presets: ready-made limits for popular providers (OpenAI,
 * Anthropic, Google, Cohere, Hugging Face, Mistral), generic levels and web
 * scraping, used four ways: as class fields, as constructor options, by name
 * with `Presets.get`, and as typed `RateLimitConfig` objects.
 *
 *   npx tsx presets-example.ts
 */
import {
  type NodeRateOptions,
  Presets,
  type RateLimitConfig,
  ThrottledParallelBatchNode,
  type ThrottleOptions,
} from "pocketflow-throttled";
import { callLlm, isMain, secondsSince, type SimulatedProvider, startDemoProvider } from "./utils.js";

interface Shared {
  items: number[];
  results?: string[];
}

/** Processes items through the simulated API; its limits come from a subclass's fields or the constructor. */
export class GenericNode extends ThrottledParallelBatchNode<Shared, number, string> {
  constructor(
    readonly api: SimulatedProvider,
    options: ThrottleOptions = {},
  ) {
    super(options);
  }
  override async prepAsync(shared: Shared) {
    return shared.items;
  }
  override async execAsync(item: number) {
    return (await callLlm(`Process item ${item}`, { server: this.api, maxTokens: 20 })).text;
  }
  override async postAsync(shared: Shared, _items: unknown, results: string[]) {
    shared.results = results;
    return "default";
  }
}

/** Method 1: class fields (OpenAI Tier 1: 5 at once, 60 per minute). */
export class OpenAITier1Node extends GenericNode {
  override maxConcurrent = Presets.OPENAI_TIER1.maxConcurrent; // 5
  override maxPerMinute = Presets.OPENAI_TIER1.maxPerMinute; // 60
}

/** Method 2: constructor options (Anthropic's standard tier: 5 at once, 50 per minute). */
export function anthropicStandardNode(api: SimulatedProvider): GenericNode {
  return new GenericNode(api, Presets.ANTHROPIC_STANDARD);
}

/** Method 3: a preset by name (constant or `CONFIGS` key, any case). */
export function createNodeWithPreset(api: SimulatedProvider, presetName: string): GenericNode {
  return new GenericNode(api, Presets.get(presetName));
}

/** Method 4: a typed, described `RateLimitConfig` from `Presets.CONFIGS`. */
export function nodeFromConfig(api: SimulatedProvider, config: RateLimitConfig): GenericNode {
  return new GenericNode(api, config.toDict());
}

const PROVIDER_GROUPS: Record<string, (keyof typeof Presets)[]> = {
  OpenAI: ["OPENAI_FREE", "OPENAI_TIER1", "OPENAI_TIER2", "OPENAI_TIER3", "OPENAI_TIER4", "OPENAI_TIER5"],
  Anthropic: ["ANTHROPIC_FREE", "ANTHROPIC_BUILD_TIER1", "ANTHROPIC_BUILD_TIER2", "ANTHROPIC_BUILD_TIER3", "ANTHROPIC_BUILD_TIER4"],
  Google: ["GOOGLE_FREE", "GOOGLE_PAY_AS_YOU_GO"],
  Cohere: ["COHERE_TRIAL", "COHERE_PRODUCTION"],
  "Hugging Face": ["HUGGINGFACE_FREE", "HUGGINGFACE_PRO"],
  Mistral: ["MISTRAL_FREE", "MISTRAL_STANDARD"],
  Generic: ["CONSERVATIVE", "MODERATE", "AGGRESSIVE", "UNLIMITED_CONCURRENT"],
  "Web scraping": ["SCRAPING_POLITE", "SCRAPING_MODERATE", "SCRAPING_AGGRESSIVE"],
};

export interface PresetRun {
  name: string;
  preset: NodeRateOptions;
  /** The limits the node ran with (read back from the node). */
  maxConcurrent: number;
  maxPerMinute: number | undefined;
  items: number;
  processed: number;
  seconds: number;
  itemsPerSecond: number;
}

export interface PresetsOptions {
  items?: number;
  latencyMs?: number;
  log?: (line: string) => void;
}

/** Lists the presets, shows a typed config, then runs the same batch under three generic presets. */
export async function runPresetsDemo(options: PresetsOptions = {}): Promise<PresetRun[]> {
  const log = options.log ?? ((line: string) => console.log(line));
  const itemCount = options.items ?? 20;
  log("=".repeat(60));
  log("Available rate limit presets");
  log("=".repeat(60));
  for (const [provider, names] of Object.entries(PROVIDER_GROUPS)) {
    log(`\n${provider}:\n${"-".repeat(40)}`);
    for (const name of names) {
      const preset = Presets[name] as NodeRateOptions;
      log(`  ${name.padEnd(24)} | concurrent: ${String(preset.maxConcurrent).padStart(3)} | RPM: ${preset.maxPerMinute ?? "unlimited"}`);
    }
  }

  const api = await startDemoProvider({ latencyMs: options.latencyMs ?? 20 });
  try {
    log(`\n${"=".repeat(60)}\nUsing RateLimitConfig\n${"=".repeat(60)}`);
    const config = Presets.CONFIGS.anthropic_tier1;
    log(`Config: ${JSON.stringify(config)}`);
    log(`  Description: ${config.description}`);
    log(`  Max concurrent: ${config.maxConcurrent}`);
    log(`  Max per minute: ${config.maxPerMinute}`);
    const typed = nodeFromConfig(api, config);
    log(`  A node built from it: maxConcurrent=${typed.maxConcurrent}, maxPerMinute=${typed.maxPerMinute}`);
    const fields = new OpenAITier1Node(api);
    log(`  Class fields (OPENAI_TIER1): maxConcurrent=${fields.maxConcurrent}, maxPerMinute=${fields.maxPerMinute}`);
    const options = anthropicStandardNode(api);
    log(`  Constructor options (ANTHROPIC_STANDARD): maxConcurrent=${options.maxConcurrent}, maxPerMinute=${options.maxPerMinute}`);

    log(`\n${"=".repeat(60)}\nPreset performance comparison (${itemCount} items, 20 ms per call)\n${"=".repeat(60)}`);
    const runs: PresetRun[] = [];
    for (const name of ["CONSERVATIVE", "MODERATE", "AGGRESSIVE"]) {
      const node = createNodeWithPreset(api, name);
      const shared: Shared = { items: Array.from({ length: itemCount }, (_, i) => i) };
      const start = performance.now();
      await node.runAsync(shared);
      const seconds = secondsSince(start);
      const run: PresetRun = {
        name,
        preset: Presets.get(name),
        maxConcurrent: node.maxConcurrent,
        maxPerMinute: node.maxPerMinute,
        items: itemCount,
        processed: shared.results?.length ?? 0,
        seconds,
        itemsPerSecond: Math.round((itemCount / seconds) * 10) / 10,
      };
      runs.push(run);
      log(`\n${name}:`);
      log(`  Config: ${JSON.stringify(run.preset)}`);
      log(`  Items: ${run.processed}/${run.items}`);
      log(`  Time: ${seconds.toFixed(2)} s`);
      log(`  Rate: ${run.itemsPerSecond} items/s`);
    }

    log(`\n${"=".repeat(60)}\nUsage\n${"=".repeat(60)}`);
    log(`
// 1. Class fields
class MyNode extends ThrottledParallelBatchNode {
  maxConcurrent = Presets.OPENAI_TIER1.maxConcurrent;
  maxPerMinute = Presets.OPENAI_TIER1.maxPerMinute;
}

// 2. Constructor options
const node = new ThrottledParallelBatchNode(Presets.ANTHROPIC_STANDARD);

// 3. By name, any case (constants or CONFIGS keys)
const byName = new ThrottledParallelBatchNode(Presets.get("openai_tier1"));

// 4. A typed, described config
const config = Presets.CONFIGS.conservative;
const typed = new ThrottledParallelBatchNode(config.toDict());`);
    return runs;
  } finally {
    await api.stop();
  }
}

if (isMain(import.meta.url)) await runPresetsDemo();
