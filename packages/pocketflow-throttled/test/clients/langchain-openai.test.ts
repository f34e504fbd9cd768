import { ChatOpenAI } from "@langchain/openai";
import OpenAI from "openai";
import { AsyncFlow } from "pocketflow-ts";
import { afterEach, describe, expect, it, vi } from "vitest";
import { classifyError, headersOf, isRateLimitError, retryAfterOf } from "../../src/detect.js";
import { RateLimiter } from "../../src/index.js";
import { getHeader } from "../../src/limiters/headers.js";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { readUsage } from "../../src/usage.js";
import { chatCompletion, type ProviderServer, type Reply, startProvider, thrownBy } from "../fixtures/provider-server.js";

// @langchain/openai's ChatOpenAI against a local OpenAI-style server. LangChain
// re-throws the openai client's error after its own failed-attempt handler has
// stamped it (`lc_error_code`, a troubleshooting URL in the message, a new
// `name` for quota and headerless 429s, `retryAfterMs`).
let server: ProviderServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function chat(url: string): ChatOpenAI {
  return new ChatOpenAI({ model: "gpt-4o-mini", apiKey: "test", configuration: { baseURL: `${url}/v1` }, maxRetries: 0 });
}

async function langChainError(...replies: Reply[]): Promise<unknown> {
  server = await startProvider(...replies);
  const model = chat(server.url);
  return thrownBy(() => model.invoke("hi"));
}

const rateLimited: Reply = {
  status: 429,
  headers: { "retry-after-ms": "30", "retry-after": "1", "x-ratelimit-limit-requests": "60" },
  body: { error: { message: "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 60, Used 60, Requested 1.", type: "requests", param: null, code: "rate_limit_exceeded" } },
};

const quota: Reply = {
  status: 429,
  body: { error: { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", param: null, code: "insufficient_quota" } },
};

describe("@langchain/openai errors", () => {
  it("a 429 is the openai RateLimitError stamped MODEL_RATE_LIMIT, read as a rate limit with the header hint", async () => {
    const err = await langChainError(rateLimited);

    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).toMatchObject({ lc_error_code: "MODEL_RATE_LIMIT" });
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(0.03);
    expect(getHeader(headersOf(err), "x-ratelimit-limit-requests")).toBe("60");
  });

  it("a headerless 429, renamed RateLimitCapacityError by LangChain, is still a rate limit", async () => {
    const err = await langChainError({ status: 429, body: { error: { message: "Rate limit reached for requests", type: "requests", param: null, code: "rate_limit_exceeded" } } });

    expect(err).toMatchObject({ name: "RateLimitCapacityError" });
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("an insufficient_quota 429, renamed InsufficientQuotaError by LangChain, is a quota refusal", async () => {
    const err = await langChainError(quota);

    expect(err).toMatchObject({ name: "InsufficientQuotaError" });
    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it.each([
    [529, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }],
    [503, { error: { message: "Slow Down", type: "server_error", param: null, code: null } }],
  ])("a %i is overloaded and not a rate limit", async (status, body) => {
    const err = await langChainError({ status, body });

    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
  });

  it("readUsage reads the usage_metadata of the AIMessage", async () => {
    server = await startProvider(chatCompletion("hello", { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 }));

    const message = await chat(server.url).invoke("hi");

    expect(message.usage_metadata).toMatchObject({ input_tokens: 9, output_tokens: 12, total_tokens: 21 });
    expect(readUsage(message)).toEqual({ inputTokens: 9, outputTokens: 12, tokens: 21 });
  });
});

interface Shared {
  prompts: string[];
  answers?: string[];
}

class Answer extends ThrottledParallelBatchNode<Shared, string, string> {
  constructor(
    private readonly model: ChatOpenAI,
    limiter: RateLimiter,
  ) {
    super({ limiter, maxRetries: 1 });
  }

  override async prepAsync(shared: Shared): Promise<string[]> {
    return shared.prompts;
  }

  override async execAsync(prompt: string): Promise<string> {
    const message = await this.model.invoke(prompt);
    return `${prompt}:${String(message.content)}`;
  }

  override async postAsync(shared: Shared, _prep: unknown, answers: string[]): Promise<undefined> {
    shared.answers = answers;
    return undefined;
  }
}

describe("@langchain/openai in a ThrottledParallelBatchNode", () => {
  it("recovers from one 429 with a short retry-after-ms and delivers every item", async () => {
    server = await startProvider({ ...rateLimited, headers: { "retry-after-ms": "30" } }, chatCompletion("ok"));
    const limiter = new RateLimiter({ maxConcurrent: 2 });
    const pause = vi.spyOn(limiter, "pause");
    const shared: Shared = { prompts: ["a", "b", "c", "d"] };

    await new AsyncFlow(new Answer(chat(server.url), limiter)).runAsync(shared);

    expect(shared.answers).toEqual(["a:ok", "b:ok", "c:ok", "d:ok"]);
    // One refused call, re-run: five requests for four items.
    expect(server.requests).toBe(5);
    // The refusal was read as a rate limit with its hint: the shared limiter paused 30 ms for it.
    expect(pause).toHaveBeenCalledTimes(1);
    expect(pause).toHaveBeenCalledWith(0.03, expect.objectContaining({ lc_error_code: "MODEL_RATE_LIMIT" }));
  });
});
