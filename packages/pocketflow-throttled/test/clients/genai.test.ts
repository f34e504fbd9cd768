import { ApiError, GoogleGenAI } from "@google/genai";
import { afterEach, describe, expect, it } from "vitest";
import { classifyError, isRateLimitError, quotaViolationsOf, retryAfterOf } from "../../src/detect.js";
import { readUsage } from "../../src/usage.js";
import { type ProviderServer, type Reply, startProvider, thrownBy } from "../fixtures/provider-server.js";

// @google/genai against a local server answering as the Gemini API does: no
// rate-limit headers, the retry hint and the violated quota in the body.
let server: ProviderServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function geminiError(reply: Reply): Promise<unknown> {
  server = await startProvider(reply);
  const ai = new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: server.url } });
  return thrownBy(() => ai.models.generateContent({ model: "gemini-2.0-flash", contents: "hi" }));
}

// As Gemini does, the message's hint is finer than RetryInfo's; the structured one wins.
function resourceExhausted(quotaId: string, quotaValue: string, retryDelay: string): Reply {
  return {
    status: 429,
    body: {
      error: {
        code: 429,
        message: `You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. Please retry in ${Number.parseFloat(retryDelay) + 0.58}s.`,
        status: "RESOURCE_EXHAUSTED",
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            violations: [
              {
                quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                quotaId,
                quotaDimensions: { location: "global", model: "gemini-2.0-flash" },
                quotaValue,
              },
            ],
          },
          { "@type": "type.googleapis.com/google.rpc.Help", links: [{ description: "Learn more", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }] },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay },
        ],
      },
    },
  };
}

describe("@google/genai errors", () => {
  it("a per-minute RESOURCE_EXHAUSTED is a rate limit whose hint is RetryInfo.retryDelay in the message JSON", async () => {
    const err = await geminiError(resourceExhausted("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "10", "31s"));

    expect(err).toBeInstanceOf(ApiError);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(31);
  });

  it("reads a fractional retryDelay", async () => {
    const err = await geminiError(resourceExhausted("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "10", "0.4s"));

    expect(retryAfterOf(err)).toBe(0.4);
  });

  it("a per-day RESOURCE_EXHAUSTED is a quota refusal, still a rate-limit error", async () => {
    const err = await geminiError(resourceExhausted("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "40", "12s"));

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(12);
  });

  it("quotaViolationsOf reads the violated quota, its value and its period", async () => {
    const err = await geminiError(resourceExhausted("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "10", "31s"));

    expect(quotaViolationsOf(err)).toEqual([
      {
        quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        quotaValue: 10,
        kind: "requests",
        perMinute: true,
        perDay: false,
      },
    ]);
  });

  it("a 503 UNAVAILABLE 'model is overloaded' is overloaded", async () => {
    const err = await geminiError({
      status: 503,
      body: { error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } },
    });

    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a 500 INTERNAL is transient", async () => {
    const err = await geminiError({ status: 500, body: { error: { code: 500, message: "An internal error has occurred.", status: "INTERNAL" } } });

    expect(classifyError(err)).toBe("transient");
    expect(isRateLimitError(err)).toBe(false);
  });

  it("readUsage reads the usageMetadata of a response", async () => {
    server = await startProvider({
      status: 200,
      body: {
        candidates: [{ content: { role: "model", parts: [{ text: "hello" }] }, finishReason: "STOP" }],
        usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 6, totalTokenCount: 10 },
      },
    });
    const ai = new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: server.url } });

    const result = await ai.models.generateContent({ model: "gemini-2.0-flash", contents: "hi" });

    expect(readUsage(result)).toEqual({ inputTokens: 4, outputTokens: 6, tokens: 10 });
  });
});
