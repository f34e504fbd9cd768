import diagnostics_channel from "node:diagnostics_channel";
import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { startSimulatedProvider } from "../../cookbook/rate-limited-llm-batch/simulated-provider.js";
import { warmUp } from "../compliance.js";
const W = 2000, M = Number(process.argv[2] ?? 12), retries = Number(process.argv[3] ?? 3);
const provider = await startSimulatedProvider({ requestsPerWindow: 20, windowMs: W, latencyMs: 20 });
const url = `${provider.baseURL}/chat/completions`;
await warmUp(url, 20, W);
provider.resetStats();
let t0 = 0;
const stamp = new Map<string, number>(), arrive = new Map<string, number>(), status = new Map<string, number>();
diagnostics_channel.subscribe("http.server.request.start", (m: any) => { const id = m.request.headers["x-item"]; if (id) arrive.set(id, performance.now() - t0); });
class C extends ThrottledParallelBatchNode<{ p: string[] }, string, unknown> {
  async prepAsync(s: { p: string[] }) { return s.p; }
  async execAsync(p: string) {
    const key = `${p}#${this.curRetry}`;
    stamp.set(key, performance.now() - t0);
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-item": key }, body: JSON.stringify({ model: "s", messages: [{ role: "user", content: p }] }) });
    await r.text();
    status.set(key, r.status);
    if (r.status !== 200) throw Object.assign(new Error("429"), { status: r.status, headers: r.headers });
    return 1;
  }
}
const limiter = new RateLimiter({ maxConcurrent: 64, maxPerWindow: 20, windowSeconds: (W + M) / 1000 });
t0 = performance.now();
await new C({ limiter, maxRetries: retries }).runAsync({ p: Array.from({ length: 100 }, (_, i) => `${i}`) });
console.log((performance.now() - t0).toFixed(0), JSON.stringify(provider.stats));
const rows = [...stamp].map(([k, s]) => [k, s, arrive.get(k)!, status.get(k)!] as const).sort((a, b) => a[1] - b[1]);
for (const [k, s, a, st] of rows) if (st !== 200 || Number(k.split("#")[0]) % 20 < 2 || Number(k.split("#")[0]) % 20 > 17) console.log(k.padEnd(6), s.toFixed(1).padStart(8), a.toFixed(1).padStart(8), "d", (a - s).toFixed(1).padStart(6), st);
await provider.close();
