/**
 * Bad input never passes silently: every public constructor and `register`
 * call rejects an invalid option with a `RangeError` (a `TypeError` for a
 * wrong type) whose message names the option and the value; a non-iterable
 * batch, a flow without a start node and unknown registry or preset names are
 * clear errors too.
 */
import { AsyncFlow, AsyncNode } from "pocketflow-ts";
import { afterEach, describe, expect, it } from "vitest";
import { AdaptiveThrottledBatchFlow } from "../../src/adaptive-flow.js";
import { ThrottledAsyncParallelBatchFlow } from "../../src/flows.js";
import { RateLimiter } from "../../src/limiters/sliding-window.js";
import { TokenBucket } from "../../src/limiters/token-bucket.js";
import { AdaptiveThrottledNode } from "../../src/adaptive-node.js";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { FlowPresets, FlowRateLimitConfig, Presets, RateLimitConfig } from "../../src/presets.js";
import { LimiterRegistry } from "../../src/registry.js";

afterEach(() => LimiterRegistry.reset());

type Row = [what: string, make: () => unknown, error: typeof RangeError | typeof TypeError, message: RegExp];

// `as never` lets a test pass what the types forbid, as plain JavaScript callers can.
const rows: Row[] = [
  // RateLimiter
  ["RateLimiter maxConcurrent 0", () => new RateLimiter({ maxConcurrent: 0 }), RangeError, /maxConcurrent.*\b0\b/],
  ["RateLimiter maxConcurrent -1", () => new RateLimiter({ maxConcurrent: -1 }), RangeError, /maxConcurrent.*-1/],
  ["RateLimiter maxConcurrent 2.5", () => new RateLimiter({ maxConcurrent: 2.5 }), RangeError, /maxConcurrent.*2\.5/],
  ["RateLimiter maxConcurrent '5'", () => new RateLimiter({ maxConcurrent: "5" as never }), TypeError, /maxConcurrent.*"5"/],
  ["RateLimiter maxPerWindow 0", () => new RateLimiter({ maxPerWindow: 0 }), RangeError, /maxPerWindow.*\b0\b/],
  ["RateLimiter maxPerWindow 1.5", () => new RateLimiter({ maxPerWindow: 1.5 }), RangeError, /maxPerWindow.*1\.5/],
  ["RateLimiter windowSeconds 0", () => new RateLimiter({ windowSeconds: 0 }), RangeError, /windowSeconds.*\b0\b/],
  ["RateLimiter windowSeconds -1", () => new RateLimiter({ windowSeconds: -1 }), RangeError, /windowSeconds.*-1/],
  ["RateLimiter windowSeconds Infinity", () => new RateLimiter({ windowSeconds: Number.POSITIVE_INFINITY }), RangeError, /windowSeconds.*Infinity/],
  ["RateLimiter windowSeconds '60'", () => new RateLimiter({ windowSeconds: "60" as never }), TypeError, /windowSeconds.*"60"/],
  ["RateLimiter maxTokensPerWindow 0", () => new RateLimiter({ maxTokensPerWindow: 0 }), RangeError, /maxTokensPerWindow.*\b0\b/],
  ["RateLimiter misspelt option", () => new RateLimiter({ maxConcurent: 3 } as never), TypeError, /maxConcurent/],
  ["RateLimiter options 5", () => new RateLimiter(5 as never), TypeError, /options.*\b5\b/],
  ["RateLimiter setConcurrency(0)", () => new RateLimiter().setConcurrency(0), RangeError, /maxConcurrent.*\b0\b/],
  // TokenBucket
  ["TokenBucket ratePerSecond 0", () => new TokenBucket({ ratePerSecond: 0 }), RangeError, /ratePerSecond.*\b0\b/],
  ["TokenBucket ratePerSecond -5", () => new TokenBucket({ ratePerSecond: -5 }), RangeError, /ratePerSecond.*-5/],
  ["TokenBucket ratePerSecond missing", () => new TokenBucket({} as never), TypeError, /ratePerSecond.*undefined/],
  ["TokenBucket ratePerSecond '10'", () => new TokenBucket({ ratePerSecond: "10" as never }), TypeError, /ratePerSecond.*"10"/],
  ["TokenBucket burst 0", () => new TokenBucket({ ratePerSecond: 1, burst: 0 }), RangeError, /burst.*\b0\b/],
  ["TokenBucket burst 1.5", () => new TokenBucket({ ratePerSecond: 1, burst: 1.5 }), RangeError, /burst.*1\.5/],
  ["TokenBucket maxConcurrent 0", () => new TokenBucket({ ratePerSecond: 1, maxConcurrent: 0 }), RangeError, /maxConcurrent.*\b0\b/],
  ["TokenBucket misspelt option", () => new TokenBucket({ ratePerSecond: 1, brust: 3 } as never), TypeError, /brust/],
  // ThrottledParallelBatchNode
  ["node maxConcurrent 0", () => new ThrottledParallelBatchNode({ maxConcurrent: 0 }), RangeError, /maxConcurrent.*\b0\b/],
  ["node maxConcurrent 1.5", () => new ThrottledParallelBatchNode({ maxConcurrent: 1.5 }), RangeError, /maxConcurrent.*1\.5/],
  ["node maxConcurrent '5'", () => new ThrottledParallelBatchNode({ maxConcurrent: "5" as never }), TypeError, /maxConcurrent.*"5"/],
  ["node maxPerMinute 0", () => new ThrottledParallelBatchNode({ maxPerMinute: 0 }), RangeError, /maxPerMinute.*\b0\b/],
  ["node maxTokensPerMinute 0", () => new ThrottledParallelBatchNode({ maxTokensPerMinute: 0 }), RangeError, /maxTokensPerMinute.*\b0\b/],
  ["node maxRetries 0", () => new ThrottledParallelBatchNode({ maxRetries: 0 }), RangeError, /maxRetries.*\b0\b/],
  ["node maxRetries 1.5", () => new ThrottledParallelBatchNode({ maxRetries: 1.5 }), RangeError, /maxRetries.*1\.5/],
  ["node maxRetries '2'", () => new ThrottledParallelBatchNode({ maxRetries: "2" as never }), TypeError, /maxRetries.*"2"/],
  ["node wait -1", () => new ThrottledParallelBatchNode({ wait: -1 }), RangeError, /wait.*-1/],
  ["node wait '1'", () => new ThrottledParallelBatchNode({ wait: "1" as never }), TypeError, /wait.*"1"/],
  ["node limiter 5", () => new ThrottledParallelBatchNode({ limiter: 5 as never }), TypeError, /limiter.*\b5\b/],
  ["node misspelt option", () => new ThrottledParallelBatchNode({ maxConcurent: 3 } as never), TypeError, /maxConcurent/],
  ["node options null", () => new ThrottledParallelBatchNode(null as never), TypeError, /options.*null/],
  // AdaptiveThrottledNode
  ["adaptive initialConcurrent 0", () => new AdaptiveThrottledNode({ initialConcurrent: 0 }), RangeError, /initialConcurrent.*\b0\b/],
  ["adaptive initialConcurrent 2.5", () => new AdaptiveThrottledNode({ initialConcurrent: 2.5 }), RangeError, /initialConcurrent.*2\.5/],
  ["adaptive minConcurrent 0", () => new AdaptiveThrottledNode({ minConcurrent: 0 }), RangeError, /minConcurrent.*\b0\b/],
  ["adaptive maxConcurrent 0", () => new AdaptiveThrottledNode({ maxConcurrent: 0 }), RangeError, /maxConcurrent.*\b0\b/],
  ["adaptive backoffFactor 0", () => new AdaptiveThrottledNode({ backoffFactor: 0 }), RangeError, /backoffFactor.*\b0\b/],
  ["adaptive backoffFactor 1", () => new AdaptiveThrottledNode({ backoffFactor: 1 }), RangeError, /backoffFactor.*\b1\b/],
  ["adaptive backoffFactor 1.5", () => new AdaptiveThrottledNode({ backoffFactor: 1.5 }), RangeError, /backoffFactor.*1\.5/],
  ["adaptive recoveryFactor 1", () => new AdaptiveThrottledNode({ recoveryFactor: 1 }), RangeError, /recoveryFactor.*\b1\b/],
  ["adaptive recoveryFactor 0.5", () => new AdaptiveThrottledNode({ recoveryFactor: 0.5 }), RangeError, /recoveryFactor.*0\.5/],
  ["adaptive recoveryThreshold 0", () => new AdaptiveThrottledNode({ recoveryThreshold: 0 }), RangeError, /recoveryThreshold.*\b0\b/],
  ["adaptive maxRateLimitRetries -1", () => new AdaptiveThrottledNode({ maxRateLimitRetries: -1 }), RangeError, /maxRateLimitRetries.*-1/],
  ["adaptive maxRateLimitRetries 1.5", () => new AdaptiveThrottledNode({ maxRateLimitRetries: 1.5 }), RangeError, /maxRateLimitRetries.*1\.5/],
  [
    "adaptive minConcurrent above maxConcurrent",
    () => new AdaptiveThrottledNode({ minConcurrent: 10, maxConcurrent: 5 }),
    RangeError,
    /minConcurrent.*10.*maxConcurrent.*\b5\b/,
  ],
  [
    "adaptive initialConcurrent above maxConcurrent",
    () => new AdaptiveThrottledNode({ initialConcurrent: 30, maxConcurrent: 20 }),
    RangeError,
    /initialConcurrent.*30.*maxConcurrent.*20/,
  ],
  [
    "adaptive initialConcurrent below minConcurrent",
    () => new AdaptiveThrottledNode({ initialConcurrent: 2, minConcurrent: 3 }),
    RangeError,
    /initialConcurrent.*\b2\b.*minConcurrent.*\b3\b/,
  ],
  ["adaptive propagateRateLimit 'yes'", () => new AdaptiveThrottledNode({ propagateRateLimit: "yes" as never }), TypeError, /propagateRateLimit.*"yes"/],
  // ThrottledAsyncParallelBatchFlow
  ["flow maxConcurrentFlows 0", () => new ThrottledAsyncParallelBatchFlow(undefined, { maxConcurrentFlows: 0 }), RangeError, /maxConcurrentFlows.*\b0\b/],
  ["flow maxConcurrentFlows 1.5", () => new ThrottledAsyncParallelBatchFlow(undefined, { maxConcurrentFlows: 1.5 }), RangeError, /maxConcurrentFlows.*1\.5/],
  [
    "flow maxConcurrentFlows '5'",
    () => new ThrottledAsyncParallelBatchFlow(undefined, { maxConcurrentFlows: "5" as never }),
    TypeError,
    /maxConcurrentFlows.*"5"/,
  ],
  ["flow maxFlowsPerMinute 0", () => new ThrottledAsyncParallelBatchFlow(undefined, { maxFlowsPerMinute: 0 }), RangeError, /maxFlowsPerMinute.*\b0\b/],
  ["flow limiter 5", () => new ThrottledAsyncParallelBatchFlow(undefined, { limiter: 5 as never }), TypeError, /limiter.*\b5\b/],
  ["flow misspelt option", () => new ThrottledAsyncParallelBatchFlow(undefined, { maxConcurentFlows: 3 } as never), TypeError, /maxConcurentFlows/],
  [
    "flow options given in place of the start node",
    () => new ThrottledAsyncParallelBatchFlow({ maxConcurrentFlows: 3 } as never),
    TypeError,
    /start/,
  ],
  // AdaptiveThrottledBatchFlow
  ["adaptive flow maxConcurrentFlows 0", () => new AdaptiveThrottledBatchFlow(undefined, { maxConcurrentFlows: 0 }), RangeError, /maxConcurrentFlows.*\b0\b/],
  [
    "adaptive flow initialConcurrentFlows 0",
    () => new AdaptiveThrottledBatchFlow(undefined, { initialConcurrentFlows: 0 }),
    RangeError,
    /initialConcurrentFlows.*\b0\b/,
  ],
  ["adaptive flow minConcurrentFlows 0", () => new AdaptiveThrottledBatchFlow(undefined, { minConcurrentFlows: 0 }), RangeError, /minConcurrentFlows.*\b0\b/],
  ["adaptive flow backoffFactor 1", () => new AdaptiveThrottledBatchFlow(undefined, { backoffFactor: 1 }), RangeError, /backoffFactor.*\b1\b/],
  ["adaptive flow recoveryFactor 0.5", () => new AdaptiveThrottledBatchFlow(undefined, { recoveryFactor: 0.5 }), RangeError, /recoveryFactor.*0\.5/],
  ["adaptive flow recoveryThreshold 1.5", () => new AdaptiveThrottledBatchFlow(undefined, { recoveryThreshold: 1.5 }), RangeError, /recoveryThreshold.*1\.5/],
  [
    "adaptive flow minConcurrentFlows above maxConcurrentFlows",
    () => new AdaptiveThrottledBatchFlow(undefined, { minConcurrentFlows: 10, maxConcurrentFlows: 5 }),
    RangeError,
    /minConcurrentFlows.*10.*maxConcurrentFlows.*\b5\b/,
  ],
  [
    "adaptive flow initialConcurrentFlows above maxConcurrentFlows",
    () => new AdaptiveThrottledBatchFlow(undefined, { initialConcurrentFlows: 30, maxConcurrentFlows: 20 }),
    RangeError,
    /initialConcurrentFlows.*30.*maxConcurrentFlows.*20/,
  ],
  [
    "adaptive flow initialConcurrentFlows below minConcurrentFlows",
    () => new AdaptiveThrottledBatchFlow(undefined, { initialConcurrentFlows: 2, minConcurrentFlows: 3 }),
    RangeError,
    /initialConcurrentFlows.*\b2\b.*minConcurrentFlows.*\b3\b/,
  ],
  // RateLimitConfig and FlowRateLimitConfig
  ["RateLimitConfig maxConcurrent 0", () => new RateLimitConfig({ maxConcurrent: 0 }), RangeError, /maxConcurrent.*\b0\b/],
  ["RateLimitConfig maxConcurrent 1.5", () => new RateLimitConfig({ maxConcurrent: 1.5 }), RangeError, /maxConcurrent.*1\.5/],
  ["RateLimitConfig maxPerMinute 0", () => new RateLimitConfig({ maxConcurrent: 1, maxPerMinute: 0 }), RangeError, /maxPerMinute.*\b0\b/],
  ["RateLimitConfig maxConcurrent '5'", () => new RateLimitConfig({ maxConcurrent: "5" as never }), TypeError, /maxConcurrent.*"5"/],
  ["RateLimitConfig maxConcurrent missing", () => new RateLimitConfig({} as never), TypeError, /maxConcurrent.*undefined/],
  ["FlowRateLimitConfig maxConcurrentFlows 0", () => new FlowRateLimitConfig({ maxConcurrentFlows: 0 }), RangeError, /maxConcurrentFlows.*\b0\b/],
  [
    "FlowRateLimitConfig maxFlowsPerMinute -1",
    () => new FlowRateLimitConfig({ maxConcurrentFlows: 1, maxFlowsPerMinute: -1 }),
    RangeError,
    /maxFlowsPerMinute.*-1/,
  ],
  [
    "FlowRateLimitConfig maxFlowsPerMinute '5'",
    () => new FlowRateLimitConfig({ maxConcurrentFlows: 1, maxFlowsPerMinute: "5" as never }),
    TypeError,
    /maxFlowsPerMinute.*"5"/,
  ],
  ["FlowRateLimitConfig maxConcurrentFlows missing", () => new FlowRateLimitConfig({} as never), TypeError, /maxConcurrentFlows.*undefined/],
  // LimiterRegistry.register
  ["register maxConcurrent 0", () => LimiterRegistry.register("bad", { maxConcurrent: 0 }), RangeError, /maxConcurrent.*\b0\b/],
  ["register maxPerWindow -1", () => LimiterRegistry.register("bad", { maxPerWindow: -1 }), RangeError, /maxPerWindow.*-1/],
  ["register windowSeconds 0", () => LimiterRegistry.register("bad", { windowSeconds: 0 }), RangeError, /windowSeconds.*\b0\b/],
  ["register maxConcurrent '5'", () => LimiterRegistry.register("bad", { maxConcurrent: "5" as never }), TypeError, /maxConcurrent.*"5"/],
  ["register misspelt option", () => LimiterRegistry.register("bad", { maxConcurent: 3 } as never), TypeError, /maxConcurent/],
  ["register options 5", () => LimiterRegistry.register("bad", 5 as never), TypeError, /options.*\b5\b/],
  ["register empty name", () => LimiterRegistry.register("", {}), TypeError, /name/],
  ["register name 5", () => LimiterRegistry.register(5 as never, {}), TypeError, /name.*\b5\b/],
];

describe("invalid options", () => {
  it.each(rows)("%s: throws the right error class naming the option and the value", (_what, make, errorClass, message) => {
    expect(make).toThrow(errorClass);
    expect(make).toThrow(message);
  });

  it("registers nothing when register is given a bad value", () => {
    expect(() => LimiterRegistry.register("bad", { maxConcurrent: 0 })).toThrow(RangeError);

    expect(LimiterRegistry.exists("bad")).toBe(false);
  });

  it("refuses to register a name twice without { replace: true }, naming the limiter and the fix", () => {
    LimiterRegistry.register("twice", { maxConcurrent: 1 });

    expect(() => LimiterRegistry.register("twice", { maxConcurrent: 2 })).toThrow(/"twice".*replace: true/);
  });

  it("rejects bounds set as class fields when the adaptive node runs, naming both", async () => {
    class Inverted extends AdaptiveThrottledNode {
      override minConcurrent = 10;
      override maxConcurrent = 5;
    }

    await expect(new Inverted().runAsync({})).rejects.toThrow(/minConcurrent.*10.*maxConcurrent.*\b5\b/);
  });

  it("rejects bounds set as class fields when the adaptive flow runs, naming both", async () => {
    class Inverted extends AdaptiveThrottledBatchFlow {
      override initialConcurrentFlows = 30;
      override async prepAsync() {
        return [{}];
      }
    }

    await expect(new Inverted(new AsyncNode()).runAsync({})).rejects.toThrow(/initialConcurrentFlows.*30.*maxConcurrentFlows.*20/);
  });

  it("rejects a class field set to an invalid value with a RangeError naming it", () => {
    class Zero extends ThrottledParallelBatchNode {
      override maxConcurrent = 0;
    }

    expect(() => new Zero()).toThrow(RangeError);
    expect(() => new Zero()).toThrow(/maxConcurrent.*\b0\b/);
  });
});

describe("prepAsync returning a non-iterable", () => {
  const runners: [string, (prep: () => Promise<never>) => Promise<unknown>][] = [
    ["ThrottledParallelBatchNode", (prep) => Object.assign(new ThrottledParallelBatchNode(), { prepAsync: prep }).runAsync({})],
    ["AdaptiveThrottledNode", (prep) => Object.assign(new AdaptiveThrottledNode(), { prepAsync: prep }).runAsync({})],
    [
      "ThrottledAsyncParallelBatchFlow",
      (prep) => Object.assign(new ThrottledAsyncParallelBatchFlow(new AsyncNode()), { prepAsync: prep }).runAsync({}),
    ],
    [
      "AdaptiveThrottledBatchFlow",
      (prep) => Object.assign(new AdaptiveThrottledBatchFlow(new AsyncNode()), { prepAsync: prep }).runAsync({}),
    ],
  ];
  const values: [string, unknown, RegExp][] = [
    ["a number", 42, /prepAsync.*42.*not iterable/],
    ["a plain object", { items: [1, 2] }, /prepAsync.*Object.*not iterable/],
  ];

  for (const [name, run] of runners) {
    it.each(values)(`${name}: %s rejects with a TypeError naming prepAsync and the value`, async (_what, value, message) => {
      const outcome = run(async () => value as never);

      await expect(outcome).rejects.toThrow(TypeError);
      await expect(run(async () => value as never)).rejects.toThrow(message);
    });
  }

  it("treats undefined as an empty batch", async () => {
    const node = Object.assign(new ThrottledParallelBatchNode(), { prepAsync: async () => undefined as never });

    await expect(node.runAsync({})).resolves.toBeUndefined();
  });
});

describe("a flow with no start node", () => {
  it.each([
    ["ThrottledAsyncParallelBatchFlow", () => new ThrottledAsyncParallelBatchFlow()],
    ["AdaptiveThrottledBatchFlow", () => new AdaptiveThrottledBatchFlow()],
  ] as const)("%s rejects the run, saying how to set one", async (_name, make) => {
    const flow = Object.assign(make(), { prepAsync: async () => [{ id: 1 }, { id: 2 }] as never });

    await expect(flow.runAsync({})).rejects.toThrow(/no start node.*flow\.start\(node\)/);
  });

  it("a plain AsyncFlow nested nowhere rejects too", async () => {
    await expect(new AsyncFlow().runAsync({})).rejects.toThrow(/no start node/);
  });
});

describe("unknown names", () => {
  it("LimiterRegistry.get names the missing limiter and how to register it", () => {
    expect(() => LimiterRegistry.get("missing")).toThrow(/"missing".*LimiterRegistry\.register\("missing"/);
  });

  it("LimiterRegistry.stats throws like get", () => {
    expect(() => LimiterRegistry.stats("missing")).toThrow(/"missing".*register/);
  });

  it("a node whose limiter names no registered limiter rejects its run with that error", async () => {
    const node = Object.assign(new ThrottledParallelBatchNode({ limiter: "missing" }), { prepAsync: async () => [1] as never });

    await expect(node.runAsync({})).rejects.toThrow(/"missing".*register/);
  });

  it("a flow whose limiter names no registered limiter rejects its run with that error", async () => {
    const flow = Object.assign(new ThrottledAsyncParallelBatchFlow(new AsyncNode(), { limiter: "missing" }), {
      prepAsync: async () => [{}] as never,
    });

    await expect(flow.runAsync({})).rejects.toThrow(/"missing".*register/);
  });

  it("Presets.get names the unknown preset and lists the available ones", () => {
    expect(() => Presets.get("openai_tier9")).toThrow(/"openai_tier9".*openai_tier1/);
  });

  it("FlowPresets.get names the unknown preset and lists the available ones", () => {
    expect(() => FlowPresets.get("turbo")).toThrow(/"turbo".*moderate/);
  });

  it("Presets.get with a non-string name is a TypeError naming the value", () => {
    expect(() => Presets.get(5 as never)).toThrow(TypeError);
    expect(() => Presets.get(5 as never)).toThrow(/\b5\b/);
  });
});
