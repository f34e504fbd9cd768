/**
 * Anthropic style, through the real `@anthropic-ai/sdk` client (1.12.0, retries off): RPM, ITPM and OTPM as
 * continuously refilling token buckets, `anthropic-ratelimit-*` headers, the 429 body, 529 overloaded.
 */
import Anthropic, { type APIError, RateLimitError } from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import type { SimulatedProvider } from "../../src/testing/index.js";
import { rejectionOf, sleep, start } from "./support.js";

function client(provider: SimulatedProvider): Anthropic {
  return new Anthropic({ apiKey: "test", baseURL: provider.baseURL, maxRetries: 0 });
}

function message(anthropic: Anthropic, content: string, maxTokens = 64) {
  return anthropic.messages.create({ model: "claude-sim", max_tokens: maxTokens, messages: [{ role: "user", content }] });
}

describe("anthropic style", () => {
  it("answers a message with usage and every anthropic-ratelimit header (RFC 3339 resets)", async () => {
    const provider = await start({ style: "anthropic", limits: { rpm: 50, itpm: 1000, otpm: 500 } });

    const { data, response } = await message(client(provider), "Summarize: rate limits protect shared services").withResponse();

    expect(data.type).toBe("message");
    expect(data.content[0]).toMatchObject({ type: "text" });
    expect(data.usage).toMatchObject({ input_tokens: 12, output_tokens: expect.any(Number) });
    expect(response.headers.get("anthropic-ratelimit-requests-limit")).toBe("50");
    expect(response.headers.get("anthropic-ratelimit-requests-remaining")).toBe("49");
    expect(response.headers.get("anthropic-ratelimit-input-tokens-limit")).toBe("1000");
    expect(response.headers.get("anthropic-ratelimit-input-tokens-remaining")).toBe("988");
    expect(response.headers.get("anthropic-ratelimit-output-tokens-limit")).toBe("500");
    // max_tokens (64) was reserved at arrival; at the answer the unused part came back.
    expect(response.headers.get("anthropic-ratelimit-output-tokens-remaining")).toBe(String(500 - data.usage.output_tokens));
    expect(response.headers.get("anthropic-ratelimit-tokens-limit")).not.toBeNull();
    for (const name of ["requests", "input-tokens", "output-tokens", "tokens"]) {
      expect(response.headers.get(`anthropic-ratelimit-${name}-reset`)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
  });

  it("refuses with rate_limit_error and retry-after once the request bucket is empty, then refills continuously", async () => {
    // 2 per 600 ms "minute": one request back every 300 ms.
    const provider = await start({ style: "anthropic", limits: { rpm: 2 }, minuteMs: 600 });
    const anthropic = client(provider);
    await message(anthropic, "one");
    await message(anthropic, "two");

    const error = (await rejectionOf(message(anthropic, "three"))) as RateLimitError;
    await sleep(350);
    const refilled = await message(anthropic, "three");

    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.status).toBe(429);
    expect(error.error).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    expect(error.headers.get("retry-after")).toBe("1");
    expect(error.headers.get("anthropic-ratelimit-requests-remaining")).toBe("0");
    expect(refilled.type).toBe("message");
  });

  it("refuses a request whose max_tokens does not fit the output-token bucket (OTPM), counting it as outputTokens", async () => {
    const provider = await start({ style: "anthropic", limits: { otpm: 100 }, latencyMs: 300 });
    const anthropic = client(provider);
    const first = message(anthropic, "one", 80); // reserves 80 while in flight

    const error = (await rejectionOf(message(anthropic, "two", 30))) as RateLimitError; // 80 + 30 > 100
    await first;

    expect(error.status).toBe(429);
    expect((error.error as { error: { message: string } }).error.message).toContain("output tokens per minute");
    expect(provider.stats.refusedBy).toMatchObject({ outputTokens: 1, inputTokens: 0, requests: 0 });
  });

  it("gives back the unused output reservation at the answer, so a second request then fits", async () => {
    const provider = await start({ style: "anthropic", limits: { otpm: 100 } });
    const anthropic = client(provider);

    const first = await message(anthropic, "one", 60);
    // Without the give-back only 40 would remain: the second request's 60 fits only because of it.
    const second = await message(anthropic, "two", 60);

    expect(first.usage.output_tokens).toBeLessThanOrEqual(40);
    expect(second.type).toBe("message");
    expect(provider.stats.refused).toBe(0);
  });

  it("refuses over the input-token bucket (ITPM)", async () => {
    const provider = await start({ style: "anthropic", limits: { itpm: 30 } });
    const anthropic = client(provider);
    await message(anthropic, "x".repeat(80)); // 20 input tokens

    const error = (await rejectionOf(message(anthropic, "x".repeat(80)))) as RateLimitError;

    expect(error.status).toBe(429);
    expect(provider.stats.refusedBy.inputTokens).toBe(1);
  });

  it("answers about the configured share of requests with 529 overloaded_error, counted against no limit", async () => {
    const provider = await start({ style: "anthropic", overloadedShare: 0.5, seed: 7, limits: { rpm: 1000 } });
    const anthropic = client(provider);

    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => message(anthropic, `item ${i}`)));

    const overloaded = results.filter((result) => result.status === "rejected").map((result) => result.reason as APIError);
    expect(overloaded.length).toBeGreaterThan(8);
    expect(overloaded.length).toBeLessThan(32);
    expect(overloaded[0]?.status).toBe(529);
    expect(overloaded[0]?.error).toMatchObject({ type: "error", error: { type: "overloaded_error" } });
    expect(provider.stats.refusedBy.overloaded).toBe(overloaded.length);
    expect(provider.stats.accepted).toBe(40 - overloaded.length);
  });

  it("answers 529 to every request at overloadedShare 1", async () => {
    const provider = await start({ style: "anthropic", overloadedShare: 1 });

    const error = (await rejectionOf(message(client(provider), "one"))) as APIError;

    expect(error.status).toBe(529);
  });
});
