import Anthropic from "@anthropic-ai/sdk";
import { afterEach, describe, expect, it } from "vitest";
import { classifyError, headersOf, isRateLimitError, retryAfterOf } from "../../src/detect.js";
import { parseRateLimitHeaders } from "../../src/limiters/headers.js";
import { readUsage } from "../../src/usage.js";
import { type ProviderServer, type Reply, startProvider, thrownBy } from "../fixtures/provider-server.js";

// @anthropic-ai/sdk against a local server answering as Anthropic does.
let server: ProviderServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function anthropicError(reply: Reply): Promise<unknown> {
  server = await startProvider(reply);
  const client = new Anthropic({ apiKey: "test", baseURL: server.url, maxRetries: 0 });
  return thrownBy(() =>
    client.messages.create({ model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }),
  );
}

const errorBody = (type: string, message: string) => ({ type: "error", error: { type, message }, request_id: "req_1" });

describe("@anthropic-ai/sdk client errors", () => {
  it("a 429 rate_limit_error is a rate limit whose hint is retry-after", async () => {
    const err = await anthropicError({
      status: 429,
      headers: { "retry-after": "3" },
      body: errorBody("rate_limit_error", "This request would exceed your organization's rate limit of 50 requests per minute."),
    });

    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(3);
  });

  it("a 429 carries the request, input-token and output-token limits", async () => {
    const err = await anthropicError({
      status: 429,
      headers: {
        "retry-after": "1",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-input-tokens-limit": "30000",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-tokens-limit": "38000",
      },
      body: errorBody("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    });

    expect(parseRateLimitHeaders(headersOf(err))).toMatchObject({
      limitRequests: 50,
      limitInputTokens: 30000,
      limitOutputTokens: 8000,
      limitTokens: 38000,
    });
  });

  it("a 529 overloaded_error is overloaded and not a rate limit", async () => {
    const err = await anthropicError({ status: 529, body: errorBody("overloaded_error", "Overloaded") });

    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a 400 'credit balance is too low' is a quota refusal", async () => {
    const err = await anthropicError({
      status: 400,
      body: errorBody(
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
      ),
    });

    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a 400 invalid_request_error about the prompt is not classified", async () => {
    const err = await anthropicError({ status: 400, body: errorBody("invalid_request_error", "messages: at least one message is required") });

    expect(classifyError(err)).toBeUndefined();
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a 500 api_error is transient", async () => {
    const err = await anthropicError({ status: 500, body: errorBody("api_error", "Internal server error") });

    expect(classifyError(err)).toBe("transient");
    expect(isRateLimitError(err)).toBe(false);
  });

  it("readUsage reads the usage of a message", async () => {
    server = await startProvider({
      status: 200,
      body: {
        id: "msg_1",
        type: "message",
        role: "assistant",
        model: "claude-sonnet-4-6",
        content: [{ type: "text", text: "hello" }],
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: { input_tokens: 14, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    });
    const client = new Anthropic({ apiKey: "test", baseURL: server.url, maxRetries: 0 });

    const result = await client.messages.create({ model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content: "hi" }] });

    expect(readUsage(result)).toEqual({ inputTokens: 14, outputTokens: 5, tokens: 19 });
  });
});
