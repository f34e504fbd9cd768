/**
 * OpenAI style, through the real `openai` client (6.30.1, retries off): RPM and TPM with the documented
 * per-second share, `x-ratelimit-*` headers, the 429 body, `insufficient_quota`.
 */
import OpenAI, { RateLimitError } from "openai";
import { describe, expect, it } from "vitest";
import type { SimulatedProvider } from "../../src/testing/index.js";
import { rejectionOf, sleep, start } from "./support.js";

function client(provider: SimulatedProvider): OpenAI {
  return new OpenAI({ apiKey: "test", baseURL: provider.baseURL, maxRetries: 0 });
}

function chat(openai: OpenAI, content: string, extra: { max_tokens?: number } = {}) {
  return openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content }], ...extra });
}

describe("openai style", () => {
  it("answers a chat completion with plausible text, usage and x-ratelimit headers", async () => {
    const provider = await start({ style: "openai", limits: { rpm: 60, tpm: 10_000 } });

    const { data, response } = await chat(client(provider), "Translate the following text into French:\nGood morning").withResponse();

    const text = data.choices[0]?.message.content ?? "";
    expect(text).not.toContain("Good morning");
    expect(text.length).toBeGreaterThan(20);
    expect(data.usage).toEqual({ prompt_tokens: 14, completion_tokens: expect.any(Number), total_tokens: 14 + data.usage!.completion_tokens });
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("60");
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("59");
    expect(response.headers.get("x-ratelimit-reset-requests")).toMatch(/^(\d+m)?\d+(\.\d+)?s$|^\d+ms$/);
    expect(response.headers.get("x-ratelimit-limit-tokens")).toBe("10000");
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe(String(10_000 - data.usage!.total_tokens));
  });

  it("sends no token headers when no token limit is set", async () => {
    const provider = await start({ style: "openai", limits: { rpm: 10 } });

    const { response } = await chat(client(provider), "Hello").withResponse();

    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("10");
    expect(response.headers.get("x-ratelimit-limit-tokens")).toBeNull();
  });

  it("refuses a second request in the same second against 60 RPM (enforced as 1 per second) with the documented 429", async () => {
    const provider = await start({ style: "openai", limits: { rpm: 60 } });
    const openai = client(provider);
    await chat(openai, "one");

    const error = (await rejectionOf(chat(openai, "two"))) as RateLimitError;

    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.status).toBe(429);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.type).toBe("requests");
    expect(error.message).toMatch(/Rate limit reached .* Please try again in \d+(\.\d+)?m?s\./);
    const retryAfterMs = Number(error.headers.get("retry-after-ms"));
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(1000);
    expect(error.headers.get("retry-after")).toBe("1");
    expect(error.headers.get("x-ratelimit-limit-requests")).toBe("60");
    expect(provider.stats).toMatchObject({ requests: 2, accepted: 1, refused: 1, refusedBy: { requests: 1 } });
  });

  it("admits again once the per-second share's hint has passed", async () => {
    const provider = await start({ style: "openai", limits: { rpm: 60 }, minuteMs: 6000 });
    const openai = client(provider);
    await chat(openai, "one");
    const error = (await rejectionOf(chat(openai, "two"))) as RateLimitError;

    await sleep(Number(error.headers.get("retry-after-ms")) + 20);
    const again = await chat(openai, "two");

    expect(again.choices[0]?.finish_reason).toBe("stop");
  });

  it("lets a burst up to the per-minute limit through when quantize is off, and refuses the next", async () => {
    const provider = await start({ style: "openai", limits: { rpm: 5 }, quantize: false });
    const openai = client(provider);

    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => chat(openai, `item ${i}`)));

    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(5);
    expect(provider.stats.refusedBy.requests).toBe(1);
    expect(provider.maxInAnyWindow(60_000)).toBe(5);
  });

  it("charges prompt + max_tokens to TPM at arrival and refuses what would go over", async () => {
    // 40 characters: 10 prompt tokens.
    const provider = await start({ style: "openai", limits: { tpm: 100 }, quantize: false });
    const openai = client(provider);
    const prompt = "x".repeat(40);
    await chat(openai, prompt, { max_tokens: 40 }); // 50

    const error = (await rejectionOf(chat(openai, prompt, { max_tokens: 41 }))) as RateLimitError; // 50 + 51 > 100
    const exactFit = await chat(openai, prompt, { max_tokens: 40 }).withResponse(); // 50 + 50 = 100

    expect(error.type).toBe("tokens");
    expect(error.message).toContain("tokens per min (TPM)");
    expect(exactFit.response.headers.get("x-ratelimit-remaining-tokens")).toBe("0");
    expect(provider.stats.refusedBy.tokens).toBe(1);
  });

  it("answers a request larger than the whole TPM with a 429 that says not to retry", async () => {
    const provider = await start({ style: "openai", limits: { tpm: 100 } });

    const error = (await rejectionOf(chat(client(provider), "hello", { max_tokens: 200 }))) as RateLimitError;

    expect(error.status).toBe(429);
    expect(error.headers.get("x-should-retry")).toBe("false");
    expect(error.message).toMatch(/Request too large/);
  });

  it("passes a request larger than the per-second token share into an empty second", async () => {
    // 6000 TPM: 100 tokens per second; the request costs 10 + 200.
    const provider = await start({ style: "openai", limits: { tpm: 6000 } });
    const openai = client(provider);

    const first = await chat(openai, "x".repeat(40), { max_tokens: 200 });
    const second = (await rejectionOf(chat(openai, "x".repeat(40), { max_tokens: 200 }))) as RateLimitError;

    expect(first.usage?.prompt_tokens).toBe(10);
    expect(second.type).toBe("tokens");
    expect(Number(second.headers.get("retry-after-ms"))).toBeLessThanOrEqual(1000);
  });

  it("answers insufficient_quota (429, no retry hint) after the configured number of accepted requests", async () => {
    const provider = await start({ style: "openai", insufficientQuotaAfter: 2 });
    const openai = client(provider);
    await chat(openai, "one");
    await chat(openai, "two");

    const error = (await rejectionOf(chat(openai, "three"))) as RateLimitError;

    expect(error.status).toBe(429);
    expect(error.code).toBe("insufficient_quota");
    expect(error.type).toBe("insufficient_quota");
    expect(error.message).toMatch(/exceeded your current quota/);
    expect(error.headers.get("retry-after")).toBeNull();
    expect(error.headers.get("retry-after-ms")).toBeNull();
    expect(provider.stats.refusedBy.quota).toBe(1);
  });

  it("answers insufficient_quota from the first request when insufficientQuotaAfter is 0", async () => {
    const provider = await start({ style: "openai", insufficientQuotaAfter: 0 });

    const error = (await rejectionOf(chat(client(provider), "one"))) as RateLimitError;

    expect(error.code).toBe("insufficient_quota");
    expect(provider.stats.accepted).toBe(0);
  });

  it("answers embeddings as one request with 8-number vectors, the same in base64 and float", async () => {
    const provider = await start({ style: "openai", limits: { rpm: 120 }, quantize: false });
    const openai = client(provider);

    const batch = await openai.embeddings.create({ model: "emb", input: ["alpha", "beta", "gamma"] });
    const floats = await openai.embeddings.create({ model: "emb", input: "alpha", encoding_format: "float" });

    expect(batch.data.map((item) => item.index)).toEqual([0, 1, 2]);
    expect(batch.data[0]?.embedding).toHaveLength(8);
    expect(floats.data[0]?.embedding).toEqual(batch.data[0]?.embedding);
    expect(batch.data[1]?.embedding).not.toEqual(batch.data[0]?.embedding);
    expect(batch.usage).toEqual({ prompt_tokens: 5, total_tokens: 5 });
    expect(provider.stats.accepted).toBe(2);
  });
});
