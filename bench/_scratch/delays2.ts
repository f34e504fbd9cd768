import { startSimulatedProvider } from "../../cookbook/rate-limited-llm-batch/simulated-provider.js";
import { RateLimiter } from "pocketflow-throttled";
const W = Number(process.argv[2] ?? 1000), M = Number(process.argv[3] ?? 0);
const provider = await startSimulatedProvider({ requestsPerWindow: 20, windowMs: W, latencyMs: 20 });
const post = (i: number) => fetch(`${provider.baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "s", messages: [{ role: "user", content: `hi ${i}` }] }) });
await Promise.all(Array.from({ length: 20 }, (_, i) => post(i).then((r) => r.text())));
await new Promise((r) => setTimeout(r, W + 50));
provider.resetStats();
const limiter = new RateLimiter({ maxConcurrent: 64, maxPerWindow: 20, windowSeconds: (W + M) / 1000 });
const starts: number[] = [];
let s429 = 0;
const t = performance.now();
await Promise.all(Array.from({ length: 100 }, (_, i) => limiter.run(async () => {
  starts.push(performance.now());
  const r = await post(i);
  await r.text();
  if (r.status !== 200) s429++;
})));
const makespan = performance.now() - t;
const arr = provider.admittedTimestamps();
const d = arr.map((a, k) => a - starts[k]!);
console.log("429s", s429, "makespan", makespan.toFixed(1), "min d", Math.min(...d).toFixed(2), "max d", Math.max(...d).toFixed(2));
for (let w = 0; w < 5; w++) { const ds = d.slice(w * 20, w * 20 + 20); console.log("window", w, "d range", Math.min(...ds).toFixed(2), Math.max(...ds).toFixed(2)); }
await provider.close();
