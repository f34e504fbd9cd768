import { describe, expect, it } from "vitest";
import { RateLimiter, TokenBucket } from "../src/index.js";

/** Wrong values given to acquire, run and settle: an error naming the option and quoting the value. */

describe("acquire and run options", () => {
  it("acquire({ signal: 'x' }) rejects with a TypeError naming signal", async () => {
    const limiter = new RateLimiter();

    await expect(limiter.acquire({ signal: "x" as never })).rejects.toThrow(TypeError);
    await expect(limiter.acquire({ signal: "x" as never })).rejects.toThrow('signal must be an AbortSignal, got string "x"');
  });

  it.each(["tokens", "inputTokens", "outputTokens", "maxWaitSeconds"])('rejects %s: "5" with a TypeError quoting "5"', async (name) => {
    const limiter = new RateLimiter({ maxTokensPerWindow: 100 });

    await expect(limiter.acquire({ [name]: "5" })).rejects.toThrow(TypeError);
    await expect(limiter.acquire({ [name]: "5" })).rejects.toThrow(`${name} must be a number, got string "5"`);
    await expect(limiter.run(() => 1, { [name]: "5" })).rejects.toThrow(`${name} must be a number, got string "5"`);
    expect(limiter.active).toBe(0);
  });

  it.each([
    ["inputTokens", -1],
    ["outputTokens", Number.NaN],
    ["maxWaitSeconds", -1],
    ["maxWaitSeconds", Number.NaN],
  ])("rejects %s: %s with a RangeError naming it", async (name, value) => {
    const limiter = new RateLimiter();

    await expect(limiter.acquire({ [name]: value })).rejects.toThrow(RangeError);
    await expect(limiter.acquire({ [name]: value })).rejects.toThrow(name);
  });

  it("rejects an unknown acquire option with a TypeError naming it", async () => {
    const limiter = new RateLimiter();

    await expect(limiter.acquire({ token: 5 } as never)).rejects.toThrow('"token"');
  });

  it("rejects a maxWaitSeconds option of the wrong type at construction", () => {
    expect(() => new RateLimiter({ maxWaitSeconds: "5" as never })).toThrow('maxWaitSeconds must be a number, got string "5"');
    expect(() => new TokenBucket({ ratePerSecond: 1, maxWaitSeconds: -1 })).toThrow(RangeError);
  });
});

describe("settle", () => {
  it("TokenBucket settle(NaN) throws a RangeError", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 10 });
    const permit = await bucket.acquire({ tokens: 5 });

    expect(() => permit.settle(Number.NaN)).toThrow(RangeError);
    expect(() => permit.settle("5" as never)).toThrow('settle(actualTokens) must be a number, got string "5"');
    permit.release();
  });

  it("RateLimiter settle rejects bad parts naming them, and unknown keys", async () => {
    const limiter = new RateLimiter({ maxTokensPerWindow: 100 });
    const permit = await limiter.acquire({ tokens: 5 });

    expect(() => permit.settle({ inputTokens: Number.NaN })).toThrow(RangeError);
    expect(() => permit.settle({ inputTokens: Number.NaN })).toThrow("inputTokens");
    expect(() => permit.settle({ input_tokens: 5 } as never)).toThrow('"input_tokens"');
    permit.release();
  });
});
