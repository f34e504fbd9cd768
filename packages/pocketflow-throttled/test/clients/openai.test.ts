import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { classifyError, headersOf, isRateLimitError, retryAfterOf } from "../../src/detect.js";
import { parseRateLimitHeaders } from "../../src/limiters/headers.js";
import { readUsage } from "../../src/usage.js";
import { chatCompletion, closedPortUrl, type ProviderServer, type Reply, startProvider, thrownBy } from "../fixtures/provider-server.js";

// The openai client (6.x) against a local server answering as OpenAI does.
let server: ProviderServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function openAiError(...replies: Reply[]): Promise<unknown> {
  server = await startProvider(...replies);
  const client = new OpenAI({ apiKey: "test", baseURL: `${server.url}/v1`, maxRetries: 0 });
  return thrownBy(() => client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }));
}

const rateLimitBody = (hint: string) => ({
  error: {
    message: `Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in ${hint}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    type: "requests",
    param: null,
    code: "rate_limit_exceeded",
  },
});

const quotaBody = {
  error: {
    message:
      "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    type: "insufficient_quota",
    param: null,
    code: "insufficient_quota",
  },
};

describe("openai client errors", () => {
  it("a 429 RateLimitError is a rate limit whose hint is the retry-after-ms header", async () => {
    const err = await openAiError({ status: 429, headers: { "retry-after-ms": "250", "retry-after": "1" }, body: rateLimitBody("1s") });

    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(0.25);
  });

  it("a 429 without retry headers takes its hint from 'Please try again in 634ms'", async () => {
    const err = await openAiError({ status: 429, body: rateLimitBody("634ms") });

    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeCloseTo(0.634, 9);
  });

  it("a 429 without retry headers takes its hint from 'Please try again in 1.5s'", async () => {
    const err = await openAiError({ status: 429, body: rateLimitBody("1.5s") });

    expect(retryAfterOf(err)).toBe(1.5);
  });

  it("a 429 carries the limit headers for learning the limits", async () => {
    const err = await openAiError({
      status: 429,
      headers: {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
      },
      body: rateLimitBody("1s"),
    });

    expect(parseRateLimitHeaders(headersOf(err))).toMatchObject({ limitRequests: 60, limitTokens: 150000, holdSeconds: 1 });
  });

  it("a 429 insufficient_quota is a quota refusal, still a rate-limit error, with no hint", async () => {
    const err = await openAiError({ status: 429, body: quotaBody });

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a 500 is transient and not a rate limit", async () => {
    const err = await openAiError({ status: 500, body: { error: { message: "The server had an error while processing your request.", type: "server_error", param: null, code: null } } });

    expect(classifyError(err)).toBe("transient");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a 503 'Slow Down' is overloaded and not a rate limit", async () => {
    const err = await openAiError({ status: 503, headers: { "retry-after": "2" }, body: { error: { message: "Slow Down", type: "server_error", param: null, code: null } } });

    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBe(2);
  });

  it("a refused connection (APIConnectionError) is transient", async () => {
    const client = new OpenAI({ apiKey: "test", baseURL: `${await closedPortUrl()}/v1`, maxRetries: 0 });

    const err = await thrownBy(() => client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }));

    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(classifyError(err)).toBe("transient");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a RateLimitError wrapped as new Error('...', { cause }) keeps its meaning and hint", async () => {
    const inner = await openAiError({ status: 429, headers: { "retry-after": "3" }, body: rateLimitBody("3s") });

    const err = new Error("summarise failed", { cause: new Error("model call failed", { cause: inner }) });

    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(3);
    expect(headersOf(err)).toBe(headersOf(inner));
  });

  it("an insufficient_quota inside an AggregateError is a quota refusal", async () => {
    const inner = await openAiError({ status: 429, body: quotaBody });

    const err = new AggregateError([new Error("other item failed"), inner], "2 items failed");

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("readUsage reads the usage of a chat completion", async () => {
    server = await startProvider(chatCompletion("hello", { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 }));
    const client = new OpenAI({ apiKey: "test", baseURL: `${server.url}/v1`, maxRetries: 0 });

    const result = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });

    expect(readUsage(result)).toEqual({ inputTokens: 9, outputTokens: 12, tokens: 21 });
  });
});
