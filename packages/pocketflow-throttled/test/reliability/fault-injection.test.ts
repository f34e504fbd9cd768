/**
 * Fault injection through throttled nodes and flows: random 429s (with and
 * without `retry-after-ms`), transient errors under `maxRetries`, errors from
 * `prepAsync` / `postAsync`, aborts at random moments, shared registry limiters.
 *
 * Checked on every run: every item ends exactly once, as a result or as an
 * error the caller sees; an abort rejects with exactly its reason and starts
 * nothing more; no permit leaks from a shared limiter; adaptive concurrency
 * stays within [min, max]; no promise rejection goes unhandled.
 */
import fc from "fast-check";
import { AsyncFlow, AsyncNode } from "pocketflow-ts";
import { afterEach, describe, expect, it } from "vitest";
import { deferred } from "test-support";
import { RateLimitHit } from "../../src/errors.js";
import { AdaptiveThrottledBatchFlow } from "../../src/adaptive-flow.js";
import { type FlowResult, ThrottledAsyncParallelBatchFlow } from "../../src/flows.js";
import { RateLimiter } from "../../src/limiters/sliding-window.js";
import { AdaptiveThrottledNode } from "../../src/adaptive-node.js";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { LimiterRegistry } from "../../src/registry.js";
import {
  type Fault,
  failOnUnhandledRejections,
  makeFault,
  pause,
  type RunOutcome,
  runWithAbortAt,
  untilIdle,
} from "./fixtures/harness.js";

failOnUnhandledRejections();
afterEach(() => LimiterRegistry.reset());

interface ItemPlan {
  faults: Fault[];
  duration: number;
}
type StepFault = "none" | "prepAsync" | "postAsync";
interface Shared {
  results?: unknown[];
  flowResults?: FlowResult[];
}

const faultArb = fc.constantFrom<Fault>("rate-limit", "rate-limit-retry-after", "transient");
// One item in five meets faults, so batches end well about as often as they fail.
const itemArb: fc.Arbitrary<ItemPlan> = fc.record({
  faults: fc.oneof(
    { weight: 4, arbitrary: fc.constant<Fault[]>([]) },
    { weight: 1, arbitrary: fc.array(faultArb, { minLength: 1, maxLength: 3 }) },
  ),
  duration: fc.integer({ min: 0, max: 3 }),
});
const stepFaultArb = fc.constantFrom<StepFault>("none", "none", "none", "prepAsync", "postAsync");
// Half the runs abort, at a random moment (often after the run already ended).
const abortArb = fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined, freq: 2 });
const boundsArb = fc
  .record({ min: fc.integer({ min: 1, max: 3 }), toInitial: fc.integer({ min: 0, max: 2 }), toMax: fc.integer({ min: 0, max: 4 }) })
  .map(({ min, toInitial, toMax }) => ({ min, initial: min + toInitial, max: min + toInitial + toMax }));

/** Runs the attempts of one batch's items from their plans and records what happened. */
class Attempts {
  readonly count = new Map<string, number>();
  readonly successes = new Map<string, number>();
  readonly thrown = new Set<unknown>();
  inFlight = 0;
  aborted = false;
  startsAfterAbort = 0;

  async attempt(key: string, plan: ItemPlan): Promise<string> {
    if (this.aborted) this.startsAfterAbort++;
    const attempt = this.count.get(key) ?? 0;
    this.count.set(key, attempt + 1);
    this.inFlight++;
    try {
      await pause(plan.duration);
      const fault = plan.faults[attempt];
      if (fault !== undefined) throw this.record(makeFault(fault));
      this.successes.set(key, (this.successes.get(key) ?? 0) + 1);
      return `result-${key}`;
    } finally {
      this.inFlight--;
    }
  }

  /** Remembers an error as one the caller may legitimately see. */
  record(error: Error): Error {
    this.thrown.add(error);
    return error;
  }

  /** True if `reason` is an error thrown here, or a RateLimitHit wrapping one. */
  explains(reason: unknown): boolean {
    return this.thrown.has(reason) || (reason instanceof RateLimitHit && this.thrown.has(reason.cause));
  }

  /** Items that ended with a result more than once. */
  get endedTwice(): string[] {
    return [...this.successes].filter(([, n]) => n > 1).map(([key]) => key);
  }
}

/** The fixed node's `maxRateLimitRetries` default (DESIGN section 4). */
const DEFAULT_RATE_LIMIT_RETRIES = 5;

/** How an item's plan must end under the node's retry budgets. */
type Fate = "ok" | "fails";

/**
 * An item of a throttled node (fixed or adaptive) ends well iff its 429s fit in `maxRateLimitRetries`
 * re-runs (1 + maxRateLimitRetries attempts in all) and its other errors in
 * `maxRetries - 1` retries.
 */
function itemFate(plan: ItemPlan, maxRetries: number, maxRateLimitRetries: number): Fate {
  const rateLimits = plan.faults.filter((fault) => fault !== "transient").length;
  const transients = plan.faults.length - rateLimits;
  return rateLimits <= maxRateLimitRetries && transients <= maxRetries - 1 ? "ok" : "fails";
}

/**
 * The contract of a node batch: an abort that came first rejects with its
 * reason and starts nothing after; a `prepAsync` error rejects before any
 * item; an item failing for good rejects with that item's error; a
 * `postAsync` error rejects after every item ended; otherwise all results
 * arrive in order. No item ever ends twice.
 */
function expectNodeOutcome(
  outcome: RunOutcome,
  attempts: Attempts,
  fates: Fate[],
  stepFault: StepFault,
  stepError: Error,
  shared: Shared,
): void {
  const { settled, abortedFirst, abortReason } = outcome;
  const keys = fates.map((_, i) => String(i));
  expect(attempts.endedTwice).toEqual([]);
  if (abortedFirst) {
    expect(settled).toEqual({ status: "rejected", reason: abortReason });
    expect(attempts.startsAfterAbort).toBe(0);
    return;
  }
  if (stepFault === "prepAsync") {
    expect(settled).toEqual({ status: "rejected", reason: stepError });
    expect(attempts.count.size).toBe(0);
    return;
  }
  if (fates.includes("fails")) {
    // An item failed for good: the batch rejects with that item's own error.
    expect(settled.status).toBe("rejected");
    expect(attempts.explains((settled as PromiseRejectedResult).reason)).toBe(true);
    return;
  }
  expect(shared.results).toEqual(keys.map((key) => `result-${key}`));
  expect(settled).toEqual(stepFault === "postAsync" ? { status: "rejected", reason: stepError } : { status: "fulfilled", value: undefined });
}

let nameCounter = 0;
/** A fresh registry limiter per run, so late work of one run never touches the next. */
function registerShared(maxConcurrent: number): { name: string; limiter: RateLimiter } {
  const name = `reliability-${++nameCounter}`;
  const limiter = new RateLimiter({ maxConcurrent });
  LimiterRegistry.register(name, limiter);
  return { name, limiter };
}

describe("ThrottledParallelBatchNode under injected faults", () => {
  it("ends every item exactly once as a result or an error the caller sees", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(itemArb, { maxLength: 16 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        stepFaultArb,
        abortArb,
        async (plans, maxConcurrent, maxRetries, useRegistry, stepFault, abortAfterMs) => {
          const attempts = new Attempts();
          const stepError = new Error(`${stepFault} failed`);
          const shared = useRegistry ? registerShared(maxConcurrent) : undefined;
          class Job extends ThrottledParallelBatchNode<Shared, number, string> {
            override async prepAsync() {
              if (stepFault === "prepAsync") throw stepError;
              return plans.map((_, i) => i);
            }
            override async execAsync(i: number) {
              return attempts.attempt(String(i), plans[i]!);
            }
            override async postAsync(store: Shared, _p: unknown, results: string[]) {
              store.results = results;
              if (stepFault === "postAsync") throw stepError;
              return undefined;
            }
          }
          const node = new Job({ maxConcurrent, maxRetries, ...(shared ? { limiter: shared.name } : {}) });
          const store: Shared = {};

          const outcome = await runWithAbortAt(
            (signal) => node.runAsync(store, { signal }),
            abortAfterMs,
            () => {
              attempts.aborted = true;
            },
          );
          await untilIdle(() => attempts.inFlight === 0 && (!shared || (shared.limiter.active === 0 && shared.limiter.pending === 0)));

          const fates = plans.map((plan) => itemFate(plan, maxRetries, DEFAULT_RATE_LIMIT_RETRIES));
          expectNodeOutcome(outcome, attempts, fates, stepFault, stepError, store);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("AdaptiveThrottledNode under injected faults", () => {
  it("ends every item exactly once, keeps its concurrency within [min, max], and leaks no permit", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(itemArb, { maxLength: 10 }),
        boundsArb,
        fc.record({
          maxRetries: fc.integer({ min: 1, max: 3 }),
          maxRateLimitRetries: fc.integer({ min: 0, max: 2 }),
          propagateRateLimit: fc.boolean(),
          recoveryThreshold: fc.integer({ min: 1, max: 4 }),
        }),
        fc.boolean(),
        stepFaultArb,
        abortArb,
        async (plans, bounds, options, useRegistry, stepFault, abortAfterMs) => {
          const attempts = new Attempts();
          const levelsOutOfBounds: number[] = [];
          const stepError = new Error(`${stepFault} failed`);
          const shared = useRegistry ? registerShared(bounds.max) : undefined;
          class Job extends AdaptiveThrottledNode<Shared, number, string> {
            override async prepAsync() {
              if (stepFault === "prepAsync") throw stepError;
              return plans.map((_, i) => i);
            }
            override async execAsync(i: number) {
              const level = this.stats.currentConcurrent;
              if (level < bounds.min || level > bounds.max) levelsOutOfBounds.push(level);
              return attempts.attempt(String(i), plans[i]!);
            }
            override async postAsync(store: Shared, _p: unknown, results: string[]) {
              store.results = results;
              if (stepFault === "postAsync") throw stepError;
              return undefined;
            }
          }
          const node = new Job({
            initialConcurrent: bounds.initial,
            minConcurrent: bounds.min,
            maxConcurrent: bounds.max,
            ...options,
            ...(shared ? { limiter: shared.name } : {}),
          });
          const store: Shared = {};

          const outcome = await runWithAbortAt(
            (signal) => node.runAsync(store, { signal }),
            abortAfterMs,
            () => {
              attempts.aborted = true;
            },
          );
          await untilIdle(() => attempts.inFlight === 0 && (!shared || (shared.limiter.active === 0 && shared.limiter.pending === 0)));

          const fates = plans.map((plan) =>
            itemFate(plan, options.maxRetries, options.maxRateLimitRetries),
          );
          expectNodeOutcome(outcome, attempts, fates, stepFault, stepError, store);
          expect(levelsOutOfBounds).toEqual([]);
          expect(node.stats.currentConcurrent).toBeGreaterThanOrEqual(bounds.min);
          expect(node.stats.currentConcurrent).toBeLessThanOrEqual(bounds.max);
        },
      ),
      { numRuns: 30 },
    );
  });
});

interface InstancePlan {
  stepFault: StepFault;
  items: ItemPlan[];
}
const instanceArb: fc.Arbitrary<InstancePlan> = fc.record({
  stepFault: stepFaultArb,
  items: fc.array(itemArb, { maxLength: 4 }),
});

/**
 * A flow of nodes run once per instance: Load (its `prepAsync` may fail) ->
 * Work (the batch node under test) -> Save (its `postAsync` may fail).
 */
function nestedFlow(plans: InstancePlan[], attempts: Attempts[], work: AsyncNode<Shared>): AsyncFlow<Shared> {
  class Load extends AsyncNode<Shared> {
    override async prepAsync() {
      const instance = this.params.instance as number;
      if (plans[instance]!.stepFault === "prepAsync") throw attempts[instance]!.record(new Error(`load ${instance} failed`));
      return undefined;
    }
  }
  class Save extends AsyncNode<Shared> {
    override async postAsync() {
      const instance = this.params.instance as number;
      if (plans[instance]!.stepFault === "postAsync") throw attempts[instance]!.record(new Error(`save ${instance} failed`));
      return undefined;
    }
  }
  const load = new Load();
  load.next(work).next(new Save());
  return new AsyncFlow(load);
}

/** The items of the instance named in the node's params, keyed `instance:item`. */
function instanceItems(node: AsyncNode<Shared>, plans: InstancePlan[]): string[] {
  const instance = node.params.instance as number;
  return plans[instance]!.items.map((_, item) => `${instance}:${item}`);
}

function planOf(key: string, plans: InstancePlan[]): ItemPlan {
  const [instance, item] = key.split(":").map(Number) as [number, number];
  return plans[instance]!.items[item]!;
}

function attemptsOf(key: string, attempts: Attempts[]): Attempts {
  return attempts[Number(key.split(":")[0])]!;
}

/** An instance ends well iff its steps do not fail and every item's fate is "ok". */
function instanceFate(plan: InstancePlan, itemFate: (item: ItemPlan) => Fate): Fate {
  return plan.stepFault === "none" && plan.items.map(itemFate).every((fate) => fate === "ok") ? "ok" : "fails";
}

/**
 * The contract of a throttled flow: an abort that came first rejects with its
 * reason; a flow-level `prepAsync` / `postAsync` error rejects with it;
 * otherwise every instance is one fulfilled or rejected entry of the results,
 * each rejection being an error of that very instance.
 */
function expectFlowOutcome(
  outcome: RunOutcome,
  attempts: Attempts[],
  fates: Fate[],
  flowFault: StepFault,
  flowError: Error,
  shared: Shared,
  stats: { completedFlows: number; failedFlows: number },
): void {
  const { settled, abortedFirst, abortReason } = outcome;
  expect(attempts.flatMap((a) => a.endedTwice)).toEqual([]);
  if (abortedFirst) {
    expect(settled).toEqual({ status: "rejected", reason: abortReason });
    expect(attempts.map((a) => a.startsAfterAbort)).toEqual(attempts.map(() => 0));
    return;
  }
  if (flowFault === "prepAsync") {
    expect(settled).toEqual({ status: "rejected", reason: flowError });
    expect(attempts.map((a) => a.count.size)).toEqual(attempts.map(() => 0));
    return;
  }
  expect(settled).toEqual(flowFault === "postAsync" ? { status: "rejected", reason: flowError } : { status: "fulfilled", value: undefined });
  const results = shared.flowResults ?? [];
  expect(results).toHaveLength(fates.length);
  expect(results.map((r) => r.status)).toEqual(fates.map((fate) => (fate === "ok" ? "fulfilled" : "rejected")));
  const foreignErrors = results.filter((r, i) => r.status === "rejected" && !attempts[i]!.explains(r.reason));
  expect(foreignErrors).toEqual([]);
  expect(stats.failedFlows).toBe(results.filter((r) => r.status === "rejected").length);
  expect(stats.completedFlows).toBe(results.filter((r) => r.status === "fulfilled").length);
}

describe("ThrottledAsyncParallelBatchFlow over a nested flow of nodes, under injected faults", () => {
  it("reports every instance exactly once, as a result or as its own error", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(instanceArb, { maxLength: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        stepFaultArb,
        abortArb,
        async (plans, maxConcurrentFlows, maxRetries, useRegistry, flowFault, abortAfterMs) => {
          const attempts = plans.map(() => new Attempts());
          const flowError = new Error(`flow ${flowFault} failed`);
          const shared = useRegistry ? registerShared(3) : undefined;
          class Work extends ThrottledParallelBatchNode<Shared, string, string> {
            override async prepAsync() {
              return instanceItems(this, plans);
            }
            override async execAsync(key: string) {
              return attemptsOf(key, attempts).attempt(key, planOf(key, plans));
            }
          }
          class PerInstance extends ThrottledAsyncParallelBatchFlow<Shared> {
            override async prepAsync() {
              if (flowFault === "prepAsync") throw flowError;
              return plans.map((_, instance) => ({ instance }));
            }
            override async postAsync(store: Shared, _p: unknown, results: FlowResult[] | undefined) {
              store.flowResults = results;
              if (flowFault === "postAsync") throw flowError;
              return undefined;
            }
          }
          const work = new Work({ maxConcurrent: 2, maxRetries, ...(shared ? { limiter: shared.name } : {}) });
          const flow = new PerInstance(nestedFlow(plans, attempts, work), { maxConcurrentFlows });
          const store: Shared = {};

          const outcome = await runWithAbortAt(
            (signal) => flow.runAsync(store, { signal }),
            abortAfterMs,
            () => {
              for (const a of attempts) a.aborted = true;
            },
          );
          await untilIdle(
            () =>
              attempts.every((a) => a.inFlight === 0) && (!shared || (shared.limiter.active === 0 && shared.limiter.pending === 0)),
          );

          const fates = plans.map((plan) => instanceFate(plan, (item) => itemFate(item, maxRetries, DEFAULT_RATE_LIMIT_RETRIES)));
          expectFlowOutcome(outcome, attempts, fates, flowFault, flowError, store, flow.stats);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("AdaptiveThrottledBatchFlow over a nested flow with an adaptive node, under injected faults", () => {
  it("reports every instance once, counts each RateLimitHit once, and keeps both concurrencies within bounds", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(instanceArb, { maxLength: 6 }),
        boundsArb,
        boundsArb,
        fc.record({ maxRetries: fc.integer({ min: 1, max: 2 }), maxRateLimitRetries: fc.integer({ min: 0, max: 1 }) }),
        fc.boolean(),
        stepFaultArb,
        abortArb,
        async (plans, flowBounds, nodeBounds, retries, useRegistry, flowFault, abortAfterMs) => {
          const attempts = plans.map(() => new Attempts());
          const flowError = new Error(`flow ${flowFault} failed`);
          const shared = useRegistry ? registerShared(nodeBounds.max) : undefined;
          const levelsOutOfBounds: string[] = [];
          let flow: AdaptiveThrottledBatchFlow<Shared> | undefined;
          class Work extends AdaptiveThrottledNode<Shared, string, string> {
            override async prepAsync() {
              const flowLevel = flow!.stats.currentConcurrentFlows;
              if (flowLevel < flowBounds.min || flowLevel > flowBounds.max) levelsOutOfBounds.push(`flow ${flowLevel}`);
              return instanceItems(this, plans);
            }
            override async execAsync(key: string) {
              const level = this.stats.currentConcurrent;
              if (level < nodeBounds.min || level > nodeBounds.max) levelsOutOfBounds.push(`node ${level}`);
              return attemptsOf(key, attempts).attempt(key, planOf(key, plans));
            }
          }
          class PerInstance extends AdaptiveThrottledBatchFlow<Shared> {
            override async prepAsync() {
              if (flowFault === "prepAsync") throw flowError;
              return plans.map((_, instance) => ({ instance }));
            }
            override async postAsync(store: Shared, _p: unknown, results: FlowResult[] | undefined) {
              store.flowResults = results;
              if (flowFault === "postAsync") throw flowError;
              return undefined;
            }
          }
          const work = new Work({
            initialConcurrent: nodeBounds.initial,
            minConcurrent: nodeBounds.min,
            maxConcurrent: nodeBounds.max,
            propagateRateLimit: true,
            ...retries,
            ...(shared ? { limiter: shared.name } : {}),
          });
          flow = new PerInstance(nestedFlow(plans, attempts, work), {
            initialConcurrentFlows: flowBounds.initial,
            minConcurrentFlows: flowBounds.min,
            maxConcurrentFlows: flowBounds.max,
          });
          const store: Shared = {};

          const outcome = await runWithAbortAt(
            (signal) => flow!.runAsync(store, { signal }),
            abortAfterMs,
            () => {
              for (const a of attempts) a.aborted = true;
            },
          );
          await untilIdle(
            () =>
              attempts.every((a) => a.inFlight === 0) && (!shared || (shared.limiter.active === 0 && shared.limiter.pending === 0)),
          );

          const fates = plans.map((plan) =>
            instanceFate(plan, (item) => itemFate(item, retries.maxRetries, retries.maxRateLimitRetries)),
          );
          expectFlowOutcome(outcome, attempts, fates, flowFault, flowError, store, flow.stats);
          expect(levelsOutOfBounds).toEqual([]);
          if (!outcome.abortedFirst && flowFault !== "prepAsync") {
            const hits = (store.flowResults ?? []).filter((r) => r.status === "rejected" && r.reason instanceof RateLimitHit);
            expect(flow.stats.totalRateLimits).toBe(hits.length);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("an abort before the run starts", () => {
  const classes = [
    ["ThrottledParallelBatchNode", () => new (class extends ThrottledParallelBatchNode {})()],
    ["AdaptiveThrottledNode", () => new (class extends AdaptiveThrottledNode {})()],
    ["ThrottledAsyncParallelBatchFlow", () => new ThrottledAsyncParallelBatchFlow(new ThrottledParallelBatchNode())],
    ["AdaptiveThrottledBatchFlow", () => new AdaptiveThrottledBatchFlow(new AdaptiveThrottledNode())],
  ] as const;

  it.each(classes)("rejects %s with exactly the signal's reason and calls no step", async (_name, make) => {
    const reason = new Error("cancelled before start");
    const runnable = make();
    let prepCalls = 0;
    runnable.prepAsync = async () => {
      prepCalls++;
      return [1, 2, 3] as never;
    };

    const run = runnable.runAsync({}, { signal: AbortSignal.abort(reason) });

    await expect(run).rejects.toBe(reason);
    expect(prepCalls).toBe(0);
  });
});

describe("an abort while items wait for a paused limiter", () => {
  it("starts none of the waiting items, even when the pause has just run out", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    const started: number[] = [];
    class Job extends ThrottledParallelBatchNode<Shared, number, number> {
      override async prepAsync() {
        return [0, 1, 2];
      }
      override async execAsync(i: number) {
        started.push(i);
        return i;
      }
    }
    const controller = new AbortController();
    const reason = new Error("stop");
    limiter.pause(0.02);
    const run = new Job({ limiter }).runAsync({}, { signal: controller.signal });
    await Promise.resolve();
    expect(limiter.pending).toBe(3);

    // The pause ends while the event loop is busy, so its wake-up timer has not run yet when the abort comes.
    const busyUntil = performance.now() + 30;
    while (performance.now() < busyUntil) {
      // busy: no timer can fire
    }
    controller.abort(reason);

    await expect(run).rejects.toBe(reason);
    await pause(5);
    expect(started).toEqual([]);
    expect(limiter.active).toBe(0);
    expect(limiter.pending).toBe(0);
  });
});

describe("after a batch has failed for good", () => {
  it("a ThrottledParallelBatchNode starts no further attempt of its other items", async () => {
    const gate = deferred();
    const starts: string[] = [];
    let rejected = false;
    const fatal = new Error("item 0 fails for good");
    class Job extends ThrottledParallelBatchNode<Shared, number, number> {
      override async prepAsync() {
        return [0, 1, 2];
      }
      override async execAsync(i: number): Promise<number> {
        starts.push(`${i}${rejected ? " after the rejection" : ""}`);
        if (i === 0) throw fatal;
        await gate.promise;
        throw new Error(`item ${i}: transient`);
      }
    }
    const node = new Job({ maxConcurrent: 3, maxRetries: 2, wait: 0.01 });

    await expect(node.runAsync({})).rejects.toBe(fatal);
    rejected = true;
    gate.resolve(); // items 1 and 2 now fail transiently: a retry would be work for a batch that is over
    await pause(60);

    expect(starts.filter((start) => start.endsWith("after the rejection"))).toEqual([]);
  });

  it("an AdaptiveThrottledNode starts no further attempt of its rate-limited items", async () => {
    const gate = deferred();
    const starts: string[] = [];
    let rejected = false;
    const fatal = new Error("item 0 fails for good");
    class Job extends AdaptiveThrottledNode<Shared, number, number> {
      override async prepAsync() {
        return [0, 1, 2];
      }
      override async execAsync(i: number): Promise<number> {
        starts.push(`${i}${rejected ? " after the rejection" : ""}`);
        if (i === 0) throw fatal;
        await gate.promise;
        throw makeFault("rate-limit");
      }
    }
    const node = new Job({ initialConcurrent: 3, maxConcurrent: 3, maxRateLimitRetries: 1 });

    await expect(node.runAsync({})).rejects.toBe(fatal);
    rejected = true;
    gate.resolve(); // items 1 and 2 are now rate-limited: re-running them after 50 ms would call the provider for nothing
    await pause(150);

    expect(starts.filter((start) => start.endsWith("after the rejection"))).toEqual([]);
  });
});
