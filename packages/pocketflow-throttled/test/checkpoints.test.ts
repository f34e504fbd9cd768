/** Durable batches: the `checkpoint` option and the file store (the Redis store: checkpoints-redis.test.ts). */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { delay, trackTimers } from "test-support";
import { CheckpointJournalError, FileCheckpointStore } from "../src/checkpoints/index.js";
import type { CheckpointOptions } from "../src/checkpoints/run.js";
import { ThrottledMicroBatchNode } from "../src/micro-batch.js";
import { ThrottledParallelBatchNode } from "../src/nodes.js";
import { AdaptiveThrottledNode } from "../src/adaptive-node.js";

interface Shared {
  items: number[];
  results?: string[];
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pf-ckpt-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A node that records each item it runs and fails on the items in `failing`. */
function doubler(checkpoint: CheckpointOptions<number, string>, failing: Set<number> = new Set()) {
  const ran: number[] = [];
  class Double extends ThrottledParallelBatchNode<Shared, number, string> {
    override async prepAsync(shared: Shared) {
      return shared.items;
    }
    override async execAsync(item: number) {
      ran.push(item);
      if (failing.has(item)) throw new Error(`item ${item} failed`);
      return `r${item * 2}`;
    }
    override async postAsync(shared: Shared, _p: unknown, results: string[]) {
      shared.results = results;
      return undefined;
    }
  }
  return { node: new Double({ maxConcurrent: 3, checkpoint }), ran };
}

describe("checkpoint option", () => {
  it("takes saved results in input order without running their items, and counts them in stats.resumed", async () => {
    const store = new FileCheckpointStore(join(dir, "j.jsonl"), { flushMs: 5 });
    const first = doubler({ store, runKey: "run" });
    await first.node.runAsync({ items: [1, 2, 3] });

    const second = doubler({ store, runKey: "run" });
    const shared: Shared = { items: [4, 1, 5, 3, 2] };
    await second.node.runAsync(shared);

    expect(shared.results).toEqual(["r8", "r2", "r10", "r6", "r4"]);
    expect(second.ran.sort()).toEqual([4, 5]);
    expect(second.node.stats.resumed).toBe(3);
  });

  it("does not save a failed item, so a re-run runs only that item", async () => {
    const store = new FileCheckpointStore(join(dir, "j.jsonl"), { flushMs: 5 });
    const first = doubler({ store, runKey: "run" }, new Set([3]));
    first.node.maxConcurrent = 1;
    await expect(first.node.runAsync({ items: [1, 2, 3, 4] })).rejects.toThrow("item 3 failed");

    const second = doubler({ store, runKey: "run" });
    const shared: Shared = { items: [1, 2, 3, 4] };
    await second.node.runAsync(shared);
    expect(second.ran).toEqual([3, 4]);
    expect(shared.results).toEqual(["r2", "r4", "r6", "r8"]);
  });

  it("fails an item whose result cannot be serialized with an error naming serialize, and saves the others", async () => {
    const store = new FileCheckpointStore(join(dir, "j.jsonl"), { flushMs: 5 });
    const serialize = (r: string) => (r === "r4" ? (undefined as unknown as string) : JSON.stringify(r));
    const first = doubler({ store, runKey: "run", serialize });
    await expect(first.node.runAsync({ items: [1, 2, 3] })).rejects.toThrow(
      /checkpoint\.serialize failed for item 1 .*returned undefined, not a string/,
    );

    const second = doubler({ store, runKey: "run" });
    await second.node.runAsync({ items: [1, 2, 3] });
    expect(second.ran).toEqual([2]);
  });

  it("uses itemKey as an item's identity", async () => {
    const store = new FileCheckpointStore(join(dir, "j.jsonl"), { flushMs: 5 });
    const itemKey = (item: number) => `k${item % 10}`;
    await doubler({ store, runKey: "run", itemKey }).node.runAsync({ items: [1, 2] });

    const second = doubler({ store, runKey: "run", itemKey });
    const shared: Shared = { items: [11, 12, 13] };
    await second.node.runAsync(shared);
    expect(second.ran).toEqual([13]);
    expect(shared.results).toEqual(["r2", "r4", "r26"]); // 11 and 12 are 1 and 2 by their keys
  });

  it("resumes a micro-batch node per item, not per batch", async () => {
    const store = new FileCheckpointStore(join(dir, "j.jsonl"), { flushMs: 5 });
    const calls: number[][] = [];
    class Embed extends ThrottledMicroBatchNode<Shared, number, string> {
      override async prepAsync(shared: Shared) {
        return shared.items;
      }
      override async execBatchAsync(items: number[]) {
        calls.push(items);
        return items.map((i) => `e${i}`);
      }
      override async postAsync(shared: Shared, _p: unknown, results: string[]) {
        shared.results = results;
        return undefined;
      }
    }
    await new Embed({ batchSize: 2, checkpoint: { store, runKey: "run" } }).runAsync({ items: [1, 3] });
    calls.length = 0;

    const node = new Embed({ batchSize: 2, checkpoint: { store, runKey: "run" } });
    const shared: Shared = { items: [1, 2, 3, 4, 5] };
    await node.runAsync(shared);
    expect(calls).toEqual([[2, 4], [5]]);
    expect(shared.results).toEqual(["e1", "e2", "e3", "e4", "e5"]);
    expect(node.stats).toMatchObject({ resumed: 2, totalItems: 3 });
  });

  it("reports resumed items on the adaptive node's stats too", async () => {
    const store = new FileCheckpointStore(join(dir, "j.jsonl"), { flushMs: 5 });
    class Echo extends AdaptiveThrottledNode<Shared, number, number> {
      override async prepAsync(shared: Shared) {
        return shared.items;
      }
      override async execAsync(item: number) {
        return item;
      }
    }
    await new Echo({ checkpoint: { store, runKey: "run" } }).runAsync({ items: [1, 2] });
    const node = new Echo({ checkpoint: { store, runKey: "run" } });
    await node.runAsync({ items: [1, 2, 3] });
    expect(node.stats.resumed).toBe(2);
  });

  it("reports 0 resumed without a checkpoint", async () => {
    const { node } = doubler(undefined as unknown as CheckpointOptions<number, string>);
    await node.runAsync({ items: [1] });
    expect(node.stats.resumed).toBe(0);
  });

  it("leaves no timer behind once the run has ended", async () => {
    const timers = trackTimers();
    try {
      const store = new FileCheckpointStore(join(dir, "j.jsonl"), { flushMs: 10_000 });
      const { node } = doubler({ store, runKey: "run" });
      await node.runAsync({ items: [1, 2, 3] });
      expect(timers.created()).toBeGreaterThan(0);
      expect(timers.pending()).toBe(0);
      // The final flush wrote everything, though flushMs had not passed.
      expect((await readFile(join(dir, "j.jsonl"), "utf8")).trim().split("\n")).toHaveLength(4);
    } finally {
      timers.restore();
    }
  });

  it("saves what finished and leaves no timer when the run is aborted", async () => {
    const timers = trackTimers();
    try {
      const path = join(dir, "j.jsonl");
      const controller = new AbortController();
      class Slow extends ThrottledParallelBatchNode<Shared, number, number> {
        override async prepAsync(shared: Shared) {
          return shared.items;
        }
        override async execAsync(item: number) {
          if (item === 3) controller.abort(new Error("stop"));
          return item;
        }
      }
      const node = new Slow({ maxConcurrent: 1, checkpoint: { store: new FileCheckpointStore(path, { flushMs: 10_000 }), runKey: "r" } });
      await expect(node.runAsync({ items: [1, 2, 3, 4, 5] }, { signal: controller.signal })).rejects.toThrow("stop");
      // runAsync rejects at the abort; the node's last save completes just after, without waiting for flushMs.
      let lines: string[] = [];
      for (let i = 0; i < 100 && lines.length < 4; i++) {
        await delay(20);
        lines = (await readFile(path, "utf8").catch(() => "")).trim().split("\n");
      }
      expect(timers.pending()).toBe(0);
      expect(lines.slice(1).map((l) => JSON.parse(l).v)).toEqual(["1", "2", "3"]);
    } finally {
      timers.restore();
    }
  });

  it("rejects a bad checkpoint option with a TypeError naming the field", () => {
    const store = new FileCheckpointStore(join(dir, "j.jsonl"));
    expect(() => doubler({ store, runKey: 42 as unknown as string })).toThrow(
      "checkpoint.runKey must be a non-empty string, got 42",
    );
    expect(() => doubler({ store: {} as never, runKey: "r" })).toThrow("checkpoint.store must be a CheckpointStore");
    expect(() => doubler({ store, runKey: "r", itemKey: "id" as never })).toThrow('checkpoint.itemKey must be a function, got "id"');
  });

  it("fails before running anything when a saved result cannot be deserialized", async () => {
    const store = new FileCheckpointStore(join(dir, "j.jsonl"), { flushMs: 5 });
    await store.save("run", [{ key: "k1", value: "{not json" }]);
    const { node, ran } = doubler({ store, runKey: "run", itemKey: (i) => `k${i}` });
    await expect(node.runAsync({ items: [1, 2] })).rejects.toThrow(/checkpoint\.deserialize failed on the saved result of item 0 \(key "k1"/);
    expect(ran).toEqual([]);
  });
});

describe("FileCheckpointStore", () => {
  const collect = async (store: FileCheckpointStore, runKey: string) => {
    const out: Array<[string, string]> = [];
    for await (const e of store.load(runKey)) out.push([e.key, e.value]);
    return out;
  };

  it("refuses a journal written by another runKey, naming the file and line 1", async () => {
    const path = join(dir, "j.jsonl");
    const store = new FileCheckpointStore(path, { flushMs: 0 });
    await store.save("run-a", [{ key: "k", value: "1" }]);

    const other = new FileCheckpointStore(path);
    await expect(collect(other, "run-b")).rejects.toThrow(`FileCheckpointStore: ${path} line 1 belongs to runKey "run-a", not "run-b"`);
    await expect(store.save("run-b", [{ key: "k", value: "1" }])).rejects.toBeInstanceOf(CheckpointJournalError);
  });

  it("refuses a corrupt line in the middle, naming the file and the line", async () => {
    const path = join(dir, "j.jsonl");
    await writeFile(path, `{"checkpoint":1,"runKey":"r"}\n{"k":"a","v":"1"}\n{"k":"b",\n{"k":"c","v":"3"}\n`);
    await expect(collect(new FileCheckpointStore(path), "r")).rejects.toThrow(`FileCheckpointStore: ${path} line 3 is corrupt`);
  });

  it("ignores a torn last line, and appends after it on a clean line", async () => {
    const path = join(dir, "j.jsonl");
    await writeFile(path, `{"checkpoint":1,"runKey":"r"}\n{"k":"a","v":"1"}\n{"k":"b","v`);
    const store = new FileCheckpointStore(path, { flushMs: 0 });
    expect(await collect(store, "r")).toEqual([["a", "1"]]);

    await store.save("r", [{ key: "c", value: "3" }]);
    expect(await collect(new FileCheckpointStore(path), "r")).toEqual([
      ["a", "1"],
      ["c", "3"],
    ]);
  });

  it("batches the saves of one flush window into one write", async () => {
    const path = join(dir, "j.jsonl");
    const store = new FileCheckpointStore(path, { flushMs: 50, fsync: true });
    const saves = [1, 2, 3].map((i) => store.save("r", [{ key: `k${i}`, value: `${i}` }]));
    expect(new Set(saves).size).toBe(1);
    await Promise.all(saves);
    expect(await collect(new FileCheckpointStore(path), "r")).toHaveLength(3);
  });

  it("clears its run and refuses to clear another's", async () => {
    const path = join(dir, "j.jsonl");
    const store = new FileCheckpointStore(path, { flushMs: 0 });
    await store.save("r", [{ key: "a", value: "1" }]);
    await expect(store.clear("other")).rejects.toThrow('belongs to runKey "r"');
    await store.clear("r");
    expect(await collect(store, "r")).toEqual([]);
  });

  it("rejects bad options naming them", () => {
    expect(() => new FileCheckpointStore("")).toThrow('FileCheckpointStore path must be a non-empty string, got ""');
    expect(() => new FileCheckpointStore("x", { flushMs: -1 })).toThrow("FileCheckpointStore flushMs must be a number >= 0, got -1");
  });
});
