import { describe, expect, it } from "vitest";
import { classifyError, headersOf, isRateLimitError, quotaViolationsOf, retryAfterOf } from "../src/detect.js";
import { QuotaExhausted, RateLimitHit } from "../src/errors.js";

/** `err` wrapped `levels` times in `new Error("wrapper", { cause })`. */
function wrapped(err: unknown, levels: number): unknown {
  let outer = err;
  for (let i = 0; i < levels; i++) outer = new Error("wrapper", { cause: outer });
  return outer;
}

const status = (code: number) => Object.assign(new Error("request failed"), { status: code });

describe("classifyError by HTTP status", () => {
  it.each([
    [429, "rate-limit"],
    [402, "quota"],
    [529, "overloaded"],
    [503, "overloaded"],
    [500, "transient"],
    [502, "transient"],
    [504, "transient"],
  ])("reads status %i as %s", (code, kind) => {
    expect(classifyError(status(code))).toBe(kind);
  });

  it.each([[400], [401], [404], [422]])("leaves status %i unclassified", (code) => {
    expect(classifyError(status(code))).toBeUndefined();
  });

  it.each([
    ["statusCode", { statusCode: 429 }],
    ["response.status", { response: { status: 429 } }],
    ["$metadata.httpStatusCode", { $metadata: { httpStatusCode: 429 } }],
    ["a numeric code", { code: 429 }],
  ])("finds the status in %s", (_place, err) => {
    expect(classifyError(err)).toBe("rate-limit");
  });

  it("ignores a numeric code that is not an HTTP status", () => {
    expect(classifyError({ code: 5, message: "failed" })).toBeUndefined();
  });
});

describe("classifyError by name and code", () => {
  it.each([["RateLimitError"], ["ThrottlingException"], ["TooManyRequestsException"], ["RateLimitHit"]])(
    "reads an error named %s as a rate limit",
    (name) => {
      expect(classifyError(Object.assign(new Error("x"), { name }))).toBe("rate-limit");
    },
  );

  it("reads the class name when `name` is the plain 'Error' (openai keeps it so)", () => {
    class RateLimitError extends Error {}

    expect(classifyError(new RateLimitError("x"))).toBe("rate-limit");
  });

  it.each([
    ["code", { code: "insufficient_quota" }],
    ["type", { type: "insufficient_quota" }],
    ["error.code", { error: { code: "insufficient_quota" } }],
  ])("reads insufficient_quota in %s as quota", (_place, err) => {
    expect(classifyError(err)).toBe("quota");
  });

  it("reads Anthropic's overloaded_error in an error body as overloaded", () => {
    expect(classifyError({ error: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } })).toBe("overloaded");
  });

  it.each([["ECONNRESET"], ["ETIMEDOUT"]])("reads a system error %s as transient", (code) => {
    expect(classifyError(Object.assign(new Error(`read ${code}`), { code }))).toBe("transient");
  });

  it("reads 'TypeError: fetch failed' as transient", () => {
    expect(classifyError(new TypeError("fetch failed", { cause: new Error("other side closed") }))).toBe("transient");
  });

  it("reads a QuotaExhausted as quota and a RateLimitHit wrapping a quota error as quota", () => {
    expect(classifyError(new QuotaExhausted())).toBe("quota");
    expect(classifyError(new RateLimitHit("limited", { cause: { code: "insufficient_quota" } }))).toBe("quota");
  });
});

describe("classifyError by message", () => {
  it.each([
    ["Rate exceeded"],
    ["Too many tokens, please wait before trying again."],
    ["429 Too Many Requests"],
    ["Resource has been exhausted (e.g. check quota)."],
  ])("reads %j as a rate limit", (message) => {
    expect(classifyError(new Error(message))).toBe("rate-limit");
  });

  it.each([
    ["Your credit balance is too low to access the Anthropic API."],
    ["Insufficient credits: add more at https://example.com/credits"],
    ["Billing hard limit has been reached"],
    ["Too many tokens per day, please wait before trying again."],
  ])("reads %j as quota", (message) => {
    expect(classifyError(new Error(message))).toBe("quota");
  });

  it("reads 'The model is overloaded' as overloaded", () => {
    expect(classifyError(new Error("The model is overloaded. Please try again later."))).toBe("overloaded");
  });

  it("lets a status beat the message: a 503 saying 'rate limit' is overloaded", () => {
    expect(classifyError(Object.assign(new Error("rate limit"), { status: 503 }))).toBe("overloaded");
  });

  it("does not read Gemini's 'check your plan and billing' on a per-minute 429 as quota", () => {
    const err = {
      status: 429,
      message: "You exceeded your current quota, please check your plan and billing details.",
      details: [{ "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaId: "GenerateRequestsPerMinutePerProjectPerModel" }] }],
    };

    expect(classifyError(err)).toBe("rate-limit");
  });

  it("does not read a quota-like message as quota when the code says rate_limit_exceeded", () => {
    const err = { status: 429, code: "rate_limit_exceeded", message: "Rate limit reached: billing tier limit reached" };

    expect(classifyError(err)).toBe("rate-limit");
  });

  it("treats a thrown string as its message", () => {
    expect(classifyError("429 Too Many Requests")).toBe("rate-limit");
  });

  it("leaves an unrelated error unclassified", () => {
    expect(classifyError(new Error("invalid JSON in response"))).toBeUndefined();
  });

  it.each([
    ["HTTP 429"],
    ["Request failed with status code 429 Too Many Requests"],
    ["got status: 429."],
  ])("reads the number 429 in %j as a rate limit", (message) => {
    expect(classifyError(new Error(message))).toBe("rate-limit");
  });

  it.each([
    ["a port", "Request failed with status code 400 Bad Request: POST http://127.0.0.1:34291/v1/chat/completions"],
    ["an id", "Request failed with status code 404 Not Found: GET http://127.0.0.1:8080/v1/batches/14290"],
  ])("does not read 429 inside %s in the message as a rate limit", (_label, message) => {
    expect(classifyError(new Error(message))).toBeUndefined();
  });
});

describe("classifyError through wrapped errors", () => {
  it("finds a 429 seven wrappers down (8 levels)", () => {
    expect(classifyError(wrapped(status(429), 7))).toBe("rate-limit");
  });

  it("finds a 429 at the 8th level below the thrown error", () => {
    expect(classifyError(wrapped(status(429), 8))).toBe("rate-limit");
  });

  it("stops looking below 8 levels", () => {
    expect(classifyError(wrapped(status(429), 9))).toBeUndefined();
  });

  it("reads the errors of an AggregateError", () => {
    expect(classifyError(new AggregateError([new Error("a"), status(529)]))).toBe("overloaded");
  });

  it("reads a RetryError-like lastError", () => {
    expect(classifyError({ name: "AI_RetryError", message: "Failed after 3 attempts", lastError: { statusCode: 429 } })).toBe("rate-limit");
  });

  it("prefers quota over a rate limit anywhere in the chain", () => {
    const err = new AggregateError([status(429), Object.assign(new Error("x"), { code: "insufficient_quota" })]);

    expect(classifyError(err)).toBe("quota");
  });

  it("reads a string cause as a message", () => {
    expect(classifyError(new Error("call failed", { cause: "Rate limit exceeded" }))).toBe("rate-limit");
  });

  it("reads the JSON embedded in a message", () => {
    const err = new Error('got status: 429. {"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}');

    expect(classifyError(err)).toBe("rate-limit");
  });
});

describe("classifyError and friends never throw", () => {
  function cyclic(): unknown {
    const a: Record<string, unknown> = { message: "a" };
    const b: Record<string, unknown> = { message: "b", cause: a };
    a.cause = b;
    a.errors = [a, b];
    return a;
  }

  const hostileGetters = {
    get status(): number {
      throw new Error("boom");
    },
    get cause(): unknown {
      throw new Error("boom");
    },
    get errors(): unknown {
      throw new Error("boom");
    },
    get message(): string {
      throw new Error("boom");
    },
    get headers(): unknown {
      throw new Error("boom");
    },
  };
  const throwingProxy = new Proxy(
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
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const revokedErrors = Proxy.revocable([], {});
  revokedErrors.revoke();

  it.each([
    ["a cycle of causes and errors", cyclic()],
    ["throwing getters", hostileGetters],
    ["a proxy whose traps throw", throwingProxy],
    ["a revoked proxy", revoked.proxy],
    ["a revoked proxy as errors", { errors: revokedErrors.proxy }],
    ["a cause that is a revoked proxy", new Error("x", { cause: revoked.proxy })],
    ["a message with broken JSON", new Error("oops {not json}")],
    ["null", null],
    ["a number", 429],
  ])("for %s", (_label, value) => {
    expect(classifyError(value)).toBeUndefined();
    expect(isRateLimitError(value)).toBe(false);
    expect(retryAfterOf(value)).toBeUndefined();
    expect(headersOf(value)).toBeUndefined();
    expect(quotaViolationsOf(value)).toEqual([]);
  });

  it("classifies a 429 inside a cycle", () => {
    const err: Record<string, unknown> = { message: "outer" };
    err.cause = { statusCode: 429, cause: err };

    expect(classifyError(err)).toBe("rate-limit");
  });
});

describe("isRateLimitError", () => {
  it.each([
    ["a rate limit", status(429), true],
    ["a quota refusal (Python parity)", { code: "insufficient_quota" }, true],
    ["an overloaded provider", status(529), false],
    ["a transient failure", status(502), false],
  ])("for %s is %s", (_label, err, expected) => {
    expect(isRateLimitError(err)).toBe(expected);
  });
});

describe("retryAfterOf through wrapped errors", () => {
  it("reads the headers of a cause", () => {
    const err = new Error("wrapper", { cause: { status: 429, headers: { "retry-after": "2" } } });

    expect(retryAfterOf(err)).toBe(2);
  });

  it("reads AI SDK responseHeaders and AWS $response.headers", () => {
    expect(retryAfterOf({ responseHeaders: { "retry-after-ms": "500" } })).toBe(0.5);
    expect(retryAfterOf({ $response: { headers: { "retry-after": "3" } } })).toBe(3);
  });

  it("prefers the outer error's own hint", () => {
    const err = new RateLimitHit("limited", { retryAfter: 9, cause: { headers: { "retry-after": "1" } } });

    expect(retryAfterOf(err)).toBe(9);
  });

  it("prefers a structured hint anywhere over a message hint", () => {
    const err = new Error("Please try again in 5s", { cause: { headers: { "retry-after": "1" } } });

    expect(retryAfterOf(err)).toBe(1);
  });

  it("reads a Gemini RetryInfo in details, as a string or as { seconds, nanos }", () => {
    const detail = (retryDelay: unknown) => ({ details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay }] });

    expect(retryAfterOf(detail("31s"))).toBe(31);
    expect(retryAfterOf(detail({ seconds: 1, nanos: 500_000_000 }))).toBe(1.5);
    expect(retryAfterOf(detail("soon"))).toBeUndefined();
  });

  it.each([
    ["Please try again in 1.5s.", 1.5],
    ["Please try again in 634ms.", 0.634],
    ["Please try again in 6m0s.", 360],
    ["Please retry in 31.580157245s.", 31.580157245],
    ["Please retry after 6 seconds.", 6],
  ])("reads the message hint %j", (message, seconds) => {
    expect(retryAfterOf(new Error(message))).toBeCloseTo(seconds, 9);
  });

  it("does not read a hint from 'try again in a moment'", () => {
    expect(retryAfterOf(new Error("Please try again in a moment"))).toBeUndefined();
  });
});

describe("headersOf through wrapped errors", () => {
  it.each([
    ["responseHeaders", { responseHeaders: { a: "1" } }],
    ["$response.headers", { $response: { headers: { a: "1" } } }],
    ["a cause's headers", new Error("x", { cause: { headers: { a: "1" } } })],
    ["a RetryError's lastError", { lastError: { responseHeaders: { a: "1" } } }],
  ])("finds them in %s", (_place, value) => {
    expect(headersOf(value)).toEqual({ a: "1" });
  });
});

describe("quotaViolationsOf", () => {
  const quotaFailure = (...violations: unknown[]) => ({
    status: 429,
    details: [{ "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations }],
  });

  it("reads per-day and token quotas", () => {
    const err = quotaFailure(
      { quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier", quotaValue: "40" },
      { quotaId: "GenerateContentInputTokensPerModelPerMinute-FreeTier", quotaValue: "250000" },
    );

    expect(quotaViolationsOf(err)).toEqual([
      { quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier", quotaMetric: undefined, quotaValue: 40, kind: "requests", perDay: true, perMinute: false },
      { quotaId: "GenerateContentInputTokensPerModelPerMinute-FreeTier", quotaMetric: undefined, quotaValue: 250000, kind: "inputTokens", perDay: false, perMinute: true },
    ]);
  });

  it("lists a violation repeated across a RetryError's errors once", () => {
    const one = quotaFailure({ quotaId: "GenerateRequestsPerMinutePerProjectPerModel", quotaValue: "10" });

    expect(quotaViolationsOf({ errors: [one, { ...one }], lastError: { ...one } })).toHaveLength(1);
  });

  it("leaves out a quotaValue that is not a number", () => {
    expect(quotaViolationsOf(quotaFailure({ quotaId: "X", quotaValue: "lots" }))[0]?.quotaValue).toBeUndefined();
  });
});
