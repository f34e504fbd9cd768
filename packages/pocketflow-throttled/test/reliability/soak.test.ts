/**
 * Runs scripts/soak.ts (1,000,000 items, 5% injected 429s, about 5 s on the
 * CI machines) in a child process and checks that it accounted for every item.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("../../scripts/soak.ts", import.meta.url));

function runSoak(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("soak: 1,000,000 items with 5% injected 429s", () => {
  it("accounts for every item through a retrying node and an adaptive node", { timeout: 60_000 }, async () => {
    const { code, stdout } = await runSoak();

    expect(stdout).toMatch(/ThrottledParallelBatchNode.*items 1,000,000 \| 429s [\d,]+ .*every item accounted for/);
    expect(stdout).toMatch(/AdaptiveThrottledNode.*items 1,000,000 \| 429s [\d,]+ .*every item accounted for/);
    expect(code).toBe(0);
  });
});
