import { afterEach, describe, expect, it, vi } from "vitest";
import { AsyncFlow, AsyncNode, Flow, Node, type Params } from "../src/index.js";

afterEach(() => {
  vi.restoreAllMocks();
});

interface Store {
  path?: string[];
  value?: number;
}

/** An async node that records its label in `path` and returns a fixed action. */
class AsyncStep extends AsyncNode<Store> {
  constructor(
    readonly label: string,
    readonly action?: string,
  ) {
    super();
  }
  override async prepAsync(shared: Store): Promise<void> {
    await Promise.resolve();
    shared.path = [...(shared.path ?? []), this.label];
  }
  override async postAsync(): Promise<string | undefined> {
    return this.action;
  }
}

/** The sync twin of AsyncStep. */
class SyncStep extends Node<Store> {
  constructor(
    readonly label: string,
    readonly action?: string,
  ) {
    super();
  }
  override prep(shared: Store): void {
    shared.path = [...(shared.path ?? []), this.label];
  }
  override post(): string | undefined {
    return this.action;
  }
}

describe("AsyncNode", () => {
  it("runs prepAsync, execAsync and postAsync in order and resolves to the action", async () => {
    const calls: unknown[][] = [];
    class Double extends AsyncNode<Store, number, number> {
      override async prepAsync(shared: Store): Promise<number> {
        calls.push(["prep", shared.value]);
        return shared.value ?? 0;
      }
      override async execAsync(value: number): Promise<number> {
        calls.push(["exec", value]);
        return value * 2;
      }
      override async postAsync(shared: Store, prepRes: number, execRes: number): Promise<string> {
        calls.push(["post", prepRes, execRes]);
        shared.value = execRes;
        return "doubled";
      }
    }
    const shared: Store = { value: 4 };

    const action = await new Double().runAsync(shared);

    expect(calls).toEqual([
      ["prep", 4],
      ["exec", 4],
      ["post", 4, 8],
    ]);
    expect(shared.value).toBe(8);
    expect(action).toBe("doubled");
  });

  it("has do-nothing async defaults: a bare AsyncNode resolves to undefined", async () => {
    await expect(new AsyncNode().runAsync({})).resolves.toBeUndefined();
  });

  it("throws a TypeError saying to use runAsync when run() is called", () => {
    class Fetch extends AsyncNode {}

    expect(() => new Fetch().run({})).toThrow(TypeError);
    expect(() => new Fetch().run({})).toThrow("Fetch is async: use runAsync (and AsyncFlow to run it in a flow)");
  });

  it("warns that successors need an AsyncFlow when runAsync is called on a node with successors", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const node = new AsyncStep("alone");
    node.next(new AsyncStep("never"));
    const shared: Store = {};

    await node.runAsync(shared);

    expect(shared.path).toEqual(["alone"]);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("AsyncStep won't run its successors: use an AsyncFlow"));
  });

  it("retries execAsync up to maxRetries times, exposing curRetry", async () => {
    const seen: number[] = [];
    class FailsTwice extends AsyncNode<Store, void, string> {
      override async execAsync(): Promise<string> {
        seen.push(this.curRetry);
        if (this.curRetry < 2) throw new Error("not yet");
        return "ok";
      }
      override async postAsync(): Promise<string> {
        return "posted";
      }
    }

    const action = await new FailsTwice({ maxRetries: 3 }).runAsync({});

    expect(seen).toEqual([0, 1, 2]);
    expect(action).toBe("posted");
  });

  it("uses execFallbackAsync's result once every attempt failed, passing prepRes and the last error", async () => {
    const last = new Error("last");
    const fallback = vi.fn(async (_prepRes: string, _error: unknown) => "async fallback");
    class Failing extends AsyncNode<Store, string, string> {
      override async prepAsync(): Promise<string> {
        return "input";
      }
      override async execAsync(): Promise<string> {
        throw this.curRetry === 1 ? last : new Error("first");
      }
      override async execFallbackAsync(prepRes: string, error: unknown): Promise<string> {
        return fallback(prepRes, error);
      }
      override async postAsync(shared: Store, _p: string, result: string): Promise<undefined> {
        shared.path = [result];
        return undefined;
      }
    }
    const shared: Store = {};

    await new Failing({ maxRetries: 2 }).runAsync(shared);

    expect(fallback).toHaveBeenCalledWith("input", last);
    expect(shared.path).toEqual(["async fallback"]);
  });

  it("rejects with the very same error object by default once attempts run out", async () => {
    const boom = new Error("boom");
    class Broken extends AsyncNode {
      override async execAsync(): Promise<never> {
        throw boom;
      }
    }

    await expect(new Broken({ maxRetries: 2 }).runAsync({})).rejects.toBe(boom);
  });

  it("waits `wait` seconds between async attempts", async () => {
    class FailsOnce extends AsyncNode {
      override async execAsync(): Promise<string> {
        if (this.curRetry === 0) throw new Error("not yet");
        return "ok";
      }
    }
    const node = new FailsOnce({ maxRetries: 2, wait: 0.05 });

    const started = performance.now();
    await node.runAsync({});

    expect(performance.now() - started).toBeGreaterThanOrEqual(40);
  });

  it("keeps the event loop free while waiting between async attempts", async () => {
    let timerFired = false;
    class FailsOnce extends AsyncNode {
      override async execAsync(): Promise<string> {
        if (this.curRetry === 0) throw new Error("not yet");
        return "ok";
      }
    }
    const node = new FailsOnce({ maxRetries: 2, wait: 0.1 });
    setTimeout(() => {
      timerFired = true;
    }, 0);

    await node.runAsync({});

    expect(timerFired).toBe(true);
  });
});

describe("AsyncFlow", () => {
  it("runs async nodes, following actions", async () => {
    const start = new AsyncStep("start", "go");
    start.on("go", new AsyncStep("went")).on("stop", new AsyncStep("stopped"));
    const shared: Store = {};

    await new AsyncFlow(start).runAsync(shared);

    expect(shared.path).toEqual(["start", "went"]);
  });

  it("runs sync and async nodes mixed in one flow", async () => {
    const first = new SyncStep("sync 1");
    first
      .next(new AsyncStep("async 2"))
      .next(new SyncStep("sync 3"))
      .next(new AsyncStep("async 4", "end"));
    const shared: Store = {};

    const action = await new AsyncFlow(first).runAsync(shared);

    expect(shared.path).toEqual(["sync 1", "async 2", "sync 3", "async 4"]);
    expect(action).toBe("end");
  });

  it("runs a sync Flow nested in it", async () => {
    const inner = new SyncStep("inner 1");
    inner.next(new SyncStep("inner 2"));
    const start = new AsyncStep("outer 1");
    start.next(new Flow(inner)).next(new AsyncStep("outer 2"));
    const shared: Store = {};

    await new AsyncFlow(start).runAsync(shared);

    expect(shared.path).toEqual(["outer 1", "inner 1", "inner 2", "outer 2"]);
  });

  it("nests: an inner AsyncFlow runs as a node and the outer flow transitions on its last action", async () => {
    const innerStart = new AsyncStep("inner start");
    innerStart.next(new AsyncStep("inner end", "inner done"));
    const inner = new AsyncFlow(innerStart);
    inner.on("inner done", new AsyncStep("took B")).on("other", new AsyncStep("took A"));
    const shared: Store = {};

    const action = await new AsyncFlow(new AsyncFlow(inner)).runAsync(shared);

    expect(shared.path).toEqual(["inner start", "inner end", "took B"]);
    expect(action).toBeUndefined();
  });

  it("runs its own prepAsync and postAsync around the nodes; postAsync receives the last action", async () => {
    const seen: unknown[] = [];
    class Wrapped extends AsyncFlow<Store, string> {
      override async prepAsync(): Promise<string> {
        seen.push("prep");
        return "prepped";
      }
      override async postAsync(_shared: Store, prepRes: string, last: string | undefined): Promise<string> {
        seen.push(["post", prepRes, last]);
        return "wrapped";
      }
    }

    const action = await new Wrapped(new AsyncStep("x", "x done")).runAsync({});

    expect(seen).toEqual(["prep", ["post", "prepped", "x done"]]);
    expect(action).toBe("wrapped");
  });

  it("flow.start(node) sets the start node and returns it", async () => {
    const flow = new AsyncFlow<Store>();
    const first = new AsyncStep("first");

    const returned = flow.start(first);
    returned.next(new SyncStep("second"));
    const shared: Store = {};
    await flow.runAsync(shared);

    expect(returned).toBe(first);
    expect(shared.path).toEqual(["first", "second"]);
  });

  it("rejects with a clear error when it has no start node", async () => {
    await expect(new AsyncFlow().runAsync({})).rejects.toThrow(
      "AsyncFlow has no start node: pass one to the constructor or call flow.start(node)",
    );
  });

  it("throws saying to use runAsync when run() is called on it", () => {
    expect(() => new AsyncFlow(new AsyncNode()).run({})).toThrow(/use runAsync/);
  });

  it("warns when a node's action has no successor while others exist", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const start = new AsyncStep("start", "unknown");
    start.next(new AsyncStep("never"));
    const shared: Store = {};

    const action = await new AsyncFlow(start).runAsync(shared);

    expect(action).toBe("unknown");
    expect(shared.path).toEqual(["start"]);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("action 'unknown' not found in [default]"));
  });

  it("hands its params to every node, sync or async, and leaves the originals untouched", async () => {
    const seen: Params[] = [];
    class ReadsAsync extends AsyncNode {
      override async prepAsync(): Promise<void> {
        seen.push(this.params);
      }
    }
    class ReadsSync extends Node {
      override prep(): void {
        seen.push(this.params);
      }
    }
    const first = new ReadsAsync();
    first.next(new ReadsSync());
    const flow = new AsyncFlow(first);
    flow.setParams({ job: 9 });

    await flow.runAsync({});

    expect(seen).toEqual([{ job: 9 }, { job: 9 }]);
    expect(first.params).toEqual({});
  });

  it("runs each async node on a copy, so state on `this` does not leak between runs", async () => {
    class Counter extends AsyncNode<{ counts: number[] }> {
      count = 0;
      override async prepAsync(shared: { counts: number[] }): Promise<void> {
        this.count += 1;
        shared.counts.push(this.count);
      }
    }
    const node = new Counter();
    const flow = new AsyncFlow(node);
    const shared = { counts: [] as number[] };

    await flow.runAsync(shared);
    await flow.runAsync(shared);

    expect(shared.counts).toEqual([1, 1]);
    expect(node.count).toBe(0);
  });

  it("uses execFallbackAsync inside a flow and continues to the next node", async () => {
    class Failing extends AsyncNode<Store, void, string> {
      override async execAsync(): Promise<string> {
        throw new Error("down");
      }
      override async execFallbackAsync(): Promise<string> {
        return "fallback";
      }
      override async postAsync(shared: Store, _p: unknown, result: string): Promise<undefined> {
        shared.path = [result];
        return undefined;
      }
    }
    const start = new Failing();
    start.next(new AsyncStep("after"));
    const shared: Store = {};

    await new AsyncFlow(start).runAsync(shared);

    expect(shared.path).toEqual(["fallback", "after"]);
  });

  it("rejects with a node's error and runs no further node", async () => {
    const boom = new Error("boom");
    class Broken extends AsyncNode {
      override async execAsync(): Promise<never> {
        throw boom;
      }
    }
    const start = new Broken();
    start.next(new AsyncStep("never"));
    const shared: Store = {};

    await expect(new AsyncFlow(start).runAsync(shared)).rejects.toBe(boom);
    expect(shared.path).toBeUndefined();
  });
});
