/**
 * What every style shares: arrival counting, the concurrency cap, latency, counters, bad input, and a clean
 * stop. Plus the phrase bank and the duration format.
 */
import { describe, expect, it } from "vitest";
import { formatDuration, simulatedReply, startSimulatedProvider } from "../../src/testing/index.js";
import { post, rejectionOf, sleep, start } from "./support.js";

const hello = { model: "sim", messages: [{ role: "user", content: "Hello" }] };

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(5);
  }
}

describe("simulated provider, any style", () => {
  it("binds 127.0.0.1 on a free port by default", async () => {
    const provider = await start();

    expect(provider.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(provider.port).toBeGreaterThan(0);
    expect(provider.baseURL).toBe(`${provider.url}/v1`);
  });

  it("never accepts more than a custom window's maxRequests in any window under sustained pressure", async () => {
    const provider = await start({ limits: { windows: [{ seconds: 0.3, maxRequests: 5 }] }, latencyMs: 1, jitterMs: 2 });
    const worker = async () => {
      while (provider.stats.answered < 20) {
        await post(provider, "/v1/chat/completions", hello).then((response) => response.arrayBuffer());
        await sleep(5);
      }
    };

    await Promise.all(Array.from({ length: 8 }, worker));

    expect(provider.stats.refusedBy.requests).toBeGreaterThan(0);
    expect(provider.arrivals().length).toBeGreaterThanOrEqual(20);
    expect(provider.maxInAnyWindow(300)).toBeLessThanOrEqual(5);
  });

  it("counts a request when it arrives: arrival jitter delays the count, not the client's start", async () => {
    const provider = await start({ arrivalJitterMs: 200, seed: 3 });
    const sent = performance.now();

    await post(provider, "/v1/chat/completions", hello).then((response) => response.arrayBuffer());

    const [arrival] = provider.arrivals();
    expect(arrival! - sent).toBeGreaterThanOrEqual(0);
    // seed 3 draws a delay well above the request's own transit time on this host.
    expect(arrival! - sent).toBeGreaterThan(20);
  });

  it("refuses beyond maxConcurrent in flight and records the most seen at once", async () => {
    const provider = await start({ maxConcurrent: 2, latencyMs: 1500 });

    const responses = await Promise.all(Array.from({ length: 5 }, () => post(provider, "/v1/chat/completions", hello)));

    expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 429, 429, 429]);
    const refused = responses.find((response) => response.status === 429)!;
    expect(Number(refused.headers.get("retry-after-ms"))).toBeLessThanOrEqual(1500);
    expect(provider.stats).toMatchObject({ maxConcurrentSeen: 2, inFlight: 0, refusedBy: { concurrency: 3 } });
  });

  it("takes latencyMs (+ jitter) before answering", async () => {
    const provider = await start({ latencyMs: 150 });
    const begin = performance.now();

    await post(provider, "/v1/chat/completions", hello).then((response) => response.arrayBuffer());

    expect(performance.now() - begin).toBeGreaterThanOrEqual(140);
  });

  it("counts accepted arrivals per consecutive window", async () => {
    const provider = await start({ latencyMs: 0 });
    await post(provider, "/v1/chat/completions", hello);
    await post(provider, "/v1/chat/completions", hello);
    await sleep(250);
    await post(provider, "/v1/chat/completions", hello);

    const counts = provider.startsPerWindow(200);

    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(3);
    expect(counts[0]).toBe(2);
    expect(counts.at(-1)).toBe(1);
  });

  it("answers an unknown path with a 404, bad JSON with a 400, and 500s at failureRate 1", async () => {
    const provider = await start();
    const failing = await start({ failureRate: 1 });

    const unknown = await post(provider, "/v1/messages", hello);
    const badJson = await post(provider, "/v1/chat/completions", "{not json");
    const failed = await post(failing, "/v1/chat/completions", hello);

    expect(unknown.status).toBe(404);
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toHaveProperty("error.type", "invalid_request_error");
    expect(failed.status).toBe(500);
    expect(failing.stats).toMatchObject({ failures: 1, answered: 0, inFlight: 0 });
  });

  it("resetStats zeroes the counters and forgets arrivals but keeps enforcing the limits", async () => {
    const provider = await start({ limits: { rpm: 1 } });
    await post(provider, "/v1/chat/completions", hello);

    provider.resetStats();
    const response = await post(provider, "/v1/chat/completions", hello);

    expect(response.status).toBe(429);
    expect(provider.arrivals()).toEqual([]);
    expect(provider.stats).toMatchObject({ requests: 1, accepted: 0, refused: 1 });
  });

  it("stop() ends in-flight requests, refuses new ones and is idempotent", async () => {
    const provider = await start({ latencyMs: 60_000 });
    const inFlight = rejectionOf(post(provider, "/v1/chat/completions", hello));
    await until(() => provider.stats.inFlight === 1);

    await Promise.all([provider.stop(), provider.stop()]);

    expect(await inFlight).toBeInstanceOf(Error);
    expect(provider.stats.inFlight).toBe(0);
    await expect(post(provider, "/v1/chat/completions", hello)).rejects.toThrow();
  });

  it("unref() returns the provider, which keeps serving", async () => {
    const provider = (await start()).unref();

    const response = await post(provider, "/v1/chat/completions", hello);

    expect(response.status).toBe(200);
  });

  it.each([
    [{ limits: { rpm: 0 } }, /limits\.rpm must be an integer >= 1, got 0/],
    [{ style: "azure" }, /style must be one of openai, anthropic, gemini, got "azure"/],
    [{ style: "anthropic", limits: { tpm: 10 } }, /limits\.tpm is not a limit of the anthropic style/],
    [{ style: "openai", limits: { rpd: 10 } }, /limits\.rpd is not a limit of the openai style/],
    [{ limits: { windows: [{ seconds: 1 }] } }, /limits\.windows\[0\] has no limit/],
    [{ limits: { windows: [{ seconds: 0, maxRequests: 1 }] } }, /limits\.windows\[0\]\.seconds must be a finite number > 0, got 0/],
    [{ latencyMs: -1 }, /latencyMs must be a finite number >= 0, got -1/],
    [{ failureRate: 2 }, /failureRate must be a number in \[0, 1\], got 2/],
    [{ style: "gemini", insufficientQuotaAfter: 1 }, /insufficientQuotaAfter is an OpenAI behaviour/],
    [{ style: "openai", overloadedShare: 0.1 }, /overloadedShare \(529\) is an Anthropic behaviour/],
    [{ port: 70_000 }, /port must be at most 65535, got 70000/],
  ])("rejects bad options %j naming the option and the value", async (options, message) => {
    await expect(startSimulatedProvider(options as never)).rejects.toThrow(message);
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
  it("answers a translation request with a sentence in the target language, not an echo", () => {
    const reply = simulatedReply("Translate the following text into German:\nGood morning");

    expect(reply).not.toContain("Good morning");
    expect(reply).toMatch(/[A-ZÄÖÜ][a-zäöüß]+ .*\.$/);
  });

  it("answers the same prompt the same way, and different prompts differently", () => {
    const prompts = Array.from({ length: 8 }, (_, i) => `Translate into French: sentence number ${i}`);

    const replies = prompts.map(simulatedReply);

    expect(simulatedReply(prompts[0]!)).toBe(replies[0]);
    expect(new Set(replies).size).toBeGreaterThan(1);
  });

  it("answers a summary request with a summary-like sentence naming the topic", () => {
    const reply = simulatedReply("Summarize this article about photosynthesis in plants");

    expect(reply).toContain("photosynthesis");
    expect(reply).not.toBe("Summarize this article about photosynthesis in plants");
  });
});
