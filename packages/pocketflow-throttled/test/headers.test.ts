import { describe, expect, it } from "vitest";
import { getHeader, parseDuration, parseRateLimitHeaders, retryAfterFromHeaders } from "../src/limiters/headers.js";
import { RateLimiter } from "../src/limiters/sliding-window.js";

describe("getHeader", () => {
  it("reads a Fetch Headers case-insensitively", () => {
    const headers = new Headers({ "Retry-After": "3" });

    expect(getHeader(headers, "RETRY-after")).toBe("3");
  });

  it("reads a plain object whatever the key case", () => {
    const headers = { "ReTrY-AfTeR": "3" };

    expect(getHeader(headers, "retry-after")).toBe("3");
  });

  it("reads a Map whatever the key case", () => {
    const headers = new Map([["Retry-After", "3"]]);

    expect(getHeader(headers, "retry-after")).toBe("3");
  });

  it("turns a number value into a string", () => {
    const headers = { "retry-after": 3 };

    expect(getHeader(headers, "retry-after")).toBe("3");
  });

  it("takes the first entry of an array value", () => {
    const headers = { "set-cookie": ["a=1", "b=2"] };

    expect(getHeader(headers, "Set-Cookie")).toBe("a=1");
  });

  it("is undefined for a missing header in a Fetch Headers", () => {
    const headers = new Headers({ "content-type": "text/plain" });

    expect(getHeader(headers, "retry-after")).toBeUndefined();
  });

  it("is undefined for a missing header in a plain object", () => {
    expect(getHeader({ "content-type": "text/plain" }, "retry-after")).toBeUndefined();
  });

  it("is undefined for a value that is neither string, number nor array", () => {
    expect(getHeader({ "retry-after": { seconds: 3 } }, "retry-after")).toBeUndefined();
  });

  it.each([
    ["null", null],
    ["undefined", undefined],
    ["a string", "retry-after: 3"],
    ["a number", 3],
  ])("is undefined for %s", (_label, value) => {
    expect(getHeader(value, "retry-after")).toBeUndefined();
  });

  it("is undefined when asked for a name Fetch Headers rejects", () => {
    expect(getHeader(new Headers(), "bad name")).toBeUndefined();
  });

  it("is undefined when a value getter throws", () => {
    const headers = {
      get "retry-after"(): string {
        throw new Error("boom");
      },
    };

    expect(getHeader(headers, "retry-after")).toBeUndefined();
  });
});

describe("parseDuration", () => {
  it.each([
    ["1s", 1],
    ["6m0s", 360],
    ["20ms", 0.02],
    ["1m30.5s", 90.5],
    ["2h0m0s", 7200],
    ["1h2m3s", 3723],
    ["0.5s", 0.5],
    ["5m", 300],
    ["1ms", 0.001],
  ])("reads OpenAI's duration %s as %d seconds", (text, seconds) => {
    expect(parseDuration(text)).toBeCloseTo(seconds, 9);
  });

  it.each([
    ["12", 12],
    ["0", 0],
    ["2.5", 2.5],
    [" 3 ", 3],
  ])("reads the bare number %j as seconds", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each([[""], ["   "], ["abc"], ["1x"], ["s"], ["1 s"], ["-1s"], ["1.5.5s"], ["1e3"], ["NaN"], ["Infinity"], ["2025-01-01T12:00:30Z"]])(
    "gives undefined for %j",
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe("parseRateLimitHeaders with OpenAI headers", () => {
  const openAiHeaders = {
    "x-ratelimit-limit-requests": "60",
    "x-ratelimit-remaining-requests": "59",
    "x-ratelimit-reset-requests": "1s",
    "x-ratelimit-limit-tokens": "150000",
    "x-ratelimit-remaining-tokens": "149984",
    "x-ratelimit-reset-tokens": "6m0s",
  };

  it("reads remaining counts and reset durations from a Fetch Headers", () => {
    const info = parseRateLimitHeaders(new Headers(openAiHeaders));

    expect(info).toEqual({
      limitRequests: 60,
      limitTokens: 150000,
      remainingRequests: 59,
      remainingTokens: 149984,
      resetRequestsSeconds: 1,
      resetTokensSeconds: 360,
      holdSeconds: 0,
    });
  });

  it("reads the same from a plain object whatever the key case", () => {
    const info = parseRateLimitHeaders({
      "X-RateLimit-Remaining-Requests": "59",
      "X-RATELIMIT-RESET-REQUESTS": "1s",
      "x-ratelimit-Remaining-Tokens": "149984",
      "X-Ratelimit-Reset-Tokens": "6m0s",
    });

    expect(info).toEqual({
      remainingRequests: 59,
      remainingTokens: 149984,
      resetRequestsSeconds: 1,
      resetTokensSeconds: 360,
      holdSeconds: 0,
    });
  });

  it("holds until the request reset when no request remains", () => {
    const info = parseRateLimitHeaders(
      new Headers({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20ms" }),
    );

    expect(info.holdSeconds).toBeCloseTo(0.02, 9);
  });

  it("holds until the token reset when no token remains, from a plain object", () => {
    const info = parseRateLimitHeaders({ "X-RateLimit-Remaining-Tokens": "0", "X-RateLimit-Reset-Tokens": "1m30.5s" });

    expect(info.holdSeconds).toBe(90.5);
  });

  it("holds until the later reset when both budgets are exhausted", () => {
    const info = parseRateLimitHeaders({
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-tokens": "6m0s",
    });

    expect(info.holdSeconds).toBe(360);
  });

  it("holds only for the exhausted budget, not for the reset of one that has room", () => {
    const info = parseRateLimitHeaders({
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "2s",
      "x-ratelimit-remaining-tokens": "500",
      "x-ratelimit-reset-tokens": "6m0s",
    });

    expect(info.holdSeconds).toBe(2);
  });

  it("never holds while some remain, however far the reset", () => {
    const info = parseRateLimitHeaders({ "x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "2h0m0s" });

    expect(info.holdSeconds).toBe(0);
  });

  it("reads numeric header values of a plain object", () => {
    const info = parseRateLimitHeaders({ "x-ratelimit-remaining-requests": 0, "x-ratelimit-reset-requests": "3s" });

    expect(info).toMatchObject({ remainingRequests: 0, holdSeconds: 3 });
  });

  it("does not hold when none remain but the reset is unknown", () => {
    const info = parseRateLimitHeaders({ "x-ratelimit-remaining-requests": "0" });

    expect(info).toEqual({ remainingRequests: 0, holdSeconds: 0 });
  });
});

describe("parseRateLimitHeaders with Anthropic headers", () => {
  const now = Date.parse("2025-01-01T12:00:00Z");

  it("reads remaining counts and RFC 3339 resets relative to now from a Fetch Headers", () => {
    const headers = new Headers({
      "anthropic-ratelimit-requests-limit": "50",
      "anthropic-ratelimit-requests-remaining": "49",
      "anthropic-ratelimit-requests-reset": "2025-01-01T12:00:30Z",
      "anthropic-ratelimit-tokens-limit": "40000",
      "anthropic-ratelimit-tokens-remaining": "39000",
      "anthropic-ratelimit-tokens-reset": "2025-01-01T12:01:00Z",
    });

    const info = parseRateLimitHeaders(headers, now);

    expect(info).toEqual({
      limitRequests: 50,
      limitTokens: 40000,
      remainingRequests: 49,
      remainingTokens: 39000,
      resetRequestsSeconds: 30,
      resetTokensSeconds: 60,
      holdSeconds: 0,
    });
  });

  it("holds until the request reset when no request remains, from a plain object whatever the key case", () => {
    const info = parseRateLimitHeaders(
      {
        "Anthropic-RateLimit-Requests-Remaining": "0",
        "ANTHROPIC-RATELIMIT-REQUESTS-RESET": "2025-01-01T12:00:30Z",
      },
      now,
    );

    expect(info.holdSeconds).toBe(30);
  });

  it("holds until the tokens reset when no token remains", () => {
    const info = parseRateLimitHeaders(
      new Headers({
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2025-01-01T12:00:12.5Z",
      }),
      now,
    );

    expect(info).toMatchObject({ remainingTokens: 0, resetTokensSeconds: 12.5, holdSeconds: 12.5 });
  });

  it("holds until the reset of an exhausted input-token or output-token budget", () => {
    const info = parseRateLimitHeaders(
      {
        "anthropic-ratelimit-tokens-remaining": "1000",
        "anthropic-ratelimit-tokens-reset": "2025-01-01T12:01:00Z",
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": "2025-01-01T12:00:45Z",
        "anthropic-ratelimit-output-tokens-remaining": "800",
        "anthropic-ratelimit-output-tokens-reset": "2025-01-01T12:00:50Z",
      },
      now,
    );

    expect(info).toMatchObject({ remainingTokens: 0, holdSeconds: 45 });
  });

  it("accepts a reset with a time-zone offset", () => {
    const info = parseRateLimitHeaders(
      { "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "2025-01-01T13:00:20+01:00" },
      now,
    );

    expect(info.holdSeconds).toBe(20);
  });

  it("does not hold for a reset already in the past", () => {
    const info = parseRateLimitHeaders(
      { "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "2025-01-01T11:59:00Z" },
      now,
    );

    expect(info).toMatchObject({ resetRequestsSeconds: 0, holdSeconds: 0 });
  });

  it("never holds while some remain", () => {
    const info = parseRateLimitHeaders(
      { "anthropic-ratelimit-requests-remaining": "3", "anthropic-ratelimit-requests-reset": "2025-01-01T12:00:30Z" },
      now,
    );

    expect(info.holdSeconds).toBe(0);
  });
});

describe("parseRateLimitHeaders with anything else", () => {
  it.each([
    ["undefined", undefined],
    ["null", null],
    ["a string", "x-ratelimit-remaining-requests: 0"],
    ["an empty object", {}],
    ["unrelated headers", new Headers({ "content-type": "application/json" })],
  ])("gives only holdSeconds 0 for %s", (_label, headers) => {
    expect(parseRateLimitHeaders(headers)).toEqual({ holdSeconds: 0 });
  });

  it("ignores a garbage reset and a garbage count", () => {
    const info = parseRateLimitHeaders({ "x-ratelimit-remaining-requests": "lots", "x-ratelimit-reset-requests": "soon" });

    expect(info).toEqual({ holdSeconds: 0 });
  });
});

describe("limiter.observe(headers)", () => {
  it("holds new starts until the reset when the provider says none remain", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    const since = performance.now();
    limiter.observe(new Headers({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "150ms" }));

    const permit = await limiter.acquire();
    const waited = performance.now() - since;
    permit.release();

    // A lower bound only: a busy machine can only make the wait longer.
    expect(waited).toBeGreaterThanOrEqual(149);
  });

  it("holds new starts until an Anthropic reset time", () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    const reset = new Date(Date.now() + 60_000).toISOString();

    limiter.observe({ "anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": reset });

    expect(limiter.pausedUntil).toBeGreaterThan(performance.now() + 50_000);
    limiter.reset();
  });

  it("does not hold new starts while some remain", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5 });
    limiter.observe(new Headers({ "x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "6m0s" }));

    const permit = await limiter.acquire();

    expect(limiter.pausedUntil).toBe(0);
    expect(limiter.stats.throttled).toBe(0);
    permit.release();
  });
});

describe("parseRateLimitHeaders limits", () => {
  it("reads Anthropic's input-token and output-token limits apart from the total", () => {
    const info = parseRateLimitHeaders(
      new Headers({
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-tokens-limit": "100000",
        "anthropic-ratelimit-input-tokens-limit": "80000",
        "anthropic-ratelimit-output-tokens-limit": "16000",
      }),
    );

    expect(info).toEqual({
      limitRequests: 50,
      limitTokens: 100000,
      limitInputTokens: 80000,
      limitOutputTokens: 16000,
      holdSeconds: 0,
    });
  });

  it("reads limits sent without any remaining or reset header", () => {
    const info = parseRateLimitHeaders({ "X-RateLimit-Limit-Requests": "500", "x-ratelimit-limit-tokens": 30000 });

    expect(info).toEqual({ limitRequests: 500, limitTokens: 30000, holdSeconds: 0 });
  });

  it.each([["0"], ["-5"], ["lots"], [""]])("leaves out a limit of %j", (value) => {
    const info = parseRateLimitHeaders({ "x-ratelimit-limit-requests": value });

    expect(info).toEqual({ holdSeconds: 0 });
  });
});

describe("retryAfterFromHeaders", () => {
  it("prefers retry-after-ms, in seconds", () => {
    expect(retryAfterFromHeaders(new Headers({ "retry-after": "9", "retry-after-ms": "250" }))).toBe(0.25);
  });

  it("reads an HTTP-date relative to the given now", () => {
    const now = Date.parse("2025-01-01T12:00:00Z");

    expect(retryAfterFromHeaders({ "retry-after": "Wed, 01 Jan 2025 12:00:30 GMT" }, now)).toBe(30);
  });

  it("is undefined without either header", () => {
    expect(retryAfterFromHeaders({ "x-request-id": "a" })).toBeUndefined();
  });
});
