import { it, expect } from "vitest";
import { RateLimiter, AdaptiveThrottledNode } from "../src/index.js";
it("probe", async () => {
  const l = new RateLimiter({ maxConcurrent: 2 });
  const ac = new AbortController(); ac.abort(new Error("x"));
  const r = await l.acquire({ signal: ac.signal }).then(() => "granted", (e) => e.message);
  console.log("acquire aborted signal:", r);
  const n = new AdaptiveThrottledNode();
  console.log("stats before run", n.stats, n.currentConcurrent);
  class N extends AdaptiveThrottledNode<unknown, number, number> {
    calls = 0;
    override async prepAsync() { return [1]; }
    override async execAsync() { this.calls++; throw Object.assign(new Error("429"), { status: 429, retryAfter: 0.01 }); }
  }
  const m = new N({ maxRetries: 3, maxRateLimitRetries: 0 });
  await m.runAsync({}).catch(() => {});
  console.log("attempts with maxRateLimitRetries 0, maxRetries 3:", (m as unknown as {calls:number}).calls);
  {
    const p = l.acquire(); 
    await using permit = await p;
    console.log("using ok", l.active);
  }
  console.log("after using", l.active);
});
