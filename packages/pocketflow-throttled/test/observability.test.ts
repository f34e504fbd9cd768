import { AsyncFlow } from "pocketflow-ts";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ATTEMPT_CHANNEL,
  type AttemptMessage,
  AdaptiveThrottledNode,
  LIMITER_CHANNEL,
  type LimiterMessage,
  LimiterRegistry,
  logSummary,
  RateLimiter,
  RateLimitHit,
  RUN_CHANNEL,
  type RunMessage,
  ThrottledParallelBatchNode,
  TokenBucket,
} from "../src/index.js";
import { collect, delay } from "test-support";
import { WAIT_SAMPLES, WaitSamples } from "../src/limiters/metrics.js";

interface Shared {
  items: number[];
  results?: unknown[];
}

class Batch extends ThrottledParallelBatchNode<Shared, number, { usage: { prompt_tokens: number; completion_tokens: number } }> {
  failFirst = new Set<number>();
  override async prepAsync(shared: Shared) {
    return shared.items;
  }
  override async execAsync(item: number) {
    if (this.failFirst.delete(item)) throw new RateLimitHit("slow down", { retryAfter: 0.01 });
    await delay(2);
    return { usage: { prompt_tokens: 10 * item, completion_tokens: item } };
  }
  override async postAsync(shared: Shared, _p: unknown, results: unknown[]) {
    shared.results = results;
    return undefined;
  }
}

const stops: Array<() => void> = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

describe("diagnostics channels", () => {
  it("publish a start and an end per node and flow run, nodes nested under their flow's run id", async () => {
    const runs = collect<RunMessage>(RUN_CHANNEL);
    stops.push(runs.stop);
    const node = new Batch({ maxConcurrent: 2 });
    const flow = new AsyncFlow(node);
    await flow.runAsync({ items: [1, 2, 3] });
    const [flowStart, nodeStart, nodeEnd, flowEnd] = runs.messages;
    expect(runs.messages.map((m) => `${m.event} ${m.node} ${m.kind}`)).toEqual([
      "start AsyncFlow flow",
      "start Batch node",
      "end Batch node",
      "end AsyncFlow flow",
    ]);
    expect(nodeStart?.parentRunId).toBe(flowStart?.runId);
    expect(flowStart?.parentRunId).toBeUndefined();
    expect(nodeEnd).toMatchObject({ outcome: "success", items: 3, errorName: undefined, runId: nodeStart?.runId });
    expect(flowEnd).toMatchObject({ outcome: "success", runId: flowStart?.runId });
    expect(nodeEnd?.event === "end" && nodeEnd.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("report a failed run as an error with the error's name only", async () => {
    const runs = collect<RunMessage>(RUN_CHANNEL);
    stops.push(runs.stop);
    class Boom extends Batch {
      override async execAsync(): Promise<never> {
        throw new TypeError("secret prompt text");
      }
    }
    await expect(new Boom().runAsync({ items: [1] })).rejects.toThrow(TypeError);
    const end = runs.messages.at(-1);
    expect(end).toMatchObject({ event: "end", outcome: "error", errorName: "TypeError" });
    expect(JSON.stringify(end)).not.toContain("secret");
  });

  it("publish one attempt message per attempt: run id, index, attempt number, outcome, refusal kind, usage", async () => {
    const runs = collect<RunMessage>(RUN_CHANNEL);
    const attempts = collect<AttemptMessage>(ATTEMPT_CHANNEL);
    stops.push(runs.stop, attempts.stop);
    const node = new Batch({ maxConcurrent: 4, maxRateLimitRetries: 2 });
    node.failFirst.add(2);
    await node.runAsync({ items: [1, 2, 3] });
    const runId = runs.messages[0]?.runId;
    const sorted = [...attempts.messages].sort((a, b) => a.index - b.index || a.attempt - b.attempt);
    expect(sorted.map((m) => [m.runId, m.index, m.attempt, m.outcome, m.refusal, m.retrying])).toEqual([
      [runId, 0, 1, "success", undefined, false],
      [runId, 1, 1, "refused", "rate-limit", true],
      [runId, 1, 2, "success", undefined, false],
      [runId, 2, 1, "success", undefined, false],
    ]);
    expect(sorted[0]?.usage).toEqual({ inputTokens: 10, outputTokens: 1, tokens: 11 });
    expect(sorted[1]?.errorName).toBe("RateLimitHit");
    expect(sorted[2]?.backoffMs).toBeGreaterThan(0);
  });

  it("say an attempt waited at the concurrency gate, and for how long", async () => {
    const attempts = collect<AttemptMessage>(ATTEMPT_CHANNEL);
    stops.push(attempts.stop);
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const node = new Batch({ limiter });
    await node.runAsync({ items: [1, 2] });
    const waited = attempts.messages.find((m) => m.index === 1);
    expect(waited?.gate).toMatch(/^(concurrency|queue)$/);
    expect(waited?.waitMs).toBeGreaterThan(0.5);
    expect(attempts.messages.find((m) => m.index === 0)?.gate).toBe("none");
  });

  it("publish pauses with their reason, concurrency changes and learned limits", async () => {
    const changes = collect<LimiterMessage>(LIMITER_CHANNEL);
    stops.push(changes.stop);
    const limiter = new RateLimiter({ maxConcurrent: 4, maxPerWindow: 100 });
    limiter.pause(0.01);
    limiter.observe({ "retry-after": "0.01", "x-ratelimit-remaining-requests": "0" });
    limiter.setConcurrency(2);
    limiter.setMaxPerWindow(50);
    limiter.learn({ requestsPerMinute: 600 });
    const events = changes.messages.map((m) => [m.event, "reason" in m ? m.reason : undefined]);
    expect(events).toContainEqual(["pause", "set"]);
    expect(events).toContainEqual(["concurrency", "set"]);
    expect(events).toContainEqual(["rate", "set"]);
    expect(events).toContainEqual(["learned", undefined]);
    expect(changes.messages.find((m) => m.event === "concurrency")).toMatchObject({ from: 4, to: 2, limiter });
  });

  it("say an adaptive back-off changed the concurrency, and a retry hint paused the limiter", async () => {
    const changes = collect<LimiterMessage>(LIMITER_CHANNEL);
    stops.push(changes.stop);
    class Adaptive extends AdaptiveThrottledNode<Shared, number, number> {
      hit = true;
      override async prepAsync(shared: Shared) {
        return shared.items;
      }
      override async execAsync(item: number) {
        if (this.hit) {
          this.hit = false;
          throw new RateLimitHit("slow down", { retryAfter: 0.01 });
        }
        return item;
      }
    }
    await new Adaptive({ initialConcurrent: 4, minConcurrent: 1, maxConcurrent: 8 }).runAsync({ items: [1, 2, 3] });
    expect(changes.messages).toContainEqual(expect.objectContaining({ event: "concurrency", reason: "backoff" }));
    expect(changes.messages).toContainEqual(expect.objectContaining({ event: "pause", reason: "retry-after" }));
  });

  it("build no message when nobody subscribes (a throwing publish would fail the run otherwise)", async () => {
    const { channel } = await import("node:diagnostics_channel");
    for (const name of [RUN_CHANNEL, ATTEMPT_CHANNEL, LIMITER_CHANNEL]) expect(channel(name).hasSubscribers).toBe(false);
    const spy = vi.spyOn(channel(ATTEMPT_CHANNEL), "publish");
    const node = new Batch({ maxConcurrent: 2 });
    await node.runAsync({ items: [1, 2, 3] });
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  });
});

describe("limiter.metrics()", () => {
  it("counts requests, throttled starts, their waits and window use", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1, maxPerWindow: 10, windowSeconds: 60 });
    await Promise.all([1, 2, 3, 4].map(() => limiter.run(() => delay(5))));
    const m = limiter.metrics();
    expect(m).toMatchObject({ requests: 4, throttled: 3, throttleRate: 0.75, active: 0, pending: 0 });
    expect(m.averageWaitMs).toBeGreaterThan(0);
    expect(m.p95WaitMs).toBeGreaterThanOrEqual(m.averageWaitMs);
    expect(m.windows).toEqual([{ seconds: 60, kind: "maxRequests", used: 4, limit: 10, use: 0.4 }]);
  });

  it("counts refusals by kind as the run engine reports them", async () => {
    const limiter = new TokenBucket({ ratePerSecond: 1000, maxConcurrent: 4 });
    const node = new Batch({ limiter, maxRateLimitRetries: 3 });
    node.failFirst.add(1);
    node.failFirst.add(3);
    await node.runAsync({ items: [1, 2, 3] });
    expect(limiter.metrics().refusals).toEqual({ "rate-limit": 2 });
    expect(limiter.metrics().requests).toBe(5);
  });

  it("keeps the last WAIT_SAMPLES waits only: the p95 follows recent waits, counting starts that did not wait as 0", () => {
    const samples = new WaitSamples();
    for (let i = 0; i < 10_000; i++) samples.add(1000); // old, slow waits
    for (let i = 1; i <= WAIT_SAMPLES; i++) samples.add(i); // recent ones push them all out
    expect(samples.quantile(0.95, 0)).toBe(Math.ceil(0.95 * WAIT_SAMPLES));
    expect(samples.quantile(0.95, 0.5)).toBe(Math.ceil(0.9 * WAIT_SAMPLES));
    expect(samples.quantile(0.95, 0.96)).toBe(0);
  });

  it("reports zeros before any start", () => {
    const limiter = new RateLimiter();
    expect(limiter.metrics()).toMatchObject({ requests: 0, throttled: 0, throttleRate: 0, averageWaitMs: 0, p95WaitMs: 0, refusals: {} });
  });

  it("is on the registry for every limiter by name", () => {
    LimiterRegistry.register("obs-a", { maxConcurrent: 3 });
    expect(LimiterRegistry.metrics()["obs-a"]).toMatchObject({ requests: 0, active: 0 });
    LimiterRegistry.remove("obs-a");
  });
});

describe("logSummary", () => {
  it("logs seed 004's line for a period with activity and nothing for an idle one", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
    try {
      const limiter = new RateLimiter({ maxConcurrent: 2 });
      const lines: string[] = [];
      const stop = logSummary(limiter, { everySeconds: 10, log: (l) => lines.push(l) });
      const held = [limiter.acquire(), limiter.acquire(), limiter.acquire()];
      await Promise.all(held.slice(0, 2));
      vi.advanceTimersByTime(10_000);
      expect(lines).toEqual(["Rate limiter summary (last 10.0s): 2 requests, 0 throttled (0.0%), queue: 2/2"]);
      for (const p of await Promise.all(held.slice(0, 2))) p.release();
      (await held[2])?.release();
      vi.advanceTimersByTime(10_000);
      expect(lines[1]).toBe("Rate limiter summary (last 10.0s): 1 requests, 1 throttled (100.0%), queue: 0/2");
      vi.advanceTimersByTime(30_000);
      expect(lines).toHaveLength(2);
      stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it("unrefs its timer and stops when asked", () => {
    const unref = vi.spyOn(globalThis, "setInterval");
    const stop = logSummary(new RateLimiter(), { log: () => {} });
    const timer = unref.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    unref.mockRestore();
    const clear = vi.spyOn(globalThis, "clearInterval");
    stop();
    expect(clear).toHaveBeenCalledWith(timer);
    clear.mockRestore();
  });

  it("rejects a bad period or target, naming it and quoting the value", () => {
    expect(() => logSummary(new RateLimiter(), { everySeconds: -1 })).toThrow(/everySeconds.*-1/);
    expect(() => logSummary("nope" as never)).toThrow(/logSummary.*nope/);
  });
});
