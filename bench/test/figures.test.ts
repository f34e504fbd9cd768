import { afterEach, describe, expect, it } from "vitest";
import { type SimulatedProvider, startSimulatedProvider } from "pocketflow-throttled/testing";
import { minimumMakespan } from "../compliance.js";
import { compact, renderTable, row, times } from "../lib.js";
import { redisFigureLabel } from "../redis.js";
import { makeRequests, minimumTokenMakespan } from "../tokens.js";

describe("theoretical minimum makespans", () => {
  it("is full request windows back to back plus one latency", () => {
    expect(minimumMakespan(100, 20, 5000, 20)).toBe(4 * 5000 + 20);
  });

  it("counts a partly filled last window as a window", () => {
    expect(minimumMakespan(101, 20, 1000, 20)).toBe(5 * 1000 + 20);
  });

  it("is full token windows back to back plus one latency", () => {
    expect(minimumTokenMakespan(14_313, 4000, 3000, 20)).toBe(3 * 3000 + 20);
  });
});

describe("token bench requests", () => {
  let provider: SimulatedProvider | undefined;
  afterEach(async () => {
    await provider?.stop();
  });

  it("cost exactly what the simulated provider charges and reports as usage", async () => {
    provider = await startSimulatedProvider({ latencyMs: 0, limits: { windows: [{ seconds: 1, maxTokens: 10_000 }] } });
    const [request] = makeRequests(1);
    const response = await fetch(`${provider.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "sim", max_tokens: request?.maxTokens, messages: [{ role: "user", content: request?.prompt }] }),
    });
    const body = (await response.json()) as { usage: { total_tokens: number } };

    expect(body.usage.total_tokens).toBe(request?.cost);
    expect(provider.maxTokensInAnyWindow(1000)).toBe(request?.cost);
  });
});

describe("the printed table", () => {
  it("shows PASS, FAIL, or a dash when a row has no target", () => {
    const table = renderTable([
      row("s", "met", "1", 1, "baseline", "0", true),
      row("s", "missed", "2", 2, "2.000x", "0", false),
      row("s", "informative", "3", 3),
    ]);

    expect(table.split("\n").slice(3).map((line) => line.split(/\s{2,}/).at(-1))).toEqual(["PASS", "FAIL", "-"]);
  });

  it("fits 120 columns, wrapping long measures, with one block per section", () => {
    const long = "AdaptiveThrottledNode (defaults) vs 100 req/1s provider: steady throughput over the second half of the run";
    const table = renderTable([
      row("4 adaptive", long, "100 items/s", 100, "100.2% of the provider's limit, measured against the nominal figure", ">= 85%", true),
      row("7 redis", redisFigureLabel("redisRoundTripsPerSecond5Callers"), "6289", 6289, "0.001x in-process"),
    ]);
    const lines = table.split("\n");

    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(120);
    expect(lines.filter((l) => l.startsWith("["))).toEqual(["[4 adaptive]", "[7 redis]"]);
    // The measure wraps within its column: its words appear in order, down the first column's lines.
    const measure = lines.slice(3, lines.indexOf("[7 redis]")).map((l) => l.slice(0, lines[1]?.indexOf(" ")).trim()).join(" ");
    expect(measure).toBe(long);
    expect(redisFigureLabel("redisRoundTripsPerSecond5Callers")).toBe("RedisLimiter: round trips per second, 5 callers");
    expect(redisFigureLabel("localMsPerRoundTrip")).toBe("RateLimiter (in-process): ms per round trip");
    expect(table).not.toMatch(/[a-z][A-Z][a-z]+PerSecond/);
  });

  it("formats large counts compactly and ratios with three decimals below 10", () => {
    expect([compact(17_200_000), compact(235_000), compact(420), compact(0.0042)]).toEqual(["17.2M", "235k", "420", "0.0042"]);
    expect([times(0.3125), times(21.54), times(4567.2)]).toEqual(["0.313x", "21.5x", "4567x"]);
  });
});
