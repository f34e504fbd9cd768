// fromBottleneck with a Bottleneck clustered on the local Redis (datastore "ioredis").
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import Bottleneck from "bottleneck";
import { Gauge, delay } from "test-support";
import { afterEach, describe, expect, it } from "vitest";
import { fromBottleneck } from "../src/index.js";
import { ThrottledParallelBatchNode } from "../src/nodes.js";
import { connectOrFail, deleteKeys } from "./fixtures/redis-helpers.js";

const EXIT_SCRIPT = fileURLToPath(new URL("./fixtures/bottleneck-exit.mjs", import.meta.url));
const opened: Bottleneck[] = [];
const ids: string[] = [];

function clustered(id: string, clearDatastore: boolean): Bottleneck {
  const bottleneck = new Bottleneck({
    id,
    datastore: "ioredis",
    clientOptions: { host: "127.0.0.1", port: 6379 },
    clearDatastore,
    maxConcurrent: 2,
  });
  opened.push(bottleneck);
  return bottleneck;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.disconnect()));
  const admin = await connectOrFail();
  for (const id of ids.splice(0)) await deleteKeys(admin, `b_${id}_`);
  await admin.quit();
});

describe("fromBottleneck on a Redis-clustered Bottleneck", () => {
  it("keeps two nodes on two Bottlenecks sharing one id together within maxConcurrent", async () => {
    const id = `pocketflow-test-bottleneck-${randomUUID()}`;
    ids.push(id);
    const first = clustered(id, true);
    await first.ready();
    const second = clustered(id, false);
    await second.ready();
    const gauge = new Gauge();
    class Work extends ThrottledParallelBatchNode<{ out?: number[] }, number, number> {
      override async prepAsync() {
        return [1, 2, 3, 4, 5, 6];
      }
      override async execAsync(item: number) {
        gauge.enter();
        await delay(60);
        gauge.leave();
        return item;
      }
    }
    const a = new Work({ limiter: fromBottleneck(first), maxConcurrent: 5 });
    const b = new Work({ limiter: fromBottleneck(second), maxConcurrent: 5 });
    expect(fromBottleneck(first).maxConcurrent).toBe(2);
    const results = await Promise.all([a.runAsync({}), b.runAsync({})]);
    expect(results).toEqual([undefined, undefined]);
    // Each node alone would run 5 at once (10 together); the cluster holds both at 2.
    expect(gauge.peak).toBe(2);
  });

  it("lets the process exit by itself after an aborted run, a finished run and disconnect", async () => {
    const id = `pocketflow-test-bottleneck-${randomUUID()}`;
    ids.push(id);
    const child = spawn(process.execPath, [EXIT_SCRIPT, id], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += String(d);
    });
    child.stderr.on("data", (d) => {
      err += String(d);
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearTimeout(killer);
    expect(err).toBe("");
    expect(out).toBe("done\n");
    expect(code).toBe(0);
  }, 20_000);
});
