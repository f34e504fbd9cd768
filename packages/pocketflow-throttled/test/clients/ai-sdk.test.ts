import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, RetryError } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { classifyError, headersOf, isRateLimitError, retryAfterOf } from "../../src/detect.js";
import { getHeader } from "../../src/limiters/headers.js";
import { readUsage } from "../../src/usage.js";
import { chatCompletion, type ProviderServer, type Reply, startProvider, thrownBy } from "../fixtures/provider-server.js";

// The Vercel AI SDK (`ai` + `@ai-sdk/openai`) against a local OpenAI-style server.
let server: ProviderServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function aiSdkError(maxRetries: number, ...replies: Reply[]): Promise<unknown> {
  server = await startProvider(...replies);
  const openai = createOpenAI({ apiKey: "test", baseURL: `${server.url}/v1` });
  return thrownBy(() => generateText({ model: openai.chat("gpt-4o-mini"), prompt: "hi", maxRetries }));
}

const rateLimited: Reply = {
  status: 429,
  // A short hint, so the SDK's own retry (when on) waits 20 ms, not its 2 s backoff.
  headers: { "retry-after-ms": "20", "x-ratelimit-limit-requests": "60" },
  body: { error: { message: "Rate limit reached for requests", type: "requests", param: null, code: "rate_limit_exceeded" } },
};

const quota: Reply = {
  status: 429,
  body: {
    error: { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", param: null, code: "insufficient_quota" },
  },
};

describe("Vercel AI SDK errors", () => {
  it("with maxRetries 0, a 429 is an APICallError read as a rate limit with the header hint", async () => {
    const err = await aiSdkError(0, rateLimited);

    expect(APICallError.isInstance(err)).toBe(true);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(0.02);
    expect(getHeader(headersOf(err), "x-ratelimit-limit-requests")).toBe("60");
  });

  it("with retries, the RetryError is read through its lastError", async () => {
    const err = await aiSdkError(1, rateLimited);

    expect(RetryError.isInstance(err)).toBe(true);
    expect(server?.requests).toBe(2);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(0.02);
    expect(getHeader(headersOf(err), "x-ratelimit-limit-requests")).toBe("60");
  });

  it("an insufficient_quota APICallError is a quota refusal (the code is in its parsed data)", async () => {
    const err = await aiSdkError(0, quota);

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a RetryError whose last error is insufficient_quota is a quota refusal", async () => {
    const err = await aiSdkError(1, rateLimited, quota);

    expect(RetryError.isInstance(err)).toBe(true);
    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
  });

  it("a 503 APICallError is overloaded", async () => {
    const err = await aiSdkError(0, { status: 503, body: { error: { message: "Slow Down", type: "server_error", param: null, code: null } } });

    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("readUsage reads the usage of a generateText result", async () => {
    server = await startProvider(chatCompletion("hello", { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }));
    const openai = createOpenAI({ apiKey: "test", baseURL: `${server.url}/v1` });

    const result = await generateText({ model: openai.chat("gpt-4o-mini"), prompt: "hi", maxRetries: 0 });

    expect(readUsage(result)).toEqual({ inputTokens: 7, outputTokens: 3, tokens: 10 });
  });
});
