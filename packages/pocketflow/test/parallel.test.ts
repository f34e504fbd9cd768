import { afterEach, describe, expect, it, vi } from "vitest";
import { AsyncFlow, AsyncNode, AsyncParallelBatchFlow, AsyncParallelBatchNode, type Params } from "../src/index.js";
import { type Deferred, deferred, flush } from "test-support";

afterEach(() => {
  vi.restoreAllMocks();
});

interface Store {
  items?: unknown;
  results?: unknown[];
}

/** A parallel node whose items each wait for a gate the test opens. */
class Gated extends AsyncParallelBatchNode<Store, string, string> {
  started: string[] = [];
  constructor(readonly gates: Record<string, Deferred<void>>) {
    super();
  }
  override async prepAsync(): Promise<string[]> {
    return Object.keys(this.gates);
  }
  override async execAsync(item: string): Promise<string> {
    this.started.push(item);
    await this.gates[item]?.promise;
    return item.toUpperCase();
  }
  override async postAsync(shared: Store, _items: unknown, results: string[]): Promise<undefined> {
    shared.results = results;
    return undefined;
  }
}

describe("AsyncParallelBatchNode", () => {
  it("starts every item before any of them finishes", async () => {
    const gates = { a: deferred(), b: deferred(), c: deferred() };
    const node = new Gated(gates);

    const run = node.runAsync({});
    await flush();

    expect(node.started).toEqual(["a", "b", "c"]);
    gates.a.resolve();
    gates.b.resolve();
    gates.c.resolve();
    await run;
  });

  it("hands postAsync the results in input order, whatever order items finish in", async () => {
    const gates = { a: deferred(), b: deferred(), c: deferred() };
    const shared: Store = {};

    const run = new Gated(gates).runAsync(shared);
    await flush();
    gates.c.resolve();
    await flush();
    gates.b.resolve();
    await flush();
    gates.a.resolve();
    await run;

    expect(shared.results).toEqual(["A", "B", "C"]);
  });

  it("does not resolve until the last item has finished", async () => {
    const gates = { a: deferred(), b: deferred() };
    let settled = false;

    const run = new Gated(gates).runAsync({}).then(() => {
      settled = true;
    });
    gates.a.resolve();
    await flush();

    expect(settled).toBe(false);
    gates.b.resolve();
    await run;
    expect(settled).toBe(true);
  });

  it("runs every item on the same node object, so state written on `this` in execAsync is visible in postAsync", async () => {
    const execThis = new Set<unknown>();
    let postThis: unknown;
    let postSaw: number[] = [];
    class Collects extends AsyncParallelBatchNode<Store, number, void> {
      seen: number[] = [];
      override async prepAsync(): Promise<number[]> {
        return [1, 2, 3];
      }
      override async execAsync(item: number): Promise<void> {
        execThis.add(this);
        await Promise.resolve();
        this.seen.push(item);
      }
      override async postAsync(): Promise<undefined> {
        postThis = this;
        postSaw = [...this.seen].sort();
        return undefined;
      }
    }
    const node = new Collects();

    await node.runAsync({});

    expect([...execThis]).toEqual([node]);
    expect(postThis).toBe(node);
    expect(postSaw).toEqual([1, 2, 3]);
  });

  it("shares one node copy among the items when run inside a flow", async () => {
    const execThis = new Set<unknown>();
    let postThis: unknown;
    let postSaw: number[] = [];
    class Collects extends AsyncParallelBatchNode<Store, number, void> {
      seen: number[] = [];
      override async prepAsync(): Promise<number[]> {
        return [1, 2, 3];
      }
      override async execAsync(item: number): Promise<void> {
        execThis.add(this);
        this.seen = [...this.seen, item];
      }
      override async postAsync(): Promise<undefined> {
        postThis = this;
        postSaw = [...this.seen].sort();
        return undefined;
      }
    }

    await new AsyncFlow(new Collects()).runAsync({});

    expect(execThis.size).toBe(1);
    expect([...execThis][0]).toBe(postThis);
    expect(postSaw).toEqual([1, 2, 3]);
  });

  it("rejects with the same error object as the first item to fail", async () => {
    const first = new Error("first to fail");
    const later = new Error("fails later");
    const gates = { a: deferred(), b: deferred(), c: deferred() };
    class Failing extends AsyncParallelBatchNode<Store, string, string> {
      override async prepAsync(): Promise<string[]> {
        return ["a", "b", "c"];
      }
      override async execAsync(item: string): Promise<string> {
        await gates[item as keyof typeof gates].promise;
        return item;
      }
    }

    const outcome = expect(new Failing().runAsync({})).rejects.toBe(first);
    gates.c.reject(first);
    await flush();
    gates.a.reject(later);
    gates.b.resolve();

    await outcome;
  });

  it("treats undefined or null from prepAsync as an empty batch", async () => {
    class Empty extends AsyncParallelBatchNode<Store, string, string> {
      override async prepAsync(shared: Store): Promise<null | undefined> {
        return shared.items as null | undefined;
      }
      override async postAsync(shared: Store, _items: unknown, results: string[]): Promise<undefined> {
        shared.results = results;
        return undefined;
      }
    }
    const fromUndefined: Store = { items: undefined };
    const fromNull: Store = { items: null };

    await new Empty().runAsync(fromUndefined);
    await new Empty().runAsync(fromNull);

    expect(fromUndefined.results).toEqual([]);
    expect(fromNull.results).toEqual([]);
  });

  it("accepts any iterable from prepAsync, such as a Set or a generator", async () => {
    function* numbers(): Generator<number> {
      yield 1;
      yield 2;
    }
    class Doubles extends AsyncParallelBatchNode<Store, number, number> {
      override async prepAsync(shared: Store): Promise<Iterable<number>> {
        return shared.items as Iterable<number>;
      }
      override async execAsync(item: number): Promise<number> {
        return item * 2;
      }
      override async postAsync(shared: Store, _items: unknown, results: number[]): Promise<undefined> {
        shared.results = results;
        return undefined;
      }
    }
    const fromSet: Store = { items: new Set([3, 4]) };
    const fromGenerator: Store = { items: numbers() };

    await new Doubles().runAsync(fromSet);
    await new Doubles().runAsync(fromGenerator);

    expect(fromSet.results).toEqual([6, 8]);
    expect(fromGenerator.results).toEqual([2, 4]);
  });

  it("hands a failing item to execFallbackAsync and keeps the others' results", async () => {
    class Fallback extends AsyncParallelBatchNode<Store, number, string> {
      override async prepAsync(): Promise<number[]> {
        return [1, 2, 3];
      }
      override async execAsync(item: number): Promise<string> {
        if (item === 2) throw new Error("bad");
        return `ok ${item}`;
      }
      override async execFallbackAsync(item: number, error: unknown): Promise<string> {
        return `fallback ${item}: ${(error as Error).message}`;
      }
      override async postAsync(shared: Store, _items: unknown, results: string[]): Promise<undefined> {
        shared.results = results;
        return undefined;
      }
    }
    const shared: Store = {};

    await new Fallback({ maxRetries: 2 }).runAsync(shared);

    expect(shared.results).toEqual(["ok 1", "fallback 2: bad", "ok 3"]);
  });
});

describe("per-item retry state", () => {
  /** Item k fails k times, then succeeds; each attempt yields to the others before reading curRetry. */
  class FailsItsOwnNumberOfTimes extends AsyncParallelBatchNode<Store, number, number> {
    attempts: Record<number, number[]> = { 0: [], 1: [], 2: [], 3: [] };
    override async prepAsync(): Promise<number[]> {
      return [0, 1, 2, 3];
    }
    override async execAsync(item: number): Promise<number> {
      await new Promise((resolve) => setImmediate(resolve));
      const attempt = this.curRetry;
      this.attempts[item]?.push(attempt);
      if (attempt < item) throw new Error(`item ${item} attempt ${attempt}`);
      return item;
    }
    override async postAsync(shared: Store, _items: unknown, results: number[]): Promise<undefined> {
      shared.results = [this.attempts, results];
      return undefined;
    }
  }

  it("gives every item its own curRetry sequence while items retry side by side", async () => {
    const shared: Store = {};

    await new FailsItsOwnNumberOfTimes({ maxRetries: 4 }).runAsync(shared);

    expect(shared.results).toEqual([{ 0: [0], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1, 2, 3] }, [0, 1, 2, 3]]);
  });

  it("keeps per-item curRetry when the node runs inside a flow", async () => {
    const shared: Store = {};

    await new AsyncFlow(new FailsItsOwnNumberOfTimes({ maxRetries: 4 })).runAsync(shared);

    expect(shared.results).toEqual([{ 0: [0], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1, 2, 3] }, [0, 1, 2, 3]]);
  });

  it("keeps per-item curRetry when two parallel nodes retry at the same time", async () => {
    const one: Store = {};
    const two: Store = {};

    await Promise.all([
      new FailsItsOwnNumberOfTimes({ maxRetries: 4 }).runAsync(one),
      new FailsItsOwnNumberOfTimes({ maxRetries: 4 }).runAsync(two),
    ]);

    expect(one.results).toEqual([{ 0: [0], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1, 2, 3] }, [0, 1, 2, 3]]);
    expect(two.results).toEqual(one.results);
  });

  it("keeps per-item curRetry across retry waits", async () => {
    const shared: Store = {};

    await new FailsItsOwnNumberOfTimes({ maxRetries: 4, wait: 0.001 }).runAsync(shared);

    expect(shared.results).toEqual([{ 0: [0], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1, 2, 3] }, [0, 1, 2, 3]]);
  });

  it("shows the item's last attempt in execFallbackAsync", async () => {
    const fallbackSaw: Record<number, number> = {};
    class AlwaysFails extends AsyncParallelBatchNode<Store, number, number> {
      override async prepAsync(): Promise<number[]> {
        return [1, 2];
      }
      override async execAsync(item: number): Promise<number> {
        await new Promise((resolve) => setImmediate(resolve));
        throw new Error(`item ${item}`);
      }
      override async execFallbackAsync(item: number): Promise<number> {
        fallbackSaw[item] = this.curRetry;
        return -item;
      }
    }

    await new AlwaysFails({ maxRetries: 3 }).runAsync({});

    expect(fallbackSaw).toEqual({ 1: 2, 2: 2 });
  });

  it("can run again after a batch whose items retried", async () => {
    const first: Store = {};
    const second: Store = {};

    await new FailsItsOwnNumberOfTimes({ maxRetries: 4 }).runAsync(first);
    await new FailsItsOwnNumberOfTimes({ maxRetries: 4 }).runAsync(second);

    expect(second.results).toEqual(first.results);
  });
});

describe("AsyncParallelBatchFlow", () => {
  it("runs one copy of the flow per params object, all at once, with params merged", async () => {
    const gates: Record<string, Deferred<void>> = { x: deferred(), y: deferred() };
    const started: Params[] = [];
    class Work extends AsyncNode {
      override async execAsync(): Promise<void> {
        started.push({ ...this.params });
        await gates[this.params.id as string]?.promise;
      }
    }
    class PerId extends AsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ id: "x" }, { id: "y" }];
      }
    }
    const flow = new PerId(new Work());
    flow.setParams({ tenant: "acme" });

    const run = flow.runAsync({});
    await flush();

    expect(started).toEqual([
      { tenant: "acme", id: "x" },
      { tenant: "acme", id: "y" },
    ]);
    gates.x?.resolve();
    gates.y?.resolve();
    await run;
  });

  it("lets batch params override the flow's params", async () => {
    const seen: Params[] = [];
    class Reads extends AsyncNode {
      override async prepAsync(): Promise<void> {
        seen.push({ ...this.params });
      }
    }
    class PerId extends AsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ mode: "batch" }];
      }
    }
    const flow = new PerId(new Reads());
    flow.setParams({ mode: "flow", keep: true });

    await flow.runAsync({});

    expect(seen).toEqual([{ mode: "batch", keep: true }]);
  });

  it("gives each parallel run its own copies of the nodes", async () => {
    const execThis = new Set<unknown>();
    class Records extends AsyncNode {
      override async execAsync(): Promise<void> {
        execThis.add(this);
        await Promise.resolve();
      }
    }
    class Three extends AsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ n: 1 }, { n: 2 }, { n: 3 }];
      }
    }

    await new Three(new Records()).runAsync({});

    expect(execThis.size).toBe(3);
  });

  it("runs whole sub-flows per params object and then the flow's postAsync", async () => {
    interface Batches {
      batches: number[][];
      processed: Record<number, number[]>;
      total?: number;
    }
    class DoubleBatch extends AsyncParallelBatchNode<Batches, number, number> {
      override async prepAsync(shared: Batches): Promise<number[]> {
        return shared.batches[this.params.batch as number] ?? [];
      }
      override async execAsync(n: number): Promise<number> {
        return n * 2;
      }
      override async postAsync(shared: Batches, _p: unknown, results: number[]): Promise<string> {
        shared.processed[this.params.batch as number] = results;
        return "processed";
      }
    }
    class PerBatch extends AsyncParallelBatchFlow<Batches> {
      override async prepAsync(shared: Batches): Promise<Params[]> {
        return shared.batches.map((_, batch) => ({ batch }));
      }
      override async postAsync(shared: Batches): Promise<string> {
        shared.total = Object.values(shared.processed)
          .flat()
          .reduce((a, b) => a + b, 0);
        return "aggregated";
      }
    }
    const shared: Batches = { batches: [[1, 2], [3], [4, 5, 6]], processed: {} };

    const action = await new PerBatch(new DoubleBatch()).runAsync(shared);

    expect(shared.processed).toEqual({ 0: [2, 4], 1: [6], 2: [8, 10, 12] });
    expect(shared.total).toBe(42);
    expect(action).toBe("aggregated");
  });

  it("rejects with the first failing run's error object", async () => {
    const boom = new Error("boom");
    class FailsForB extends AsyncNode {
      override async execAsync(): Promise<void> {
        if (this.params.id === "b") throw boom;
      }
    }
    class Runs extends AsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ id: "a" }, { id: "b" }];
      }
    }

    await expect(new Runs(new FailsForB()).runAsync({})).rejects.toBe(boom);
  });

  it("treats undefined from prepAsync as an empty batch", async () => {
    const exec = vi.fn();
    class Work extends AsyncNode {
      override async execAsync(): Promise<void> {
        exec();
      }
    }

    await new AsyncParallelBatchFlow(new Work()).runAsync({});

    expect(exec).not.toHaveBeenCalled();
  });
});

describe("retry waits with many parallel items", () => {
  it("does not trigger Node's MaxListenersExceededWarning on the caller's signal", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    class FailsOnce extends AsyncParallelBatchNode<Store, number, number> {
      override async prepAsync(): Promise<number[]> {
        return Array.from({ length: 20 }, (_, i) => i);
      }
      override async execAsync(item: number): Promise<number> {
        if (this.curRetry === 0) throw new Error("first try fails");
        return item;
      }
    }
    const controller = new AbortController();

    try {
      await new FailsOnce({ maxRetries: 2, wait: 0.01 }).runAsync({}, { signal: controller.signal });
      await flush();
    } finally {
      process.off("warning", onWarning);
    }

    expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
  });
});

describe("a prepAsync generator that throws part-way through the batch", () => {
  /** Collects unhandled rejections while `body` runs, plus a short settling period. */
  async function unhandledRejectionsDuring(body: () => Promise<void>): Promise<unknown[]> {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      await body();
      await flush();
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    return unhandled;
  }

  it("rejects an AsyncParallelBatchNode with the generator's error and leaves no item's failure unhandled", async () => {
    const broken = new Error("generator broke");
    function* items(): Generator<number> {
      yield 1;
      yield 2;
      throw broken;
    }
    class FailingItems extends AsyncParallelBatchNode<Store, number, number> {
      override async prepAsync(): Promise<Iterable<number>> {
        return items();
      }
      override async execAsync(item: number): Promise<number> {
        await new Promise((resolve) => setImmediate(resolve));
        throw new Error(`item ${item} failed`);
      }
    }

    const unhandled = await unhandledRejectionsDuring(async () => {
      await expect(new FailingItems({ maxRetries: 2 }).runAsync({})).rejects.toBe(broken);
    });

    expect(unhandled).toEqual([]);
  });

  it("rejects an AsyncParallelBatchFlow with the generator's error and leaves no run's failure unhandled", async () => {
    const broken = new Error("generator broke");
    function* params(): Generator<Params> {
      yield { id: 1 };
      throw broken;
    }
    class FailingRun extends AsyncNode {
      override async execAsync(): Promise<never> {
        await new Promise((resolve) => setImmediate(resolve));
        throw new Error("run failed");
      }
    }
    class Runs extends AsyncParallelBatchFlow {
      override async prepAsync(): Promise<Iterable<Params>> {
        return params();
      }
    }

    const unhandled = await unhandledRejectionsDuring(async () => {
      await expect(new Runs(new FailingRun()).runAsync({})).rejects.toBe(broken);
    });

    expect(unhandled).toEqual([]);
  });
});
