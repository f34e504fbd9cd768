/**
 * Four worker processes, one API key: a RedisLimiter keeps their combined
 * rate under the provider's limit. Needs a Redis on 127.0.0.1:6379
 * (override with REDIS_URL).
 *
 *   npx tsx distributed-example.ts [--workers 4] [--items 30]
 */
import { spawn } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { AsyncFlow } from "pocketflow-ts";
import { RedisLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { startDemoProvider } from "./utils.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** The provider allows 20 requests per second, 8 at once. */
const PROVIDER = { maxConcurrent: 8, requestsPerWindow: 20, windowMs: 1000 };
/**
 * The shared limit: the provider's, with a 20% longer window. A start is
 * granted on Redis's clock but reaches the provider a few milliseconds later
 * (more on a busy machine), so two starts exactly one window apart could
 * arrive less than a window apart; the margin absorbs that jitter, and a rare 429 is retried after the pause it triggers.
 */
const LIMIT = { maxConcurrent: PROVIDER.maxConcurrent, maxPerWindow: PROVIDER.requestsPerWindow, windowSeconds: 1.2 };

interface WorkerReport {
  worker: number;
  starts: number;
  rateLimited: number;
  failed: number;
}

/** Figures of one distributed run. */
export interface DistributedReport {
  workers: WorkerReport[];
  totalRequests: number;
  served: number;
  rejected429: number;
  maxStartsInAnyWindow: number;
  makespanSeconds: number;
  /** From the first to the last request the provider admitted: the part the limit governs. */
  startSpanSeconds: number;
  /** The shortest possible start span under the provider's limit: (ceil(N / limit) - 1) windows. */
  theoreticalMinimumSeconds: number;
}

type Shared = { prompts: string[]; replies?: string[] };

class AskProvider extends ThrottledParallelBatchNode<Shared, string, string> {
  rateLimited = 0;
  constructor(
    private readonly baseURL: string,
    limiter: RedisLimiter,
  ) {
    super({ limiter, maxRetries: 3 });
  }
  override async prepAsync(shared: Shared) {
    return shared.prompts;
  }
  override async execAsync(prompt: string) {
    const res = await fetch(`${this.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "sim", messages: [{ role: "user", content: prompt }] }),
    });
    if (res.status === 429) this.rateLimited++;
    if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status, headers: res.headers });
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    return body.choices[0]?.message.content ?? "";
  }
  override async postAsync(shared: Shared, _p: unknown, replies: string[]) {
    shared.replies = replies;
    return undefined;
  }
}

/** One worker process: runs its items through the shared Redis limit and prints a JSON report. */
async function worker(worker: number, baseURL: string, key: string, items: number, windowSeconds: number): Promise<void> {
  const limiter = new RedisLimiter({ redis: REDIS_URL, key, ...LIMIT, windowSeconds });
  const node = new AskProvider(baseURL, limiter);
  const shared: Shared = { prompts: Array.from({ length: items }, (_, i) => `worker ${worker} item ${i}`) };
  let failed = 0;
  try {
    await new AsyncFlow(node).runAsync(shared);
  } catch {
    failed = 1;
  } finally {
    await limiter.close();
  }
  const report: WorkerReport = { worker, starts: limiter.stats.acquired, rateLimited: node.rateLimited, failed };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function runWorker(index: number, baseURL: string, key: string, items: number, windowSeconds: number): Promise<WorkerReport> {
  const file = fileURLToPath(import.meta.url);
  // Workers run this same file through tsx, whatever started the parent (tsx, vitest, node).
  const child = spawn(process.execPath, ["--import", "tsx", file, "--worker", String(index), baseURL, key, String(items), String(windowSeconds)], {
    cwd: dirname(file),
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0 || !line.startsWith("{")) reject(new Error(`worker ${index} exited with ${code}: ${out}`));
      else resolve(JSON.parse(line) as WorkerReport);
    });
  });
}

/** Starts the simulated provider and `workers` processes sharing one Redis limit; returns the figures. */
export async function runDistributed(
  options: { workers?: number; items?: number; windowSeconds?: number } = {},
): Promise<DistributedReport> {
  const workers = options.workers ?? 4;
  const items = options.items ?? 30;
  const windowSeconds = options.windowSeconds ?? LIMIT.windowSeconds;
  const provider = await startDemoProvider({ ...PROVIDER, latencyMs: [20, 60] });
  const key = `pocketflow:cookbook:distributed:${process.pid}:${Date.now()}`;
  const started = performance.now();
  try {
    const reports = await Promise.all(
      Array.from({ length: workers }, (_, i) => runWorker(i + 1, provider.baseURL, key, items, windowSeconds)),
    );
    const total = workers * items;
    return {
      workers: reports,
      totalRequests: total,
      served: provider.stats.answered,
      rejected429: provider.stats.refused,
      maxStartsInAnyWindow: provider.maxInAnyWindow(PROVIDER.windowMs),
      makespanSeconds: (performance.now() - started) / 1000,
      startSpanSeconds: startSpan(provider.arrivals()),
      theoreticalMinimumSeconds: ((Math.ceil(total / PROVIDER.requestsPerWindow) - 1) * PROVIDER.windowMs) / 1000,
    };
  } finally {
    await provider.stop();
  }
}

function startSpan(admitted: readonly number[]): number {
  return admitted.length < 2 ? 0 : ((admitted.at(-1) as number) - (admitted[0] as number)) / 1000;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === "--worker") {
    const [, , , index, baseURL, key, items, windowSeconds] = process.argv;
    await worker(Number(index), baseURL as string, key as string, Number(items), Number(windowSeconds));
  } else {
    const r = await runDistributed({ workers: arg("--workers", 4), items: arg("--items", 30) });
    console.log(
      `Provider: ${PROVIDER.requestsPerWindow} requests per 1 s, ${PROVIDER.maxConcurrent} at once; shared limit ${LIMIT.maxPerWindow} per ${LIMIT.windowSeconds} s (Redis ${REDIS_URL})`,
    );
    for (const w of r.workers) console.log(`  worker ${w.worker}: ${w.starts} starts, ${w.rateLimited} × 429`);
    console.log(`Total: ${r.served}/${r.totalRequests} served, ${r.rejected429} × 429`);
    console.log(`Most requests the provider saw in any 1 s: ${r.maxStartsInAnyWindow} (limit ${PROVIDER.requestsPerWindow})`);
    console.log(`Makespan ${r.makespanSeconds.toFixed(2)} s, worker start-up included`);
    console.log(
      `First to last request at the provider: ${r.startSpanSeconds.toFixed(2)} s vs theoretical minimum ${r.theoreticalMinimumSeconds.toFixed(2)} s (${(r.startSpanSeconds / r.theoreticalMinimumSeconds).toFixed(3)}×; the limiter's window is ${LIMIT.windowSeconds} s against the provider's 1 s)`,
    );
  }
}
