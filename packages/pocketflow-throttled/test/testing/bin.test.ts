/** The `pocketflow-simulated-provider` command, run from the built dist (build first). */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../../dist/testing/bin.js", import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

function run(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function urlPrinted(output: () => string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const match = /Base URL: (http:\/\/\S+)/.exec(output());
    if (match) return match[1]!;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no URL printed: ${output()}`);
}

describe("pocketflow-simulated-provider", () => {
  it("prints its base URL, answers with the configured limits, and exits on SIGTERM", async () => {
    const { child, output, exited } = run(["--style", "openai", "--rpm", "60", "--latency", "1"]);

    const baseURL = await urlPrinted(output);
    const post = () =>
      fetch(`${baseURL}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "sim", messages: [{ role: "user", content: "Hi" }] }),
      });
    const first = await post();
    const second = await post();
    child.kill("SIGTERM");

    expect(baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(first.status).toBe(200);
    expect(first.headers.get("x-ratelimit-limit-requests")).toBe("60");
    expect(second.status).toBe(429);
    expect(await exited).toBe(0);
    expect(output()).toContain("Stopped: 2 requests, 1 accepted, 1 refused.");
  });

  it("prints its usage with --help and exits", async () => {
    const { output, exited } = run(["--help"]);

    expect(await exited).toBe(0);
    expect(output()).toContain("--style <name>");
    expect(output()).toContain("--rpd <n>");
  });

  it("exits with status 2 and names the flag on a bad value", async () => {
    const { output, exited } = run(["--rpm", "lots"]);

    expect(await exited).toBe(2);
    expect(output()).toContain('--rpm must be a number, got "lots"');
  });
});
