/**
 * Gemini style, through the real `@google/genai` client (1.52.0, no retryOptions: no retries): RPM, TPM and
 * RPD, `RESOURCE_EXHAUSTED` bodies with `QuotaFailure` and `RetryInfo`, and no retry header.
 */
import { ApiError, GoogleGenAI } from "@google/genai";
import { describe, expect, it } from "vitest";
import type { SimulatedProvider } from "../../src/testing/index.js";
import { post, rejectionOf, sleep, start } from "./support.js";

function client(provider: SimulatedProvider): GoogleGenAI {
  return new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: provider.baseURL } });
}

function generate(genai: GoogleGenAI, text: string) {
  return genai.models.generateContent({ model: "gemini-2.0-flash", contents: text });
}

interface GeminiError {
  error: {
    code: number;
    status: string;
    message: string;
    details: Array<{ "@type": string; retryDelay?: string; violations?: Array<{ quotaId: string; quotaValue: string }> }>;
  };
}

const QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure";
const RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo";

describe("gemini style", () => {
  it("answers generateContent with text and usageMetadata", async () => {
    const provider = await start({ style: "gemini", limits: { rpm: 10 } });

    const response = await generate(client(provider), "Translate into Spanish: good morning");

    expect(response.text).toMatch(/\p{L}+/u);
    expect(response.text).not.toContain("good morning");
    expect(response.usageMetadata).toMatchObject({ promptTokenCount: 9, candidatesTokenCount: expect.any(Number) });
  });

  it("refuses over RPM with RESOURCE_EXHAUSTED, a per-minute QuotaFailure and a RetryInfo delay, and no retry-after header", async () => {
    const provider = await start({ style: "gemini", limits: { rpm: 2 } });
    const genai = client(provider);
    await generate(genai, "one");
    await generate(genai, "two");

    const error = (await rejectionOf(generate(genai, "three"))) as ApiError;
    const raw = await post(provider, "/v1beta/models/gemini-2.0-flash:generateContent", { contents: [{ parts: [{ text: "x" }] }] });
    const body = (await raw.json()) as GeminiError;

    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(429);
    expect(error.message).toContain("RESOURCE_EXHAUSTED");
    expect(raw.headers.get("retry-after")).toBeNull();
    expect(body.error).toMatchObject({ code: 429, status: "RESOURCE_EXHAUSTED" });
    const failure = body.error.details.find((detail) => detail["@type"] === QUOTA_FAILURE);
    expect(failure?.violations?.[0]).toMatchObject({
      quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
      quotaValue: "2",
      quotaDimensions: { model: "gemini-2.0-flash", location: "global" },
    });
    const retry = body.error.details.find((detail) => detail["@type"] === RETRY_INFO);
    expect(retry?.retryDelay).toMatch(/^\d+s$/);
    expect(Number.parseInt(retry!.retryDelay!, 10)).toBeLessThanOrEqual(60);
  });

  it("refuses after the daily count with the per-day QuotaFailure id, and admits again in the next day", async () => {
    // Free tier RPM 10, 3 per day; a "day" of 1.5 s.
    const provider = await start({ style: "gemini", limits: { rpm: 10, rpd: 3 }, dayMs: 1500 });
    const genai = client(provider);
    for (const text of ["one", "two", "three"]) await generate(genai, text);

    const error = (await rejectionOf(generate(genai, "four"))) as ApiError;
    const body = JSON.parse(error.message) as GeminiError;
    await sleep(1600);
    const nextDay = await generate(genai, "four");

    expect(error.status).toBe(429);
    const violation = body.error.details.find((detail) => detail["@type"] === QUOTA_FAILURE)?.violations?.[0];
    expect(violation).toMatchObject({ quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier", quotaValue: "3" });
    expect(provider.stats.refusedBy).toMatchObject({ perDay: 1, requests: 0 });
    expect(nextDay.text).toBeTruthy();
  });

  it("counts input tokens against TPM with the input-token quota id", async () => {
    const provider = await start({ style: "gemini", limits: { tpm: 30 } });
    const genai = client(provider);
    await generate(genai, "x".repeat(80)); // 20 input tokens

    const error = (await rejectionOf(generate(genai, "x".repeat(80)))) as ApiError;
    const body = JSON.parse(error.message) as GeminiError;

    expect(body.error.details[0]?.violations?.[0]?.quotaId).toBe("GenerateContentInputTokensPerModelPerMinute-FreeTier");
    expect(provider.stats.refusedBy.inputTokens).toBe(1);
  });

  it("serves only its own routes: an OpenAI path is a 404 naming the style's routes", async () => {
    const provider = await start({ style: "gemini" });

    const response = await post(provider, "/v1/chat/completions", { messages: [] });

    expect(response.status).toBe(404);
    expect(((await response.json()) as GeminiError).error.message).toContain(":generateContent");
  });
});
