import ky, { HTTPError, type Options } from "ky";
import { afterEach, describe, expect, it } from "vitest";
import { classifyError, headersOf, isRateLimitError, retryAfterOf } from "../../src/detect.js";
import { getHeader } from "../../src/limiters/headers.js";
import { type ProviderServer, type Reply, startProvider, thrownBy } from "../fixtures/provider-server.js";

// ky 1.x (the last line that runs on Node 20) against a local OpenAI-style
// server. Its HTTPError carries the fetch `response` (body unread) and the
// `request`; it has no parsed body of its own.
let server: ProviderServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function kyError(options: Options, ...replies: Reply[]): Promise<unknown> {
  return kyErrorAt("/v1/chat/completions", options, ...replies);
}

async function kyErrorAt(path: string, options: Options, ...replies: Reply[]): Promise<unknown> {
  server = await startProvider(...replies);
  const url = `${server.url}${path}`;
  return thrownBy(() => ky.post(url, { json: { model: "gpt-4o-mini" }, retry: 0, ...options }).json());
}

const rateLimited: Reply = {
  status: 429,
  headers: { "retry-after": "1", "x-ratelimit-limit-requests": "60" },
  body: { error: { message: "Rate limit reached for requests", type: "requests", param: null, code: "rate_limit_exceeded" } },
};

const quota: Reply = {
  status: 429,
  body: { error: { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", param: null, code: "insufficient_quota" } },
};

describe("ky errors", () => {
  it("a 429 HTTPError is a rate limit whose hint is the response's retry-after", async () => {
    const err = await kyError({}, rateLimited);

    expect(err).toBeInstanceOf(HTTPError);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(1);
    expect(getHeader(headersOf(err), "x-ratelimit-limit-requests")).toBe("60");
  });

  it("an insufficient_quota 429 reads as a plain rate limit: ky leaves the body unread in the Response", async () => {
    const err = await kyError({}, quota);

    // Detection never awaits a body, and ky 1.x attaches none to the error:
    // only the status is there to read.
    expect((err as HTTPError).response.bodyUsed).toBe(false);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
  });

  it("with ky's documented beforeError hook appending the body text to the message, it is a quota refusal", async () => {
    const appendBody: Options = {
      hooks: {
        beforeError: [
          async (error) => {
            error.message = `${error.message}: ${await error.response.text()}`;
            return error;
          },
        ],
      },
    };

    const err = await kyError(appendBody, quota);

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("with a beforeError hook putting the parsed body on `data`, it is a quota refusal", async () => {
    const attachData: Options = {
      hooks: {
        beforeError: [
          async (error) => {
            Object.assign(error, { data: await error.response.json() });
            return error;
          },
        ],
      },
    };

    const err = await kyError(attachData, quota);

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
  });

  it("a 503 HTTPError is overloaded and not a rate limit", async () => {
    const err = await kyError({}, { status: 503, body: { error: { message: "Slow Down", type: "server_error", param: null, code: null } } });

    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("with ky's own retry on, the HTTPError thrown after it gives up is still a rate limit with the hint", async () => {
    // ky waits the retry-after (1 s) capped by maxRetryAfter, so the retry comes 20 ms later.
    const err = await kyError({ retry: { limit: 1, methods: ["post"], maxRetryAfter: 20 } }, rateLimited);

    expect(server?.requests).toBe(2);
    expect(err).toBeInstanceOf(HTTPError);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(1);
  });

  it("a 400 HTTPError means nothing to detection, though its message holds a URL with 429 in it", async () => {
    // ky writes "Request failed with status code 400 Bad Request: POST <url>"; the port may hold "429" too.
    const err = await kyErrorAt("/v1/batches/14290", {}, { status: 400, body: { error: { message: "Invalid request", type: "invalid_request_error", param: "model", code: null } } });

    expect(err).toBeInstanceOf(HTTPError);
    expect((err as HTTPError).message).toContain("14290");
    expect(classifyError(err)).toBeUndefined();
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });
});
