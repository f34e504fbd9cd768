import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { startSimulatedProvider } from "../../cookbook/rate-limited-llm-batch/simulated-provider.js";
import { postJson } from "../lib.js";
import { warmUp } from "../compliance.js";
const W = 2000, M = Number(process.argv[2] ?? 12), retries = Number(process.argv[3] ?? 3);
const provider = await startSimulatedProvider({ requestsPerWindow: 20, windowMs: W, latencyMs: 20 });
const url = `${provider.baseURL}/chat/completions`;
await warmUp(url, 20, W);
provider.resetStats();
const log: string[] = [];
let t0 = 0;
class C extends ThrottledParallelBatchNode<{ p: string[] }, string, unknown> {
  async prepAsync(s: { p: string[] }) { return s.p; }
  async execAsync(p: string) {
    const s = performance.now() - t0;
    try { return (await postJson(url, { model: "s", messages: [{ role: "user", content: p }] })).body; }
    catch (e) { log.push(`${p} start ${s.toFixed(1)} 429 at ${(performance.now() - t0).toFixed(1)} ${(e as Error).message.slice(0, 120)}`); throw e; }
  }
}
const limiter = new RateLimiter({ maxConcurrent: 64, maxPerWindow: 20, windowSeconds: (W + M) / 1000 });
t0 = performance.now();
await new C({ limiter, maxRetries: retries }).runAsync({ p: Array.from({ length: 100 }, (_, i) => `item ${i}`) });
console.log((performance.now() - t0).toFixed(0), JSON.stringify(provider.stats));
console.log(log.slice(0, 8).join("\n"));
const a = provider.admittedTimestamps().map((x) => (x - t0).toFixed(1));
for (let w = 0; w < 5; w++) console.log(a.slice(w * 20, w * 20 + 20).join(" "));
await provider.close();
