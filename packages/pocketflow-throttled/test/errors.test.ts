import { describe, expect, it } from "vitest";
import { QuotaExhausted, RateLimitHit } from "../src/errors.js";

describe("RateLimitHit", () => {
  it("is an Error named RateLimitHit", () => {
    const err = new RateLimitHit();

    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(RateLimitHit);
    expect(err.name).toBe("RateLimitHit");
  });

  it("defaults its message to 'Rate limit hit'", () => {
    const err = new RateLimitHit();

    expect(err.message).toBe("Rate limit hit");
  });

  it("keeps a given message", () => {
    const err = new RateLimitHit("OpenAI rate limit exceeded");

    expect(err.message).toBe("OpenAI rate limit exceeded");
  });

  it("leaves retryAfter and source undefined when not given", () => {
    const err = new RateLimitHit("limited");

    expect(err.retryAfter).toBeUndefined();
    expect(err.source).toBeUndefined();
  });

  it("carries retryAfter in seconds and the source", () => {
    const err = new RateLimitHit("limited", { retryAfter: 2.5, source: "openai" });

    expect(err.retryAfter).toBe(2.5);
    expect(err.source).toBe("openai");
  });

  it("sets cause through the standard Error options", () => {
    const providerError = new Error("429 Too Many Requests");

    const err = new RateLimitHit("limited", { cause: providerError });

    expect(err.cause).toBe(providerError);
    expect(Object.hasOwn(err, "cause")).toBe(true);
  });

  it("has no own cause when none is given", () => {
    const err = new RateLimitHit("limited", { source: "openai" });

    expect(Object.hasOwn(err, "cause")).toBe(false);
  });

  it("keeps a cause that is explicitly undefined", () => {
    const err = new RateLimitHit("limited", { cause: undefined });

    expect(Object.hasOwn(err, "cause")).toBe(true);
  });

  it("has a stack trace", () => {
    const err = new RateLimitHit();

    expect(err.stack).toContain("RateLimitHit");
  });

  it("formats as its name and message", () => {
    const err = new RateLimitHit("slow down");

    expect(String(err)).toBe("RateLimitHit: slow down");
  });
});

describe("QuotaExhausted", () => {
  it("is an Error named QuotaExhausted with a default message", () => {
    const err = new QuotaExhausted();

    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("QuotaExhausted");
    expect(err.message).toBe("Provider quota exhausted");
  });

  it("keeps the provider's error as cause and the source", () => {
    const provider = Object.assign(new Error("429 You exceeded your current quota"), { code: "insufficient_quota" });

    const err = new QuotaExhausted("OpenAI quota used up", { source: "openai", cause: provider });

    expect(err.cause).toBe(provider);
    expect(err.source).toBe("openai");
    expect(err.message).toBe("OpenAI quota used up");
  });

  it("has no own cause when none is given", () => {
    expect("cause" in new QuotaExhausted("x")).toBe(false);
  });
});
