import { describe, expect, it } from "vitest";
import { AimdController, type AimdSettings } from "../src/adaptive.js";

const NAMES = {
  initial: "initialConcurrent",
  min: "minConcurrent",
  max: "maxConcurrent",
  backoffFactor: "backoffFactor",
  recoveryThreshold: "recoveryThreshold",
  recoveryFactor: "recoveryFactor",
};

const DEFAULTS: AimdSettings = {
  initial: 5,
  min: 1,
  max: 20,
  backoffFactor: 0.5,
  recoveryThreshold: 10,
  recoveryFactor: 1.2,
};

function controller(settings: Partial<AimdSettings> = {}): AimdController {
  const aimd = new AimdController();
  aimd.configure({ ...DEFAULTS, ...settings }, NAMES);
  return aimd;
}

function succeed(aimd: AimdController, times: number): void {
  for (let i = 0; i < times; i++) aimd.success();
}

describe("AimdController configuration", () => {
  it("starts at the initial level with zeroed counters", () => {
    expect(controller({ initial: 7 }).stats).toEqual({
      current: 7,
      totalSuccesses: 0,
      totalRateLimits: 0,
      consecutiveSuccesses: 0,
    });
  });

  it("refuses to adapt before it is configured", () => {
    const aimd = new AimdController();

    expect(() => aimd.success()).toThrow("configure");
    expect(() => aimd.rateLimited()).toThrow("configure");
  });

  it("keeps the learned level when configured again, clamped to the new bounds", () => {
    const aimd = controller({ initial: 8 });
    aimd.rateLimited();

    aimd.configure({ ...DEFAULTS, initial: 8 }, NAMES);
    expect(aimd.current).toBe(4);

    aimd.configure({ ...DEFAULTS, initial: 8, max: 3 }, NAMES);
    expect(aimd.current).toBe(3);
  });

  it.each([
    ["backoffFactor", { backoffFactor: 0 }],
    ["backoffFactor", { backoffFactor: 1 }],
    ["recoveryFactor", { recoveryFactor: 1 }],
    ["recoveryThreshold", { recoveryThreshold: 0 }],
    ["minConcurrent", { min: 0 }],
    ["initialConcurrent", { initial: 2.5 }],
    ["maxConcurrent", { max: 0 }],
  ])("rejects a bad %s with a RangeError in the caller's own option names", (name, settings) => {
    expect(() => controller(settings)).toThrow(RangeError);
    expect(() => controller(settings)).toThrow(name);
  });

  it("rejects min above max, naming both", () => {
    expect(() => controller({ min: 10, max: 5 })).toThrow(RangeError);
    expect(() => controller({ min: 10, max: 5 })).toThrow("minConcurrent (10) must not exceed maxConcurrent (5)");
  });

  it("names flow options when given flow names", () => {
    const aimd = new AimdController();
    const flowNames = { ...NAMES, min: "minConcurrentFlows", max: "maxConcurrentFlows" };

    expect(() => aimd.configure({ ...DEFAULTS, min: 0 }, flowNames)).toThrow("minConcurrentFlows");
  });
});

describe("AimdController backoff", () => {
  it("multiplies the level by backoffFactor, rounding down", () => {
    const aimd = controller({ initial: 9 });

    aimd.rateLimited();

    expect(aimd.current).toBe(4);
  });

  it("never goes below min", () => {
    const aimd = controller({ initial: 4, min: 3 });

    aimd.rateLimited();
    expect(aimd.current).toBe(3);
    aimd.rateLimited();
    expect(aimd.current).toBe(3);
  });

  it("counts every rate limit and resets the success streak", () => {
    const aimd = controller({ initial: 8 });
    succeed(aimd, 4);

    aimd.rateLimited();
    aimd.rateLimited();

    expect(aimd.stats).toEqual({ current: 2, totalSuccesses: 4, totalRateLimits: 2, consecutiveSuccesses: 0 });
  });
});

describe("AimdController recovery", () => {
  it("steps up by recoveryFactor after recoveryThreshold successes in a row, rounding down", () => {
    const aimd = controller({ initial: 10, recoveryFactor: 1.5, recoveryThreshold: 3 });

    succeed(aimd, 2);
    expect(aimd.current).toBe(10);
    aimd.success();

    expect(aimd.current).toBe(15);
  });

  it("climbs at least +1, so it gets back up from 1", () => {
    const aimd = controller({ initial: 1, recoveryFactor: 1.2, recoveryThreshold: 2 });

    succeed(aimd, 2);
    expect(aimd.current).toBe(2);
    succeed(aimd, 2);
    expect(aimd.current).toBe(3);
  });

  it("never goes above max", () => {
    const aimd = controller({ initial: 18, max: 20, recoveryFactor: 2, recoveryThreshold: 1 });

    aimd.success();
    expect(aimd.current).toBe(20);
    aimd.success();
    expect(aimd.current).toBe(20);
  });

  it("starts the streak again from 0 after each step", () => {
    const aimd = controller({ initial: 5, recoveryThreshold: 3 });

    succeed(aimd, 4);

    expect(aimd.stats).toEqual({ current: 6, totalSuccesses: 4, totalRateLimits: 0, consecutiveSuccesses: 1 });
  });

  it("needs a full new streak after a rate limit", () => {
    const aimd = controller({ initial: 8, recoveryThreshold: 3 });
    succeed(aimd, 2);

    aimd.rateLimited();
    succeed(aimd, 2);

    expect(aimd.current).toBe(4);
    aimd.success();
    expect(aimd.current).toBe(5);
  });
});

describe("AimdController listeners and reset", () => {
  it("calls listeners with each new level, and not when the level stays", () => {
    const aimd = controller({ initial: 2, min: 1, recoveryThreshold: 1 });
    const levels: number[] = [];
    aimd.onChange((level) => levels.push(level));

    aimd.rateLimited();
    aimd.rateLimited();
    aimd.success();

    expect(levels).toEqual([1, 2]);
  });

  it("stops calling a listener once unsubscribed", () => {
    const aimd = controller({ initial: 8 });
    const levels: number[] = [];
    const off = aimd.onChange((level) => levels.push(level));

    aimd.rateLimited();
    off();
    aimd.rateLimited();

    expect(levels).toEqual([4]);
  });

  it("reset() goes back to the initial level with zeroed counters and tells listeners", () => {
    const aimd = controller({ initial: 8 });
    aimd.rateLimited();
    aimd.success();
    const levels: number[] = [];
    aimd.onChange((level) => levels.push(level));

    aimd.reset();

    expect(aimd.stats).toEqual({ current: 8, totalSuccesses: 0, totalRateLimits: 0, consecutiveSuccesses: 0 });
    expect(levels).toEqual([8]);
  });
});
