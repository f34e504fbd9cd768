/**
 * No leaked timers, listeners or handles: a child process runs a large batch
 * through the built packages and must exit by itself promptly, after a normal
 * finish, an abort mid-way or a failure. Needs `pnpm build` (CI builds first).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ThrottledAsyncParallelBatchFlow } from "../../src/flows.js";
import { RateLimiter } from "../../src/limiters/sliding-window.js";
import { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { ticks } from "./fixtures/harness.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/leak-child.mjs", import.meta.url));
const EXIT_WITHIN_MS = 2_000;
const HARD_TIMEOUT_MS = 20_000;

interface ChildEvent {
  event: "start" | "aborting" | "ended" | "flow-results" | "exit";
  at: number;
  started: number;
  outcome?: "resolved" | "rejected";
  isAbortReason?: boolean;
  message?: string;
  fulfilled?: number;
  rejected?: number;
}

interface ChildRun {
  code: number | null;
  killed: boolean;
  stderr: string;
  events: Map<ChildEvent["event"], ChildEvent>;
}

/** Runs the fixture; kills it (and reports `killed`) if it has not exited after HARD_TIMEOUT_MS. */
function runChild(shape: string, ending: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, shape, ending], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    let stdout = "";
    let stderr = "";
    let killed = false;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, HARD_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const events = new Map<ChildEvent["event"], ChildEvent>();
      for (const line of stdout.split("\n").filter(Boolean)) {
        const event = JSON.parse(line) as ChildEvent;
        events.set(event.event, event);
      }
      resolve({ code, killed, stderr, events });
    });
  });
}

/** Milliseconds (child's clock) from `from` to the process's own exit. */
function exitDelay(run: ChildRun, from: ChildEvent["event"]): number {
  const exit = run.events.get("exit");
  const start = run.events.get(from);
  if (!exit || !start) return Number.POSITIVE_INFINITY;
  return exit.at - start.at;
}

/** stderr without the MaxListenersExceededWarning lines (the "many items waiting" tests below pin that one down). */
function otherStderr(run: ChildRun): string {
  return run.stderr
    .split("\n")
    .filter((line) => line !== "" && !/MaxListenersExceededWarning|node --trace-warnings/.test(line))
    .join("\n");
}

function expectCleanExit(run: ChildRun): void {
  expect(run.killed).toBe(false);
  expect(run.code).toBe(0);
  expect(otherStderr(run)).toBe(""); // no unhandled rejection, no error output
}

describe.concurrent("a child process running a large throttled batch exits by itself", () => {
  it.each([
    ["window", "ThrottledParallelBatchNode, 200,000 items under a 0.5 s window"],
    ["adaptive", "AdaptiveThrottledNode, 20,000 items with 5% 429s and backoff timers"],
    ["flow", "ThrottledAsyncParallelBatchFlow, 20,000 instances x 10 items under a 0.25 s window"],
  ])("after a normal finish (%s: %s)", async (shape) => {
    const run = await runChild(shape, "finish");

    expectCleanExit(run);
    expect(run.events.get("ended")?.outcome).toBe("resolved");
    expect(exitDelay(run, "ended")).toBeLessThan(EXIT_WITHIN_MS);
  });

  it.each([
    ["window", "waiting on a 0.5 s window"],
    ["minute", "waiting on a 60 s window"],
    ["adaptive", "with items sleeping in rate-limit backoff"],
    ["flow", "with instances waiting on a 60 s window"],
  ])("after an abort mid-way (%s: %s)", async (shape) => {
    const run = await runChild(shape, "abort");

    expectCleanExit(run);
    expect(run.events.get("ended")).toMatchObject({ outcome: "rejected", isAbortReason: true });
    expect(run.events.get("ended")?.started).toBeLessThan(200_000);
    expect(exitDelay(run, "aborting")).toBeLessThan(EXIT_WITHIN_MS);
  });

  it.each([
    ["window", /item 75000 fails/],
    ["minute", /item 40000 fails/],
    ["adaptive", /item 5000 fails/],
  ])("after a failure (%s: an item throws)", async (shape, message) => {
    const run = await runChild(shape, "fail");

    expectCleanExit(run);
    expect(run.events.get("ended")?.outcome).toBe("rejected");
    expect(run.events.get("ended")?.message).toMatch(message);
    expect(exitDelay(run, "ended")).toBeLessThan(EXIT_WITHIN_MS);
  });

  it("after a flow whose one instance failed (the run resolves and reports it)", async () => {
    const run = await runChild("flow", "fail");

    expectCleanExit(run);
    expect(run.events.get("flow-results")).toMatchObject({ fulfilled: 19_999, rejected: 1 });
    expect(exitDelay(run, "ended")).toBeLessThan(EXIT_WITHIN_MS);
  });
});

describe("many items waiting at once", () => {
  it("print no MaxListenersExceededWarning (a node with 32 workers on a window, with and without a signal)", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on("warning", onWarning);
    class Job extends ThrottledParallelBatchNode<unknown, number, number> {
      override async prepAsync() {
        return Array.from({ length: 60 }, (_, i) => i);
      }
      override async execAsync(i: number) {
        return i;
      }
    }
    const limiter = () => new RateLimiter({ maxConcurrent: 32, maxPerWindow: 20, windowSeconds: 0.05 });
    try {
      await new Job({ limiter: limiter() }).runAsync({});
      await new Job({ limiter: limiter() }).runAsync({}, { signal: new AbortController().signal });
      await ticks();
    } finally {
      process.off("warning", onWarning);
    }

    expect(warnings).toEqual([]);
  });

  it("print no MaxListenersExceededWarning (a flow with 16 instances waiting, with a signal)", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on("warning", onWarning);
    class PerInstance extends ThrottledAsyncParallelBatchFlow {
      override async prepAsync() {
        return Array.from({ length: 40 }, (_, instance) => ({ instance }));
      }
    }
    const flow = new PerInstance(new ThrottledParallelBatchNode(), {
      limiter: new RateLimiter({ maxConcurrent: 16, maxPerWindow: 10, windowSeconds: 0.05 }),
    });
    try {
      await flow.runAsync({}, { signal: new AbortController().signal });
      await ticks();
    } finally {
      process.off("warning", onWarning);
    }

    expect(warnings).toEqual([]);
  });
});
