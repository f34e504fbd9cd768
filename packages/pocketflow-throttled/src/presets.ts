// Rate-limit presets for popular services, with the values of the Python
// package pocketflow-throttled. Limits change with account tier, model and
// time: these are starting points, check your provider's current limits.

import { checkCount, checkOptionalCount } from "./validate.js";

/** Node options a preset gives: concurrency and requests per minute (absent = unlimited). */
export interface NodeRateOptions {
  readonly maxConcurrent: number;
  /** @default undefined (unlimited) */
  readonly maxPerMinute?: number;
}

/** Flow options a preset gives: concurrent flow instances and starts per minute (absent = unlimited). */
export interface FlowRateOptions {
  readonly maxConcurrentFlows: number;
  /** @default undefined (unlimited) */
  readonly maxFlowsPerMinute?: number;
}

/** Options of an adaptive flow preset, for `AdaptiveThrottledBatchFlow`. */
export interface AdaptiveFlowRateOptions extends FlowRateOptions {
  readonly initialConcurrentFlows: number;
  readonly minConcurrentFlows: number;
  readonly backoffFactor: number;
  readonly recoveryThreshold: number;
  readonly recoveryFactor: number;
}


/**
 * An immutable, described node rate limit, as found in `Presets.CONFIGS`.
 *
 * @example
 * ```ts
 * const config = new RateLimitConfig({ maxConcurrent: 5, maxPerMinute: 60, description: "OpenAI Tier 1" });
 * new ThrottledParallelBatchNode(config.toDict());
 * ```
 */
export class RateLimitConfig {
  readonly maxConcurrent: number;
  /** Requests per minute; `undefined` means unlimited. */
  readonly maxPerMinute: number | undefined;
  readonly description: string;

  constructor(options: { maxConcurrent: number; maxPerMinute?: number | undefined; description?: string }) {
    checkCount("maxConcurrent", options?.maxConcurrent);
    checkOptionalCount("maxPerMinute", options.maxPerMinute);
    this.maxConcurrent = options.maxConcurrent;
    this.maxPerMinute = options.maxPerMinute;
    this.description = options.description ?? "";
    Object.freeze(this);
  }

  /** The node options, without the description and without unset limits; frozen. */
  toDict(): NodeRateOptions {
    return Object.freeze(
      this.maxPerMinute === undefined
        ? { maxConcurrent: this.maxConcurrent }
        : { maxConcurrent: this.maxConcurrent, maxPerMinute: this.maxPerMinute },
    );
  }
}

/**
 * An immutable, described flow rate limit, as found in `FlowPresets.CONFIGS`.
 *
 * @example
 * ```ts
 * const config = new FlowRateLimitConfig({ maxConcurrentFlows: 10, maxFlowsPerMinute: 60 });
 * new ThrottledAsyncParallelBatchFlow(start, config.toDict());
 * ```
 */
export class FlowRateLimitConfig {
  readonly maxConcurrentFlows: number;
  /** Flow starts per minute; `undefined` means unlimited. */
  readonly maxFlowsPerMinute: number | undefined;
  readonly description: string;

  constructor(options: { maxConcurrentFlows: number; maxFlowsPerMinute?: number | undefined; description?: string }) {
    checkCount("maxConcurrentFlows", options?.maxConcurrentFlows);
    checkOptionalCount("maxFlowsPerMinute", options.maxFlowsPerMinute);
    this.maxConcurrentFlows = options.maxConcurrentFlows;
    this.maxFlowsPerMinute = options.maxFlowsPerMinute;
    this.description = options.description ?? "";
    Object.freeze(this);
  }

  /** The flow options, without the description and without unset limits; frozen. */
  toDict(): FlowRateOptions {
    return Object.freeze(
      this.maxFlowsPerMinute === undefined
        ? { maxConcurrentFlows: this.maxConcurrentFlows }
        : { maxConcurrentFlows: this.maxConcurrentFlows, maxFlowsPerMinute: this.maxFlowsPerMinute },
    );
  }
}

function node(maxConcurrent: number, maxPerMinute?: number): NodeRateOptions {
  return Object.freeze(maxPerMinute === undefined ? { maxConcurrent } : { maxConcurrent, maxPerMinute });
}

function flow(maxConcurrentFlows: number, maxFlowsPerMinute?: number): FlowRateOptions {
  return Object.freeze(
    maxFlowsPerMinute === undefined ? { maxConcurrentFlows } : { maxConcurrentFlows, maxFlowsPerMinute },
  );
}

function adaptiveFlow(options: AdaptiveFlowRateOptions): AdaptiveFlowRateOptions {
  return Object.freeze({ ...options });
}

function nodeConfig(maxConcurrent: number, maxPerMinute: number | undefined, description: string): RateLimitConfig {
  return new RateLimitConfig({ maxConcurrent, maxPerMinute, description });
}

function flowConfig(
  maxConcurrentFlows: number,
  maxFlowsPerMinute: number | undefined,
  description: string,
): FlowRateLimitConfig {
  return new FlowRateLimitConfig({ maxConcurrentFlows, maxFlowsPerMinute, description });
}

// Shared by Presets.get and FlowPresets.get: a constant by name, else a
// CONFIGS entry, both case-insensitive (constants first, as in Python).
function lookup<T, C extends { toDict(): T }>(
  kind: string,
  constants: Readonly<Record<string, T>>,
  configs: Readonly<Record<string, C>>,
  name: string,
): T {
  if (typeof name !== "string") throw new TypeError(`preset name must be a string, got ${typeof name} ${String(name)}`);
  const constant = Object.hasOwn(constants, name.toUpperCase()) ? constants[name.toUpperCase()] : undefined;
  if (constant !== undefined) return constant;
  const config = Object.hasOwn(configs, name.toLowerCase()) ? configs[name.toLowerCase()] : undefined;
  if (config !== undefined) return config.toDict();
  const available = [...new Set([...Object.keys(constants).map((key) => key.toLowerCase()), ...Object.keys(configs)])];
  throw new Error(`Unknown preset: "${name}". Available ${kind} names (any case): ${available.join(", ")}`);
}

function descriptions<C extends { description: string }>(configs: Readonly<Record<string, C>>): Record<string, string> {
  return Object.fromEntries(Object.entries(configs).map(([name, config]) => [name, config.description]));
}

// ANTHROPIC_STANDARD and ANTHROPIC_SCALE are aliases in Python: same objects here.
const ANTHROPIC_BUILD_TIER1 = node(5, 50);
const ANTHROPIC_BUILD_TIER3 = node(15, 2000);

const NODE_PRESETS = Object.freeze({
  // OpenAI (https://platform.openai.com/docs/guides/rate-limits)
  OPENAI_FREE: node(3, 3),
  OPENAI_TIER1: node(5, 60),
  OPENAI_TIER2: node(10, 500),
  OPENAI_TIER3: node(15, 5000),
  OPENAI_TIER4: node(20, 10000),
  OPENAI_TIER5: node(30, 30000),
  // Anthropic (https://docs.anthropic.com/claude/reference/rate-limits)
  ANTHROPIC_FREE: node(2, 5),
  ANTHROPIC_BUILD_TIER1,
  ANTHROPIC_BUILD_TIER2: node(10, 1000),
  ANTHROPIC_BUILD_TIER3,
  ANTHROPIC_BUILD_TIER4: node(20, 4000),
  ANTHROPIC_STANDARD: ANTHROPIC_BUILD_TIER1,
  ANTHROPIC_SCALE: ANTHROPIC_BUILD_TIER3,
  // Google AI / Gemini (https://ai.google.dev/pricing)
  GOOGLE_FREE: node(2, 15),
  GOOGLE_PAY_AS_YOU_GO: node(10, 1000),
  // Cohere (https://docs.cohere.com/docs/rate-limits)
  COHERE_TRIAL: node(2, 20),
  COHERE_PRODUCTION: node(10, 10000),
  // Hugging Face Inference API
  HUGGINGFACE_FREE: node(1, 30),
  HUGGINGFACE_PRO: node(5, 1000),
  // Mistral AI
  MISTRAL_FREE: node(2, 30),
  MISTRAL_STANDARD: node(10, 500),
  // Generic, for when the exact limits are unknown
  CONSERVATIVE: node(2, 20),
  MODERATE: node(5, 60),
  AGGRESSIVE: node(10, 200),
  UNLIMITED_CONCURRENT: node(50),
  // Web scraping: be polite to servers
  SCRAPING_POLITE: node(2, 10),
  SCRAPING_MODERATE: node(5, 30),
  SCRAPING_AGGRESSIVE: node(10, 60),
});

const NODE_CONFIGS = Object.freeze({
  openai_free: nodeConfig(3, 3, "OpenAI Free Tier"),
  openai_tier1: nodeConfig(5, 60, "OpenAI Tier 1"),
  openai_tier2: nodeConfig(10, 500, "OpenAI Tier 2"),
  openai_tier3: nodeConfig(15, 5000, "OpenAI Tier 3"),
  openai_tier4: nodeConfig(20, 10000, "OpenAI Tier 4"),
  openai_tier5: nodeConfig(30, 30000, "OpenAI Tier 5"),
  anthropic_free: nodeConfig(2, 5, "Anthropic Free Tier"),
  anthropic_tier1: nodeConfig(5, 50, "Anthropic Build Tier 1"),
  anthropic_tier2: nodeConfig(10, 1000, "Anthropic Build Tier 2"),
  anthropic_tier3: nodeConfig(15, 2000, "Anthropic Build Tier 3"),
  anthropic_tier4: nodeConfig(20, 4000, "Anthropic Build Tier 4"),
  google_free: nodeConfig(2, 15, "Google AI Free"),
  google_paid: nodeConfig(10, 1000, "Google AI Pay-as-you-go"),
  conservative: nodeConfig(2, 20, "Conservative - safe default"),
  moderate: nodeConfig(5, 60, "Moderate - balanced"),
  aggressive: nodeConfig(10, 200, "Aggressive - high throughput"),
});

/**
 * Node rate limits for popular services, usable as constructor options.
 * `CONFIGS` holds described, typed configurations; `get(name)` finds either
 * kind by name, in any case.
 *
 * @example
 * ```ts
 * new ThrottledParallelBatchNode(Presets.OPENAI_TIER1); // 5 at once, 60 per minute
 * new ThrottledParallelBatchNode(Presets.get("google_paid"));
 * ```
 */
export const Presets = Object.freeze({
  ...NODE_PRESETS,
  CONFIGS: NODE_CONFIGS,
  /** Each `CONFIGS` key mapped to its description. */
  listPresets(): Record<string, string> {
    return descriptions(NODE_CONFIGS);
  },
  /**
   * A constant (`"OPENAI_TIER1"`) or `CONFIGS` key (`"google_paid"`), any case.
   * @throws Error naming the unknown preset and listing the available names.
   */
  get(name: string): NodeRateOptions {
    return lookup<NodeRateOptions, RateLimitConfig>("Presets", NODE_PRESETS, NODE_CONFIGS, name);
  },
});

const FLOW_PRESETS = Object.freeze({
  // Generic
  CONSERVATIVE: flow(3, 30),
  MODERATE: flow(10, 60),
  AGGRESSIVE: flow(25, 200),
  HIGH_THROUGHPUT: flow(50, 500),
  UNLIMITED: flow(100),
  // By use case
  BATCH_PROCESSING: flow(10, 100), // users or documents, moderate API use each
  DATA_PIPELINE: flow(20, 200), // light API use each
  REALTIME: flow(5), // low latency
  HEAVY_PROCESSING: flow(5, 20), // long flows, heavy API use each
  // For AdaptiveThrottledBatchFlow
  ADAPTIVE_CONSERVATIVE: adaptiveFlow({
    initialConcurrentFlows: 5,
    minConcurrentFlows: 2,
    maxConcurrentFlows: 15,
    backoffFactor: 0.5,
    recoveryThreshold: 20,
    recoveryFactor: 1.2,
  }),
  ADAPTIVE_MODERATE: adaptiveFlow({
    initialConcurrentFlows: 10,
    minConcurrentFlows: 3,
    maxConcurrentFlows: 30,
    backoffFactor: 0.5,
    recoveryThreshold: 15,
    recoveryFactor: 1.3,
  }),
  ADAPTIVE_AGGRESSIVE: adaptiveFlow({
    initialConcurrentFlows: 20,
    minConcurrentFlows: 5,
    maxConcurrentFlows: 50,
    backoffFactor: 0.6,
    recoveryThreshold: 10,
    recoveryFactor: 1.4,
  }),
});

const FLOW_CONFIGS = Object.freeze({
  conservative: flowConfig(3, 30, "Conservative - safe default"),
  moderate: flowConfig(10, 60, "Moderate - balanced"),
  aggressive: flowConfig(25, 200, "Aggressive - high throughput"),
  high_throughput: flowConfig(50, 500, "High throughput - for fast APIs"),
  batch_processing: flowConfig(10, 100, "Batch processing workloads"),
  data_pipeline: flowConfig(20, 200, "Data pipeline processing"),
  realtime: flowConfig(5, undefined, "Real-time low latency"),
  heavy_processing: flowConfig(5, 20, "Heavy API usage per flow"),
});

/**
 * Flow rate limits (how many flow instances run and start), usable as flow
 * options; the `ADAPTIVE_*` ones are for `AdaptiveThrottledBatchFlow`. Same
 * `CONFIGS` / `listPresets()` / `get(name)` as {@link Presets}.
 *
 * @example
 * ```ts
 * new ThrottledAsyncParallelBatchFlow(start, FlowPresets.MODERATE); // 10 at once, 60 starts per minute
 * new AdaptiveThrottledBatchFlow(start, FlowPresets.ADAPTIVE_CONSERVATIVE);
 * ```
 */
export const FlowPresets = Object.freeze({
  ...FLOW_PRESETS,
  CONFIGS: FLOW_CONFIGS,
  /** Each `CONFIGS` key mapped to its description. */
  listPresets(): Record<string, string> {
    return descriptions(FLOW_CONFIGS);
  },
  /**
   * A constant (`"ADAPTIVE_MODERATE"`) or `CONFIGS` key (`"realtime"`), any case.
   * @throws Error naming the unknown preset and listing the available names.
   */
  get(name: string): FlowRateOptions {
    return lookup<FlowRateOptions, FlowRateLimitConfig>("FlowPresets", FLOW_PRESETS, FLOW_CONFIGS, name);
  },
});
