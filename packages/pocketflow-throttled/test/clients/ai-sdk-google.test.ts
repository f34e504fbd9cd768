import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { APICallError, generateText, RetryError } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { classifyError, isRateLimitError, quotaViolationsOf, retryAfterOf } from "../../src/detect.js";
import { readUsage } from "../../src/usage.js";
import { type ProviderServer, type Reply, startProvider, thrownBy } from "../fixtures/provider-server.js";

// The Vercel AI SDK's Google provider (`@ai-sdk/google`) against a local
// server answering as the Gemini API does: no rate-limit headers, the violated
// quota and the retry hint in the body's `details`.
let server: ProviderServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function google(url: string) {
  return createGoogleGenerativeAI({ apiKey: "test", baseURL: `${url}/v1beta` })("gemini-2.0-flash");
}

async function googleError(maxRetries: number, ...replies: Reply[]): Promise<unknown> {
  server = await startProvider(...replies);
  const model = google(server.url);
  return thrownBy(() => generateText({ model, prompt: "hi", maxRetries }));
}

const PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier";
const PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier";

// As Gemini does, the message's hint ("17.58s") is finer than RetryInfo's ("17s"); the structured one wins.
function resourceExhausted(quotaId: string): Reply {
  return {
    status: 429,
    body: {
      error: {
        code: 429,
        message: "You exceeded your current quota, please check your plan and billing details. Please retry in 17.58s.",
        status: "RESOURCE_EXHAUSTED",
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            violations: [{ quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests", quotaId, quotaValue: "50" }],
          },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "17s" },
        ],
      },
    },
  };
}

describe("@ai-sdk/google errors", () => {
  it("a per-minute RESOURCE_EXHAUSTED is an APICallError read as a rate limit, 17 s from RetryInfo", async () => {
    const err = await googleError(0, resourceExhausted(PER_MINUTE));

    expect(APICallError.isInstance(err)).toBe(true);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(17);
    expect(quotaViolationsOf(err)).toMatchObject([{ quotaId: PER_MINUTE, quotaValue: 50, kind: "requests", perMinute: true, perDay: false }]);
  });

  it("a per-day RESOURCE_EXHAUSTED is a quota refusal, still a rate-limit error, with the same hint", async () => {
    const err = await googleError(0, resourceExhausted(PER_DAY));

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(17);
  });

  it("RetryInfo is read from the error's parsed data and from its responseBody text alike", async () => {
    const err = (await googleError(0, resourceExhausted(PER_DAY))) as APICallError;
    expect(typeof err.responseBody).toBe("string");
    expect(err.data).toMatchObject({ error: { status: "RESOURCE_EXHAUSTED" } });
    const fields = { message: err.message, url: err.url, requestBodyValues: err.requestBodyValues, statusCode: err.statusCode };

    const onlyText = new APICallError({ ...fields, responseBody: err.responseBody });
    const onlyData = new APICallError({ ...fields, data: err.data });

    for (const copy of [onlyText, onlyData]) {
      expect(retryAfterOf(copy)).toBe(17);
      expect(classifyError(copy)).toBe("quota");
    }
  });

  it("with retries, the RetryError is read through its last error", async () => {
    // The SDK backs off 2 s before its one retry (Gemini sends no retry headers).
    const err = await googleError(1, resourceExhausted(PER_MINUTE), resourceExhausted(PER_DAY));

    expect(RetryError.isInstance(err)).toBe(true);
    expect(server?.requests).toBe(2);
    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(17);
  });

  it("a 503 UNAVAILABLE is overloaded and not a rate limit", async () => {
    const err = await googleError(0, { status: 503, body: { error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } } });

    expect(APICallError.isInstance(err)).toBe(true);
    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("readUsage reads the usage of a generateText result", async () => {
    server = await startProvider({
      status: 200,
      body: {
        candidates: [{ content: { parts: [{ text: "hello" }], role: "model" }, finishReason: "STOP", index: 0 }],
        usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 5, thoughtsTokenCount: 3, totalTokenCount: 16 },
        modelVersion: "gemini-2.0-flash",
      },
    });

    const result = await generateText({ model: google(server.url), prompt: "hi", maxRetries: 0 });

    expect(result.text).toBe("hello");
    expect(readUsage(result)).toEqual({ inputTokens: 8, outputTokens: 8, tokens: 16 });
  });
});
