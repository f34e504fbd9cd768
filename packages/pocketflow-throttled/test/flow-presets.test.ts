import { AsyncNode, type Params } from "pocketflow-ts";
import { describe, expect, it } from "vitest";
import { AdaptiveThrottledBatchFlow } from "../src/adaptive-flow.js";
import { ThrottledAsyncParallelBatchFlow } from "../src/flows.js";
import { FlowPresets, FlowRateLimitConfig } from "../src/presets.js";

// presets.test.ts pins the FlowPresets constants, keys, descriptions and get();
// this file adds the CONFIGS values and the presets' use as flow options.

class Three extends ThrottledAsyncParallelBatchFlow {
  override async prepAsync(): Promise<Params[]> {
    return [{ id: 1 }, { id: 2 }, { id: 3 }];
  }
}

class AdaptiveThree extends AdaptiveThrottledBatchFlow {
  override async prepAsync(): Promise<Params[]> {
    return [{ id: 1 }, { id: 2 }, { id: 3 }];
  }
}

describe("FlowPresets.CONFIGS values", () => {
  it.each([
    ["conservative", 3, 30],
    ["moderate", 10, 60],
    ["aggressive", 25, 200],
    ["high_throughput", 50, 500],
    ["batch_processing", 10, 100],
    ["data_pipeline", 20, 200],
    ["realtime", 5, undefined],
    ["heavy_processing", 5, 20],
  ] as const)("%s holds Python's FlowRateLimitConfig(%i, %s)", (key, maxConcurrentFlows, maxFlowsPerMinute) => {
    const config = FlowPresets.CONFIGS[key];

    expect(config.maxConcurrentFlows).toBe(maxConcurrentFlows);
    expect(config.maxFlowsPerMinute).toBe(maxFlowsPerMinute);
  });

  it("freezes the CONFIGS map", () => {
    expect(Object.isFrozen(FlowPresets.CONFIGS)).toBe(true);
  });

  it("gives a CONFIGS entry's toDict() the same options as the constant of that name", () => {
    expect(FlowPresets.CONFIGS.batch_processing.toDict()).toStrictEqual(FlowPresets.BATCH_PROCESSING);
    expect(FlowPresets.CONFIGS.realtime.toDict()).toStrictEqual(FlowPresets.REALTIME);
  });
});

describe("FlowPresets as flow options", () => {
  it("configures a ThrottledAsyncParallelBatchFlow: new Flow(start, FlowPresets.MODERATE)", () => {
    const flow = new ThrottledAsyncParallelBatchFlow(new AsyncNode(), FlowPresets.MODERATE);

    expect(flow.maxConcurrentFlows).toBe(10);
    expect(flow.maxFlowsPerMinute).toBe(60);
  });

  it.each([
    "CONSERVATIVE",
    "MODERATE",
    "AGGRESSIVE",
    "HIGH_THROUGHPUT",
    "UNLIMITED",
    "BATCH_PROCESSING",
    "DATA_PIPELINE",
    "REALTIME",
    "HEAVY_PROCESSING",
  ] as const)("runs a ThrottledAsyncParallelBatchFlow configured with FlowPresets.%s", async (name) => {
    const flow = new Three(new AsyncNode(), FlowPresets[name]);

    await flow.runAsync({});

    expect(flow.stats).toStrictEqual({
      maxConcurrentFlows: FlowPresets[name].maxConcurrentFlows,
      maxFlowsPerMinute: FlowPresets[name].maxFlowsPerMinute,
      completedFlows: 3,
      failedFlows: 0,
    });
  });

  it("configures an AdaptiveThrottledBatchFlow: new Flow(start, FlowPresets.ADAPTIVE_MODERATE)", () => {
    const flow = new AdaptiveThrottledBatchFlow(new AsyncNode(), FlowPresets.ADAPTIVE_MODERATE);

    expect(flow.initialConcurrentFlows).toBe(10);
    expect(flow.minConcurrentFlows).toBe(3);
    expect(flow.maxConcurrentFlows).toBe(30);
    expect(flow.backoffFactor).toBe(0.5);
    expect(flow.recoveryThreshold).toBe(15);
    expect(flow.recoveryFactor).toBe(1.3);
  });

  it.each(["ADAPTIVE_CONSERVATIVE", "ADAPTIVE_MODERATE", "ADAPTIVE_AGGRESSIVE"] as const)(
    "runs an AdaptiveThrottledBatchFlow configured with FlowPresets.%s",
    async (name) => {
      const flow = new AdaptiveThree(new AsyncNode(), FlowPresets[name]);

      await flow.runAsync({});

      expect(flow.stats.completedFlows).toBe(3);
      expect(flow.stats.currentConcurrentFlows).toBe(FlowPresets[name].initialConcurrentFlows);
    },
  );

  it("configures an AdaptiveThrottledBatchFlow with a fixed preset as its ceiling and rate", () => {
    const flow = new AdaptiveThrottledBatchFlow(new AsyncNode(), FlowPresets.HEAVY_PROCESSING);

    expect(flow.maxConcurrentFlows).toBe(5);
    expect(flow.maxFlowsPerMinute).toBe(20);
  });

  it("accepts what FlowPresets.get returns, in any case", () => {
    const flow = new AdaptiveThrottledBatchFlow(new AsyncNode(), FlowPresets.get("adaptive_aggressive"));

    expect(flow.initialConcurrentFlows).toBe(20);
    expect(flow.backoffFactor).toBe(0.6);
  });

  it("accepts a FlowRateLimitConfig's toDict()", () => {
    const config = new FlowRateLimitConfig({ maxConcurrentFlows: 4, maxFlowsPerMinute: 40, description: "mine" });

    const flow = new ThrottledAsyncParallelBatchFlow(new AsyncNode(), config.toDict());

    expect(flow.maxConcurrentFlows).toBe(4);
    expect(flow.maxFlowsPerMinute).toBe(40);
  });

  it("lets a preset win over class fields, like any constructor option", () => {
    class Fields extends ThrottledAsyncParallelBatchFlow {
      override maxConcurrentFlows = 2;
      override maxFlowsPerMinute = 5;
    }

    const flow = new Fields(new AsyncNode(), FlowPresets.CONSERVATIVE);

    expect(flow.maxConcurrentFlows).toBe(3);
    expect(flow.maxFlowsPerMinute).toBe(30);
  });

  it("refuses an adaptive preset on the fixed flow, naming the option it does not take (as Python does)", () => {
    const options = FlowPresets.ADAPTIVE_MODERATE as unknown as { maxConcurrentFlows: number };

    expect(() => new ThrottledAsyncParallelBatchFlow(new AsyncNode(), options)).toThrow(/initialConcurrentFlows/);
  });
});
