import { afterEach, describe, expect, it, vi } from "vitest";
import { headersOf, isRateLimitError, retryAfterOf } from "../src/detect.js";
import { RateLimitHit } from "../src/errors.js";

describe("isRateLimitError", () => {
  it.each([
    ["429", "Error 429 from upstream"],
    ["rate limit", "Rate Limit reached for gpt-4o"],
    ["rate_limit", "type: RATE_LIMIT_ERROR"],
    ["too many requests", "Too Many Requests"],
    ["quota exceeded", "Quota Exceeded for this project"],
    ["throttl (throttled)", "Request was THROTTLED"],
    ["throttl (throttling)", "ThrottlingException"],
  ])("is true for a message containing %s", (_pattern, message) => {
    const err = new Error(message);

    expect(isRateLimitError(err)).toBe(true);
  });

  it("is false for an unrelated message", () => {
    const err = new Error("connection reset by peer");

    expect(isRateLimitError(err)).toBe(false);
  });

  it("is true for status 429 whatever the message", () => {
    const err = Object.assign(new Error("request failed"), { status: 429 });

    expect(isRateLimitError(err)).toBe(true);
  });

  it("is true for statusCode 429 whatever the message", () => {
    const err = Object.assign(new Error("request failed"), { statusCode: 429 });

    expect(isRateLimitError(err)).toBe(true);
  });

  it("is true for a plain object with status 429", () => {
    expect(isRateLimitError({ status: 429 })).toBe(true);
  });

  it("is false for other statuses with an unrelated message", () => {
    const err = Object.assign(new Error("server error"), { status: 500, statusCode: 503 });

    expect(isRateLimitError(err)).toBe(false);
  });

  it("is true for a RateLimitHit even with an unrelated message", () => {
    const err = new RateLimitHit("backing off");

    expect(isRateLimitError(err)).toBe(true);
  });

  it("is true for an error named RateLimitHit from another copy of the library", () => {
    const err = Object.assign(new Error("backing off"), { name: "RateLimitHit" });

    expect(isRateLimitError(err)).toBe(true);
  });

  it("is true for an object whose message matches", () => {
    expect(isRateLimitError({ message: "rate limit exceeded" })).toBe(true);
  });

  it("treats a thrown string as its message", () => {
    expect(isRateLimitError("429 Too Many Requests")).toBe(true);
  });

  it.each([
    ["null", null],
    ["undefined", undefined],
    ["a number", 42],
    ["the number 429", 429],
    ["an unrelated string", "x"],
    ["a boolean", true],
    ["an empty object", {}],
    ["an object with a non-string message", { message: 429 }],
  ])("is false for %s", (_label, value) => {
    expect(isRateLimitError(value)).toBe(false);
  });

  it("does not throw for an object whose getters throw", () => {
    const hostile = {
      get status(): number {
        throw new Error("boom");
      },
      get statusCode(): number {
        throw new Error("boom");
      },
      get name(): string {
        throw new Error("boom");
      },
      get message(): string {
        throw new Error("boom");
      },
    };

    expect(isRateLimitError(hostile)).toBe(false);
  });

  it("does not throw for a proxy whose traps all throw", () => {
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error("boom");
        },
        getPrototypeOf: () => {
          throw new Error("boom");
        },
      },
    );

    expect(isRateLimitError(hostile)).toBe(false);
  });

  it("does not throw for a revoked proxy", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();

    expect(isRateLimitError(proxy)).toBe(false);
  });
});

describe("headersOf", () => {
  it("returns value.headers", () => {
    const headers = { "retry-after": "1" };

    expect(headersOf({ headers })).toBe(headers);
  });

  it("returns value.response.headers when there is no value.headers", () => {
    const headers = new Headers({ "retry-after": "1" });

    expect(headersOf({ response: { headers } })).toBe(headers);
  });

  it("prefers value.headers over value.response.headers", () => {
    const own = { a: "1" };
    const nested = { b: "2" };

    expect(headersOf({ headers: own, response: { headers: nested } })).toBe(own);
  });

  it.each([
    ["null", null],
    ["a string", "x"],
    ["an object without headers", { status: 429 }],
    ["an object with null headers", { headers: null }],
  ])("is undefined for %s", (_label, value) => {
    expect(headersOf(value)).toBeUndefined();
  });

  it("is undefined when the headers getter throws", () => {
    const value = {
      get headers(): unknown {
        throw new Error("boom");
      },
    };

    expect(headersOf(value)).toBeUndefined();
  });
});

describe("retryAfterOf", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("returns a RateLimitHit's retryAfter", () => {
    const err = new RateLimitHit("limited", { retryAfter: 7 });

    expect(retryAfterOf(err)).toBe(7);
  });

  it("prefers a RateLimitHit's retryAfter over its headers", () => {
    const err = Object.assign(new RateLimitHit("limited", { retryAfter: 7 }), { headers: { "retry-after": "1" } });

    expect(retryAfterOf(err)).toBe(7);
  });

  it("uses the headers of a RateLimitHit without retryAfter", () => {
    const err = Object.assign(new RateLimitHit("limited"), { headers: { "retry-after": "4" } });

    expect(retryAfterOf(err)).toBe(4);
  });

  it("accepts a plain numeric retryAfter property, in seconds", () => {
    expect(retryAfterOf({ retryAfter: 1.5 })).toBe(1.5);
  });

  it("ignores a negative retryAfter property", () => {
    expect(retryAfterOf({ retryAfter: -1 })).toBeUndefined();
  });

  it("ignores a non-numeric retryAfter property", () => {
    expect(retryAfterOf({ retryAfter: "5" })).toBeUndefined();
  });

  it("reads retry-after seconds from Fetch Headers", () => {
    const err = { status: 429, headers: new Headers({ "Retry-After": "2" }) };

    expect(retryAfterOf(err)).toBe(2);
  });

  it("reads retry-after seconds from a plain object with odd key case", () => {
    const err = { status: 429, headers: { "RETRY-after": "2" } };

    expect(retryAfterOf(err)).toBe(2);
  });

  it("reads fractional retry-after seconds", () => {
    expect(retryAfterOf({ headers: { "retry-after": "0.25" } })).toBe(0.25);
  });

  it("converts retry-after-ms to seconds", () => {
    const err = { headers: new Headers({ "retry-after-ms": "1500" }) };

    expect(retryAfterOf(err)).toBe(1.5);
  });

  it("prefers retry-after-ms over retry-after", () => {
    const err = { headers: { "Retry-After": "10", "Retry-After-Ms": "250" } };

    expect(retryAfterOf(err)).toBe(0.25);
  });

  it("falls back to retry-after when retry-after-ms is not a number", () => {
    const err = { headers: { "retry-after-ms": "soon", "retry-after": "3" } };

    expect(retryAfterOf(err)).toBe(3);
  });

  it("turns an HTTP-date retry-after into seconds from now", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2025-01-01T12:00:00Z"));
    const err = { headers: { "retry-after": "Wed, 01 Jan 2025 12:00:30 GMT" } };

    expect(retryAfterOf(err)).toBe(30);
  });

  it("clamps an HTTP-date in the past to 0", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2025-01-01T12:00:00Z"));
    const err = { headers: { "retry-after": "Wed, 01 Jan 2025 11:59:00 GMT" } };

    expect(retryAfterOf(err)).toBe(0);
  });

  it("is undefined for an unparseable retry-after", () => {
    expect(retryAfterOf({ headers: { "retry-after": "whenever" } })).toBeUndefined();
  });

  it("reads err.response.headers", () => {
    const err = { response: { status: 429, headers: new Headers({ "retry-after": "5" }) } };

    expect(retryAfterOf(err)).toBe(5);
  });

  it("reads err.response.headers when err.headers has no retry hint", () => {
    const err = { headers: { "x-request-id": "abc" }, response: { headers: { "retry-after": "5" } } };

    expect(retryAfterOf(err)).toBe(5);
  });

  it("reads a numeric header value", () => {
    expect(retryAfterOf({ headers: { "retry-after": 6 } })).toBe(6);
  });

  it("is undefined for an error without a hint", () => {
    expect(retryAfterOf(new Error("429 Too Many Requests"))).toBeUndefined();
  });

  it.each([
    ["null", null],
    ["undefined", undefined],
    ["a number", 42],
    ["a string", "x"],
  ])("is undefined for %s", (_label, value) => {
    expect(retryAfterOf(value)).toBeUndefined();
  });

  it("does not throw for an object whose getters throw", () => {
    const hostile = {
      get retryAfter(): number {
        throw new Error("boom");
      },
      get headers(): unknown {
        throw new Error("boom");
      },
      get response(): unknown {
        throw new Error("boom");
      },
    };

    expect(retryAfterOf(hostile)).toBeUndefined();
  });
});
