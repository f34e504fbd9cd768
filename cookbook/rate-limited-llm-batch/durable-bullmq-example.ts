/**
 * One durable batch as BullMQ jobs over three worker processes. The workers
 * share a RedisLimiter (one rate for all) and a RedisCheckpointStore (one
 * record of finished items for all). Kill a worker mid-run: BullMQ hands its
 * job to another worker once the job's lock expires, and that worker skips
 * every item already saved, so nothing is lost and nothing saved is paid
 * for twice. Needs a Redis on 127.0.0.1:6379 (override with REDIS_URL).
 *
 *   npx tsx durable-bullmq-example.ts [--items 60] [--kill]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { RedisCheckpointStore, RedisLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const QUEUE = "summaries";
/** Items per BullMQ job. */
const CHUNK = 5;

interface Job {
  runKey: string;
  items: string[];
}
type Shared = { items: string[]; results?: string[] };

/** Keys of one run: BullMQ's, the limiter's, the checkpoints' and the call log live under `prefix`. */
const keys = (prefix: string) => ({
  bull: `${prefix}:bull`,
  limit: `${prefix}:limit`,
  checkpoints: `${prefix}:ckpt:`,
  calls: `${prefix}:calls`,
});

/** The paid call, simulated: it logs each call (so a run can show what was paid twice) and takes 20-40 ms. */
class Summarize extends ThrottledParallelBatchNode<Shared, string, string> {
  constructor(
    limiter: RedisLimiter,
    store: RedisCheckpointStore,
    runKey: string,
    private readonly redis: Redis,
    private readonly callLog: string,
  ) {
    super({ limiter, checkpoint: { store, runKey, itemKey: (item: string) => item } });
  }
  override async prepAsync(shared: Shared) {
    return shared.items;
  }
  override async execAsync(item: string) {
    await this.redis.rpush(this.callLog, item);
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 20));
    return `summary of ${item}`;
  }
  override async postAsync(shared: Shared, _p: unknown, results: string[]) {
    shared.results = results;
    return undefined;
  }
}

/** A worker process: takes jobs until SIGTERM, running each job's items as one durable batch. */
async function worker(prefix: string): Promise<void> {
  const k = keys(prefix);
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null }); // BullMQ's requirement
  const limiter = new RedisLimiter({ redis: REDIS_URL, key: k.limit, maxConcurrent: 6, maxPerWindow: 60, windowSeconds: 1 });
  const store = new RedisCheckpointStore({ redis: connection, prefix: k.checkpoints });
  const bull = new Worker<Job, string[]>(
    QUEUE,
    async (job) => {
      const shared: Shared = { items: job.data.items };
      await new Summarize(limiter, store, job.data.runKey, connection, k.calls).runAsync(shared);
      return shared.results ?? [];
    },
    // A short lock so a killed worker's job is handed on within seconds (BullMQ's default is 30 s).
    { connection, prefix: k.bull, concurrency: 2, lockDuration: 1500, stalledInterval: 500, maxStalledCount: 10 },
  );
  process.once("SIGTERM", () => {
    void (async () => {
      await bull.close();
      await limiter.close();
      await connection.quit();
    })();
  });
  process.stdout.write("ready\n");
}

/** What one run did. */
export interface DurableReport {
  items: number;
  /** Items with a saved result at the end (all of them, or something was lost). */
  saved: number;
  /** Every item's result, in input order, as the checkpoints hold them. */
  results: string[];
  /** Calls of the paid function, re-runs included. */
  calls: number;
  /** Items whose call was paid more than once (only items in flight when a worker died). */
  paidTwice: string[];
  /** Of those, items that had been saved before the kill: must be none. */
  savedThenPaidAgain: string[];
  killed: boolean;
}

function startWorker(prefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--worker", prefix], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) {
        child.removeAllListeners("exit");
        resolve(child);
      }
    });
  });
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `items` items as jobs over `workers` processes; with `kill`, SIGKILLs one worker once a third is saved. */
export async function runDurableBatch(options: { items?: number; workers?: number; kill?: boolean } = {}): Promise<DurableReport> {
  const { items: count = 60, workers = 3, kill = false } = options;
  const prefix = `pocketflow-example:${randomUUID()}`;
  const k = keys(prefix);
  const runKey = "batch-1";
  const redis = new Redis(REDIS_URL);
  const queue = new Queue<Job>(QUEUE, { connection: redis, prefix: k.bull });
  const children: ChildProcess[] = [];
  try {
    children.push(...(await Promise.all(Array.from({ length: workers }, () => startWorker(prefix)))));
    const items = Array.from({ length: count }, (_, i) => `doc-${i}`);
    const jobs = [];
    for (let i = 0; i < items.length; i += CHUNK) {
      jobs.push({ name: "chunk", data: { runKey, items: items.slice(i, i + CHUNK) }, opts: { jobId: `${runKey}-${i / CHUNK}` } });
    }
    await queue.addBulk(jobs);
    const checkpointKey = `${k.checkpoints}${runKey}`;
    let savedAtKill = new Set<string>();
    if (kill) {
      await waitFor(async () => (await redis.hlen(checkpointKey)) >= count / 3, 30_000, "a third of the items saved");
      const victim = children[0] as ChildProcess;
      const dead = new Promise((r) => victim.once("exit", r));
      victim.kill("SIGKILL");
      await dead;
      savedAtKill = new Set(await redis.hkeys(checkpointKey)); // the victim's chunks can only be saved after BullMQ hands them on
    }
    await waitFor(async () => (await queue.getJobCounts("completed")).completed === jobs.length, 60_000, "every job completed");
    const saved = await redis.hgetall(checkpointKey);
    const calls = await redis.lrange(k.calls, 0, -1);
    const perItem = new Map<string, number>();
    for (const item of calls) perItem.set(item, (perItem.get(item) ?? 0) + 1);
    const paidTwice = [...perItem].filter(([, n]) => n > 1).map(([item]) => item);
    return {
      items: count,
      saved: Object.keys(saved).length,
      results: items.map((item) => (saved[item] === undefined ? "(lost)" : (JSON.parse(saved[item] as string) as string))),
      calls: calls.length,
      paidTwice,
      savedThenPaidAgain: paidTwice.filter((item) => savedAtKill.has(item)),
      killed: kill,
    };
  } finally {
    const exits = children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once("exit", r)));
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(exits);
    await queue.obliterate({ force: true });
    await queue.close();
    for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
      if ((batch as string[]).length > 0) await redis.del(...(batch as string[]));
    }
    await redis.quit();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  if (args[0] === "--worker") {
    await worker(args[1] as string);
  } else {
    const at = args.indexOf("--items");
    const report = await runDurableBatch({ items: at >= 0 ? Number(args[at + 1]) : 60, kill: args.includes("--kill") });
    console.log(
      `${report.saved}/${report.items} items saved, ${report.calls} calls; paid twice: ${report.paidTwice.length} (in flight at the kill), saved then paid again: ${report.savedThenPaidAgain.length}`,
    );
  }
}
