import axios from "axios";
import { afterEach, describe, expect, it } from "vitest";
import { classifyError, headersOf, isRateLimitError, retryAfterOf } from "../../src/detect.js";
import { getHeader } from "../../src/limiters/headers.js";
import { closedPortUrl, type ProviderServer, type Reply, startProvider, thrownBy } from "../fixtures/provider-server.js";

// axios and the global fetch against a local provider-style server.
let server: ProviderServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function axiosError(reply: Reply): Promise<unknown> {
  server = await startProvider(reply);
  const url = `${server.url}/v1/chat/completions`;
  return thrownBy(() => axios.post(url, { model: "gpt-4o-mini" }));
}

describe("axios errors", () => {
  it("a 429 AxiosError is a rate limit whose hint is response.headers retry-after", async () => {
    const err = await axiosError({ status: 429, headers: { "retry-after": "2", "x-ratelimit-limit-requests": "60" }, body: { error: { message: "Rate limit reached", code: "rate_limit_exceeded" } } });

    expect(axios.isAxiosError(err)).toBe(true);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(2);
    expect(getHeader(headersOf(err), "x-ratelimit-limit-requests")).toBe("60");
  });

  it("an insufficient_quota body in response.data is a quota refusal", async () => {
    const err = await axiosError({ status: 429, body: { error: { message: "You exceeded your current quota", type: "insufficient_quota", code: "insufficient_quota" } } });

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a 529 AxiosError is overloaded", async () => {
    const err = await axiosError({ status: 529, body: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } });

    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
  });

  it("a reset connection (ECONNRESET) is transient", async () => {
    const err = await axiosError({ status: 200, reset: true });

    expect(classifyError(err)).toBe("transient");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });
});

describe("fetch errors", () => {
  it("'TypeError: fetch failed' on a refused connection is transient", async () => {
    const url = await closedPortUrl();

    const err = await thrownBy(() => fetch(url));

    expect(err).toBeInstanceOf(TypeError);
    expect(classifyError(err)).toBe("transient");
    expect(isRateLimitError(err)).toBe(false);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("'TypeError: fetch failed' on a reset connection is transient", async () => {
    server = await startProvider({ status: 200, reset: true });

    const err = await thrownBy(() => fetch(server?.url ?? ""));

    expect(classifyError(err)).toBe("transient");
  });

  it("an error carrying the fetch Response of a 429 is a rate limit with its retry-after", async () => {
    server = await startProvider({ status: 429, headers: { "retry-after": "4" }, body: "Too Many Requests" });
    const response = await fetch(server.url);
    await response.text();

    const err = Object.assign(new Error(`HTTP ${response.status}`), { response });

    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(4);
  });
});
