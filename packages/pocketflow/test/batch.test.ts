import { afterEach, describe, expect, it, vi } from "vitest";
import {
  AsyncBatchFlow,
  AsyncBatchNode,
  AsyncNode,
  AsyncParallelBatchFlow,
  AsyncParallelBatchNode,
  BatchFlow,
  BatchNode,
  Node,
  type Params,
} from "../src/index.js";

afterEach(() => {
  vi.restoreAllMocks();
});

interface Store {
  items?: unknown;
  results?: unknown[];
}

function* letters(): Generator<string> {
  yield "a";
  yield "b";
  yield "c";
}

describe("BatchNode", () => {
  class Upper extends BatchNode<Store, string, string> {
    override prep(shared: Store): Iterable<string> | null | undefined {
      return shared.items as Iterable<string> | null | undefined;
    }
    override exec(item: string): string {
      return item.toUpperCase();
    }
    override post(shared: Store, _items: unknown, results: string[]): undefined {
      shared.results = results;
      return undefined;
    }
  }

  it("runs exec once per item and hands post the results in input order", () => {
    const shared: Store = { items: ["a", "b", "c"] };

    new Upper().run(shared);

    expect(shared.results).toEqual(["A", "B", "C"]);
  });

  it.each([
    ["a Set", new Set(["a", "b", "c"])],
    ["a generator", letters()],
    ["a string", "abc"],
  ])("accepts any iterable from prep: %s", (_kind, items) => {
    const shared: Store = { items };

    new Upper().run(shared);

    expect(shared.results).toEqual(["A", "B", "C"]);
  });

  it.each([
    ["undefined", undefined],
    ["null", null],
    ["an empty array", []],
  ])("treats %s from prep as an empty batch", (_kind, items) => {
    const shared: Store = { items };

    new Upper().run(shared);

    expect(shared.results).toEqual([]);
  });

  it("throws a TypeError naming the node when prep returns a non-iterable", () => {
    const shared: Store = { items: 42 };

    expect(() => new Upper().run(shared)).toThrow(TypeError);
    expect(() => new Upper().run(shared)).toThrow(
      "Upper.prep returned 42, which is not iterable: return an array (or any iterable) of items, or undefined for an empty batch",
    );
  });

  it("calls an anonymous node class 'node' in the error", () => {
    const anonymous = new (class extends BatchNode {
      override prep(): Iterable<unknown> {
        return 5 as unknown as Iterable<unknown>;
      }
    })();

    expect(() => anonymous.run({})).toThrow("node.prep returned 5, which is not iterable");
  });

  it("shows a plain object as [object Object] in the non-iterable error", () => {
    const shared: Store = { items: { a: 1 } };

    expect(() => new Upper().run(shared)).toThrow("Upper.prep returned [object Object], which is not iterable");
  });

  it("retries each item on its own, with curRetry starting at 0 for every item", () => {
    const attempts: Record<string, number[]> = { a: [], b: [] };
    class FlakyFirstTry extends BatchNode<Store, string, string> {
      override prep(): string[] {
        return ["a", "b"];
      }
      override exec(item: string): string {
        attempts[item]?.push(this.curRetry);
        if (this.curRetry === 0) throw new Error("first try fails");
        return item;
      }
    }

    new FlakyFirstTry({ maxRetries: 2 }).run({});

    expect(attempts).toEqual({ a: [0, 1], b: [0, 1] });
  });

  it("hands a failing item to execFallback with that item", () => {
    class Fallback extends BatchNode<Store, number, string> {
      override prep(): number[] {
        return [1, 2, 3];
      }
      override exec(item: number): string {
        if (item === 2) throw new Error("bad item");
        return `ok ${item}`;
      }
      override execFallback(item: number, error: unknown): string {
        return `fallback ${item}: ${(error as Error).message}`;
      }
      override post(shared: Store, _p: unknown, results: string[]): undefined {
        shared.results = results;
        return undefined;
      }
    }
    const shared: Store = {};

    new Fallback().run(shared);

    expect(shared.results).toEqual(["ok 1", "fallback 2: bad item", "ok 3"]);
  });
});

describe("AsyncBatchNode", () => {
  class AsyncUpper extends AsyncBatchNode<Store, string, string> {
    override async prepAsync(shared: Store): Promise<Iterable<string> | null | undefined> {
      return shared.items as Iterable<string> | null | undefined;
    }
    override async execAsync(item: string): Promise<string> {
      return item.toUpperCase();
    }
    override async postAsync(shared: Store, _items: unknown, results: string[]): Promise<undefined> {
      shared.results = results;
      return undefined;
    }
  }

  it("runs execAsync once per item and hands postAsync the results in input order", async () => {
    const shared: Store = { items: ["a", "b", "c"] };

    await new AsyncUpper().runAsync(shared);

    expect(shared.results).toEqual(["A", "B", "C"]);
  });

  it("runs the items one after another, never two at once", async () => {
    let running = 0;
    let maxRunning = 0;
    class Sequential extends AsyncBatchNode<Store, number, number> {
      override async prepAsync(): Promise<number[]> {
        return [1, 2, 3, 4];
      }
      override async execAsync(item: number): Promise<number> {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setImmediate(resolve));
        running -= 1;
        return item;
      }
    }

    await new Sequential().runAsync({});

    expect(maxRunning).toBe(1);
  });

  it.each([
    ["a Set", new Set(["a", "b", "c"])],
    ["a generator", letters()],
  ])("accepts any iterable from prepAsync: %s", async (_kind, items) => {
    const shared: Store = { items };

    await new AsyncUpper().runAsync(shared);

    expect(shared.results).toEqual(["A", "B", "C"]);
  });

  it.each([
    ["undefined", undefined],
    ["null", null],
  ])("treats %s from prepAsync as an empty batch", async (_kind, items) => {
    const shared: Store = { items };

    await new AsyncUpper().runAsync(shared);

    expect(shared.results).toEqual([]);
  });

  it("rejects with a TypeError naming prepAsync when it returns a non-iterable", async () => {
    const shared: Store = { items: 42 };

    await expect(new AsyncUpper().runAsync(shared)).rejects.toThrow(TypeError);
    await expect(new AsyncUpper().runAsync(shared)).rejects.toThrow("AsyncUpper.prepAsync returned 42, which is not iterable");
  });

  it("restarts curRetry at 0 for every item", async () => {
    const attempts: Record<string, number[]> = { a: [], b: [] };
    class FlakyFirstTry extends AsyncBatchNode<Store, string, string> {
      override async prepAsync(): Promise<string[]> {
        return ["a", "b"];
      }
      override async execAsync(item: string): Promise<string> {
        attempts[item]?.push(this.curRetry);
        if (this.curRetry === 0) throw new Error("first try fails");
        return item;
      }
    }

    await new FlakyFirstTry({ maxRetries: 2 }).runAsync({});

    expect(attempts).toEqual({ a: [0, 1], b: [0, 1] });
  });
});

describe("BatchFlow", () => {
  interface Keys {
    input: Record<string, number>;
    results?: Record<string, unknown>;
  }
  class Doubler extends Node<Keys> {
    override prep(shared: Keys): void {
      const key = this.params.key as string;
      shared.results = { ...shared.results, [key]: (shared.input[key] ?? 0) * 2 };
    }
  }
  class PerKey extends BatchFlow<Keys> {
    override prep(shared: Keys): Params[] {
      return Object.keys(shared.input).map((key) => ({ key }));
    }
  }

  it("runs the whole flow once per params object that prep returns", () => {
    const shared: Keys = { input: { a: 1, b: 2, c: 3 } };

    new PerKey(new Doubler()).run(shared);

    expect(shared.results).toEqual({ a: 2, b: 4, c: 6 });
  });

  it("runs nothing for an empty batch", () => {
    const shared: Keys = { input: {} };

    new PerKey(new Doubler()).run(shared);

    expect(shared.results).toBeUndefined();
  });

  it("treats undefined from prep (the default) as an empty batch", () => {
    const shared: Keys = { input: { a: 1 } };

    new BatchFlow<Keys>(new Doubler()).run(shared);

    expect(shared.results).toBeUndefined();
  });

  it("merges each batch's params over the flow's own params", () => {
    const seen: Params[] = [];
    class Reads extends Node {
      override prep(): void {
        seen.push({ ...this.params });
      }
    }
    class Batch extends BatchFlow {
      override prep(): Params[] {
        return [{ item: 1 }, { item: 2, tenant: "override" }];
      }
    }
    const flow = new Batch(new Reads());
    flow.setParams({ tenant: "acme", item: 0 });

    flow.run({});

    expect(seen).toEqual([
      { tenant: "acme", item: 1 },
      { tenant: "override", item: 2 },
    ]);
    expect(flow.params).toEqual({ tenant: "acme", item: 0 });
  });

  it("runs nested batch flows with the inner params merged over the outer ones", () => {
    const seen: Params[] = [];
    class Reads extends Node {
      override prep(): void {
        seen.push({ ...this.params });
      }
    }
    class Inner extends BatchFlow {
      override prep(): Params[] {
        return [{ file: "x" }, { file: "y" }];
      }
    }
    class Outer extends BatchFlow {
      override prep(): Params[] {
        return [{ dir: "1" }, { dir: "2" }];
      }
    }

    new Outer(new Inner(new Reads())).run({});

    expect(seen).toEqual([
      { dir: "1", file: "x" },
      { dir: "1", file: "y" },
      { dir: "2", file: "x" },
      { dir: "2", file: "y" },
    ]);
  });

  it("runs each params object on fresh copies of the nodes", () => {
    const counts: number[] = [];
    class Counter extends Node {
      count = 0;
      override prep(): void {
        this.count += 1;
        counts.push(this.count);
      }
    }
    class Three extends BatchFlow {
      override prep(): Params[] {
        return [{ n: 1 }, { n: 2 }, { n: 3 }];
      }
    }
    const node = new Counter();

    new Three(node).run({});

    expect(counts).toEqual([1, 1, 1]);
    expect(node.count).toBe(0);
  });

  it("throws a TypeError naming the flow when prep returns a non-iterable", () => {
    class Bad extends BatchFlow {
      override prep(): Params[] {
        return 7 as unknown as Params[];
      }
    }

    expect(() => new Bad(new Node()).run({})).toThrow("Bad.prep returned 7, which is not iterable");
  });

  it("calls post with the batch and returns what post returns", () => {
    const post = vi.fn((_prepRes: unknown, _execRes: unknown) => "batch done");
    class Batch extends BatchFlow {
      override prep(): Params[] {
        return [{ n: 1 }];
      }
      override post(_shared: unknown, prepRes: Iterable<Params> | null | undefined, execRes: string | undefined): string {
        return post(prepRes, execRes);
      }
    }

    const action = new Batch(new Node()).run({});

    expect(post).toHaveBeenCalledWith([{ n: 1 }], undefined);
    expect(action).toBe("batch done");
  });
});

describe("AsyncBatchFlow", () => {
  it("runs the flow once per params object, one after another, with params merged", async () => {
    const seen: Params[] = [];
    let running = 0;
    let maxRunning = 0;
    class Reads extends AsyncNode {
      override async execAsync(): Promise<void> {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setImmediate(resolve));
        seen.push({ ...this.params });
        running -= 1;
      }
    }
    class Batch extends AsyncBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ id: 1 }, { id: 2 }, { id: 3 }];
      }
    }
    const flow = new Batch(new Reads());
    flow.setParams({ run: "r" });

    await flow.runAsync({});

    expect(seen).toEqual([
      { run: "r", id: 1 },
      { run: "r", id: 2 },
      { run: "r", id: 3 },
    ]);
    expect(maxRunning).toBe(1);
  });

  it("treats undefined from prepAsync as an empty batch and still runs postAsync", async () => {
    const exec = vi.fn();
    const post = vi.fn(async () => "posted");
    class Batch extends AsyncBatchFlow {
      override async postAsync(): Promise<string> {
        return post();
      }
    }
    class Work extends AsyncNode {
      override async execAsync(): Promise<void> {
        exec();
      }
    }

    const action = await new Batch(new Work()).runAsync({});

    expect(exec).not.toHaveBeenCalled();
    expect(action).toBe("posted");
  });

  it("rejects with a TypeError when prepAsync returns a non-iterable", async () => {
    class Bad extends AsyncBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return 1 as unknown as Params[];
      }
    }

    await expect(new Bad(new AsyncNode()).runAsync({})).rejects.toThrow("Bad.prepAsync returned 1, which is not iterable");
  });

  it("accepts a generator of params", async () => {
    const seen: unknown[] = [];
    function* ids(): Generator<Params> {
      yield { id: "x" };
      yield { id: "y" };
    }
    class Reads extends AsyncNode {
      override async prepAsync(): Promise<void> {
        seen.push(this.params.id);
      }
    }
    class Batch extends AsyncBatchFlow {
      override async prepAsync(): Promise<Iterable<Params>> {
        return ids();
      }
    }

    await new Batch(new Reads()).runAsync({});

    expect(seen).toEqual(["x", "y"]);
  });
});

describe("non-iterable batches are refused by every batch class", () => {
  it("AsyncParallelBatchNode", async () => {
    class Bad extends AsyncParallelBatchNode {
      override async prepAsync(): Promise<Iterable<unknown>> {
        return true as unknown as Iterable<unknown>;
      }
    }

    await expect(new Bad().runAsync({})).rejects.toThrow("Bad.prepAsync returned true, which is not iterable");
  });

  it("AsyncParallelBatchFlow", async () => {
    class Bad extends AsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return { id: 1 } as unknown as Params[];
      }
    }

    await expect(new Bad(new AsyncNode()).runAsync({})).rejects.toThrow(TypeError);
  });
});
