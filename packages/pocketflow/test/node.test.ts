import { afterEach, describe, expect, it, vi } from "vitest";
import { BaseNode, Node } from "../src/index.js";

afterEach(() => {
  vi.restoreAllMocks();
});

interface Store {
  input?: number;
  output?: number;
  log?: string[];
}

describe("node lifecycle", () => {
  it("runs prep, exec and post in order, handing each step's result to the next", () => {
    const calls: unknown[][] = [];
    class Double extends Node<Store, number, number> {
      override prep(shared: Store): number {
        calls.push(["prep", shared.input]);
        return shared.input ?? 0;
      }
      override exec(value: number): number {
        calls.push(["exec", value]);
        return value * 2;
      }
      override post(shared: Store, prepRes: number, execRes: number): string {
        calls.push(["post", prepRes, execRes]);
        shared.output = execRes;
        return "done";
      }
    }
    const shared: Store = { input: 21 };

    const action = new Double().run(shared);

    expect(calls).toEqual([
      ["prep", 21],
      ["exec", 21],
      ["post", 21, 42],
    ]);
    expect(shared.output).toBe(42);
    expect(action).toBe("done");
  });

  it("has do-nothing defaults: a bare node runs and returns undefined", () => {
    expect(new BaseNode().run({})).toBeUndefined();
    expect(new Node().run({})).toBeUndefined();
  });

  it("starts with empty params and replaces them with setParams", () => {
    const node = new Node();
    expect(node.params).toEqual({});

    node.setParams({ id: 7 });

    expect(node.params).toEqual({ id: 7 });
  });
});

describe("transitions", () => {
  it("next() stores the successor under 'default' and returns the target, so chains read left to right", () => {
    const a = new Node();
    const b = new Node();
    const c = new Node();

    const last = a.next(b).next(c);

    expect(last).toBe(c);
    expect(a.successors.get("default")).toBe(b);
    expect(b.successors.get("default")).toBe(c);
  });

  it("next(node, action) stores the successor under that action", () => {
    const a = new Node();
    const b = new Node();

    expect(a.next(b, "retry")).toBe(b);

    expect(a.successors.get("retry")).toBe(b);
    expect(a.successors.has("default")).toBe(false);
  });

  it("on() returns the source node, so branches chain", () => {
    const check = new Node();
    const yes = new Node();
    const no = new Node();

    const returned = check.on("yes", yes).on("no", no);

    expect(returned).toBe(check);
    expect([...check.successors]).toEqual([
      ["yes", yes],
      ["no", no],
    ]);
  });

  it("warns through console.warn when a successor for the same action is overwritten", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const a = new Node();
    const first = new Node();
    const second = new Node();
    a.on("x", first);

    a.on("x", second);

    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("overwriting successor for action 'x'"));
    expect(a.successors.get("x")).toBe(second);
  });

  it("does not warn when different actions get successors", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const a = new Node();

    a.next(new Node());
    a.on("other", new Node());

    expect(warn).not.toHaveBeenCalled();
  });

  it("run() on a node with successors warns that successors need a Flow, then runs the node alone", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const next = new (class extends Node<Store> {
      override prep(shared: Store): void {
        shared.log = ["next ran"];
      }
    })();
    class Start extends Node<Store> {
      override post(): string {
        return "went";
      }
    }
    const start = new Start();
    start.next(next);
    const shared: Store = {};

    const action = start.run(shared);

    expect(action).toBe("went");
    expect(shared.log).toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("Start won't run its successors: use a Flow"));
  });

  it("run() on a node without successors does not warn", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});

    new Node().run({});

    expect(warn).not.toHaveBeenCalled();
  });
});

describe("retries", () => {
  it("defaults to one attempt and no wait", () => {
    const node = new Node();

    expect(node.maxRetries).toBe(1);
    expect(node.wait).toBe(0);
  });

  it("calls exec up to maxRetries times and returns the first success", () => {
    const exec = vi.fn().mockImplementationOnce(() => {
      throw new Error("first");
    });
    exec.mockImplementationOnce(() => {
      throw new Error("second");
    });
    exec.mockImplementationOnce(() => "third time lucky");
    class Flaky extends Node<Store, void, string> {
      override exec(): string {
        return exec();
      }
      override post(shared: Store, _p: unknown, result: string): undefined {
        shared.log = [result];
        return undefined;
      }
    }
    const shared: Store = {};

    new Flaky({ maxRetries: 3 }).run(shared);

    expect(exec).toHaveBeenCalledTimes(3);
    expect(shared.log).toEqual(["third time lucky"]);
  });

  it("exposes the 0-based attempt number as curRetry inside exec", () => {
    const seen: number[] = [];
    class AlwaysFails extends Node<Store, void, string> {
      override exec(): string {
        seen.push(this.curRetry);
        throw new Error("nope");
      }
      override execFallback(): string {
        return "gave up";
      }
    }

    new AlwaysFails({ maxRetries: 4 }).run({});

    expect(seen).toEqual([0, 1, 2, 3]);
  });

  it("uses execFallback's result once every attempt failed, passing prepRes and the last error", () => {
    const errors = [new Error("one"), new Error("two")];
    const fallback = vi.fn((_prepRes: string, _error: unknown) => "fallback value");
    class Failing extends Node<Store, string, string> {
      override prep(): string {
        return "the input";
      }
      override exec(): string {
        throw errors[this.curRetry];
      }
      override execFallback(prepRes: string, error: unknown): string {
        return fallback(prepRes, error);
      }
      override post(shared: Store, _p: string, result: string): undefined {
        shared.log = [result];
        return undefined;
      }
    }
    const shared: Store = {};

    new Failing({ maxRetries: 2 }).run(shared);

    expect(fallback).toHaveBeenCalledTimes(1);
    expect(fallback).toHaveBeenCalledWith("the input", errors[1]);
    expect(shared.log).toEqual(["fallback value"]);
  });

  it("does not call execFallback when exec succeeds", () => {
    const fallback = vi.fn();
    class Fine extends Node {
      override exec(): string {
        return "ok";
      }
      override execFallback(): string {
        fallback();
        return "fallback";
      }
    }

    new Fine({ maxRetries: 3 }).run({});

    expect(fallback).not.toHaveBeenCalled();
  });

  it("rethrows the very same error object by default once attempts run out", () => {
    const boom = new Error("boom");
    class Broken extends Node {
      override exec(): never {
        throw boom;
      }
    }
    let caught: unknown;

    try {
      new Broken({ maxRetries: 2 }).run({});
    } catch (error) {
      caught = error;
    }

    expect(caught).toBe(boom);
  });

  it("does not run post when exec fails for good", () => {
    const post = vi.fn();
    class Broken extends Node {
      override exec(): never {
        throw new Error("boom");
      }
      override post(): undefined {
        post();
        return undefined;
      }
    }

    expect(() => new Broken().run({})).toThrow("boom");
    expect(post).not.toHaveBeenCalled();
  });

  it("accepts maxRetries and wait given as class fields in a subclass", () => {
    const seen: number[] = [];
    class FieldConfigured extends Node {
      override maxRetries = 3;
      override exec(): never {
        seen.push(this.curRetry);
        throw new Error("x");
      }
      override execFallback(): string {
        return "fallback";
      }
    }

    new FieldConfigured().run({});

    expect(seen).toEqual([0, 1, 2]);
  });
});

describe("sync wait between attempts", () => {
  it("blocks the thread for `wait` seconds between attempts, like time.sleep", () => {
    class FailsTwice extends Node {
      override exec(): string {
        if (this.curRetry < 2) throw new Error("not yet");
        return "ok";
      }
    }
    const node = new FailsTwice({ maxRetries: 3, wait: 0.05 });
    let timerFired = false;
    const timer = setTimeout(() => {
      timerFired = true;
    }, 0);

    const started = performance.now();
    node.run({});
    const elapsed = performance.now() - started;

    clearTimeout(timer);
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(timerFired).toBe(false);
  });

  it("waits without spinning: the wait costs far less CPU time than wall time", () => {
    class FailsOnce extends Node {
      override exec(): string {
        if (this.curRetry === 0) throw new Error("not yet");
        return "ok";
      }
    }
    const node = new FailsOnce({ maxRetries: 2, wait: 0.2 });

    const cpuBefore = process.cpuUsage();
    node.run({});
    const cpu = process.cpuUsage(cpuBefore);

    const cpuMs = (cpu.user + cpu.system) / 1000;
    expect(cpuMs).toBeLessThan(100);
  });

  it("does not wait after the last attempt", () => {
    class Broken extends Node {
      override exec(): never {
        throw new Error("boom");
      }
      override execFallback(): string {
        return "fallback";
      }
    }
    const node = new Broken({ maxRetries: 1, wait: 5 });

    const started = performance.now();
    node.run({});

    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe("option validation", () => {
  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("rejects maxRetries %s with a RangeError naming it", (maxRetries) => {
    expect(() => new Node({ maxRetries })).toThrow(RangeError);
    expect(() => new Node({ maxRetries })).toThrow(/maxRetries/);
  });

  it.each([-1, -0.5, Number.NaN])("rejects wait %s with a RangeError naming it", (wait) => {
    expect(() => new Node({ wait })).toThrow(RangeError);
    expect(() => new Node({ wait })).toThrow(/wait/);
  });

  it("names the bad value in the message", () => {
    expect(() => new Node({ maxRetries: 0 })).toThrow("maxRetries must be an integer >= 1, got 0");
  });

  it("accepts a fractional wait and a wait of 0", () => {
    expect(new Node({ maxRetries: 2, wait: 0.25 }).wait).toBe(0.25);
    expect(new Node({ wait: 0 }).wait).toBe(0);
  });
});
