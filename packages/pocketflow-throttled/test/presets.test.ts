import { describe, expect, it } from "vitest";
import { FlowPresets, FlowRateLimitConfig, Presets, RateLimitConfig } from "../src/presets.js";

// ESM modules are strict: writing to a frozen object throws a TypeError.

describe("RateLimitConfig", () => {
  it("exposes its options and description", () => {
    const config = new RateLimitConfig({ maxConcurrent: 5, maxPerMinute: 60, description: "Test config" });

    expect(config.maxConcurrent).toBe(5);
    expect(config.maxPerMinute).toBe(60);
    expect(config.description).toBe("Test config");
  });

  it("defaults the description to an empty string", () => {
    const config = new RateLimitConfig({ maxConcurrent: 5 });

    expect(config.description).toBe("");
  });

  it("is frozen", () => {
    const config = new RateLimitConfig({ maxConcurrent: 5, maxPerMinute: 60 });

    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { maxConcurrent: number }).maxConcurrent = 10;
    }).toThrow(TypeError);
  });

  it("converts to the plain node options", () => {
    const config = new RateLimitConfig({ maxConcurrent: 5, maxPerMinute: 60, description: "ignored" });

    expect(config.toDict()).toStrictEqual({ maxConcurrent: 5, maxPerMinute: 60 });
  });

  it("omits an unset maxPerMinute from the plain options", () => {
    const config = new RateLimitConfig({ maxConcurrent: 10 });

    expect(config.toDict()).toStrictEqual({ maxConcurrent: 10 });
    expect(Object.keys(config.toDict())).not.toContain("maxPerMinute");
  });

  it("gives frozen plain options", () => {
    const config = new RateLimitConfig({ maxConcurrent: 5, maxPerMinute: 60 });

    expect(Object.isFrozen(config.toDict())).toBe(true);
  });

  it("rejects maxConcurrent below 1 with a RangeError naming it", () => {
    expect(() => new RateLimitConfig({ maxConcurrent: 0 })).toThrow(/maxConcurrent.*0/);
  });

  it("rejects a non-integer maxPerMinute with a RangeError naming it", () => {
    expect(() => new RateLimitConfig({ maxConcurrent: 1, maxPerMinute: 1.5 })).toThrow(RangeError);
    expect(() => new RateLimitConfig({ maxConcurrent: 1, maxPerMinute: 1.5 })).toThrow(/maxPerMinute.*1\.5/);
  });
});

describe("FlowRateLimitConfig", () => {
  it("exposes its options and description", () => {
    const config = new FlowRateLimitConfig({ maxConcurrentFlows: 10, maxFlowsPerMinute: 60, description: "flows" });

    expect(config.maxConcurrentFlows).toBe(10);
    expect(config.maxFlowsPerMinute).toBe(60);
    expect(config.description).toBe("flows");
  });

  it("is frozen", () => {
    const config = new FlowRateLimitConfig({ maxConcurrentFlows: 10 });

    expect(() => {
      (config as { maxConcurrentFlows: number }).maxConcurrentFlows = 1;
    }).toThrow(TypeError);
  });

  it("converts to the plain flow options", () => {
    const config = new FlowRateLimitConfig({ maxConcurrentFlows: 10, maxFlowsPerMinute: 60, description: "x" });

    expect(config.toDict()).toStrictEqual({ maxConcurrentFlows: 10, maxFlowsPerMinute: 60 });
  });

  it("omits an unset maxFlowsPerMinute from the plain options", () => {
    const config = new FlowRateLimitConfig({ maxConcurrentFlows: 5 });

    expect(config.toDict()).toStrictEqual({ maxConcurrentFlows: 5 });
  });

  it("rejects maxFlowsPerMinute 0 with a RangeError naming it", () => {
    expect(() => new FlowRateLimitConfig({ maxConcurrentFlows: 5, maxFlowsPerMinute: 0 })).toThrow(
      /maxFlowsPerMinute.*0/,
    );
  });
});

describe("Presets constants", () => {
  it.each([
    ["OPENAI_FREE", { maxConcurrent: 3, maxPerMinute: 3 }],
    ["OPENAI_TIER1", { maxConcurrent: 5, maxPerMinute: 60 }],
    ["OPENAI_TIER2", { maxConcurrent: 10, maxPerMinute: 500 }],
    ["OPENAI_TIER3", { maxConcurrent: 15, maxPerMinute: 5000 }],
    ["OPENAI_TIER4", { maxConcurrent: 20, maxPerMinute: 10000 }],
    ["OPENAI_TIER5", { maxConcurrent: 30, maxPerMinute: 30000 }],
    ["ANTHROPIC_FREE", { maxConcurrent: 2, maxPerMinute: 5 }],
    ["ANTHROPIC_BUILD_TIER1", { maxConcurrent: 5, maxPerMinute: 50 }],
    ["ANTHROPIC_BUILD_TIER2", { maxConcurrent: 10, maxPerMinute: 1000 }],
    ["ANTHROPIC_BUILD_TIER3", { maxConcurrent: 15, maxPerMinute: 2000 }],
    ["ANTHROPIC_BUILD_TIER4", { maxConcurrent: 20, maxPerMinute: 4000 }],
    ["ANTHROPIC_STANDARD", { maxConcurrent: 5, maxPerMinute: 50 }],
    ["ANTHROPIC_SCALE", { maxConcurrent: 15, maxPerMinute: 2000 }],
    ["GOOGLE_FREE", { maxConcurrent: 2, maxPerMinute: 15 }],
    ["GOOGLE_PAY_AS_YOU_GO", { maxConcurrent: 10, maxPerMinute: 1000 }],
    ["COHERE_TRIAL", { maxConcurrent: 2, maxPerMinute: 20 }],
    ["COHERE_PRODUCTION", { maxConcurrent: 10, maxPerMinute: 10000 }],
    ["HUGGINGFACE_FREE", { maxConcurrent: 1, maxPerMinute: 30 }],
    ["HUGGINGFACE_PRO", { maxConcurrent: 5, maxPerMinute: 1000 }],
    ["MISTRAL_FREE", { maxConcurrent: 2, maxPerMinute: 30 }],
    ["MISTRAL_STANDARD", { maxConcurrent: 10, maxPerMinute: 500 }],
    ["CONSERVATIVE", { maxConcurrent: 2, maxPerMinute: 20 }],
    ["MODERATE", { maxConcurrent: 5, maxPerMinute: 60 }],
    ["AGGRESSIVE", { maxConcurrent: 10, maxPerMinute: 200 }],
    ["UNLIMITED_CONCURRENT", { maxConcurrent: 50 }],
    ["SCRAPING_POLITE", { maxConcurrent: 2, maxPerMinute: 10 }],
    ["SCRAPING_MODERATE", { maxConcurrent: 5, maxPerMinute: 30 }],
    ["SCRAPING_AGGRESSIVE", { maxConcurrent: 10, maxPerMinute: 60 }],
  ] as const)("%s equals the Python preset", (name, expected) => {
    expect(Presets[name]).toStrictEqual(expected);
  });

  it("has exactly the Python package's constants, plus CONFIGS, listPresets and get", () => {
    expect(Object.keys(Presets)).toStrictEqual([
      "OPENAI_FREE",
      "OPENAI_TIER1",
      "OPENAI_TIER2",
      "OPENAI_TIER3",
      "OPENAI_TIER4",
      "OPENAI_TIER5",
      "ANTHROPIC_FREE",
      "ANTHROPIC_BUILD_TIER1",
      "ANTHROPIC_BUILD_TIER2",
      "ANTHROPIC_BUILD_TIER3",
      "ANTHROPIC_BUILD_TIER4",
      "ANTHROPIC_STANDARD",
      "ANTHROPIC_SCALE",
      "GOOGLE_FREE",
      "GOOGLE_PAY_AS_YOU_GO",
      "COHERE_TRIAL",
      "COHERE_PRODUCTION",
      "HUGGINGFACE_FREE",
      "HUGGINGFACE_PRO",
      "MISTRAL_FREE",
      "MISTRAL_STANDARD",
      "CONSERVATIVE",
      "MODERATE",
      "AGGRESSIVE",
      "UNLIMITED_CONCURRENT",
      "SCRAPING_POLITE",
      "SCRAPING_MODERATE",
      "SCRAPING_AGGRESSIVE",
      "CONFIGS",
      "listPresets",
      "get",
    ]);
  });

  it("has no maxPerMinute key in UNLIMITED_CONCURRENT (Python's None)", () => {
    expect("maxPerMinute" in Presets.UNLIMITED_CONCURRENT).toBe(false);
  });

  it("makes ANTHROPIC_STANDARD and ANTHROPIC_SCALE aliases of build tiers 1 and 3", () => {
    expect(Presets.ANTHROPIC_STANDARD).toBe(Presets.ANTHROPIC_BUILD_TIER1);
    expect(Presets.ANTHROPIC_SCALE).toBe(Presets.ANTHROPIC_BUILD_TIER3);
  });

  it("orders the generic presets from conservative to aggressive", () => {
    expect(Presets.CONSERVATIVE.maxConcurrent).toBeLessThan(Presets.AGGRESSIVE.maxConcurrent);
    expect(Presets.CONSERVATIVE.maxPerMinute).toBeLessThan(Presets.AGGRESSIVE.maxPerMinute ?? 0);
  });

  it("raises the OpenAI rate with each tier", () => {
    expect(Presets.OPENAI_TIER1.maxPerMinute).toBeLessThan(Presets.OPENAI_TIER2.maxPerMinute ?? 0);
    expect(Presets.OPENAI_TIER2.maxPerMinute).toBeLessThan(Presets.OPENAI_TIER3.maxPerMinute ?? 0);
  });

  it("keeps polite scraping at most 3 at once and 20 per minute", () => {
    expect(Presets.SCRAPING_POLITE.maxConcurrent).toBeLessThanOrEqual(3);
    expect(Presets.SCRAPING_POLITE.maxPerMinute).toBeLessThanOrEqual(20);
  });

  it("freezes the Presets object", () => {
    expect(() => {
      (Presets as { OPENAI_TIER1: unknown }).OPENAI_TIER1 = { maxConcurrent: 99 };
    }).toThrow(TypeError);
  });

  it("freezes each preset", () => {
    expect(() => {
      (Presets.OPENAI_TIER1 as { maxConcurrent: number }).maxConcurrent = 99;
    }).toThrow(TypeError);
    expect(Presets.OPENAI_TIER1.maxConcurrent).toBe(5);
  });
});

describe("Presets.CONFIGS", () => {
  it("has exactly the Python CONFIGS keys, in order", () => {
    expect(Object.keys(Presets.CONFIGS)).toStrictEqual([
      "openai_free",
      "openai_tier1",
      "openai_tier2",
      "openai_tier3",
      "openai_tier4",
      "openai_tier5",
      "anthropic_free",
      "anthropic_tier1",
      "anthropic_tier2",
      "anthropic_tier3",
      "anthropic_tier4",
      "google_free",
      "google_paid",
      "conservative",
      "moderate",
      "aggressive",
    ]);
  });

  it("holds RateLimitConfig instances", () => {
    expect(Object.values(Presets.CONFIGS).every((config) => config instanceof RateLimitConfig)).toBe(true);
  });

  it("holds frozen configs in a frozen map", () => {
    expect(Object.isFrozen(Presets.CONFIGS)).toBe(true);
    expect(Object.isFrozen(Presets.CONFIGS.google_paid)).toBe(true);
  });

  it("carries the values and description of google_paid", () => {
    const config = Presets.CONFIGS.google_paid;

    expect(config.maxConcurrent).toBe(10);
    expect(config.maxPerMinute).toBe(1000);
    expect(config.description).toBe("Google AI Pay-as-you-go");
  });
});

describe("Presets.listPresets", () => {
  it("maps each CONFIGS key to its Python description", () => {
    expect(Presets.listPresets()).toStrictEqual({
      openai_free: "OpenAI Free Tier",
      openai_tier1: "OpenAI Tier 1",
      openai_tier2: "OpenAI Tier 2",
      openai_tier3: "OpenAI Tier 3",
      openai_tier4: "OpenAI Tier 4",
      openai_tier5: "OpenAI Tier 5",
      anthropic_free: "Anthropic Free Tier",
      anthropic_tier1: "Anthropic Build Tier 1",
      anthropic_tier2: "Anthropic Build Tier 2",
      anthropic_tier3: "Anthropic Build Tier 3",
      anthropic_tier4: "Anthropic Build Tier 4",
      google_free: "Google AI Free",
      google_paid: "Google AI Pay-as-you-go",
      conservative: "Conservative - safe default",
      moderate: "Moderate - balanced",
      aggressive: "Aggressive - high throughput",
    });
  });
});

describe("Presets.get", () => {
  it("finds a constant by its lower-case name", () => {
    expect(Presets.get("openai_tier1")).toStrictEqual({ maxConcurrent: 5, maxPerMinute: 60 });
  });

  it("returns the constant itself for its upper-case name", () => {
    expect(Presets.get("OPENAI_TIER1")).toBe(Presets.OPENAI_TIER1);
  });

  it("ignores case entirely", () => {
    expect(Presets.get("Anthropic_Standard")).toBe(Presets.ANTHROPIC_STANDARD);
  });

  it("finds a CONFIGS-only key as that config's plain options", () => {
    expect(Presets.get("google_paid")).toStrictEqual({ maxConcurrent: 10, maxPerMinute: 1000 });
  });

  it("finds a CONFIGS-only key in any case", () => {
    expect(Presets.get("ANTHROPIC_TIER1")).toStrictEqual({ maxConcurrent: 5, maxPerMinute: 50 });
  });

  it("returns frozen options for a CONFIGS key", () => {
    expect(Object.isFrozen(Presets.get("google_paid"))).toBe(true);
  });

  it("returns the same values for moderate as Presets.MODERATE", () => {
    expect(Presets.get("moderate")).toStrictEqual(Presets.MODERATE);
  });

  it("throws for an unknown name, naming it", () => {
    expect(() => Presets.get("nonexistent_preset")).toThrow(/Unknown preset: "nonexistent_preset"/);
  });

  it("lists constant names and CONFIGS keys in the unknown-name error", () => {
    expect(() => Presets.get("nope")).toThrow(/openai_tier1.*anthropic_build_tier1.*scraping_aggressive.*google_paid/);
  });

  it("does not treat its own members as presets", () => {
    expect(() => Presets.get("get")).toThrow(/Unknown preset/);
    expect(() => Presets.get("configs")).toThrow(/Unknown preset/);
    expect(() => Presets.get("listPresets")).toThrow(/Unknown preset/);
  });

  it("does not find inherited object properties", () => {
    expect(() => Presets.get("constructor")).toThrow(/Unknown preset/);
    expect(() => Presets.get("__proto__")).toThrow(/Unknown preset/);
  });
});

describe("FlowPresets constants", () => {
  it.each([
    ["CONSERVATIVE", { maxConcurrentFlows: 3, maxFlowsPerMinute: 30 }],
    ["MODERATE", { maxConcurrentFlows: 10, maxFlowsPerMinute: 60 }],
    ["AGGRESSIVE", { maxConcurrentFlows: 25, maxFlowsPerMinute: 200 }],
    ["HIGH_THROUGHPUT", { maxConcurrentFlows: 50, maxFlowsPerMinute: 500 }],
    ["UNLIMITED", { maxConcurrentFlows: 100 }],
    ["BATCH_PROCESSING", { maxConcurrentFlows: 10, maxFlowsPerMinute: 100 }],
    ["DATA_PIPELINE", { maxConcurrentFlows: 20, maxFlowsPerMinute: 200 }],
    ["REALTIME", { maxConcurrentFlows: 5 }],
    ["HEAVY_PROCESSING", { maxConcurrentFlows: 5, maxFlowsPerMinute: 20 }],
    [
      "ADAPTIVE_CONSERVATIVE",
      {
        initialConcurrentFlows: 5,
        minConcurrentFlows: 2,
        maxConcurrentFlows: 15,
        backoffFactor: 0.5,
        recoveryThreshold: 20,
        recoveryFactor: 1.2,
      },
    ],
    [
      "ADAPTIVE_MODERATE",
      {
        initialConcurrentFlows: 10,
        minConcurrentFlows: 3,
        maxConcurrentFlows: 30,
        backoffFactor: 0.5,
        recoveryThreshold: 15,
        recoveryFactor: 1.3,
      },
    ],
    [
      "ADAPTIVE_AGGRESSIVE",
      {
        initialConcurrentFlows: 20,
        minConcurrentFlows: 5,
        maxConcurrentFlows: 50,
        backoffFactor: 0.6,
        recoveryThreshold: 10,
        recoveryFactor: 1.4,
      },
    ],
  ] as const)("%s equals the Python flow preset", (name, expected) => {
    expect(FlowPresets[name]).toStrictEqual(expected);
  });

  it("has exactly the Python package's flow constants, plus CONFIGS, listPresets and get", () => {
    expect(Object.keys(FlowPresets)).toStrictEqual([
      "CONSERVATIVE",
      "MODERATE",
      "AGGRESSIVE",
      "HIGH_THROUGHPUT",
      "UNLIMITED",
      "BATCH_PROCESSING",
      "DATA_PIPELINE",
      "REALTIME",
      "HEAVY_PROCESSING",
      "ADAPTIVE_CONSERVATIVE",
      "ADAPTIVE_MODERATE",
      "ADAPTIVE_AGGRESSIVE",
      "CONFIGS",
      "listPresets",
      "get",
    ]);
  });

  it("freezes the FlowPresets object and each preset", () => {
    expect(Object.isFrozen(FlowPresets)).toBe(true);
    expect(() => {
      (FlowPresets.ADAPTIVE_MODERATE as { backoffFactor: number }).backoffFactor = 0.9;
    }).toThrow(TypeError);
  });
});

describe("FlowPresets.CONFIGS and listPresets", () => {
  it("has exactly the Python flow CONFIGS keys, in order", () => {
    expect(Object.keys(FlowPresets.CONFIGS)).toStrictEqual([
      "conservative",
      "moderate",
      "aggressive",
      "high_throughput",
      "batch_processing",
      "data_pipeline",
      "realtime",
      "heavy_processing",
    ]);
  });

  it("holds frozen FlowRateLimitConfig instances", () => {
    expect(Object.values(FlowPresets.CONFIGS).every((config) => config instanceof FlowRateLimitConfig)).toBe(true);
    expect(Object.isFrozen(FlowPresets.CONFIGS.realtime)).toBe(true);
  });

  it("maps each CONFIGS key to its Python description", () => {
    expect(FlowPresets.listPresets()).toStrictEqual({
      conservative: "Conservative - safe default",
      moderate: "Moderate - balanced",
      aggressive: "Aggressive - high throughput",
      high_throughput: "High throughput - for fast APIs",
      batch_processing: "Batch processing workloads",
      data_pipeline: "Data pipeline processing",
      realtime: "Real-time low latency",
      heavy_processing: "Heavy API usage per flow",
    });
  });

  it("leaves realtime without a per-minute limit", () => {
    expect(FlowPresets.CONFIGS.realtime.maxFlowsPerMinute).toBeUndefined();
    expect(FlowPresets.CONFIGS.realtime.toDict()).toStrictEqual({ maxConcurrentFlows: 5 });
  });
});

describe("FlowPresets.get", () => {
  it("finds a preset by its lower-case name", () => {
    expect(FlowPresets.get("moderate")).toBe(FlowPresets.MODERATE);
  });

  it("finds an adaptive preset in any case", () => {
    expect(FlowPresets.get("Adaptive_Conservative")).toBe(FlowPresets.ADAPTIVE_CONSERVATIVE);
  });

  it("returns frozen options", () => {
    expect(Object.isFrozen(FlowPresets.get("HIGH_THROUGHPUT"))).toBe(true);
  });

  it("throws for an unknown name, naming it and listing the available names", () => {
    expect(() => FlowPresets.get("warp_speed")).toThrow(
      /Unknown preset: "warp_speed".*conservative.*adaptive_aggressive/,
    );
  });
});
