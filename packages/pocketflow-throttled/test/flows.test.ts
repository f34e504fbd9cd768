import { type Action, AsyncFlow, AsyncNode, type Params } from "pocketflow-ts";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RateLimitHit } from "../src/errors.js";
import { AdaptiveThrottledBatchFlow } from "../src/adaptive-flow.js";
import { type FlowResult, ThrottledAsyncParallelBatchFlow } from "../src/flows.js";
import { RateLimiter } from "../src/limiters/sliding-window.js";
import { AdaptiveThrottledNode } from "../src/adaptive-node.js";
import { deferred, type Deferred, delay, flush, Gauge, trackTimers } from "test-support";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Param sets `{ id: 0 } .. { id: n - 1 }`. */
function ids(n: number): Params[] {
  return Array.from({ length: n }, (_, id) => ({ id }));
}

/** A flow over `shared.batch`, keeping what `postAsync` received. */
class Batch extends ThrottledAsyncParallelBatchFlow<{ batch: Params[] }> {
  received: FlowResult[] | undefined;
  override async prepAsync(shared: { batch: Params[] }): Promise<Params[]> {
    return shared.batch;
  }
  override async postAsync(_s: unknown, _p: unknown, results: FlowResult[] | undefined): Promise<Action | undefined> {
    this.received = results;
    return undefined;
  }
}

class AdaptiveBatch extends AdaptiveThrottledBatchFlow<{ batch: Params[] }> {
  received: FlowResult[] | undefined;
  override async prepAsync(shared: { batch: Params[] }): Promise<Params[]> {
    return shared.batch;
  }
  override async postAsync(_s: unknown, _p: unknown, results: FlowResult[] | undefined): Promise<undefined> {
    this.received = results;
    return undefined;
  }
}

/** A sub-flow node that waits on `gates[params.id]`, counted by `gauge`; records starts. */
class Gated extends AsyncNode {
  constructor(
    readonly gates: Deferred[],
    readonly gauge: Gauge,
    readonly started: unknown[],
  ) {
    super();
  }
  override async execAsync(): Promise<void> {
    this.started.push(this.params.id);
    this.gauge.enter();
    await this.gates[this.params.id as number]?.promise;
    this.gauge.leave();
  }
}

/** A sub-flow node that throws `errors[params.id]` if there is one, else succeeds at once. */
class FailsFor extends AsyncNode {
  readonly runs: unknown[] = [];
  constructor(readonly errors: Record<number, unknown>) {
    super();
  }
  override async execAsync(): Promise<void> {
    this.runs.push(this.params.id);
    const error = this.errors[this.params.id as number];
    if (error !== undefined) throw error;
  }
}

/** `Gated`, except that instance 0 fails at once with a `RateLimitHit`. */
class HitFirst extends Gated {
  override async execAsync(): Promise<void> {
    if (this.params.id === 0) throw new RateLimitHit();
    await super.execAsync();
  }
}

function gates(n: number): Deferred[] {
  return Array.from({ length: n }, () => deferred());
}

function providerRateLimit(): Error {
  return Object.assign(new Error("429 Too Many Requests"), { status: 429 });
}

afterEach(() => {
  vi.restoreAllMocks();
});

// ---------------------------------------------------------------------------
// ThrottledAsyncParallelBatchFlow
// ---------------------------------------------------------------------------

describe("ThrottledAsyncParallelBatchFlow: one sub-flow instance per param set", () => {
  it("runs the sub-flow once per param set, each seeing the flow's params merged under its own", async () => {
    const seen: Params[] = [];
    class Record extends AsyncNode {
      override async prepAsync(): Promise<void> {
        seen.push({ ...this.params });
      }
    }
    const flow = new Batch(new Record());
    flow.setParams({ region: "eu", job: "j1" });

    await flow.runAsync({ batch: [{ userId: 1 }, { userId: 2 }, { userId: 3, region: "us" }] });

    expect(seen).toHaveLength(3);
    expect(seen).toEqual(
      expect.arrayContaining([
        { region: "eu", job: "j1", userId: 1 },
        { region: "eu", job: "j1", userId: 2 },
        { region: "us", job: "j1", userId: 3 },
      ]),
    );
  });

  it("runs a fresh copy of the start node for every instance", async () => {
    const runners = new Set<object>();
    class Record extends AsyncNode {
      override async execAsync(): Promise<void> {
        runners.add(this);
      }
    }
    const start = new Record();

    await new Batch(start).runAsync({ batch: ids(4) });

    expect(runners.size).toBe(4);
    expect(runners.has(start)).toBe(false);
  });

  it("follows the sub-flow's transitions in every instance", async () => {
    const visits: string[] = [];
    class Step extends AsyncNode {
      constructor(readonly label: string) {
        super();
      }
      override async execAsync(): Promise<void> {
        visits.push(`${this.label}${this.params.id}`);
      }
    }
    const profile = new Step("profile");
    profile.next(new Step("orders"));

    await new Batch(profile).runAsync({ batch: ids(2) });

    expect([...visits].sort()).toEqual(["orders0", "orders1", "profile0", "profile1"]);
  });

  it("treats a prepAsync that returns undefined as an empty batch", async () => {
    class Empty extends ThrottledAsyncParallelBatchFlow {
      received: FlowResult[] | undefined;
      override async postAsync(_s: unknown, _p: unknown, results: FlowResult[] | undefined): Promise<undefined> {
        this.received = results;
        return undefined;
      }
    }
    const flow = new Empty(new AsyncNode());

    await flow.runAsync({});

    expect(flow.received).toEqual([]);
    expect(flow.stats.completedFlows).toBe(0);
  });
});

describe("ThrottledAsyncParallelBatchFlow: maxConcurrentFlows", () => {
  it("runs exactly maxConcurrentFlows instances at once while more are waiting", async () => {
    const gauge = new Gauge();
    const started: unknown[] = [];
    const release = gates(10);
    const flow = new Batch(new Gated(release, gauge, started), { maxConcurrentFlows: 3 });

    const run = flow.runAsync({ batch: ids(10) });
    await flush();

    expect(gauge.current).toBe(3);
    expect(started).toHaveLength(3);
    for (const gate of release) gate.resolve();
    await run;
    expect(gauge.peak).toBe(3);
    expect(started).toHaveLength(10);
  });

  it("starts the next instance as soon as one finishes", async () => {
    const gauge = new Gauge();
    const started: unknown[] = [];
    const release = gates(5);
    const run = new Batch(new Gated(release, gauge, started), { maxConcurrentFlows: 2 }).runAsync({ batch: ids(5) });
    await flush();

    release[0]?.resolve();
    await flush();

    expect(started).toHaveLength(3);
    expect(gauge.current).toBe(2);
    for (const gate of release) gate.resolve();
    await run;
  });

  it("defaults to 5 instances at once", async () => {
    const gauge = new Gauge();
    const release = gates(8);
    const run = new Batch(new Gated(release, gauge, [])).runAsync({ batch: ids(8) });
    await flush();

    expect(gauge.current).toBe(5);
    for (const gate of release) gate.resolve();
    await run;
  });
});

describe("ThrottledAsyncParallelBatchFlow: starts per window", () => {
  it("starts no more instances per window than a shared limiter allows", async () => {
    const startedAt: number[] = [];
    class Stamp extends AsyncNode {
      override async execAsync(): Promise<void> {
        startedAt.push(performance.now());
      }
    }
    const limiter = new RateLimiter({ maxConcurrent: 10, maxPerWindow: 2, windowSeconds: 0.3 });

    await new Batch(new Stamp(), { limiter }).runAsync({ batch: ids(4) });

    expect(startedAt).toHaveLength(4);
    expect(startedAt[1]! - startedAt[0]!).toBeLessThan(200);
    expect(startedAt[2]! - startedAt[0]!).toBeGreaterThanOrEqual(290);
    expect(startedAt[3]! - startedAt[1]!).toBeGreaterThanOrEqual(290);
  });

  it("holds back the start beyond maxFlowsPerMinute for a 60 s window, and an abort ends that wait without a timer", async () => {
    const started: unknown[] = [];
    class Record extends AsyncNode {
      override async execAsync(): Promise<void> {
        started.push(this.params.id);
      }
    }
    const flow = new Batch(new Record(), { maxFlowsPerMinute: 2 });
    const controller = new AbortController();
    const reason = new Error("stop waiting");
    const timers = trackTimers();

    const run = flow.runAsync({ batch: ids(3) }, { signal: controller.signal });
    const outcome = expect(run).rejects.toBe(reason);
    await delay(100);
    expect([...started].sort()).toEqual([0, 1]);
    expect(timers.pending()).toBe(1); // the wake-up for the third start, about 60 s away
    controller.abort(reason);

    await outcome;
    await flush();
    expect(started).toHaveLength(2);
    expect(timers.pending()).toBe(0);
  });
});

describe("ThrottledAsyncParallelBatchFlow: failures", () => {
  it("runs every other instance when one fails", async () => {
    const node = new FailsFor({ 2: new Error("user 2 is broken") });
    const flow = new Batch(node, { maxConcurrentFlows: 1 });

    await flow.runAsync({ batch: ids(5) });

    expect(node.runs).toEqual([0, 1, 2, 3, 4]);
    expect(flow.stats.completedFlows).toBe(4);
    expect(flow.stats.failedFlows).toBe(1);
  });

  it("gives postAsync Promise.allSettled-shaped results in input order, with the instance's own error", async () => {
    const broken = new Error("user 1 is broken");
    class Finish extends AsyncNode {
      constructor(readonly release: Deferred[]) {
        super();
      }
      override async execAsync(): Promise<void> {
        await this.release[this.params.id as number]?.promise;
        if (this.params.id === 1) throw broken;
      }
      override async postAsync(): Promise<string> {
        return `done-${this.params.id}`;
      }
    }
    const release = gates(3);
    const flow = new Batch(new Finish(release));

    const run = flow.runAsync({ batch: ids(3) });
    await flush();
    release[2]?.resolve(); // finish in reverse order
    await flush();
    release[1]?.resolve();
    await flush();
    release[0]?.resolve();
    await run;

    expect(flow.received).toEqual([
      { status: "fulfilled", value: "done-0" },
      { status: "rejected", reason: broken },
      { status: "fulfilled", value: "done-2" },
    ]);
    expect((flow.received![1] as PromiseRejectedResult).reason).toBe(broken);
  });

  it("resolves runAsync with postAsync's action even when instances failed", async () => {
    class Summarize extends Batch {
      override async postAsync(): Promise<Action> {
        return "summarized";
      }
    }
    const flow = new Summarize(new FailsFor({ 0: new Error("a"), 1: new Error("b") }));

    await expect(flow.runAsync({ batch: ids(3) })).resolves.toBe("summarized");
  });

  it("resolves with undefined by default", async () => {
    class Plain extends ThrottledAsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return ids(2);
      }
    }

    await expect(new Plain(new FailsFor({ 0: new Error("a") })).runAsync({})).resolves.toBeUndefined();
  });
});

describe("ThrottledAsyncParallelBatchFlow: stats", () => {
  it("reports { maxConcurrentFlows, maxFlowsPerMinute, completedFlows, failedFlows }", async () => {
    const flow = new Batch(new FailsFor({ 1: new Error("x") }), { maxConcurrentFlows: 4, maxFlowsPerMinute: 100 });

    await flow.runAsync({ batch: ids(3) });

    expect(flow.stats).toStrictEqual({ maxConcurrentFlows: 4, maxFlowsPerMinute: 100, completedFlows: 2, failedFlows: 1 });
  });

  it("starts the counters from zero on every run", async () => {
    const flow = new Batch(new FailsFor({ 1: new Error("x") }));
    await flow.runAsync({ batch: ids(3) });

    await flow.runAsync({ batch: [{ id: 7 }] });

    expect(flow.stats).toStrictEqual({ maxConcurrentFlows: 5, maxFlowsPerMinute: undefined, completedFlows: 1, failedFlows: 0 });
  });

  it("returns a snapshot, not the live counters", async () => {
    const flow = new Batch(new FailsFor({}));
    const before = flow.stats;

    await flow.runAsync({ batch: ids(2) });

    expect(before.completedFlows).toBe(0);
  });
});

describe("ThrottledAsyncParallelBatchFlow: options", () => {
  it("defaults to maxConcurrentFlows 5 and no per-minute limit", () => {
    const flow = new ThrottledAsyncParallelBatchFlow(new AsyncNode());

    expect(flow.maxConcurrentFlows).toBe(5);
    expect(flow.maxFlowsPerMinute).toBeUndefined();
  });

  it("takes options as class fields", () => {
    class Fields extends ThrottledAsyncParallelBatchFlow {
      override maxConcurrentFlows = 2;
      override maxFlowsPerMinute = 30;
    }

    const flow = new Fields(new AsyncNode());

    expect(flow.maxConcurrentFlows).toBe(2);
    expect(flow.maxFlowsPerMinute).toBe(30);
  });

  it("takes options from the constructor: new Flow(start, options)", () => {
    const flow = new ThrottledAsyncParallelBatchFlow(new AsyncNode(), { maxConcurrentFlows: 10, maxFlowsPerMinute: 200 });

    expect(flow.maxConcurrentFlows).toBe(10);
    expect(flow.maxFlowsPerMinute).toBe(200);
  });

  it("lets a constructor option win over a class field, and reads the value in force right after new", () => {
    class Fields extends ThrottledAsyncParallelBatchFlow {
      override maxConcurrentFlows = 2;
      override maxFlowsPerMinute = 30;
    }

    const flow = new Fields(new AsyncNode(), { maxConcurrentFlows: 7 });

    expect(flow.maxConcurrentFlows).toBe(7);
    expect(flow.maxFlowsPerMinute).toBe(30);
  });

  it("runs with the value in force, not the overridden field", async () => {
    class Fields extends Batch {
      override maxConcurrentFlows = 2;
    }
    const gauge = new Gauge();
    const release = gates(6);
    const flow = new Fields(new Gated(release, gauge, []), { maxConcurrentFlows: 3 });

    const run = flow.runAsync({ batch: ids(6) });
    await flush();

    expect(gauge.current).toBe(3);
    for (const gate of release) gate.resolve();
    await run;
    expect(flow.stats.maxConcurrentFlows).toBe(3);
  });

  it("uses a value assigned after construction at the next run", async () => {
    const gauge = new Gauge();
    const release = gates(6);
    const flow = new Batch(new Gated(release, gauge, []));
    flow.maxConcurrentFlows = 2;

    const run = flow.runAsync({ batch: ids(6) });
    await flush();

    expect(gauge.current).toBe(2);
    for (const gate of release) gate.resolve();
    await run;
  });
});

describe("ThrottledAsyncParallelBatchFlow: bad input", () => {
  it.each([
    [{ maxConcurrentFlows: 0 }, /maxConcurrentFlows.*\b0\b/],
    [{ maxConcurrentFlows: 2.5 }, /maxConcurrentFlows.*2\.5/],
    [{ maxConcurrentFlows: -1 }, /maxConcurrentFlows.*-1/],
    [{ maxFlowsPerMinute: 0 }, /maxFlowsPerMinute.*\b0\b/],
    [{ maxFlowsPerMinute: 1.5 }, /maxFlowsPerMinute.*1\.5/],
  ])("rejects %o with a RangeError naming the option and the value", (options, message) => {
    expect(() => new ThrottledAsyncParallelBatchFlow(new AsyncNode(), options)).toThrow(RangeError);
    expect(() => new ThrottledAsyncParallelBatchFlow(new AsyncNode(), options)).toThrow(message);
  });

  it("rejects a bad class field when the flow is created", () => {
    class Bad extends ThrottledAsyncParallelBatchFlow {
      override maxConcurrentFlows = 0;
    }

    expect(() => new Bad(new AsyncNode())).toThrow(RangeError);
    expect(() => new Bad(new AsyncNode())).toThrow(/maxConcurrentFlows.*\b0\b/);
  });

  it("rejects a bad value assigned later", () => {
    const flow = new ThrottledAsyncParallelBatchFlow(new AsyncNode());

    expect(() => {
      flow.maxFlowsPerMinute = 0;
    }).toThrow(/maxFlowsPerMinute.*\b0\b/);
  });

  it("rejects an option it does not have, naming it", () => {
    const options = { maxConcurrent: 3 } as unknown as { maxConcurrentFlows: number };

    expect(() => new ThrottledAsyncParallelBatchFlow(new AsyncNode(), options)).toThrow(TypeError);
    expect(() => new ThrottledAsyncParallelBatchFlow(new AsyncNode(), options)).toThrow(/maxConcurrent\b/);
  });

  it("rejects a limiter that is neither a Limiter nor a name", () => {
    const options = { limiter: 5 } as unknown as { maxConcurrentFlows: number };

    expect(() => new ThrottledAsyncParallelBatchFlow(new AsyncNode(), options)).toThrow(/limiter/);
  });

  it("fails with a clear TypeError when prepAsync returns something that is not iterable", async () => {
    class NotIterable extends ThrottledAsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return { id: 1 } as unknown as Params[];
      }
    }

    const run = new NotIterable(new AsyncNode()).runAsync({});

    await expect(run).rejects.toThrow(TypeError);
    await expect(run).rejects.toThrow(/NotIterable\.prepAsync returned .*not iterable.*return an array/);
  });

  it("fails with a clear error when there is no start node, without running anything", async () => {
    const postAsync = vi.fn();
    class NoStart extends Batch {
      override async postAsync(): Promise<Action | undefined> {
        postAsync();
        return undefined;
      }
    }

    const run = new NoStart().runAsync({ batch: ids(2) });

    await expect(run).rejects.toThrow(/NoStart has no start node.*flow\.start\(node\)/);
    expect(postAsync).not.toHaveBeenCalled();
  });

  it("runs once a start node is set with flow.start(node)", async () => {
    const node = new FailsFor({});
    const flow = new Batch();
    flow.start(node);

    await flow.runAsync({ batch: ids(2) });

    expect(flow.stats.completedFlows).toBe(2);
  });
});

describe("ThrottledAsyncParallelBatchFlow: abort", () => {
  it("rejects with exactly signal.reason and starts no new instance after the abort", async () => {
    const gauge = new Gauge();
    const started: unknown[] = [];
    const release = gates(6);
    const flow = new Batch(new Gated(release, gauge, started), { maxConcurrentFlows: 2 });
    const controller = new AbortController();
    const reason = { why: "user cancelled" };

    const run = flow.runAsync({ batch: ids(6) }, { signal: controller.signal });
    const outcome = expect(run).rejects.toBe(reason);
    await flush();
    controller.abort(reason);
    await outcome;
    for (const gate of release) gate.resolve();
    await flush();

    expect([...started].sort()).toEqual([0, 1]);
  });

  it("does not count an instance ended by the abort as a failed flow", async () => {
    const failedOnce = deferred();
    class RetriesLater extends AsyncNode {
      override async execAsync(): Promise<void> {
        failedOnce.resolve();
        throw new Error("try again in 30 s");
      }
    }
    const flow = new Batch(new RetriesLater({ maxRetries: 2, wait: 30 }));
    const controller = new AbortController();
    const reason = new Error("cancelled");

    const run = flow.runAsync({ batch: ids(1) }, { signal: controller.signal });
    const outcome = expect(run).rejects.toBe(reason);
    await failedOnce.promise;
    controller.abort(reason);
    await outcome;
    await flush();

    expect(flow.stats.failedFlows).toBe(0);
  });

  it("runs nothing when the signal is already aborted", async () => {
    const node = new FailsFor({});
    const controller = new AbortController();
    controller.abort();

    await expect(new Batch(node).runAsync({ batch: ids(3) }, { signal: controller.signal })).rejects.toBe(
      controller.signal.reason,
    );
    expect(node.runs).toEqual([]);
  });

  it("leaves no timer behind after a run that waited on its window", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 1, windowSeconds: 0.05 });
    const timers = trackTimers();

    await new Batch(new FailsFor({}), { limiter }).runAsync({ batch: ids(3) });

    expect(timers.pending()).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// AdaptiveThrottledBatchFlow
// ---------------------------------------------------------------------------

describe("AdaptiveThrottledBatchFlow: options", () => {
  it("has readable defaults", () => {
    const flow = new AdaptiveThrottledBatchFlow(new AsyncNode());

    expect(flow.initialConcurrentFlows).toBe(5);
    expect(flow.minConcurrentFlows).toBe(1);
    expect(flow.maxConcurrentFlows).toBe(20);
    expect(flow.backoffFactor).toBe(0.5);
    expect(flow.recoveryThreshold).toBe(10);
    expect(flow.recoveryFactor).toBe(1.2);
    expect(flow.maxFlowsPerMinute).toBeUndefined();
  });

  it("reports the limits and the starting state before any run", () => {
    const flow = new AdaptiveThrottledBatchFlow(new AsyncNode(), { initialConcurrentFlows: 7 });

    expect(flow.stats).toStrictEqual({
      maxConcurrentFlows: 20,
      maxFlowsPerMinute: undefined,
      completedFlows: 0,
      failedFlows: 0,
      currentConcurrentFlows: 7,
      consecutiveSuccesses: 0,
      totalRateLimits: 0,
    });
  });

  it("takes every option from the constructor", () => {
    const flow = new AdaptiveThrottledBatchFlow(new AsyncNode(), {
      initialConcurrentFlows: 15,
      minConcurrentFlows: 3,
      maxConcurrentFlows: 30,
      backoffFactor: 0.6,
      recoveryThreshold: 8,
      recoveryFactor: 1.5,
      maxFlowsPerMinute: 100,
    });

    expect([
      flow.initialConcurrentFlows,
      flow.minConcurrentFlows,
      flow.maxConcurrentFlows,
      flow.backoffFactor,
      flow.recoveryThreshold,
      flow.recoveryFactor,
      flow.maxFlowsPerMinute,
    ]).toEqual([15, 3, 30, 0.6, 8, 1.5, 100]);
  });

  it("lets constructor options win over class fields", () => {
    class Fields extends AdaptiveThrottledBatchFlow {
      override initialConcurrentFlows = 20;
      override maxConcurrentFlows = 50;
      override backoffFactor = 0.7;
    }

    const flow = new Fields(new AsyncNode(), { initialConcurrentFlows: 4 });

    expect(flow.initialConcurrentFlows).toBe(4);
    expect(flow.maxConcurrentFlows).toBe(50);
    expect(flow.backoffFactor).toBe(0.7);
  });

  it("starts a run at initialConcurrentFlows instances at once", async () => {
    const gauge = new Gauge();
    const release = gates(10);
    const run = new AdaptiveBatch(new Gated(release, gauge, []), { initialConcurrentFlows: 3 }).runAsync({
      batch: ids(10),
    });
    await flush();

    expect(gauge.current).toBe(3);
    for (const gate of release) gate.resolve();
    await run;
    expect(gauge.peak).toBe(3);
  });
});

describe("AdaptiveThrottledBatchFlow: bad input", () => {
  it.each([
    [{ minConcurrentFlows: 10, maxConcurrentFlows: 5 }, /minConcurrentFlows \(10\).*maxConcurrentFlows \(5\)/],
    [{ initialConcurrentFlows: 30, maxConcurrentFlows: 20 }, /initialConcurrentFlows \(30\).*maxConcurrentFlows \(20\)/],
    [{ initialConcurrentFlows: 2, minConcurrentFlows: 3 }, /initialConcurrentFlows \(2\).*minConcurrentFlows \(3\)/],
    [{ minConcurrentFlows: 0 }, /minConcurrentFlows.*\b0\b/],
    [{ initialConcurrentFlows: 2.5 }, /initialConcurrentFlows.*2\.5/],
    [{ maxConcurrentFlows: 0 }, /maxConcurrentFlows.*\b0\b/],
    [{ backoffFactor: 1 }, /backoffFactor.*\b1\b/],
    [{ backoffFactor: 0 }, /backoffFactor.*\b0\b/],
    [{ recoveryFactor: 1 }, /recoveryFactor.*\b1\b/],
    [{ recoveryThreshold: 0 }, /recoveryThreshold.*\b0\b/],
    [{ maxFlowsPerMinute: 0 }, /maxFlowsPerMinute.*\b0\b/],
  ])("rejects %o with a RangeError naming the option and the value", (options, message) => {
    expect(() => new AdaptiveThrottledBatchFlow(new AsyncNode(), options)).toThrow(RangeError);
    expect(() => new AdaptiveThrottledBatchFlow(new AsyncNode(), options)).toThrow(message);
  });

  it("rejects class fields with min above max when a run starts", async () => {
    class Bad extends AdaptiveBatch {
      override minConcurrentFlows = 10;
      override maxConcurrentFlows = 4;
    }

    await expect(new Bad(new AsyncNode()).runAsync({ batch: ids(1) })).rejects.toThrow(
      /minConcurrentFlows \(10\).*maxConcurrentFlows \(4\)/,
    );
  });

  it("rejects a class field initialConcurrentFlows below minConcurrentFlows when a run starts", async () => {
    class Bad extends AdaptiveBatch {
      override minConcurrentFlows = 6;
    }

    await expect(new Bad(new AsyncNode()).runAsync({ batch: ids(1) })).rejects.toThrow(
      /initialConcurrentFlows \(5\).*minConcurrentFlows \(6\)/,
    );
  });

  it("rejects a class field initialConcurrentFlows above the ceiling when a run starts", async () => {
    class Bad extends AdaptiveBatch {
      override initialConcurrentFlows = 30;
    }

    await expect(new Bad(new AsyncNode()).runAsync({ batch: ids(1) })).rejects.toThrow(
      /initialConcurrentFlows \(30\).*maxConcurrentFlows \(20\)/,
    );
  });
});

describe("AdaptiveThrottledBatchFlow: backing off on RateLimitHit", () => {
  it("backs off to max(min, floor(current * backoffFactor)) when a node throws RateLimitHit", async () => {
    const hit = new RateLimitHit("slow down");
    const flow = new AdaptiveBatch(new FailsFor({ 0: hit }), { initialConcurrentFlows: 5 });

    await flow.runAsync({ batch: ids(1) });

    expect(flow.stats.currentConcurrentFlows).toBe(2);
    expect(flow.stats.totalRateLimits).toBe(1);
  });

  it("never backs off below minConcurrentFlows", async () => {
    const flow = new AdaptiveBatch(new FailsFor({ 0: new RateLimitHit(), 1: new RateLimitHit(), 2: new RateLimitHit() }), {
      initialConcurrentFlows: 8,
      minConcurrentFlows: 3,
      maxConcurrentFlows: 8,
    });

    await flow.runAsync({ batch: ids(3) });

    expect(flow.stats.currentConcurrentFlows).toBe(3);
    expect(flow.stats.totalRateLimits).toBe(3);
  });

  it("uses the configured backoffFactor", async () => {
    const flow = new AdaptiveBatch(new FailsFor({ 0: new RateLimitHit() }), {
      initialConcurrentFlows: 10,
      backoffFactor: 0.7,
    });

    await flow.runAsync({ batch: ids(1) });

    expect(flow.stats.currentConcurrentFlows).toBe(7);
  });

  it("applies the backoff to the running batch at once", async () => {
    const gauge = new Gauge();
    const started: unknown[] = [];
    const release = gates(8);
    const flow = new AdaptiveBatch(new HitFirst(release, gauge, started), { initialConcurrentFlows: 4 });

    const run = flow.runAsync({ batch: ids(8) });
    await flush();
    // 0 failed at once; 1, 2, 3 still run, and the limit is now 2: nobody new starts.
    expect([...started].sort()).toEqual([1, 2, 3]);
    release[1]?.resolve();
    await flush();
    expect(started).toHaveLength(3);
    release[2]?.resolve();
    await flush();
    expect(started).toHaveLength(4);

    for (const gate of release) gate.resolve();
    await run;
    expect(flow.stats.completedFlows).toBe(7);
  });

  it("backs off when an AdaptiveThrottledNode inside a nested AsyncFlow propagates the rate limit", async () => {
    const providerError = providerRateLimit();
    class Call extends AdaptiveThrottledNode {
      override async prepAsync(): Promise<number[]> {
        return [1];
      }
      override async execAsync(): Promise<never> {
        throw providerError;
      }
    }
    const inner = new AsyncFlow(new Call({ propagateRateLimit: true, maxRateLimitRetries: 0 }));
    const flow = new AdaptiveBatch(inner, { initialConcurrentFlows: 6 });

    await flow.runAsync({ batch: ids(1) });

    const reason = (flow.received![0] as PromiseRejectedResult).reason as RateLimitHit;
    expect(reason).toBeInstanceOf(RateLimitHit);
    expect(reason.cause).toBe(providerError);
    expect(flow.stats.currentConcurrentFlows).toBe(3);
    expect(flow.stats.totalRateLimits).toBe(1);
  });

  it("counts each RateLimitHit once, however deep it came from", async () => {
    const providerError = providerRateLimit();
    class Call extends AdaptiveThrottledNode {
      override async prepAsync(): Promise<number[]> {
        return [1];
      }
      override async execAsync(): Promise<never> {
        throw providerError;
      }
    }
    const node = new Call({ propagateRateLimit: true, maxRateLimitRetries: 0 });
    const flow = new AdaptiveBatch(new AsyncFlow(new AsyncFlow(node)), { initialConcurrentFlows: 16 });

    await flow.runAsync({ batch: ids(3) });

    expect(flow.stats.totalRateLimits).toBe(3);
    expect(flow.stats.failedFlows).toBe(3);
    expect(flow.stats.currentConcurrentFlows).toBe(2);
  });

  it("finds a RateLimitHit wrapped as the cause of another error", async () => {
    const wrapped = new Error("user 0 failed", { cause: new RateLimitHit() });
    const flow = new AdaptiveBatch(new FailsFor({ 0: wrapped }), { initialConcurrentFlows: 4 });

    await flow.runAsync({ batch: ids(1) });

    expect(flow.stats.totalRateLimits).toBe(1);
    expect(flow.stats.currentConcurrentFlows).toBe(2);
  });

  it("finds a RateLimitHit of another copy of the package (ESM and CommonJS) by its name", async () => {
    const foreign = Object.assign(new Error("slow down"), { name: "RateLimitHit", retryAfter: 0 });
    const flow = new AdaptiveBatch(new FailsFor({ 0: foreign }), { initialConcurrentFlows: 4 });

    await flow.runAsync({ batch: ids(1) });

    expect(flow.stats.totalRateLimits).toBe(1);
    expect(flow.stats.currentConcurrentFlows).toBe(2);
  });

  it("does not back off for an ordinary error", async () => {
    const flow = new AdaptiveBatch(new FailsFor({ 0: new Error("bad input") }), { initialConcurrentFlows: 4 });

    await flow.runAsync({ batch: ids(1) });

    expect(flow.stats.currentConcurrentFlows).toBe(4);
    expect(flow.stats.totalRateLimits).toBe(0);
    expect(flow.stats.failedFlows).toBe(1);
  });

  it("does not re-run a rate-limited instance: it ends as a rejected result", async () => {
    const hit = new RateLimitHit();
    const node = new FailsFor({ 1: hit });
    const flow = new AdaptiveBatch(node, { initialConcurrentFlows: 1 });

    await flow.runAsync({ batch: ids(3) });

    expect(node.runs).toEqual([0, 1, 2]);
    expect(flow.received?.[1]).toEqual({ status: "rejected", reason: hit });
    expect(flow.stats.failedFlows).toBe(1);
    expect(flow.stats.completedFlows).toBe(2);
  });

  it("starts no new instance within retryAfter of a hit", async () => {
    const startedAt: number[] = [];
    let hitAt = 0;
    class PauseAfterFirst extends AsyncNode {
      override async execAsync(): Promise<void> {
        startedAt.push(performance.now());
        if (this.params.id === 0) {
          hitAt = performance.now();
          throw new RateLimitHit("wait a bit", { retryAfter: 0.1 });
        }
      }
    }
    const flow = new AdaptiveBatch(new PauseAfterFirst(), { initialConcurrentFlows: 1 });

    await flow.runAsync({ batch: ids(3) });

    expect(startedAt).toHaveLength(3);
    expect(startedAt[1]! - hitAt).toBeGreaterThanOrEqual(99);
    expect(startedAt[1]! - hitAt).toBeLessThan(5_000);
  });

  it("resolves runAsync even when every instance was rate limited", async () => {
    const flow = new AdaptiveBatch(new FailsFor({ 0: new RateLimitHit(), 1: new RateLimitHit() }));

    await expect(flow.runAsync({ batch: ids(2) })).resolves.toBeUndefined();
    expect(flow.stats.failedFlows).toBe(2);
  });
});

describe("AdaptiveThrottledBatchFlow: recovery", () => {
  it("steps up by at least 1 after recoveryThreshold successes, climbing back from 1", async () => {
    const flow = new AdaptiveBatch(new FailsFor({}), {
      initialConcurrentFlows: 1,
      recoveryThreshold: 2,
      recoveryFactor: 1.2,
    });

    await flow.runAsync({ batch: ids(5) });

    // 1 -> max(2, floor(1.2)) = 2 -> max(3, floor(2.4)) = 3, and one success since.
    expect(flow.stats.currentConcurrentFlows).toBe(3);
    expect(flow.stats.consecutiveSuccesses).toBe(1);
  });

  it("steps up by recoveryFactor when that is more than 1", async () => {
    const flow = new AdaptiveBatch(new FailsFor({}), {
      initialConcurrentFlows: 5,
      recoveryThreshold: 5,
      recoveryFactor: 2,
    });

    await flow.runAsync({ batch: ids(10) });

    expect(flow.stats.currentConcurrentFlows).toBe(20);
  });

  it("never recovers above maxConcurrentFlows", async () => {
    const flow = new AdaptiveBatch(new FailsFor({}), {
      initialConcurrentFlows: 1,
      maxConcurrentFlows: 2,
      recoveryThreshold: 1,
    });

    await flow.runAsync({ batch: ids(6) });

    expect(flow.stats.currentConcurrentFlows).toBe(2);
  });

  it("resets the success streak on a rate limit", async () => {
    const flow = new AdaptiveBatch(new FailsFor({ 2: new RateLimitHit() }), {
      initialConcurrentFlows: 1,
      recoveryThreshold: 10,
    });

    await flow.runAsync({ batch: ids(4) });

    expect(flow.stats.consecutiveSuccesses).toBe(1);
  });

  it("lets more instances run at once after a recovery step", async () => {
    const gauge = new Gauge();
    const started: unknown[] = [];
    const release = gates(6);
    const flow = new AdaptiveBatch(new Gated(release, gauge, started), {
      initialConcurrentFlows: 1,
      recoveryThreshold: 1,
    });

    const run = flow.runAsync({ batch: ids(6) });
    await flush();
    expect(started).toEqual([0]);
    release[0]?.resolve();
    await flush();

    expect([...started].sort()).toEqual([0, 1, 2]);
    for (const gate of release) gate.resolve();
    await run;
  });

  it("keeps what it learned for the next run", async () => {
    const flow = new AdaptiveBatch(new FailsFor({ 0: new RateLimitHit() }), { initialConcurrentFlows: 6 });
    await flow.runAsync({ batch: ids(1) });
    const gauge = new Gauge();
    const release = gates(6);
    flow.startNode = new Gated(release, gauge, []);

    const run = flow.runAsync({ batch: ids(6) });
    await flush();

    expect(gauge.current).toBe(3);
    for (const gate of release) gate.resolve();
    await run;
  });

  it("starts over from initialConcurrentFlows with zeroed counters after resetAdaptiveState()", async () => {
    const flow = new AdaptiveBatch(new FailsFor({ 0: new RateLimitHit(), 1: new RateLimitHit() }), {
      initialConcurrentFlows: 8,
    });
    await flow.runAsync({ batch: ids(3) });

    flow.resetAdaptiveState();

    expect(flow.stats.currentConcurrentFlows).toBe(8);
    expect(flow.stats.totalRateLimits).toBe(0);
    expect(flow.stats.consecutiveSuccesses).toBe(0);
  });
});

describe("AdaptiveThrottledBatchFlow: stats", () => {
  it("adds currentConcurrentFlows, consecutiveSuccesses and totalRateLimits to the flow counters", async () => {
    const release = gates(3);
    const flow = new AdaptiveBatch(new HitFirst(release, new Gauge(), []), {
      initialConcurrentFlows: 4,
      maxConcurrentFlows: 10,
      maxFlowsPerMinute: 600,
    });

    const run = flow.runAsync({ batch: ids(3) });
    await flush();
    for (const gate of release) gate.resolve();
    await run;

    expect(flow.stats).toStrictEqual({
      maxConcurrentFlows: 10,
      maxFlowsPerMinute: 600,
      completedFlows: 2,
      failedFlows: 1,
      currentConcurrentFlows: 2,
      consecutiveSuccesses: 2,
      totalRateLimits: 1,
    });
  });

  it("resets the per-run counters but keeps the adaptive counters across runs", async () => {
    const flow = new AdaptiveBatch(new FailsFor({ 0: new RateLimitHit() }), { initialConcurrentFlows: 1 });
    await flow.runAsync({ batch: ids(2) });

    await flow.runAsync({ batch: [{ id: 5 }] });

    expect(flow.stats.completedFlows).toBe(1);
    expect(flow.stats.failedFlows).toBe(0);
    expect(flow.stats.totalRateLimits).toBe(1);
    expect(flow.stats.consecutiveSuccesses).toBe(2);
  });
});

describe("ThrottledAsyncParallelBatchFlow token budget (maxTokensPerMinute)", () => {
  it("reserves estimateTokens(params) per instance in its limiter and settles with usageOf", async () => {
    const { AsyncNode, AsyncFlow: Flow } = await import("pocketflow-ts");
    const { RateLimiter: Limiter, ThrottledAsyncParallelBatchFlow: TFlow } = await import("../src/index.js");
    const limiter = new Limiter({ maxConcurrent: 10, maxTokensPerWindow: 1000, windowSeconds: 60 });
    class Work extends AsyncNode<{ used: Record<string, number> }> {
      override async execAsync(): Promise<unknown> {
        return undefined;
      }
      override async postAsync(shared: { used: Record<string, number> }): Promise<undefined> {
        shared.used[String(this.params.id)] = 10;
        return undefined;
      }
    }
    class Budgeted extends TFlow<{ used: Record<string, number> }> {
      override async prepAsync() {
        return [{ id: "a" }, { id: "b" }, { id: "c" }];
      }
      override estimateTokens(): number {
        return 100;
      }
      override usageOf(shared: { used: Record<string, number> }, params: Record<string, unknown>): number | undefined {
        return shared.used[String(params.id)];
      }
    }
    const flow = new Budgeted(new Flow(new Work()), { limiter });

    await flow.runAsync({ used: {} });

    expect(limiter.currentWindowTokens).toBe(30);
    expect(limiter.stats.acquired).toBe(3);
  });

  it("rejects maxTokensPerMinute 0 with a RangeError naming it", async () => {
    const { ThrottledAsyncParallelBatchFlow: TFlow } = await import("../src/index.js");
    expect(() => new TFlow(undefined, { maxTokensPerMinute: 0 })).toThrow(/maxTokensPerMinute.*0/);
  });
});
