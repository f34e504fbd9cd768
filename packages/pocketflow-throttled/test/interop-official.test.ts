// Interop with the official PocketFlow TypeScript package (npm `pocketflow@1.0.4`, installed here as `official-pocketflow`).
import {
  BaseNode as OfficialBaseNode,
  BatchNode as OfficialBatchNode,
  Flow as OfficialFlow,
  Node as OfficialNodeClass,
  ParallelBatchFlow as OfficialParallelBatchFlow,
} from "official-pocketflow";
import { AsyncFlow, AsyncNode } from "pocketflow-ts";
import { Gauge, delay, deferred } from "test-support";
import { afterEach, describe, expect, it, vi } from "vitest";
import { asOfficialNode, fromOfficialNode } from "../src/index.js";
import { RateLimiter } from "../src/limiters/sliding-window.js";
import { ThrottledAsyncParallelBatchFlow } from "../src/flows.js";
import { ThrottledParallelBatchNode } from "../src/nodes.js";

type Shared = { words?: string[]; upper?: string[]; log: string[]; byLang?: Record<string, string[]> };

class Upper extends ThrottledParallelBatchNode<Shared, string, string> {
  gauge = new Gauge();
  override async prepAsync(shared: Shared) {
    return shared.words;
  }
  override async execAsync(word: string) {
    this.gauge.enter();
    await delay(5);
    this.gauge.leave();
    return `${word.toUpperCase()}${String(this.params.suffix ?? "")}`;
  }
  override async postAsync(shared: Shared, _p: unknown, out: string[]) {
    shared.upper = out;
    shared.log.push(`upper:${out.length}`);
    return out.length > 0 ? "translated" : "empty";
  }
}

class LoadWords extends OfficialNodeClass<Shared> {
  override async prep(shared: Shared) {
    shared.log.push("load");
    shared.words ??= ["a", "b", "c"];
    return undefined;
  }
}

class Mark extends OfficialNodeClass<Shared> {
  constructor(private readonly label: string) {
    super();
  }
  override async post(shared: Shared) {
    shared.log.push(this.label);
    return undefined;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("a throttled node as a node of the official Flow", () => {
  it("runs in the official Flow with its shared store, and its post action picks the official successor", async () => {
    const load = new LoadWords();
    const upper = asOfficialNode(new Upper({ maxConcurrent: 2 }), OfficialBaseNode);
    load.next(upper);
    upper.on("translated", new Mark("saved")).on("empty", new Mark("nothing"));
    const shared: Shared = { log: [] };
    await new OfficialFlow(load).run(shared);
    expect(shared.upper).toEqual(["A", "B", "C"]);
    expect(shared.log).toEqual(["load", "upper:3", "saved"]);

    const empty: Shared = { words: [], log: [] };
    await new OfficialFlow(load).run(empty);
    expect(empty.log).toEqual(["load", "upper:0", "nothing"]);
  });

  it("keeps its limits inside the official Flow: maxConcurrent caps the items in flight", async () => {
    const node = new Upper({ maxConcurrent: 2 });
    const shared: Shared = { words: Array.from({ length: 8 }, (_, i) => `w${i}`), log: [] };
    await new OfficialFlow(asOfficialNode(node, OfficialBaseNode)).run(shared);
    expect(shared.upper).toHaveLength(8);
    expect(node.gauge.peak).toBe(2);
  });

  it("gets each official batch's params on its own copy, and one shared limiter caps a ParallelBatchFlow's instances together", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 2 });
    const results: string[][] = [];
    class Recording extends Upper {
      override async postAsync(shared: Shared, p: unknown, out: string[]) {
        results.push(out);
        return super.postAsync(shared, p, out);
      }
    }
    const node = new Recording({ limiter });
    class PerSuffix extends OfficialParallelBatchFlow<Shared> {
      override async prep() {
        return [{ suffix: "-1" }, { suffix: "-2" }, { suffix: "-3" }];
      }
    }
    const shared: Shared = { words: ["x", "y", "z", "w"], log: [] };
    await new PerSuffix(asOfficialNode(node, OfficialBaseNode)).run(shared);
    expect(results.map((r) => r[0]).sort()).toEqual(["X-1", "X-2", "X-3"]);
    expect(node.params).toEqual({});
    expect(node.gauge.peak).toBe(2);
  });

  it("retries an item inside one official run (maxRetries of the throttled node)", async () => {
    const attempts = new Map<string, number>();
    class Flaky extends Upper {
      override async execAsync(word: string) {
        const n = (attempts.get(word) ?? 0) + 1;
        attempts.set(word, n);
        if (n === 1) throw new Error(`first attempt of ${word} fails`);
        return word.toUpperCase();
      }
    }
    const shared: Shared = { words: ["a", "b"], log: [] };
    await new OfficialFlow(asOfficialNode(new Flaky({ maxRetries: 2 }), OfficialBaseNode)).run(shared);
    expect(shared.upper).toEqual(["A", "B"]);
    expect([...attempts.values()]).toEqual([2, 2]);
  });

  it("rejects the official run with the item's own error when an item fails for good", async () => {
    const boom = new Error("provider down");
    class Failing extends Upper {
      override async execAsync(): Promise<string> {
        throw boom;
      }
    }
    const run = new OfficialFlow(asOfficialNode(new Failing(), OfficialBaseNode)).run({ words: ["a"], log: [] });
    await expect(run).rejects.toBe(boom);
  });

  it("runs a throttled flow as an official node, and its last action picks the official successor", async () => {
    const perItem = new Upper({ maxConcurrent: 1 });
    class PerSuffix extends ThrottledAsyncParallelBatchFlow<Shared> {
      override async prepAsync() {
        return [{ suffix: "!" }, { suffix: "?" }];
      }
      override async postAsync(shared: Shared, _p: unknown, results: unknown) {
        shared.log.push(`flows:${(results as unknown[]).length}`);
        return "done";
      }
    }
    const flow = asOfficialNode(new PerSuffix(perItem, { maxConcurrentFlows: 2 }), OfficialBaseNode);
    flow.on("done", new Mark("after"));
    const shared: Shared = { words: ["a"], log: [] };
    await new OfficialFlow(flow).run(shared);
    expect(shared.log.filter((l) => !l.startsWith("upper"))).toEqual(["flows:2", "after"]);
  });

  it("rejects the official run with exactly signal.reason when the signal option aborts", async () => {
    const gate = deferred();
    class Stuck extends Upper {
      override async execAsync() {
        await gate.promise;
        return "late";
      }
    }
    const controller = new AbortController();
    const run = new OfficialFlow(asOfficialNode(new Stuck(), OfficialBaseNode, { signal: controller.signal })).run({
      words: ["a"],
      log: [],
    });
    const reason = new Error("user cancelled");
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    gate.resolve();
  });

  it("names the function and quotes the value for bad input", () => {
    expect(() => asOfficialNode({} as never, OfficialBaseNode)).toThrow(/asOfficialNode needs a node.*\[object Object\]/);
    expect(() => asOfficialNode(new Upper(), class {} as never)).toThrow(/asOfficialNode needs the official BaseNode class/);
  });
});

describe("an official node inside this runtime's AsyncFlow", () => {
  it("runs with the shared store and its own retries, and its post action picks our successor", async () => {
    let calls = 0;
    class Check extends OfficialNodeClass<Shared> {
      override async prep(shared: Shared) {
        return shared.words;
      }
      override async exec(words: unknown) {
        calls++;
        if (calls < 3) throw new Error(`attempt ${calls} fails`);
        return (words as string[]).length;
      }
      override async post(shared: Shared, _p: unknown, count: unknown) {
        shared.log.push(`check:${String(count)}:retry${this.currentRetry}`);
        return count === 0 ? "none" : "some";
      }
    }
    class Ours extends AsyncNode<Shared> {
      constructor(private readonly label: string) {
        super();
      }
      override async postAsync(shared: Shared) {
        shared.log.push(this.label);
        return undefined;
      }
    }
    const check = fromOfficialNode(new Check(3, 0));
    check.on("some", new Ours("some")).on("none", new Ours("none"));
    const shared: Shared = { words: ["a", "b"], log: [] };
    await new AsyncFlow(check).runAsync(shared);
    expect(calls).toBe(3);
    expect(shared.log).toEqual(["check:2:retry2", "some"]);
  });

  it("uses the official execFallback once the official retries are spent", async () => {
    class Fallback extends OfficialNodeClass<Shared> {
      override async exec(): Promise<unknown> {
        throw new Error("always");
      }
      override async execFallback() {
        return "fallback";
      }
      override async post(shared: Shared, _p: unknown, out: unknown) {
        shared.log.push(String(out));
        return undefined;
      }
    }
    const shared: Shared = { log: [] };
    await new AsyncFlow(fromOfficialNode(new Fallback(2, 0))).runAsync(shared);
    expect(shared.log).toEqual(["fallback"]);
  });

  it("feeds a throttled node from an official BatchNode, and an official Flow runs once per param set of a throttled batch flow", async () => {
    class Double extends OfficialBatchNode<Shared> {
      override async prep(shared: Shared) {
        return shared.words ?? [];
      }
      override async exec(word: unknown) {
        return `${String(word)}${String(word)}`;
      }
      override async post(shared: Shared, _p: unknown, out: unknown) {
        shared.words = out as string[];
        return undefined;
      }
    }
    const upper = new Upper({ maxConcurrent: 2 });
    const start = fromOfficialNode(new Double());
    start.next(upper);
    const shared: Shared = { words: ["a", "b"], log: [] };
    await new AsyncFlow(start).runAsync(shared);
    expect(shared.upper).toEqual(["AA", "BB"]);

    class ByLang extends OfficialNodeClass<Shared> {
      override async post(shared: Shared) {
        const lang = String(this._params.lang);
        shared.byLang = { ...shared.byLang, [lang]: [lang] };
        return undefined;
      }
    }
    class PerLang extends ThrottledAsyncParallelBatchFlow<Shared> {
      override async prepAsync() {
        return [{ lang: "fr" }, { lang: "de" }];
      }
    }
    const byLang: Shared = { log: [] };
    const officialFlow = new OfficialFlow(new ByLang());
    await new PerLang(fromOfficialNode(officialFlow), { maxConcurrentFlows: 2 }).runAsync(byLang);
    expect(Object.keys(byLang.byLang ?? {}).sort()).toEqual(["de", "fr"]);
  });

  it("gives params to a clone each run, never to the official node itself", async () => {
    const seen: unknown[] = [];
    class Reader extends OfficialNodeClass<Shared> {
      override async prep() {
        seen.push(this._params.k);
        return undefined;
      }
    }
    const official = new Reader();
    const node = fromOfficialNode(official);
    node.setParams({ k: 1 });
    await node.runAsync({ log: [] });
    expect(seen).toEqual([1]);
    expect((official as unknown as { _params: unknown })._params).toEqual({});
  });

  it("rejects our run with exactly signal.reason while the official node is still working", async () => {
    const gate = deferred();
    class Slow extends OfficialNodeClass<Shared> {
      override async exec() {
        await gate.promise;
        return undefined;
      }
    }
    const controller = new AbortController();
    const run = new AsyncFlow(fromOfficialNode(new Slow())).runAsync({ log: [] }, { signal: controller.signal });
    const reason = new Error("stop");
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    gate.resolve();
  });

  it("warns that an official node's own successors are not followed, and rejects what is not an official node", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const a = new Mark("a");
    a.next(new Mark("b"));
    fromOfficialNode(a);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("successors are not followed"));
    expect(() => fromOfficialNode(new Upper() as never)).toThrow(/fromOfficialNode needs a node of the official pocketflow package/);
  });
});
