import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { startRemoteProvider } from "../provider.js";
import { warmUp } from "../compliance.js";
const W = 2000, M = Number(process.argv[2] ?? 12), retries = Number(process.argv[3] ?? 3);
const provider = await startRemoteProvider({ requestsPerWindow: 20, windowMs: W, latencyMs: 20 });
const url = `${provider.baseURL}/chat/completions`;
await warmUp(url, 20, W);
await provider.resetStats();
const now = () => performance.timeOrigin + performance.now();
const ev: [number, string][] = [];
class C extends ThrottledParallelBatchNode<{ p: string[] }, string, unknown> {
  async prepAsync(s: { p: string[] }) { return s.p; }
  async execAsync(p: string) {
    ev.push([now(), `start ${p}`]);
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "s", messages: [{ role: "user", content: p }] }) });
    const t = await r.text();
    ev.push([now(), `end ${p} ${r.status} ${r.status !== 200 ? r.headers.get("retry-after-ms") + " " + t.slice(30, 100) : ""}`]);
    if (r.status !== 200) throw Object.assign(new Error("429"), { status: r.status, headers: r.headers });
    return 1;
  }
}
const limiter = new RateLimiter({ maxConcurrent: 64, maxPerWindow: 20, windowSeconds: (W + M) / 1000 });
const t0 = now();
await new C({ limiter, maxRetries: retries }).runAsync({ p: Array.from({ length: 100 }, (_, i) => `${i}`) }).catch((e) => console.log("FAILED", e.message));
console.log((now() - t0).toFixed(0), JSON.stringify(await provider.stats()));
for (const a of await provider.admittedTimestamps()) ev.push([a, "ARRIVE"]);
ev.sort((a, b) => a[0] - b[0]);
for (const [t, e] of ev) if (!e.startsWith("end") || !e.includes(" 200 ")) console.log((t - t0).toFixed(1).padStart(8), e);
await provider.close();
