/**
 * The durable-batch guarantee with real processes: a child runs a batch and
 * is killed with SIGKILL at random points; each re-run with the same runKey
 * goes on. No item saved before a kill runs again, duplicates are only items
 * that were in flight or finished-but-unsaved at the kill, and nothing is lost.
 * The child uses the built package (\`pnpm build\` first).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileCheckpointStore, RedisCheckpointStore } from "../src/checkpoints/index.js";
import type { CheckpointStore } from "../src/checkpoints/store.js";
import { connectOrFail, deleteKeys, uniqueKey } from "./fixtures/redis-helpers.js";

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), "..");
const CHILD = join(PACKAGE, "test/fixtures/checkpoint-child.mjs");
const ITEMS = 300;
const KILLS = 12;

let admin: Redis;
let dir: string;
beforeAll(async () => {
  admin = await connectOrFail();
  dir = await mkdtemp(join(tmpdir(), "pf-crash-"));
});
afterAll(async () => {
  await admin?.quit();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the child once; kills it `killAfterMs` after its run began (never, if undefined). */
function runChild(args: string[], killAfterMs: number | undefined): Promise<{ killed: boolean; code: number | null; err: string }> {
  const child = spawn(process.execPath, [CHILD, ...args], { cwd: PACKAGE, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  child.stdout.on("data", (chunk: Buffer) => {
    if (killAfterMs !== undefined && timer === undefined && chunk.toString().includes("go")) {
      timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    }
  });
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === "SIGKILL", code, err });
    });
  });
}

async function savedKeys(store: CheckpointStore, runKey: string): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const entry of store.load(runKey)) keys.add(entry.key);
  return keys;
}

/** The log's events since `from` (a line count): items started and finished. */
async function events(log: string, from: number): Promise<{ lines: number; started: number[]; done: Set<number> }> {
  const text = existsSync(log) ? await readFile(log, "utf8") : "";
  const lines = text.split("\n").filter((l) => l !== "");
  const started: number[] = [];
  const done = new Set<number>();
  for (const line of lines.slice(from)) {
    const [what, item] = line.split(" ");
    if (what === "start") started.push(Number(item));
    else done.add(Number(item));
  }
  return { lines: lines.length, started, done };
}

/** Kills and re-runs until the batch is done; checks the guarantee after every kill. */
async function crashAndResume(kind: "file" | "redis", where: string, reader: CheckpointStore) {
  const runKey = `crash-${kind}`;
  const log = join(dir, `${kind}.log`);
  const out = join(dir, `${kind}.out.json`);
  const args = [kind, where, runKey, log, out, String(ITEMS)];
  let kills = 0;
  let maxDuplicates = 0;
  let logAt = 0;
  let previous: { saved: Set<string>; unsaved: Set<number> } | undefined;
  const runs = new Map<number, number>();
  for (let attempt = 0; ; attempt++) {
    const kill = kills < KILLS ? 5 + Math.floor(Math.random() * 40) : undefined;
    const result = await runChild(args, kill);
    const ev = await events(log, logAt);
    logAt = ev.lines;
    for (const item of ev.started) runs.set(item, (runs.get(item) ?? 0) + 1);
    if (previous) {
      // No item saved before the last kill ran again; what ran again was started but unsaved then.
      const again = ev.started.filter((item) => !previous?.unsaved.has(item) && (runs.get(item) ?? 0) > 1);
      expect(again).toEqual([]);
      expect(ev.started.filter((item) => previous?.saved.has(`item-${item}`))).toEqual([]);
      maxDuplicates = Math.max(maxDuplicates, ev.started.filter((item) => previous?.unsaved.has(item)).length);
    }
    if (!result.killed) {
      expect(result.err).toBe("");
      expect(result.code).toBe(0);
      break;
    }
    kills++;
    const saved = await savedKeys(reader, runKey);
    const everStarted = [...runs.keys()];
    previous = { saved, unsaved: new Set(everStarted.filter((item) => !saved.has(`item-${item}`))) };
    expect(attempt).toBeLessThan(KILLS + 5);
  }
  const results = JSON.parse(await readFile(out, "utf8")) as string[];
  expect(results).toEqual(Array.from({ length: ITEMS }, (_, i) => `result-${i}`)); // nothing lost, in order
  const lost = Array.from({ length: ITEMS }, (_, i) => i).filter((i) => !runs.has(i));
  expect(lost).toEqual([]);
  const duplicates = [...runs.values()].filter((n) => n > 1).length;
  console.info(`${kind} store: ${kills} kills, ${duplicates} items ran twice (at most ${maxDuplicates} after one kill), 0 lost`);
  return { kills, maxDuplicates };
}

describe("durable batch under SIGKILL", () => {
  it("file store: every re-run finishes the batch, runs no saved item again, loses nothing", { timeout: 60_000 }, async () => {
    const path = join(dir, "journal.jsonl");
    const { kills, maxDuplicates } = await crashAndResume("file", path, new FileCheckpointStore(path));
    expect(kills).toBeGreaterThanOrEqual(10);
    // In flight (maxConcurrent 4) plus one unflushed write batch (20 ms of items at 4 per ~5 ms).
    expect(maxDuplicates).toBeLessThanOrEqual(4 + 40);
  });

  it("Redis store: every re-run finishes the batch, runs no saved item again, loses nothing", { timeout: 60_000 }, async () => {
    const prefix = `${uniqueKey("checkpoint-crash")}:`;
    const reader = new RedisCheckpointStore({ redis: admin, prefix });
    try {
      const { kills, maxDuplicates } = await crashAndResume("redis", prefix, reader);
      expect(kills).toBeGreaterThanOrEqual(10);
      expect(maxDuplicates).toBeLessThanOrEqual(4 + 40);
    } finally {
      await deleteKeys(admin, prefix);
    }
  });
});
