import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_ARRIVAL_MARGIN_SECONDS, RateLimiter } from "../src/index.js";
import { settledSoon } from "test-support";

/**
 * Several windows at once, token kinds, the arrival margin and learned
 * limits. Timings run on vitest's fake clock (it drives performance.now()),
 * so a start time is exact.
 */

afterEach(() => {
  vi.useRealTimers();
});

/** Starts `count` acquisitions one after the other and returns when each was granted, in fake ms. */
async function grantTimes(limiter: RateLimiter, count: number, advanceMs: number): Promise<number[]> {
  const t0 = performance.now();
  const times: number[] = [];
  const all = Array.from({ length: count }, () =>
    limiter.acquire().then((permit) => {
      times.push(performance.now() - t0);
      permit.release();
    }),
  );
  await vi.advanceTimersByTimeAsync(advanceMs);
  await Promise.all(all);
  return times;
}

describe("RateLimiter with several windows", () => {
  it("checks each window on its own: a per-second window spreads what a per-minute window would let start at once", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({
      maxConcurrent: 10,
      windows: [
        { seconds: 60, maxRequests: 60 },
        { seconds: 1, maxRequests: 1 },
      ],
      arrivalMarginSeconds: 0,
    });

    expect(await grantTimes(limiter, 3, 3000)).toEqual([0, 1000, 2000]);
  });

  it("waits for the strictest window: a per-minute limit holds starts the per-second one would allow", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({
      maxConcurrent: 10,
      windows: [
        { seconds: 1, maxRequests: 5 },
        { seconds: 2, maxRequests: 2 },
      ],
      arrivalMarginSeconds: 0,
    });

    expect(await grantTimes(limiter, 3, 3000)).toEqual([0, 0, 2000]);
  });

  it("adds the maxPerWindow shorthand as one more window beside windows", () => {
    const limiter = new RateLimiter({ maxPerWindow: 100, windowSeconds: 60, windows: [{ seconds: 1, maxRequests: 2 }] });

    expect(limiter.windows).toEqual([
      { seconds: 60, maxRequests: 100 },
      { seconds: 1, maxRequests: 2 },
    ]);
    expect(limiter.maxPerWindow).toBe(100);
  });

  it("reads the windows in force grouped by period, frozen", () => {
    const limiter = new RateLimiter({
      maxTokensPerWindow: 1000,
      windows: [{ seconds: 60, maxRequests: 50, maxInputTokens: 30_000, maxOutputTokens: 8000 }],
    });

    expect(limiter.windows).toEqual([{ seconds: 60, maxTokens: 1000, maxRequests: 50, maxInputTokens: 30_000, maxOutputTokens: 8000 }]);
    expect(Object.isFrozen(limiter.windows)).toBe(true);
    expect(Object.isFrozen(limiter.windows[0])).toBe(true);
  });

  it("has no windows when none is configured", () => {
    expect(new RateLimiter().windows).toEqual([]);
  });
});

describe("RateLimiter token kinds", () => {
  it("counts input and output tokens each in their own window", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, windows: [{ seconds: 60, maxInputTokens: 100, maxOutputTokens: 50 }] });
    await limiter.acquire({ inputTokens: 60, outputTokens: 10 });
    await limiter.acquire({ inputTokens: 30, outputTokens: 30 });

    const overOutput = limiter.acquire({ inputTokens: 5, outputTokens: 20 });
    const fitsBoth = limiter.acquire({ inputTokens: 10, outputTokens: 10 });

    expect(await settledSoon(overOutput)).toBe(false);
    expect(await settledSoon(fitsBoth)).toBe(false); // first come, first served: it waits behind
    limiter.reset();
    await overOutput;
  });

  it("defaults tokens to inputTokens + outputTokens", async () => {
    const limiter = new RateLimiter({ maxTokensPerWindow: 100, windowSeconds: 60 });

    const permit = await limiter.acquire({ inputTokens: 60, outputTokens: 30 });

    expect(permit.tokens).toBe(90);
    expect(limiter.currentWindowTokens).toBe(90);
  });

  it("rejects a request above a window's limit of its kind with a RangeError naming that window", async () => {
    const limiter = new RateLimiter({ windows: [{ seconds: 60, maxInputTokens: 4000 }] });

    await expect(limiter.acquire({ inputTokens: 5000 })).rejects.toThrow(
      "a request of 5000 input tokens can never start under the 60 s window's maxInputTokens 4000",
    );
    await expect(limiter.acquire({ inputTokens: 5000 })).rejects.toThrow(RangeError);
    expect(limiter.pending).toBe(0);
  });

  it("a settle() with parts refunds the output tokens and lets a waiter that now fits start at once", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 10, windows: [{ seconds: 60, maxOutputTokens: 100 }] });
    const first = await limiter.acquire({ inputTokens: 10, outputTokens: 90 });
    const waiting = limiter.acquire({ outputTokens: 50 });
    expect(await settledSoon(waiting)).toBe(false);

    first.settle({ outputTokens: 20 });

    expect(await settledSoon(waiting)).toBe(true);
  });

  it("a settle() with parts and no total sets the total to their sum; a number sets the total only", async () => {
    const limiter = new RateLimiter({ maxTokensPerWindow: 1000, windowSeconds: 60 });
    const permit = await limiter.acquire({ inputTokens: 100, outputTokens: 100 });

    permit.settle({ inputTokens: 80, outputTokens: 40 });
    const afterParts = limiter.currentWindowTokens;
    permit.settle(75);

    expect(afterParts).toBe(120);
    expect(limiter.currentWindowTokens).toBe(75);
  });
});

describe("RateLimiter windows option", () => {
  it.each([
    ["windows[0].seconds", { windows: [{ seconds: 0, maxRequests: 1 }] }, RangeError],
    ["windows[0].seconds", { windows: [{ seconds: Number.POSITIVE_INFINITY, maxRequests: 1 }] }, RangeError],
    ["windows[1].maxRequests", { windows: [{ seconds: 1, maxRequests: 1 }, { seconds: 1, maxRequests: 0 }] }, RangeError],
    ["windows[0].maxTokens", { windows: [{ seconds: 1, maxTokens: "5" }] }, TypeError],
    ["windows[0] has no limit", { windows: [{ seconds: 60 }] }, RangeError],
    ['"maxRequest"', { windows: [{ seconds: 60, maxRequest: 5 }] }, TypeError],
    ["windows must be an array", { windows: { seconds: 60, maxRequests: 5 } }, TypeError],
  ])("rejects a bad window with an error naming %s", (shown, options, type) => {
    expect(() => new RateLimiter(options as never)).toThrow(type);
    expect(() => new RateLimiter(options as never)).toThrow(shown);
  });
});

describe("RateLimiter arrivalMarginSeconds", () => {
  it("keeps each start in its windows that much longer than seconds", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ windows: [{ seconds: 1, maxRequests: 1 }], arrivalMarginSeconds: 0.2 });

    expect(await grantTimes(limiter, 2, 2000)).toEqual([0, 1200]);
  });

  it(`defaults to DEFAULT_ARRIVAL_MARGIN_SECONDS (${DEFAULT_ARRIVAL_MARGIN_SECONDS} s)`, async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ maxPerWindow: 1, windowSeconds: 1 });

    expect(limiter.arrivalMarginSeconds).toBe(DEFAULT_ARRIVAL_MARGIN_SECONDS);
    expect(await grantTimes(limiter, 2, 2000)).toEqual([0, 1000 + DEFAULT_ARRIVAL_MARGIN_SECONDS * 1000]);
  });

  it.each([-0.1, Number.NaN, Number.POSITIVE_INFINITY])("rejects %s with a RangeError naming it", (margin) => {
    expect(() => new RateLimiter({ arrivalMarginSeconds: margin })).toThrow(RangeError);
    expect(() => new RateLimiter({ arrivalMarginSeconds: margin })).toThrow("arrivalMarginSeconds");
  });
});

describe("RateLimiter learned limits", () => {
  it("turns a per-minute limit into a window of its kind with a per-second window of ceil(limit / 60) beside it", () => {
    const limiter = new RateLimiter();

    limiter.learn({ requestsPerMinute: 500, inputTokensPerMinute: 30_000 });

    expect(limiter.windows).toEqual([
      { seconds: 60, maxRequests: 500, maxInputTokens: 30_000 },
      { seconds: 1, maxRequests: 9, maxInputTokens: 500 },
    ]);
  });

  it("turns per-day limits into 86,400 s windows", () => {
    const limiter = new RateLimiter();

    limiter.learn({ requestsPerDay: 40, tokensPerDay: 1_000_000 });

    expect(limiter.windows).toEqual([{ seconds: 86_400, maxRequests: 40, maxTokens: 1_000_000 }]);
  });

  it("replaces a configured window of the same kind and period, keeps the others, and reset() brings the configured one back", () => {
    const limiter = new RateLimiter({ maxPerWindow: 100, windowSeconds: 60, windows: [{ seconds: 60, maxTokens: 9000 }] });

    limiter.learn({ requestsPerMinute: 30 });
    const learned = limiter.windows;
    limiter.reset();

    expect(learned).toEqual([
      { seconds: 60, maxTokens: 9000, maxRequests: 30 },
      { seconds: 1, maxRequests: 1 },
    ]);
    expect(limiter.windows).toEqual([{ seconds: 60, maxRequests: 100, maxTokens: 9000 }]);
    expect(limiter.maxPerWindow).toBe(100);
  });

  it("replaces an earlier learned limit of the same kind and period", () => {
    const limiter = new RateLimiter();

    limiter.learn({ requestsPerMinute: 60, tokensPerMinute: 6000 });
    limiter.learn({ requestsPerMinute: 120 });

    expect(limiter.windows).toEqual([
      { seconds: 60, maxTokens: 6000, maxRequests: 120 },
      { seconds: 1, maxTokens: 100, maxRequests: 2 },
    ]);
  });

  it("enforces what it learned, counting the starts made before", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ learnLimits: true, arrivalMarginSeconds: 0 });
    (await limiter.acquire()).release();

    limiter.learn({ requestsPerMinute: 60 });

    expect(await grantTimes(limiter, 2, 2000)).toEqual([1000, 2000]);
  });

  it("lets a request heavier than a per-second token share start alone in an empty second", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ maxConcurrent: 5, arrivalMarginSeconds: 0 });
    limiter.learn({ tokensPerMinute: 6000 });

    const big = await limiter.acquire({ tokens: 500 });
    const next = limiter.acquire({ tokens: 1 });
    await vi.advanceTimersByTimeAsync(999);
    const early = limiter.pending;
    await vi.advanceTimersByTimeAsync(1);

    expect(big.tokens).toBe(500);
    expect(early).toBe(1);
    expect(limiter.pending).toBe(0);
    await next;
  });

  it("rejects bad learned limits with an error naming them", () => {
    const limiter = new RateLimiter();

    expect(() => limiter.learn({ requestsPerMinute: 0 })).toThrow(RangeError);
    expect(() => limiter.learn({ requestsPerMinute: 0 })).toThrow("requestsPerMinute");
    expect(() => limiter.learn({ rpm: 5 } as never)).toThrow('"rpm"');
  });

  it("keeps setMaxPerWindow working on the shorthand window, and after it the stricter of it and a learned limit binds", () => {
    const limiter = new RateLimiter({ maxPerWindow: 100, windowSeconds: 60 });

    limiter.setMaxPerWindow(40);
    limiter.learn({ requestsPerMinute: 60 });

    expect(limiter.maxPerWindow).toBe(40);
    expect(limiter.windows).toEqual([
      { seconds: 60, maxRequests: 40 },
      { seconds: 1, maxRequests: 1 },
    ]);
  });
});

describe("RateLimiter learnLimits", () => {
  it("defaults to false: with no window, everything starts at once", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 3 });

    const permits = await Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire()]);

    expect(limiter.learnLimits).toBe(false);
    expect(permits).toHaveLength(3);
  });

  it("with no window, lets one request run alone until the first answer arrives (observe)", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, learnLimits: true });
    const first = await limiter.acquire();
    const second = limiter.acquire();
    const secondWaited = !(await settledSoon(second));
    first.release();
    const third = limiter.acquire();
    const thirdWaited = !(await settledSoon(third));

    limiter.observe({});

    expect(secondWaited).toBe(true);
    expect(thirdWaited).toBe(true);
    expect(await settledSoon(third)).toBe(true);
    expect(limiter.active).toBe(2);
  });

  it("ends the lone request on learn() too", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, learnLimits: true });
    await limiter.acquire();
    const second = limiter.acquire();

    limiter.learn({ requestsPerMinute: 600 });

    expect(await settledSoon(second)).toBe(true);
  });

  it("with a configured window, does not wait for an answer", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, learnLimits: true, maxPerWindow: 100 });

    await limiter.acquire();
    const second = limiter.acquire();

    expect(await settledSoon(second)).toBe(true);
  });

  it("after reset() runs one request alone again", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, learnLimits: true });
    limiter.learn({ requestsPerMinute: 600 });
    limiter.reset();

    (await limiter.acquire()).release();
    await limiter.acquire();
    const second = limiter.acquire();

    expect(limiter.windows).toEqual([]);
    expect(await settledSoon(second)).toBe(false);
    limiter.observe({});
    await second;
  });

  it("rejects a learnLimits that is not a boolean", () => {
    expect(() => new RateLimiter({ learnLimits: "yes" as never })).toThrow(TypeError);
    expect(() => new RateLimiter({ learnLimits: "yes" as never })).toThrow("learnLimits");
  });
});
