import { afterEach, describe, expect, it, vi } from "vitest";
import { deferred, flush as macrotaskTurns, until } from "test-support";
import type { AcquireOptions, Limiter, Permit } from "../src/limiters/limiter.js";
import { RateLimiter } from "../src/limiters/sliding-window.js";
import { TokenBucket } from "../src/limiters/token-bucket.js";
import { AdaptiveThrottledNode } from "../src/adaptive-node.js";
import { ThrottledParallelBatchNode } from "../src/nodes.js";

afterEach(() => {
  vi.useRealTimers();
});

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

interface Shared<Item = unknown, Result = unknown> {
  items: Item[];
  results?: Result[];
}

/**
 * A node whose items say what each attempt does: `answer` is returned by the
 * first attempts in order, then `fallbackAnswer` forever. An answer that is an
 * Error is thrown. Items count as `tokens` tokens.
 */
interface Script {
  tokens?: number;
  answers: unknown[];
}

class Scripted extends ThrottledParallelBatchNode<Shared<Script>, Script, unknown> {
  attempts = new Map<Script, number>();

  override async prepAsync(shared: Shared<Script>): Promise<Script[]> {
    return shared.items;
  }

  override estimateTokens(item: Script): number {
    return item.tokens ?? 0;
  }

  override async execAsync(item: Script): Promise<unknown> {
    const attempt = this.attempts.get(item) ?? 0;
    this.attempts.set(item, attempt + 1);
    const answer = item.answers[Math.min(attempt, item.answers.length - 1)];
    if (answer instanceof Error) throw answer;
    return answer;
  }

  override async postAsync(shared: Shared<Script>, _prepRes: unknown, results: unknown[]): Promise<undefined> {
    shared.results = results;
    return undefined;
  }
}

/** An error carrying provider headers, as the `openai` and `@anthropic-ai/sdk` errors do. */
function providerError(message: string, headers: unknown, status = 500): Error {
  return Object.assign(new Error(message), { status, headers });
}

/** A Limiter that logs what a node does to it and delegates to a RateLimiter. */
class LoggingLimiter implements Limiter {
  readonly log: string[] = [];
  readonly observed: unknown[] = [];
  readonly acquiredTokens: number[] = [];

  constructor(readonly inner: RateLimiter = new RateLimiter({ maxConcurrent: 1 })) {}

  get maxConcurrent(): number {
    return this.inner.maxConcurrent;
  }
  get active(): number {
    return this.inner.active;
  }
  get pending(): number {
    return this.inner.pending;
  }
  get stats() {
    return this.inner.stats;
  }
  async acquire(options: AcquireOptions = {}): Promise<Permit> {
    this.acquiredTokens.push(options.tokens ?? 0);
    const permit = await this.inner.acquire(options);
    this.log.push(`acquire ${options.tokens ?? 0}`);
    const log = this.log;
    const logged: Permit = {
      tokens: permit.tokens,
      release() {
        log.push("release");
        permit.release();
      },
      settle(actual: number) {
        log.push(`settle ${actual}`);
        permit.settle(actual);
      },
      [Symbol.dispose]() {
        logged.release();
      },
      async [Symbol.asyncDispose]() {
        logged.release();
      },
    };
    return logged;
  }
  run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    return this.inner.run(fn, options);
  }
  setConcurrency(n: number): void {
    this.inner.setConcurrency(n);
  }
  pause(seconds: number): void {
    this.log.push(`pause ${seconds}`);
    this.inner.pause(seconds);
  }
  observe(headers: unknown): void {
    this.log.push("observe");
    this.observed.push(headers);
    this.inner.observe(headers);
  }
  reset(): void {
    this.inner.reset();
  }
}

const exhausted = (resetRequests: string) => ({
  "x-ratelimit-remaining-requests": "0",
  "x-ratelimit-reset-requests": resetRequests,
});

// ---------------------------------------------------------------------------
// Token reservation and settlement
// ---------------------------------------------------------------------------

describe("a node's token reservation", () => {
  it("reserves estimateTokens(item) in a shared limiter's token budget without a maxTokensPerMinute of its own", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 3, maxTokensPerWindow: 10_000, windowSeconds: 60 });
    const node = new Scripted({ limiter });

    await node.runAsync({ items: [10, 20, 30].map((tokens) => ({ tokens, answers: ["ok"] })) });

    expect(node.maxTokensPerMinute).toBeUndefined();
    expect(limiter.currentWindowCount).toBe(3);
    expect(limiter.currentWindowTokens).toBe(60);
  });

  it("passes estimateTokens(item) to any Limiter given as limiter", async () => {
    const limiter = new LoggingLimiter();
    const node = new Scripted({ limiter });

    await node.runAsync({ items: [10, 20, 30].map((tokens) => ({ tokens, answers: ["ok"] })) });

    expect(limiter.acquiredTokens).toEqual([10, 20, 30]);
  });

  it("holds an item whose estimate would take its own window over maxTokensPerMinute", async () => {
    const started: number[] = [];
    class Recording extends Scripted {
      override async execAsync(item: Script): Promise<unknown> {
        started.push(item.tokens as number);
        return "ok";
      }
    }
    const node = new Recording({ maxTokensPerMinute: 100 });
    const controller = new AbortController();

    const run = node.runAsync({ items: [60, 40, 1].map((tokens) => ({ tokens, answers: [] })) }, { signal: controller.signal });
    await until(() => started.length === 2);
    await macrotaskTurns(5);
    const startedBeforeAbort = [...started];
    controller.abort(new Error("stop"));

    expect(startedBeforeAbort).toEqual([60, 40]);
    await expect(run).rejects.toThrow("stop");
  });

  it("settles each item with usageOf(result), so a refund shows at once in the window", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 3, maxTokensPerWindow: 10_000, windowSeconds: 60 });
    const node = new Scripted({ limiter });
    const items = [
      { tokens: 100, answers: [{ usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 } }] },
      { tokens: 100, answers: [{ usage: { input_tokens: 3, output_tokens: 4 } }] },
      { tokens: 100, answers: [{ text: "no usage" }] },
    ];

    await node.runAsync({ items });

    expect(limiter.currentWindowTokens).toBe(5 + 7 + 100);
  });

  it("settles with an overridden usageOf", async () => {
    class Costed extends Scripted {
      override usageOf(result: unknown): number | undefined {
        return (result as { cost: number }).cost;
      }
    }
    const limiter = new RateLimiter({ maxConcurrent: 3, maxTokensPerWindow: 10_000, windowSeconds: 60 });
    const node = new Costed({ limiter });

    await node.runAsync({ items: [{ tokens: 50, answers: [{ cost: 120 }] }] });

    expect(limiter.currentWindowTokens).toBe(120);
  });

  it("observes an attempt's headers and settles its usage before it frees the attempt's slot", async () => {
    const limiter = new LoggingLimiter();
    const node = new Scripted({ limiter });

    await node.runAsync({ items: [{ tokens: 9, answers: [{ usage: { total_tokens: 4 }, headers: { "x-request-id": "a" } }] }] });

    expect(limiter.log).toEqual(["acquire 9", "observe", "settle 4", "release"]);
  });

  it("observes a failed attempt's headers and applies its retry hint before it frees the attempt's slot", async () => {
    const limiter = new LoggingLimiter();
    const node = new Scripted({ limiter, maxRetries: 2 });
    const limited = providerError("Too Many Requests", { "retry-after-ms": "10" }, 429);

    await node.runAsync({ items: [{ tokens: 9, answers: [limited, "ok"] }] });

    expect(limiter.log).toEqual(["acquire 9", "observe", "pause 0.01", "release", "acquire 9", "release"]);
  });

  it("rejects maxTokensPerMinute 0 with a RangeError naming it, as an option or a field", () => {
    class Zero extends Scripted {
      override maxTokensPerMinute = 0;
    }

    expect(() => new Scripted({ maxTokensPerMinute: 0 })).toThrow(RangeError);
    expect(() => new Scripted({ maxTokensPerMinute: 0 })).toThrow(/maxTokensPerMinute/);
    expect(() => new Zero()).toThrow(RangeError);
    expect(() => new Zero()).toThrow(/maxTokensPerMinute/);
  });

  it("reads maxTokensPerMinute as a property", () => {
    expect(new Scripted({ maxTokensPerMinute: 90_000 }).maxTokensPerMinute).toBe(90_000);
  });

  it("rejects an item whose estimate exceeds the whole budget with a RangeError naming maxTokensPerWindow", async () => {
    const node = new Scripted({ maxTokensPerMinute: 100 });

    const run = node.runAsync({ items: [{ tokens: 150, answers: ["never"] }] });

    await expect(run).rejects.toThrow(RangeError);
    await expect(run).rejects.toThrow(/maxTokensPerWindow/);
  });

  it("rejects an oversize item that had to queue behind others instead of waiting forever", async () => {
    const node = new Scripted({ maxTokensPerMinute: 100, maxConcurrent: 1 });

    const run = node.runAsync({
      items: [
        { tokens: 90, answers: ["ok"] },
        { tokens: 150, answers: ["never"] },
      ],
    });

    await expect(run).rejects.toThrow(/maxTokensPerWindow/);
    expect(node.attempts.size).toBe(1);
  });
});

describe("a node's default estimateTokens and usageOf", () => {
  const node = new ThrottledParallelBatchNode();

  it.each([
    ["a long string", "lorem ipsum dolor sit amet ".repeat(40)],
    ["a chat request", { model: "gpt-4o-mini", messages: [{ role: "user", content: "Translate: ".concat("hello world ".repeat(50)) }] }],
    ["an array of numbers", Array.from({ length: 200 }, (_, i) => i * 37)],
  ])("estimates %s within 10%% of its JSON length / 4", (_label, item) => {
    const quarterOfJson = JSON.stringify(item).length / 4;

    const estimate = node.estimateTokens(item);

    expect(estimate).toBeGreaterThanOrEqual(0.9 * quarterOfJson);
    expect(estimate).toBeLessThanOrEqual(1.1 * quarterOfJson);
  });

  it("reads OpenAI's usage as input, output and total tokens", () => {
    expect(node.usageOf({ usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })).toEqual({
      inputTokens: 10,
      outputTokens: 5,
      tokens: 15,
    });
  });

  it("reads Anthropic's usage.input_tokens and usage.output_tokens, totalled", () => {
    expect(node.usageOf({ usage: { input_tokens: 10, output_tokens: 5 } })).toEqual({ inputTokens: 10, outputTokens: 5, tokens: 15 });
  });

  it("reads an incomplete Anthropic usage as the side it gives (the other keeps the estimate)", () => {
    expect(node.usageOf({ usage: { input_tokens: 10 } })).toEqual({ inputTokens: 10 });
  });

  it.each([
    ["no usage", { text: "hi" }],
    ["a usage that is not an object", { usage: 12 }],
    ["a usage below the top level", { data: { usage: { total_tokens: 15 } } }],
    ["null", null],
    ["a string", "answer"],
  ])("gives undefined (keep the estimate) for %s", (_label, result) => {
    expect(node.usageOf(result)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// Provider headers
// ---------------------------------------------------------------------------

describe("a node observing provider headers", () => {
  it("observes the headers of every result", async () => {
    const limiter = new LoggingLimiter();
    const node = new Scripted({ limiter });
    const first = new Headers({ "x-ratelimit-remaining-requests": "9" });
    const second = { "x-ratelimit-remaining-requests": "8" };

    await node.runAsync({ items: [{ answers: [{ headers: first }] }, { answers: [{ headers: second }] }] });

    expect(limiter.observed).toEqual([first, second]);
  });

  it("observes the headers of an error that is then retried, and of the retry's result", async () => {
    const limiter = new LoggingLimiter();
    const node = new Scripted({ limiter, maxRetries: 2 });
    const failed = { "x-ratelimit-remaining-requests": "3" };
    const succeeded = { "x-ratelimit-remaining-requests": "2" };

    await node.runAsync({ items: [{ answers: [providerError("upstream", failed), { headers: succeeded }] }] });

    expect(limiter.observed).toEqual([failed, succeeded]);
  });

  it("observes the headers of an error handled by execFallbackAsync", async () => {
    const limiter = new LoggingLimiter();
    const node = new Scripted({ limiter, maxRateLimitRetries: 0 }); // a 529 (overloaded) would otherwise be re-run
    node.execFallbackAsync = async () => "fallback";
    const headers = new Headers({ "anthropic-ratelimit-requests-remaining": "4" });
    const shared: Shared<Script> = { items: [{ answers: [providerError("overloaded", headers, 529)] }] };

    await node.runAsync(shared);

    expect(shared.results).toEqual(["fallback"]);
    expect(limiter.observed).toEqual([headers]);
  });

  it("observes the headers of an error that fails the run", async () => {
    const limiter = new LoggingLimiter();
    const node = new Scripted({ limiter });
    const headers = { "x-ratelimit-remaining-tokens": "0" };

    await expect(node.runAsync({ items: [{ answers: [providerError("bad request", headers, 400)] }] })).rejects.toThrow(
      "bad request",
    );

    expect(limiter.observed).toEqual([headers]);
  });

  it("observes nothing with observeHeaders false", async () => {
    const limiter = new LoggingLimiter();
    const node = new Scripted({ limiter, observeHeaders: false, maxRetries: 2 });

    await node.runAsync({
      items: [{ answers: [providerError("upstream", exhausted("1s")), { headers: exhausted("1s") }] }],
    });

    expect(limiter.observed).toEqual([]);
    expect(limiter.inner.pausedUntil).toBe(0);
  });

  it("holds the next start until the reset when a result says no requests remain", async () => {
    const startedAt: number[] = [];
    const answeredAt: number[] = [];
    class Timed extends Scripted {
      override async execAsync(item: Script): Promise<unknown> {
        startedAt.push(performance.now());
        const answer = await super.execAsync(item);
        answeredAt.push(performance.now());
        return answer;
      }
    }
    // One slot and two workers: the second item waits at the slot, so this also shows the headers were read before the slot was freed.
    const node = new Timed({ limiter: new RateLimiter({ maxConcurrent: 1 }), maxConcurrent: 2 });

    await node.runAsync({ items: [{ answers: [{ headers: new Headers(exhausted("200ms")) }] }, { answers: ["ok"] }] });

    // A lower bound only (timers may fire up to 1 ms early): a busy machine can only make the wait longer.
    expect((startedAt[1] as number) - (answeredAt[0] as number)).toBeGreaterThanOrEqual(190);
  });

  it("holds the next start until an Anthropic reset time given in an error's headers", async () => {
    const startedAt: number[] = [];
    class Timed extends Scripted {
      override async execAsync(item: Script): Promise<unknown> {
        startedAt.push(performance.now());
        return super.execAsync(item);
      }
    }
    const node = new Timed({ maxConcurrent: 1 });
    node.execFallbackAsync = async () => "fallback";
    const createdAt = performance.now();
    const reset = new Date(Date.now() + 300).toISOString();
    const headers = { "Anthropic-RateLimit-Tokens-Remaining": "0", "Anthropic-RateLimit-Tokens-Reset": reset };

    await node.runAsync({ items: [{ answers: [providerError("overloaded", headers, 529)] }, { answers: ["ok"] }] });

    // A lower bound from when the reset time was made (Date.now() counts whole milliseconds, hence the slack).
    expect((startedAt[1] as number) - createdAt).toBeGreaterThanOrEqual(290);
  });

  it("does not hold while the headers say some remain", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const node = new Scripted({ limiter, maxConcurrent: 1 });
    const plenty = { "x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "6m0s" };

    await node.runAsync({ items: [{ answers: [{ headers: plenty }] }, { answers: [{ headers: plenty }] }, { answers: ["ok"] }] });

    expect(limiter.pausedUntil).toBe(0);
    expect(limiter.stats.throttled).toBe(0);
  });
});

describe("a node hit by a rate limit with a retry hint", () => {
  it("pauses its whole limiter: no other item starts until the hint has passed", async () => {
    const busyStarted = deferred<void>();
    const failedAt = deferred<number>();
    const starts: Array<{ item: string; at: number }> = [];
    class Items extends ThrottledParallelBatchNode<Shared<string>, string, string> {
      limitedOnce = false;
      override async prepAsync(shared: Shared<string>): Promise<string[]> {
        return shared.items;
      }
      override async execAsync(item: string): Promise<string> {
        starts.push({ item, at: performance.now() });
        if (item === "limited" && !this.limitedOnce) {
          this.limitedOnce = true;
          await busyStarted.promise;
          failedAt.resolve(performance.now());
          throw providerError("Too Many Requests", { "retry-after-ms": "200" }, 429);
        }
        // "busy" runs while "limited" fails, and until that failure has been handled.
        if (item === "busy") {
          busyStarted.resolve();
          await failedAt.promise.then(() => macrotaskTurns());
        }
        return item;
      }
      override async postAsync(shared: Shared<string>, _p: unknown, results: string[]): Promise<undefined> {
        shared.results = results;
        return undefined;
      }
    }
    const node = new Items({ maxConcurrent: 2, maxRetries: 2 });
    const shared: Shared<string> = { items: ["limited", "busy", "next"] };

    await node.runAsync(shared);
    const failed = await failedAt.promise;

    expect(shared.results).toEqual(["limited", "busy", "next"]);
    const after = starts.filter((s) => s.at > failed);
    expect(after.map((s) => s.item).sort()).toEqual(["limited", "next"]);
    for (const start of after) expect(start.at - failed).toBeGreaterThanOrEqual(190);
  });
});

// ---------------------------------------------------------------------------
// AdaptiveThrottledNode adaptRate
// ---------------------------------------------------------------------------

describe("AdaptiveThrottledNode adaptRate", () => {
  const limitedOnce = (): Script => ({ answers: [providerError("Too Many Requests", { "retry-after-ms": "1" }, 429), "ok"] });

  class Adaptive extends AdaptiveThrottledNode<Shared<Script>, Script, unknown> {
    attempts = new Map<Script, number>();
    override async prepAsync(shared: Shared<Script>): Promise<Script[]> {
      return shared.items;
    }
    override async execAsync(item: Script): Promise<unknown> {
      const attempt = this.attempts.get(item) ?? 0;
      this.attempts.set(item, attempt + 1);
      const answer = item.answers[Math.min(attempt, item.answers.length - 1)];
      if (answer instanceof Error) throw answer;
      return answer;
    }
  }

  it("defaults to false", () => {
    expect(new Adaptive().adaptRate).toBe(false);
  });

  it("lowers the per-minute rate of the limiter it runs under on a rate limit, with the backoff formula", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 60, windowSeconds: 60 });
    const node = new Adaptive({ limiter, maxPerMinute: 60, adaptRate: true, initialConcurrent: 1 });

    await node.runAsync({ items: [limitedOnce()] });

    expect(limiter.maxPerWindow).toBe(30);
    expect(node.stats.currentPerMinute).toBe(30);
  });

  it("raises the rate again after recoveryThreshold successes, with the recovery formula", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 60, windowSeconds: 60 });
    const node = new Adaptive({ limiter, maxPerMinute: 60, adaptRate: true, initialConcurrent: 1, recoveryThreshold: 3 });

    // One rate limit (60 -> 30), then three successes: the retried item and two more (30 -> floor(30 * 1.2) = 36).
    await node.runAsync({ items: [limitedOnce(), { answers: ["ok"] }, { answers: ["ok"] }] });

    expect(limiter.maxPerWindow).toBe(36);
    expect(node.stats.currentPerMinute).toBe(36);
  });

  it("leaves the rate alone without adaptRate", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 60, windowSeconds: 60 });
    const node = new Adaptive({ limiter, maxPerMinute: 60, initialConcurrent: 1 });

    await node.runAsync({ items: [limitedOnce()] });

    expect(limiter.maxPerWindow).toBe(60);
    expect(node.stats.currentPerMinute).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// TokenBucket as a node's limiter
// ---------------------------------------------------------------------------

describe("a TokenBucket as a node's limiter", () => {
  it("runs every item under it, at most its maxConcurrent at once, results in input order", async () => {
    let running = 0;
    let peak = 0;
    class Counting extends ThrottledParallelBatchNode<Shared<number>, number, number> {
      override async prepAsync(shared: Shared<number>): Promise<number[]> {
        return shared.items;
      }
      override async execAsync(item: number): Promise<number> {
        running++;
        peak = Math.max(peak, running);
        await macrotaskTurns(10 - item);
        running--;
        return item * 10;
      }
      override async postAsync(shared: Shared<number>, _p: unknown, results: number[]): Promise<undefined> {
        shared.results = results;
        return undefined;
      }
    }
    const bucket = new TokenBucket({ ratePerSecond: 10_000, burst: 10, maxConcurrent: 2 });
    const node = new Counting({ limiter: bucket, maxConcurrent: 2 });
    const shared: Shared<number> = { items: [1, 2, 3, 4, 5, 6] };

    await node.runAsync(shared);

    expect(shared.results).toEqual([10, 20, 30, 40, 50, 60]);
    expect(peak).toBe(2);
    expect(bucket.stats.acquired).toBe(6);
  });

  it("paces the node's starts by its burst, then its refill rate", async () => {
    vi.useFakeTimers();
    const startedAt: number[] = [];
    class Stamped extends ThrottledParallelBatchNode<Shared<number>, number, number> {
      override async prepAsync(shared: Shared<number>): Promise<number[]> {
        return shared.items;
      }
      override async execAsync(item: number): Promise<number> {
        startedAt.push(performance.now());
        return item;
      }
    }
    const bucket = new TokenBucket({ ratePerSecond: 20, burst: 2, maxConcurrent: 5 });
    const node = new Stamped({ limiter: bucket });
    const t0 = performance.now();

    const run = node.runAsync({ items: [1, 2, 3, 4] });
    await vi.runAllTimersAsync();
    await run;

    const offsets = startedAt.map((at) => at - t0);
    expect(offsets.slice(0, 2)).toEqual([0, 0]);
    expect(offsets[2]).toBeGreaterThanOrEqual(50);
    expect(offsets[2]).toBeLessThanOrEqual(51);
    expect(offsets[3]).toBeGreaterThanOrEqual(100);
    expect(offsets[3]).toBeLessThanOrEqual(102);
  });
});
