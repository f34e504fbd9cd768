/**
 * How the SDKs expose headers (openai 6.30.1, @anthropic-ai/sdk 1.12.0):
 *
 * - Errors: a non-2xx answer throws an `APIError` subclass (`RateLimitError` for 429,
 *   `InternalServerError` for 5xx) with `.status` (number) and `.headers`, a Fetch `Headers`
 *   object: read it with `err.headers.get("retry-after")` (names are case-insensitive; plain
 *   indexing such as `err.headers["retry-after"]` does NOT work). The parsed body is `err.error`:
 *   openai passes the body's `error` member, so `err.code === "rate_limit_exceeded"` and
 *   `err.type === "requests" | "tokens"`; anthropic passes the whole body
 *   (`{ type: "error", error: { type, message } }`) and also sets `err.type === "rate_limit_error"`.
 * - Successes: the promise returned by `create(...)` is an `APIPromise`;
 *   `await create(...).withResponse()` returns `{ data, response, request_id }` (anthropic adds
 *   `workspace_id`), where `response` is the Fetch `Response` and `response.headers.get(...)`
 *   reads the rate-limit headers. `.asResponse()` returns the raw `Response` without parsing.
 *   A plain `await create(...)` gives the parsed body only (plus `_request_id`), no headers.
 * - Base URLs: openai's paths are relative to `/v1` (`baseURL: provider.baseURL`, ".../v1");
 *   anthropic's paths already start with `/v1` (`baseURL: provider.url`, no "/v1").
 * - Retries: both SDKs honour `retry-after-ms` before `retry-after` and skip retrying on
 *   `x-should-retry: false`; tests pass `maxRetries: 0` to see every 429.
 * - Embeddings: openai asks for `encoding_format: "base64"` unless told otherwise and decodes the
 *   float32 base64 itself, so the server answers in whichever format was asked for.
 */
import Anthropic, { RateLimitError as AnthropicRateLimitError } from "@anthropic-ai/sdk";
import OpenAI, { InternalServerError, RateLimitError } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { delay as sleep } from "test-support";
import {
  formatDuration,
  type SimulatedProvider,
  type SimulatedProviderOptions,
  simulatedReply,
  startSimulatedProvider,
} from "../simulated-provider.js";

const started: SimulatedProvider[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((provider) => provider.close()));
});

async function start(options: SimulatedProviderOptions = {}): Promise<SimulatedProvider> {
  const provider = await startSimulatedProvider({ latencyMs: 2, ...options });
  started.push(provider);
  return provider;
}

function openai(provider: SimulatedProvider): OpenAI {
  return new OpenAI({ apiKey: "test", baseURL: provider.baseURL, maxRetries: 0 });
}

function anthropic(provider: SimulatedProvider): Anthropic {
  return new Anthropic({ apiKey: "test", baseURL: provider.url, maxRetries: 0 });
}

function chat(client: OpenAI, content: string, extra: { max_tokens?: number } = {}) {
  return client.chat.completions.create({ model: "sim", messages: [{ role: "user", content }], ...extra });
}

function post(provider: SimulatedProvider, path: string, body: unknown): Promise<Response> {
  return fetch(`${provider.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const hello = { model: "sim", messages: [{ role: "user", content: "Hello" }] };

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(5);
  }
}

describe("OpenAI-compatible chat completions", () => {
  it("answers a chat completion with usage through the openai SDK", async () => {
    const provider = await start();

    const completion = await chat(openai(provider), "Translate the following text into French:\nGood morning");

    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0]?.message.content).toBe("[French] Good morning");
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    expect(completion.usage).toEqual({ prompt_tokens: 14, completion_tokens: 6, total_tokens: 20 });
    expect(provider.stats.served).toBe(1);
  });

  it("exposes rate-limit headers of a successful call through withResponse()", async () => {
    const provider = await start({ requestsPerWindow: 10, tokensPerWindow: 1000, windowMs: 10_000 });

    const { data, response } = await chat(openai(provider), "Hello").withResponse();

    expect(data.choices[0]?.message.content).toBe("Simulated reply to: Hello");
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("10");
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("9");
    expect(response.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+(\.\d+)?(ms|s)$|m/);
    expect(response.headers.get("x-ratelimit-limit-tokens")).toBe("1000");
    // "Hello" is 2 prompt tokens; without max_tokens only the prompt is charged to the window.
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe("998");
    expect(response.headers.get("x-ratelimit-reset-tokens")).not.toBeNull();
    expect(response.headers.get("x-request-id")).toMatch(/^req_sim_/);
  });

  it("sends no token headers when no token limit is set", async () => {
    const provider = await start({ requestsPerWindow: 10 });

    const { response } = await chat(openai(provider), "Hello").withResponse();

    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("10");
    expect(response.headers.get("x-ratelimit-limit-tokens")).toBeNull();
  });

  it("rejects a burst over requestsPerWindow with 429s carrying retry-after and retry-after-ms", async () => {
    const provider = await start({ requestsPerWindow: 3, windowMs: 10_000 });
    const client = openai(provider);

    const results = await Promise.allSettled(Array.from({ length: 6 }, () => chat(client, "Hello")));

    const rejected = results.filter((result) => result.status === "rejected").map((result) => result.reason as unknown);
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(3);
    expect(rejected).toHaveLength(3);
    const error = rejected[0] as RateLimitError;
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.status).toBe(429);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.type).toBe("requests");
    expect(Number(error.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(error.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    expect(Number(error.headers.get("retry-after-ms"))).toBeLessThanOrEqual(10_000);
    expect(error.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(error.headers.get("x-ratelimit-reset-requests")).not.toBeNull();
    expect(provider.stats).toMatchObject({ served: 3, rejected: 3, rejectedRequests: 3 });
  });

  it("admits again once retry-after-ms has passed", async () => {
    const provider = await start({ requestsPerWindow: 2, windowMs: 300 });
    const client = openai(provider);
    await chat(client, "one");
    await chat(client, "two");

    const error = (await rejectionOf(chat(client, "three"))) as RateLimitError;
    const retryAfterMs = Number(error.headers.get("retry-after-ms"));
    await sleep(retryAfterMs + 20);
    const completion = await chat(client, "three");

    expect(retryAfterMs).toBeLessThanOrEqual(300);
    expect(completion.choices[0]?.message.content).toBe("Simulated reply to: three");
  });

  it("never admits more than requestsPerWindow in any window under sustained pressure", async () => {
    const provider = await start({ requestsPerWindow: 5, windowMs: 300, latencyMs: [1, 3] });
    const worker = async () => {
      while (provider.stats.served < 20) {
        await post(provider, "/v1/chat/completions", hello).then((response) => response.arrayBuffer());
        await sleep(5);
      }
    };

    await Promise.all(Array.from({ length: 8 }, worker));

    expect(provider.stats.rejected).toBeGreaterThan(0);
    expect(provider.admittedTimestamps().length).toBeGreaterThanOrEqual(20);
    expect(provider.maxInAnyWindow()).toBeLessThanOrEqual(5);
  });
});

describe("token limit", () => {
  // 40 characters: 10 prompt tokens. The reply "Simulated reply to: " + 40 x's is 60 characters: 15 tokens.
  const prompt = "x".repeat(40);

  it("rejects a request whose prompt plus max_tokens would push the window over tokensPerWindow", async () => {
    const provider = await start({ tokensPerWindow: 100, windowMs: 10_000 });
    const client = openai(provider);
    await chat(client, prompt); // charges 10

    const error = (await rejectionOf(chat(client, prompt, { max_tokens: 85 }))) as RateLimitError; // 10 + 95 > 100
    const exactFit = await chat(client, prompt, { max_tokens: 80 }).withResponse(); // 10 + 90 = 100

    expect(error.status).toBe(429);
    expect(error.type).toBe("tokens");
    expect(Number(error.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    expect(error.headers.get("x-ratelimit-remaining-tokens")).toBe("90");
    expect(exactFit.response.status).toBe(200);
    expect(provider.stats.rejectedTokens).toBe(1);
    expect(provider.maxTokensInAnyWindow()).toBeLessThanOrEqual(100);
  });

  it("gives back the unused part of max_tokens when the answer is sent", async () => {
    const provider = await start({ tokensPerWindow: 1000, windowMs: 10_000 });

    const { data, response } = await chat(openai(provider), prompt, { max_tokens: 500 }).withResponse();

    expect(data.usage?.total_tokens).toBe(25);
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe("975");
    expect(provider.maxTokensInAnyWindow()).toBe(25);
  });

  it("answers a request larger than the whole limit with a 429 that says not to retry", async () => {
    const provider = await start({ tokensPerWindow: 100, windowMs: 10_000 });

    const response = await post(provider, "/v1/chat/completions", { ...hello, max_tokens: 200 });

    expect(response.status).toBe(429);
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe("tokens");
  });
});

describe("concurrency cap", () => {
  it("rejects requests beyond maxConcurrent in flight with a 429", async () => {
    const provider = await start({ maxConcurrent: 2, latencyMs: 1500 });

    const responses = await Promise.all(Array.from({ length: 5 }, () => post(provider, "/v1/chat/completions", hello)));

    const statuses = responses.map((response) => response.status).sort();
    const rejected = responses.find((response) => response.status === 429)!;
    expect(statuses).toEqual([200, 200, 429, 429, 429]);
    expect(Number(rejected.headers.get("retry-after-ms"))).toBeLessThanOrEqual(1500);
    expect(rejected.headers.get("x-simulated-reject-reason")).toBe("concurrency");
    expect(provider.stats).toMatchObject({ rejectedConcurrency: 3, peakConcurrency: 2, inFlight: 0 });
  });
});

describe("Anthropic-compatible messages", () => {
  it("answers a message through the Anthropic SDK, with Anthropic rate-limit headers", async () => {
    const provider = await start({ requestsPerWindow: 5, tokensPerWindow: 1000, windowMs: 10_000 });

    const { data, response } = await anthropic(provider)
      .messages.create({ model: "sim", max_tokens: 64, messages: [{ role: "user", content: "Translate into German: Good night" }] })
      .withResponse();

    expect(data.type).toBe("message");
    expect(data.content[0]).toMatchObject({ type: "text", text: "[German] Good night" });
    expect(data.stop_reason).toBe("end_turn");
    expect(data.usage).toMatchObject({ input_tokens: 9, output_tokens: 5 });
    expect(response.headers.get("anthropic-ratelimit-requests-limit")).toBe("5");
    expect(response.headers.get("anthropic-ratelimit-requests-remaining")).toBe("4");
    expect(Number.isNaN(Date.parse(response.headers.get("anthropic-ratelimit-requests-reset")!))).toBe(false);
    expect(response.headers.get("anthropic-ratelimit-tokens-limit")).toBe("1000");
    expect(response.headers.get("anthropic-ratelimit-tokens-remaining")).toBe("986");
    expect(response.headers.get("request-id")).toMatch(/^req_sim_/);
  });

  it("answers over the limit with Anthropic's 429: error shape, retry-after and remaining 0", async () => {
    const provider = await start({ requestsPerWindow: 1, windowMs: 10_000 });
    const client = anthropic(provider);
    const request = { model: "sim", max_tokens: 16, messages: [{ role: "user" as const, content: "Hi" }] };
    await client.messages.create(request);

    const error = (await rejectionOf(client.messages.create(request))) as AnthropicRateLimitError;

    expect(error).toBeInstanceOf(AnthropicRateLimitError);
    expect(error.status).toBe(429);
    expect(error.type).toBe("rate_limit_error");
    expect(error.error).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    expect(Number(error.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(error.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    expect(error.headers.get("anthropic-ratelimit-requests-remaining")).toBe("0");
    expect(Date.parse(error.headers.get("anthropic-ratelimit-requests-reset")!)).toBeGreaterThan(Date.now() - 1000);
  });
});

describe("embeddings", () => {
  it("answers an array of inputs as one request with 8-number vectors", async () => {
    const provider = await start({ requestsPerWindow: 2, windowMs: 10_000 });
    const client = openai(provider);

    const batch = await client.embeddings.create({ model: "sim", input: ["alpha", "beta", "gamma"] });
    const single = await client.embeddings.create({ model: "sim", input: "alpha" });
    const error = (await rejectionOf(client.embeddings.create({ model: "sim", input: "delta" }))) as RateLimitError;

    expect(batch.data.map((item) => item.index)).toEqual([0, 1, 2]);
    expect(batch.data[0]?.embedding).toHaveLength(8);
    expect(single.data[0]?.embedding).toEqual(batch.data[0]?.embedding);
    expect(batch.data[1]?.embedding).not.toEqual(batch.data[0]?.embedding);
    expect(batch.usage).toEqual({ prompt_tokens: 2 + 1 + 2, total_tokens: 5 });
    expect(error.status).toBe(429);
    expect(provider.admittedTimestamps()).toHaveLength(2);
  });

  it("answers the same numbers as JSON floats as in base64", async () => {
    const provider = await start();
    const client = openai(provider);

    const decoded = await client.embeddings.create({ model: "sim", input: "alpha" });
    const floats = await client.embeddings.create({ model: "sim", input: "alpha", encoding_format: "float" });

    expect(floats.data[0]?.embedding).toEqual(decoded.data[0]?.embedding);
  });
});

describe("errors and fault injection", () => {
  it("answers an unknown path with a 404 and bad JSON with a 400", async () => {
    const provider = await start();

    const unknown = await post(provider, "/v1/unknown", hello);
    const badJson = await post(provider, "/v1/chat/completions", "{not json");

    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toHaveProperty("error.message");
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toHaveProperty("error.type", "invalid_request_error");
  });

  it("answers 500s at failureRate 1 and counts them", async () => {
    const provider = await start({ failureRate: 1 });

    const error = await rejectionOf(chat(openai(provider), "Hello"));

    expect(error).toBeInstanceOf(InternalServerError);
    expect(provider.stats).toMatchObject({ failures: 1, served: 0, inFlight: 0 });
  });

  it("rejects invalid options with a RangeError naming them", async () => {
    await expect(startSimulatedProvider({ requestsPerWindow: 0 })).rejects.toThrow(/requestsPerWindow/);
    await expect(startSimulatedProvider({ latencyMs: [5, 1] })).rejects.toThrow(/latencyMs/);
    await expect(startSimulatedProvider({ failureRate: 2 })).rejects.toThrow(/failureRate/);
  });
});

describe("stats and lifecycle", () => {
  it("resetStats zeroes the counters and forgets the timestamps but keeps enforcing the window", async () => {
    const provider = await start({ requestsPerWindow: 1, windowMs: 10_000 });
    await post(provider, "/v1/chat/completions", hello);

    provider.resetStats();
    const response = await post(provider, "/v1/chat/completions", hello);

    expect(response.status).toBe(429);
    expect(provider.admittedTimestamps()).toEqual([]);
    expect(provider.stats).toMatchObject({ served: 0, rejected: 1 });
  });

  it("close() ends in-flight requests, refuses new ones and leaves no timers behind", async () => {
    const provider = await start({ latencyMs: 60_000 });
    const inFlight = rejectionOf(post(provider, "/v1/chat/completions", hello));
    await until(() => provider.stats.inFlight === 1);

    await provider.close();

    expect(await inFlight).toBeInstanceOf(Error);
    expect(provider.stats.inFlight).toBe(0);
    await expect(post(provider, "/v1/chat/completions", hello)).rejects.toThrow();
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [-5, "0s"],
    [1.2, "2ms"],
    [20, "20ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [90_500, "1m30.5s"],
    [360_000, "6m0s"],
    [7_200_000, "2h0m0s"],
  ])("formats %s ms as %s", (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

describe("simulatedReply", () => {
  it.each([
    ["Translate the following text into Spanish:\nHello world", "[Spanish] Hello world"],
    ["Please translate to Japanese: Time: 10am", "[Japanese] Time: 10am"],
    ["I want you to translate this into Korean.\nGood luck", "[Korean] Good luck"],
    ["What is the capital of France?", "Simulated reply to: What is the capital of France?"],
  ])("answers %j with %j", (prompt, expected) => {
    expect(simulatedReply(prompt)).toBe(expected);
  });
});
