/**
 * Every cookbook example, run end to end against the embedded simulated
 * provider with small inputs. Rate windows here are short, so the throttled
 * runs use a generous headroom (see main.ts's `providerLimiter`).
 */
import { spawn } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { isRateLimitError, retryAfterOf, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { simulatedReply } from "pocketflow-throttled/testing";
import { afterAll, describe, expect, it } from "vitest";
import { runAdaptiveDemo } from "../adaptive-example.js";
import { runFlowThrottleExamples } from "../flow-throttle-example.js";
import { type CompareRow, runComparison, runTranslation, SAMPLE_TEXT } from "../main.js";
import { runMicroBatchExample } from "../micro-batch-example.js";
import { runParameterizedExamples } from "../parameterized-flow-example.js";
import { runPresetsDemo } from "../presets-example.js";
import { runSharedLimiterExamples } from "../shared-limiter-example.js";
import { runTemplateFieldsExample } from "../template-fields-example.js";
import { runTokenBudgetExample } from "../token-budget-example.js";
import { callLlm, MissingApiKeyError, makeTranslationPrompt, startDemoProvider, stopMockProvider } from "../utils.js";

const quiet = () => {};
const cookbookDir = dirname(dirname(fileURLToPath(import.meta.url)));

afterAll(async () => {
  await stopMockProvider();
});

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

describe("utils: callLlm", () => {
  it("returns the text with the provider's usage and headers", async () => {
    const server = await startDemoProvider({ latencyMs: 1, requestsPerWindow: 10, windowMs: 10_000 });
    try {
      const prompt = "Translate the following text into French:\nGood morning";
      const result = await callLlm(prompt, { server });

      expect(result.text).toBe(simulatedReply(prompt));
      expect(result.text).not.toContain("Good morning");
      expect(result.usage).toMatchObject({ total_tokens: expect.any(Number) });
      expect(new ThrottledParallelBatchNode().usageOf(result)).toMatchObject({ tokens: (result.usage as { total_tokens: number }).total_tokens });
      expect(result.headers.get("x-ratelimit-remaining-requests")).toBe("9");
    } finally {
      await server.stop();
    }
  });

  it("passes SDK rate-limit errors through with their status and headers", async () => {
    const server = await startDemoProvider({ latencyMs: 1, requestsPerWindow: 1, windowMs: 10_000 });
    try {
      await callLlm("first", { server });

      const error = await rejectionOf(callLlm("second", { server }));

      expect(isRateLimitError(error)).toBe(true);
      expect((error as { status: number }).status).toBe(429);
      expect(retryAfterOf(error)).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });

  it("passes Anthropic-shaped rate-limit errors through the same way", async () => {
    const server = await startDemoProvider({ style: "anthropic", latencyMs: 1, requestsPerWindow: 1, windowMs: 10_000 });
    try {
      const first = await callLlm("first", { server, provider: "mock-anthropic" });

      const error = await rejectionOf(callLlm("second", { server, provider: "mock-anthropic" }));

      expect(first.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
      expect(isRateLimitError(error)).toBe(true);
      expect(retryAfterOf(error)).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });

  it("refuses a real provider without its key, naming the variable to set", async () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      const error = await rejectionOf(callLlm("Hello", { provider: "openai" }));

      expect(error).toBeInstanceOf(MissingApiKeyError);
      expect((error as Error).message).toContain("OPENAI_API_KEY");
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });
});

describe("main.ts", () => {
  it("translates the text into every requested language", async () => {
    const report = await runTranslation({ languages: ["French", "German", "Korean"], log: quiet });

    expect(Object.keys(report.translations).sort()).toEqual(["French", "German", "Korean"]);
    expect(report.translations.French).toBe(simulatedReply(makeTranslationPrompt(SAMPLE_TEXT, "French")));
    expect(report.translations.French).not.toContain("PocketFlow");
  });

  it("--compare: throttled runs take no 429, the unthrottled run provokes some", async () => {
    // Calls of at least 50 ms keep the sequential run at 10 per 500 ms, under the server's 12.
    const rows = await runComparison({
      items: 15,
      server: { requestsPerWindow: 12, windowMs: 500, maxConcurrent: 4, latencyMs: [50, 70] },
      headroom: 1,
      progress: false,
      log: quiet,
    });
    const row = (approach: string) => rows.find((r) => r.approach.startsWith(approach)) as CompareRow;

    expect(rows.map((r) => r.approach)).toEqual([
      "Sequential",
      "Parallel (no throttle)",
      "Node throttled",
      "Flow throttled",
      "Nested (flow × node)",
    ]);
    expect(row("Parallel").rateLimited).toBeGreaterThan(0);
    for (const approach of ["Sequential", "Node throttled", "Flow throttled", "Nested"]) {
      expect({ approach, rateLimited: row(approach).rateLimited, done: row(approach).done }).toEqual({
        approach,
        rateLimited: 0,
        done: 15,
      });
    }
  });

  it("with no option, runs the quick start: the unthrottled run loses items to 429s, the throttled and learning runs lose none, exit 0 in under 30 s", async () => {
    const started = performance.now();
    // node with tsx's loader, not npx: the figure is the demo's own time, not npx resolving a package.
    const child = spawn(process.execPath, ["--import", "tsx", "main.ts"], {
      cwd: cookbookDir,
      env: { ...process.env, FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 40_000,
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    const seconds = (performance.now() - started) / 1000;
    // The final table: approach, summarised, lost, refused, seconds.
    const tableRow = (approach: string) => {
      const line = stdout.split("\n").find((l) => l.startsWith(approach) && /\s\d+\.\d\d$/.test(l)) ?? "";
      const [summarised, lost, refused] = line.trim().split(/\s+/).slice(-4);
      return { summarised, lost: Number(lost), refused: Number(refused) };
    };

    expect(code).toBe(0);
    expect(seconds).toBeLessThan(30);
    expect(stdout).toContain("600 requests per minute");
    const unthrottled = tableRow("Unthrottled");
    expect(unthrottled.refused).toBeGreaterThan(0);
    expect(unthrottled.lost).toBeGreaterThan(0);
    expect(tableRow("Throttled")).toEqual({ summarised: "40/40", lost: 0, refused: 0 });
    expect(tableRow("Told nothing")).toEqual({ summarised: "40/40", lost: 0, refused: 0 });
  }, 45_000);

  it("runs as a script and exits by itself once the translations are printed", async () => {
    const child = spawn("npx", ["tsx", "main.ts", "--languages", "French,German"], {
      cwd: cookbookDir,
      env: { ...process.env, FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      // A process that does not exit by itself (an open server, socket or timer) is killed, and the exit code is null.
      timeout: 25_000,
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));

    expect(code).toBe(0);
    expect(stdout).toContain(`[French]\n  ${simulatedReply(makeTranslationPrompt(SAMPLE_TEXT, "French"))}`);
    expect(stdout).toContain(`[German]\n  ${simulatedReply(makeTranslationPrompt(SAMPLE_TEXT, "German"))}`);
  });
});

describe("adaptive-example.ts", () => {
  it("backs off on the API's hidden limit and still processes every item", async () => {
    const report = await runAdaptiveDemo({
      batches: 2,
      batchSize: 20,
      api: { maxConcurrent: 4, latencyMs: [30, 60] },
      log: quiet,
    });

    expect(report.batches.map((b) => b.processed)).toEqual([20, 20]);
    expect(report.lost).toBe(0);
    expect(report.served).toBe(40);
    expect(report.rejected).toBeGreaterThan(0);
    expect(report.final.totalRateLimits).toBe(report.rejected);
  });
});

describe("presets-example.ts", () => {
  it("runs the batch under each generic preset with that preset's limits", async () => {
    const runs = await runPresetsDemo({ items: 6, latencyMs: 2, log: quiet });

    expect(runs.map((r) => [r.name, r.maxConcurrent, r.maxPerMinute, r.processed])).toEqual([
      ["CONSERVATIVE", 2, 20, 6],
      ["MODERATE", 5, 60, 6],
      ["AGGRESSIVE", 10, 200, 6],
    ]);
  });
});

describe("flow-throttle-example.ts", () => {
  it("keeps calls in flight within the flow limit, and nested within flows × per-node limit", async () => {
    const report = await runFlowThrottleExamples({ basicUsers: 8, nestedUsers: 8, latencyMs: [10, 30], log: quiet });

    expect(report.basic.usersDone).toBe(8);
    expect(report.basic.apiCalls).toBe(16);
    expect(report.basic.peakConcurrency).toBeLessThanOrEqual(5);
    expect(report.nested.usersDone).toBe(8);
    expect(report.nested.apiCalls).toBe(32);
    expect(report.nested.limit).toBe(15);
    expect(report.nested.peakConcurrency).toBeLessThanOrEqual(report.nested.limit);
    expect(report.presets).toEqual({ maxConcurrentFlows: 10, maxFlowsPerMinute: 60, usersDone: 10 });
  });
});

describe("parameterized-flow-example.ts", () => {
  it("gives each flow instance its own params", async () => {
    const report = await runParameterizedExamples({ latencyMs: 2, workMs: 10, log: quiet });

    expect(report.users?.[1]).toEqual({ userId: 1, status: "processed", priority: 3 });
    expect(Object.keys(report.users ?? {})).toHaveLength(6);
    expect(report.summaries?.meeting_notes?.summary).toBe("MEDIUM summary of doc meeting_notes in spanish");
    expect(Object.keys(report.summaries ?? {})).toHaveLength(4);
    expect(report.responses?.task_3?.endpoint).toBe("https://api.asia.example.com");
    expect(report.completedJobs?.job_002).toEqual({
      jobId: "job_002",
      status: "completed",
      output: "video2_mov.mp4",
      notified: "user2@example.com",
    });
    expect(report.stats.map((s) => s.failedFlows)).toEqual([0, 0, 0, 0]);
  });
});

describe("shared-limiter-example.ts", () => {
  it("holds one limit across flows, a node and plain calls, and separate limits per API", async () => {
    const report = await runSharedLimiterExamples({ latencyMs: [5, 15], log: quiet });

    expect(report.shared.calls).toBe(50);
    expect(report.shared.peakConcurrency).toBeLessThanOrEqual(5);
    expect(report.multipleApis.calls).toBe(35);
    expect(report.multipleApis.openaiPeak).toBeLessThanOrEqual(5);
    expect(report.multipleApis.anthropicPeak).toBeLessThanOrEqual(3);
    expect(report.lazy).toEqual({ namesBefore: [], namesAfter: ["lazy_api"], calls: 6 });
    expect(report.monitoring).toEqual({ windowCounts: [1, 2, 3, 4, 5, 6, 7, 8], acquired: 8 });
  });
});

describe("token-budget-example.ts", () => {
  it("keeps a TPM-bound batch within the token budget and settles estimates to the reported usage", async () => {
    const runs = await runTokenBudgetExample({
      documents: 8,
      server: { tokensPerWindow: 1000, requestsPerWindow: 100, windowMs: 1000, maxConcurrent: 5, latencyMs: [5, 15] },
      headroom: 0.5,
      log: quiet,
    });

    expect(runs.map((r) => [r.mode, r.summarized, r.tokenRateLimited, r.rateLimited])).toEqual([
      ["settled", 8, 0, 0],
      ["estimates only", 8, 0, 0],
    ]);
    const [settled] = runs;
    expect(settled?.usedTokens).toBeGreaterThan(0);
    expect(settled?.usedTokens).toBeLessThan(settled?.estimatedTokens ?? 0);
  });
});

describe("micro-batch-example.ts", () => {
  it("embeds in batches with one call per batch instead of one per item", async () => {
    const runs = await runMicroBatchExample({
      texts: 30,
      batchSizes: [10, 1],
      server: { requestsPerWindow: 12, windowMs: 500, maxConcurrent: 4, latencyMs: [5, 15] },
      headroom: 0.5,
      log: quiet,
    });

    expect(runs.map((r) => [r.batchSize, r.vectors, r.apiCalls, r.served, r.rateLimited])).toEqual([
      [10, 30, 3, 3, 0],
      [1, 30, 30, 30, 0],
    ]);
  });
});

describe("template-fields-example.ts", () => {
  it("fills the 12 fields with 2 calls at batchSize 6, and 12 calls one by one", async () => {
    const runs = await runTemplateFieldsExample({ batchSizes: [6, 1], latencyMs: 5, log: quiet });

    expect(runs.map((r) => [r.batchSize, r.fields, r.filled, r.calls])).toEqual([
      [6, 12, 12, 2],
      [1, 12, 12, 12],
    ]);
    expect(runs[0]?.document).not.toContain("{{");
  });
});
