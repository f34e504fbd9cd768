import { afterEach, describe, expect, it, vi } from "vitest";
import { AsyncFlow, AsyncNode, BatchFlow, Flow, Node, type Params } from "../src/index.js";

afterEach(() => {
  vi.restoreAllMocks();
});

interface Calc {
  current?: number;
  path?: string[];
}

/** Sets `current` to a number. */
class SetNumber extends Node<Calc> {
  constructor(readonly value: number) {
    super();
  }
  override prep(shared: Calc): void {
    shared.current = this.value;
  }
}

/** Adds a number to `current`. */
class Add extends Node<Calc> {
  constructor(readonly value: number) {
    super();
  }
  override prep(shared: Calc): void {
    shared.current = (shared.current ?? 0) + this.value;
  }
}

/** Multiplies `current`. */
class Multiply extends Node<Calc> {
  constructor(readonly value: number) {
    super();
  }
  override prep(shared: Calc): void {
    shared.current = (shared.current ?? 0) * this.value;
  }
}

/** Branches on the sign of `current`. */
class CheckSign extends Node<Calc> {
  override post(shared: Calc): string {
    return (shared.current ?? 0) >= 0 ? "positive" : "negative";
  }
}

/** Records its name in `path` and returns a fixed action. */
class Step extends Node<Calc> {
  constructor(
    readonly label: string,
    readonly action?: string,
  ) {
    super();
  }
  override prep(shared: Calc): void {
    shared.path = [...(shared.path ?? []), this.label];
  }
  override post(): string | undefined {
    return this.action;
  }
}

describe("running a flow", () => {
  it("follows default transitions from the start node", () => {
    const start = new SetNumber(5);
    start.next(new Add(3)).next(new Multiply(2));
    const shared: Calc = {};

    new Flow(start).run(shared);

    expect(shared.current).toBe(16);
  });

  it("flow.start(node) sets the start node and returns it, so a chain can follow", () => {
    const flow = new Flow<Calc>();
    const first = new SetNumber(5);

    const returned = flow.start(first);
    returned.next(new Add(3)).next(new Multiply(2));
    const shared: Calc = {};
    flow.run(shared);

    expect(returned).toBe(first);
    expect(flow.startNode).toBe(first);
    expect(shared.current).toBe(16);
  });

  it("takes the branch named by the action post returns", () => {
    const build = (start: number) => {
      const first = new SetNumber(start);
      const check = new CheckSign();
      first.next(check);
      check.on("positive", new Add(10)).on("negative", new Add(-20));
      return new Flow(first);
    };
    const positive: Calc = {};
    const negative: Calc = {};

    build(5).run(positive);
    build(-5).run(negative);

    expect(positive.current).toBe(15);
    expect(negative.current).toBe(-25);
  });

  it("treats undefined from post as the 'default' action", () => {
    const a = new Step("a");
    a.next(new Step("b"));
    const shared: Calc = {};

    new Flow(a).run(shared);

    expect(shared.path).toEqual(["a", "b"]);
  });

  it("loops through cycles until a branch ends the flow, returning the last action", () => {
    const start = new SetNumber(10);
    const check = new CheckSign();
    const subtract = new Add(-3);
    start.next(check);
    check.on("positive", subtract).on("negative", new Step("end", "cycle done"));
    subtract.next(check);
    const shared: Calc = {};

    const last = new Flow(start).run(shared);

    expect(shared.current).toBe(-2);
    expect(last).toBe("cycle done");
  });

  it("returns undefined when the last node's post returns undefined", () => {
    expect(new Flow(new Step("only")).run({})).toBeUndefined();
  });

  it("throws a clear error when run without a start node", () => {
    expect(() => new Flow().run({})).toThrow("Flow has no start node: pass one to the constructor or call flow.start(node)");
  });

  it("runs its own prep and post around the nodes, and post receives the last action", () => {
    const seen: unknown[] = [];
    class Wrapped extends Flow<Calc, string> {
      override prep(): string {
        seen.push("flow prep");
        return "flow prep result";
      }
      override post(_shared: Calc, prepRes: string, lastAction: string | undefined): string {
        seen.push(["flow post", prepRes, lastAction]);
        return "wrapped";
      }
    }

    const action = new Wrapped(new Step("inner", "inner action")).run({});

    expect(seen).toEqual(["flow prep", ["flow post", "flow prep result", "inner action"]]);
    expect(action).toBe("wrapped");
  });
});

describe("warnings", () => {
  it("warns when a node returns an action with no successor while other successors exist, and ends the flow", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const start = new Step("start", "specific");
    start.next(new Step("never"));
    const shared: Calc = {};

    const last = new Flow(start).run(shared);

    expect(last).toBe("specific");
    expect(shared.path).toEqual(["start"]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("action 'specific' not found in [default]"));
  });

  it("names 'default' in the warning when post returns undefined and only named actions exist", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const start = new Step("start");
    start.on("a", new Step("a")).on("b", new Step("b"));

    new Flow(start).run({});

    expect(warn).toHaveBeenCalledWith(expect.stringContaining("action 'default' not found in [a, b]"));
  });

  it("does not warn when a node without successors ends the flow", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});

    new Flow(new Step("only", "anything")).run({});

    expect(warn).not.toHaveBeenCalled();
  });
});

describe("nesting", () => {
  it("runs a flow used as the start node of another flow", () => {
    const start = new SetNumber(5);
    start.next(new Add(10)).next(new Multiply(2));
    const inner = new Flow(start);
    const middle = new Flow(inner);
    const outer = new Flow(middle);
    const shared: Calc = {};

    outer.run(shared);

    expect(shared.current).toBe(30);
  });

  it("chains flows with next(), like nodes", () => {
    const first = new SetNumber(10);
    first.next(new Add(10));
    const flow1 = new Flow(first);
    flow1.next(new Flow(new Multiply(2)));
    const shared: Calc = {};

    new Flow(flow1).run(shared);

    expect(shared.current).toBe(40);
  });

  it("transitions on the last action of a nested flow", () => {
    const innerStart = new Step("inner start");
    innerStart.next(new Step("inner end", "inner done"));
    const inner = new Flow(innerStart);
    inner.on("inner done", new Step("path B")).on("other", new Step("path A"));
    const shared: Calc = {};

    const last = new Flow(inner).run(shared);

    expect(shared.path).toEqual(["inner start", "inner end", "path B"]);
    expect(last).toBeUndefined();
  });

  it("warns when run() is called on a flow that has successors", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const flow = new Flow(new Step("a"));
    flow.next(new Step("b"));

    flow.run({});

    expect(warn).toHaveBeenCalledWith(expect.stringContaining("won't run its successors: use a Flow"));
  });
});

describe("params", () => {
  it("hands the flow's params to every node it runs", () => {
    const seen: Params[] = [];
    class Reads extends Node {
      override prep(): void {
        seen.push(this.params);
      }
    }
    const a = new Reads();
    a.next(new Reads());
    const flow = new Flow(a);
    flow.setParams({ user: "ada" });

    flow.run({});

    expect(seen).toEqual([{ user: "ada" }, { user: "ada" }]);
  });

  it("passes an outer flow's params down into nested flows", () => {
    const seen: Params[] = [];
    class Reads extends Node {
      override prep(): void {
        seen.push(this.params);
      }
    }
    const outer = new Flow(new Flow(new Reads()));
    outer.setParams({ level: "outer" });

    outer.run({});

    expect(seen).toEqual([{ level: "outer" }]);
  });

  it("does not touch the params of the original node objects", () => {
    const node = new Node();
    const flow = new Flow(node);
    flow.setParams({ id: 1 });

    flow.run({});

    expect(node.params).toEqual({});
  });
});

describe("each run works on a shallow copy of each node", () => {
  class Counter extends Node<{ counts: number[] }> {
    count = 0;
    override prep(shared: { counts: number[] }): void {
      this.count += 1;
      shared.counts.push(this.count);
    }
  }

  it("keeps state written on `this` from leaking between runs or into the original", () => {
    const node = new Counter();
    const flow = new Flow(node);
    const shared = { counts: [] as number[] };

    flow.run(shared);
    flow.run(shared);

    expect(shared.counts).toEqual([1, 1]);
    expect(node.count).toBe(0);
  });

  it("gives each visit of a node in a cycle a fresh copy of the original", () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    class Loop extends Counter {
      override post(shared: { counts: number[] }): string | undefined {
        return shared.counts.length < 3 ? "again" : undefined;
      }
    }
    const node = new Loop();
    node.on("again", node);
    const shared = { counts: [] as number[] };

    new Flow(node).run(shared);

    expect(shared.counts).toEqual([1, 1, 1]);
  });

  it("keeps the prototype, own fields and successors on the copy", () => {
    let ran: unknown;
    class Marker extends Node {
      label = "marked";
      override prep(): void {
        ran = this;
      }
    }
    const node = new Marker();
    const after = new Node();
    node.next(after);

    new Flow(node).run({});

    expect(ran).not.toBe(node);
    expect(ran).toBeInstanceOf(Marker);
    expect((ran as Marker).label).toBe("marked");
    expect((ran as Marker).successors.get("default")).toBe(after);
  });
});

describe("sync Flow refuses async nodes", () => {
  it("throws a TypeError telling to use AsyncFlow when it meets an AsyncNode", () => {
    class Fetch extends AsyncNode {}
    const flow = new Flow(new Fetch());

    expect(() => flow.run({})).toThrow(TypeError);
    expect(() => flow.run({})).toThrow("Flow is a sync Flow and cannot run the async node Fetch: use AsyncFlow and runAsync");
  });

  it("throws the same TypeError for an AsyncFlow used as a node", () => {
    const flow = new Flow(new AsyncFlow(new AsyncNode()));

    expect(() => flow.run({})).toThrow(TypeError);
    expect(() => flow.run({})).toThrow(/cannot run the async node AsyncFlow: use AsyncFlow/);
  });

  it("refuses an async node reached after sync nodes, having run the sync ones", () => {
    const first = new Step("sync first");
    first.next(new AsyncNode());
    const shared: Calc = {};

    expect(() => new Flow(first).run(shared)).toThrow(/use AsyncFlow/);
    expect(shared.path).toEqual(["sync first"]);
  });

  it("refuses async nodes inside a sync BatchFlow too", () => {
    class Batch extends BatchFlow {
      override prep(): Params[] {
        return [{}];
      }
    }

    expect(() => new Batch(new AsyncNode()).run({})).toThrow(/use AsyncFlow/);
  });
});
