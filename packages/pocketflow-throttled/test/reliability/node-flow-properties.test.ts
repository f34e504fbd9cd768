/**
 * Properties of throttled nodes and flows over random job durations, limits
 * and live resizes (limiter-level properties live in test/limiter-properties.test.ts).
 */
import fc from "fast-check";
import { AsyncNode } from "pocketflow-ts";
import { afterEach, describe, expect, it } from "vitest";
import { deferred } from "test-support";
import { RateLimitHit } from "../../src/errors.js";
import { AdaptiveThrottledBatchFlow } from "../../src/adaptive-flow.js";
import { ThrottledAsyncParallelBatchFlow } from "../../src/flows.js";
import { RateLimiter } from "../../src/limiters/sliding-window.js";
import { AdaptiveThrottledNode } from "../../src/adaptive-node.js";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { LimiterRegistry } from "../../src/registry.js";
import {
  ConcurrencyProbe,
  crowdedWindows,
  failOnUnhandledRejections,
  makeFault,
  pause,
  ticks,
} from "./fixtures/harness.js";

interface Shared {
  results?: unknown[];
}

failOnUnhandledRejections();
afterEach(() => LimiterRegistry.reset());

describe("ThrottledParallelBatchNode with random limits and durations", () => {
  it("runs at most maxConcurrent items at once, fills the limit, and ends every item once, in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 40 }),
        async (maxConcurrent, durations) => {
          const probe = new ConcurrencyProbe();
          const calls = durations.map(() => 0);
          class Job extends ThrottledParallelBatchNode<Shared, number, string> {
            override async prepAsync() {
              return durations.map((_, i) => i);
            }
            override async execAsync(i: number) {
              calls[i]!++;
              probe.enter(maxConcurrent, `item ${i}`);
              try {
                await pause(durations[i]!);
                return `result-${i}`;
              } finally {
                probe.leave();
              }
            }
            override async postAsync(shared: Shared, _p: unknown, results: string[]) {
              shared.results = results;
              return undefined;
            }
          }
          const shared: Shared = {};

          await new Job({ maxConcurrent }).runAsync(shared);

          expect(probe.overLimit).toEqual([]);
          expect(probe.peak).toBe(Math.min(maxConcurrent, durations.length));
          expect(calls).toEqual(durations.map(() => 1));
          expect(shared.results).toEqual(durations.map((_, i) => `result-${i}`));
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("AdaptiveThrottledNode with live resizes from random rate limits", () => {
  const boundsArb = fc
    .record({ min: fc.integer({ min: 1, max: 3 }), toInitial: fc.integer({ min: 0, max: 3 }), toMax: fc.integer({ min: 0, max: 6 }) })
    .map(({ min, toInitial, toMax }) => ({ min, initial: min + toInitial, max: min + toInitial + toMax }));
  // Jobs take at least 1 ms (a timer), so each outcome is handled in its own
  // macrotask: a job settling in the same microtask burst as another's 429 may
  // be granted (rightly, at the old level) before the node has seen that 429.
  const jobArb = fc.record({
    duration: fc.integer({ min: 1, max: 4 }),
    rateLimits: fc.integer({ min: 0, max: 2 }),
    retryAfter: fc.boolean(),
  });

  it("never starts an item while the adapted concurrency is already in use, and stays within [min, max]", async () => {
    await fc.assert(
      fc.asyncProperty(
        boundsArb,
        fc.integer({ min: 1, max: 4 }),
        fc.array(jobArb, { maxLength: 24 }),
        async (bounds, recoveryThreshold, jobs) => {
          const probe = new ConcurrencyProbe();
          const levels: number[] = [];
          const attempts = jobs.map(() => 0);
          class Job extends AdaptiveThrottledNode<Shared, number, string> {
            override async prepAsync() {
              return jobs.map((_, i) => i);
            }
            override async execAsync(i: number) {
              const job = jobs[i]!;
              const attempt = ++attempts[i]!;
              const level = this.stats.currentConcurrent;
              levels.push(level);
              probe.enter(level, `item ${i} attempt ${attempt}`);
              try {
                await pause(job.duration);
                if (attempt <= job.rateLimits) throw makeFault(job.retryAfter ? "rate-limit-retry-after" : "rate-limit");
                return `result-${i}`;
              } finally {
                probe.leave();
              }
            }
            override async postAsync(shared: Shared, _p: unknown, results: string[]) {
              shared.results = results;
              return undefined;
            }
          }
          const node = new Job({
            initialConcurrent: bounds.initial,
            minConcurrent: bounds.min,
            maxConcurrent: bounds.max,
            recoveryThreshold,
            maxRateLimitRetries: 2,
          });
          const shared: Shared = {};

          await node.runAsync(shared);

          expect(probe.overLimit).toEqual([]);
          expect(levels.filter((level) => level < bounds.min || level > bounds.max)).toEqual([]);
          expect(node.stats.currentConcurrent).toBeGreaterThanOrEqual(bounds.min);
          expect(node.stats.currentConcurrent).toBeLessThanOrEqual(bounds.max);
          expect(shared.results).toEqual(jobs.map((_, i) => `result-${i}`));
          expect(node.stats.totalSuccesses).toBe(jobs.length);
          expect(node.stats.totalRateLimits).toBe(jobs.reduce((sum, job) => sum + job.rateLimits, 0));
        },
      ),
      { numRuns: 25 },
    );
  });

  it("does not hand the slot of a rate-limited item to a waiting item before backing off", async () => {
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    class Job extends AdaptiveThrottledNode<Shared, number, number> {
      override async prepAsync() {
        return [0, 1, 2, 3];
      }
      override async execAsync(i: number) {
        started.push(i);
        await gates[i]!.promise;
        if (i === 0 && started.filter((item) => item === 0).length === 1) throw makeFault("rate-limit");
        return i;
      }
    }
    // Ceiling 4, so four workers pull items while only two may run.
    const node = new Job({ initialConcurrent: 2, minConcurrent: 1, maxConcurrent: 4, maxRateLimitRetries: 1 });
    const run = node.runAsync({});
    await ticks();
    expect(started).toEqual([0, 1]);

    gates[0]!.resolve(); // item 0 is rate-limited: concurrency 2 -> 1 while item 1 still runs
    await ticks();

    expect(node.stats.currentConcurrent).toBe(1);
    expect(started).toEqual([0, 1]); // items 2 and 3 must wait: 1 running >= 1
    for (const gate of gates) gate.resolve();
    await run;
  });
});

describe("nodes sharing one RateLimiter (directly and through LimiterRegistry)", () => {
  it("never start more than maxPerWindow items in any windowSeconds interval, nor more than maxConcurrent at once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 60, max: 120 }),
        fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 5 }), { minLength: 3, maxLength: 3 }),
        async (maxPerWindow, maxConcurrent, windowMs, durationsPerNode) => {
          const limiter = new RateLimiter({ maxConcurrent, maxPerWindow, windowSeconds: windowMs / 1000 });
          LimiterRegistry.register("reliability-window", limiter, { replace: true });
          const probe = new ConcurrencyProbe();
          const startTimes: number[] = [];
          class Job extends ThrottledParallelBatchNode<Shared, number, number> {
            constructor(
              private readonly durations: number[],
              options: ConstructorParameters<typeof ThrottledParallelBatchNode>[0],
            ) {
              super(options);
            }
            override async prepAsync() {
              return this.durations;
            }
            override async execAsync(duration: number) {
              startTimes.push(performance.now());
              probe.enter(maxConcurrent);
              try {
                await pause(duration);
                return duration;
              } finally {
                probe.leave();
              }
            }
          }
          const [a, b, c] = durationsPerNode as [number[], number[], number[]];
          const nodes = [
            new Job(a, { limiter }),
            new Job(b, { limiter: "reliability-window" }),
            new AdaptiveJob(c, limiter, startTimes, probe, maxConcurrent),
          ];

          await Promise.all(nodes.map((node) => node.runAsync({})));

          expect(startTimes.length).toBe(a.length + b.length + c.length);
          expect(crowdedWindows(startTimes, maxPerWindow, windowMs, 8)).toEqual([]);
          expect(probe.overLimit).toEqual([]);
          expect(limiter.active).toBe(0);
          expect(limiter.pending).toBe(0);
        },
      ),
      { numRuns: 12 },
    );
  });
});

/** An adaptive node on the shared limiter, pinned to the limiter's concurrency (min = max). */
class AdaptiveJob extends AdaptiveThrottledNode<Shared, number, number> {
  constructor(
    private readonly durations: number[],
    limiter: RateLimiter,
    private readonly startTimes: number[],
    private readonly probe: ConcurrencyProbe,
    private readonly cap: number,
  ) {
    super({ limiter, initialConcurrent: cap, minConcurrent: cap, maxConcurrent: cap });
  }
  override async prepAsync() {
    return this.durations;
  }
  override async execAsync(duration: number) {
    this.startTimes.push(performance.now());
    this.probe.enter(this.cap);
    try {
      await pause(duration);
      return duration;
    } finally {
      this.probe.leave();
    }
  }
}

describe("ThrottledAsyncParallelBatchFlow with random limits and durations", () => {
  it("runs at most maxConcurrentFlows instances at once, fills the limit, and ends every instance once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 20 }),
        async (maxConcurrentFlows, durations) => {
          const probe = new ConcurrencyProbe();
          const runs = durations.map(() => 0);
          class Step extends AsyncNode<Shared, number, number> {
            override async prepAsync() {
              return this.params.instance as number;
            }
            override async execAsync(instance: number) {
              runs[instance]!++;
              probe.enter(maxConcurrentFlows, `instance ${instance}`);
              try {
                await pause(durations[instance]!);
                return instance;
              } finally {
                probe.leave();
              }
            }
          }
          class PerInstance extends ThrottledAsyncParallelBatchFlow<Shared> {
            override async prepAsync() {
              return durations.map((_, instance) => ({ instance }));
            }
          }
          const flow = new PerInstance(new Step(), { maxConcurrentFlows });

          await flow.runAsync({});

          expect(probe.overLimit).toEqual([]);
          expect(probe.peak).toBe(Math.min(maxConcurrentFlows, durations.length));
          expect(runs).toEqual(durations.map(() => 1));
          expect(flow.stats.completedFlows).toBe(durations.length);
          expect(flow.stats.failedFlows).toBe(0);
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe("AdaptiveThrottledBatchFlow with live resizes from RateLimitHit instances", () => {
  it("never starts an instance while the adapted concurrency is in use, stays within [min, max], and reruns nothing", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .record({ min: fc.integer({ min: 1, max: 3 }), toInitial: fc.integer({ min: 0, max: 3 }), toMax: fc.integer({ min: 0, max: 4 }) })
          .map(({ min, toInitial, toMax }) => ({ min, initial: min + toInitial, max: min + toInitial + toMax })),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.record({ duration: fc.integer({ min: 1, max: 4 }), hit: fc.constantFrom("none", "hit", "hit-retry-after") }), {
          maxLength: 20,
        }),
        async (bounds, recoveryThreshold, instances) => {
          const probe = new ConcurrencyProbe();
          const levels: number[] = [];
          const runs = instances.map(() => 0);
          let flow: AdaptiveThrottledBatchFlow<Shared> | undefined;
          class Step extends AsyncNode<Shared, number, number> {
            override async prepAsync() {
              return this.params.instance as number;
            }
            override async execAsync(instance: number) {
              runs[instance]!++;
              const level = flow!.stats.currentConcurrentFlows;
              levels.push(level);
              probe.enter(level, `instance ${instance}`);
              try {
                await pause(instances[instance]!.duration);
                const hit = instances[instance]!.hit;
                if (hit !== "none") throw new RateLimitHit("limited", hit === "hit-retry-after" ? { retryAfter: 0.005 } : {});
                return instance;
              } finally {
                probe.leave();
              }
            }
          }
          class PerInstance extends AdaptiveThrottledBatchFlow<Shared> {
            override async prepAsync() {
              return instances.map((_, instance) => ({ instance }));
            }
          }
          flow = new PerInstance(new Step(), {
            initialConcurrentFlows: bounds.initial,
            minConcurrentFlows: bounds.min,
            maxConcurrentFlows: bounds.max,
            recoveryThreshold,
          });
          const hits = instances.filter((instance) => instance.hit !== "none").length;

          await flow.runAsync({});

          expect(probe.overLimit).toEqual([]);
          expect(levels.filter((level) => level < bounds.min || level > bounds.max)).toEqual([]);
          expect(runs).toEqual(instances.map(() => 1));
          expect(flow.stats.failedFlows).toBe(hits);
          expect(flow.stats.completedFlows).toBe(instances.length - hits);
          expect(flow.stats.totalRateLimits).toBe(hits);
        },
      ),
      { numRuns: 30 },
    );
  });
});
