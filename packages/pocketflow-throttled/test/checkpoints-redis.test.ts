/** RedisCheckpointStore against the machine's Redis (127.0.0.1:6379): fails, never skips, without it. */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisCheckpointStore } from "../src/checkpoints/index.js";
import { ThrottledParallelBatchNode } from "../src/nodes.js";
import { connectOrFail, deleteKeys, REDIS_URL, uniqueKey } from "./fixtures/redis-helpers.js";

let admin: Redis;
let prefix: string;
beforeAll(async () => {
  admin = await connectOrFail();
});
afterEach(async () => {
  await deleteKeys(admin, prefix);
});
afterAll(async () => {
  await admin?.quit();
});

async function loaded(store: RedisCheckpointStore, runKey: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of store.load(runKey)) out[e.key] = e.value;
  return out;
}

describe("RedisCheckpointStore", () => {
  it("keeps each run in its own hash under the prefix, and clear forgets only that run", async () => {
    prefix = `${uniqueKey("ckpt")}:`;
    const store = new RedisCheckpointStore({ redis: admin, prefix });
    await Promise.all([store.save("a", [{ key: "k1", value: "1" }]), store.save("b", [{ key: "k1", value: "2" }])]);
    expect(await admin.hgetall(`${prefix}a`)).toEqual({ k1: "1" });

    await store.clear("a");
    expect(await loaded(store, "a")).toEqual({});
    expect(await loaded(store, "b")).toEqual({ k1: "2" });
  });

  it("writes the saves of one tick in one HSET, and loads more entries than one HSCAN page", async () => {
    prefix = `${uniqueKey("ckpt")}:`;
    const store = new RedisCheckpointStore({ redis: admin, prefix });
    const saves = Array.from({ length: 2500 }, (_, i) => store.save("r", [{ key: `k${i}`, value: `${i}` }]));
    expect(new Set(saves).size).toBe(1);
    await Promise.all(saves);
    expect(Object.keys(await loaded(new RedisCheckpointStore({ redis: admin, prefix }), "r"))).toHaveLength(2500);
  });

  it("resumes a node across stores of separate connections (as separate processes would)", async () => {
    prefix = `${uniqueKey("ckpt")}:`;
    const ran: number[] = [];
    class Echo extends ThrottledParallelBatchNode<{ items: number[] }, number, number> {
      override async prepAsync(shared: { items: number[] }) {
        return shared.items;
      }
      override async execAsync(item: number) {
        ran.push(item);
        return item;
      }
    }
    const first = new RedisCheckpointStore({ redis: REDIS_URL, prefix });
    await new Echo({ checkpoint: { store: first, runKey: "r" } }).runAsync({ items: [1, 2] });
    await first.close();
    ran.length = 0;

    const second = new RedisCheckpointStore({ redis: REDIS_URL, prefix });
    const node = new Echo({ checkpoint: { store: second, runKey: "r" } });
    await node.runAsync({ items: [1, 2, 3] });
    await second.close();
    expect(ran).toEqual([3]);
    expect(node.stats.resumed).toBe(2);
  });

  it("rejects bad options naming them", () => {
    expect(() => new RedisCheckpointStore({ redis: "http://x" })).toThrow(
      'RedisCheckpointStore redis must be a Redis URL such as "redis://127.0.0.1:6379" or an ioredis client, got "http://x"',
    );
    expect(() => new RedisCheckpointStore({ redis: admin, prefix: 5 as unknown as string })).toThrow(
      "RedisCheckpointStore prefix must be a string, got 5",
    );
  });
});
