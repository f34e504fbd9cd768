/**
 * Both packages as a user gets them (DESIGN section 14): packed with `pnpm
 * pack` (which turns `workspace:*` into a version range), installed by name
 * into a fresh npm project, then loaded from ESM (`.mjs`), from `require`
 * (`.cjs`) and from a type-checked `.cts` file, each running a small
 * throttled batch, with `pocketflow-throttled/testing` too. Slow: a pack, an
 * `npm install` and a `tsc` run.
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, requireBuilt, runTsc } from "./fixtures/tsc-project.js";

const exec = promisify(execFile);
const PACKAGES = [
  { name: "pocketflow-ts", folder: join(REPO, "packages", "pocketflow") },
  { name: "pocketflow-throttled", folder: join(REPO, "packages", "pocketflow-throttled") },
] as const;

/** The batch every entry runs: 6 items, at most 2 at once, through a throttled node in a flow. */
const BATCH = (load: string, exportsOf: string) => `${load}
class Double extends ThrottledParallelBatchNode {
  running = 0;
  peak = 0;
  async prepAsync(shared) { return shared.items; }
  async execAsync(n) {
    this.peak = Math.max(this.peak, ++this.running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.running--;
    return n * 2;
  }
  async postAsync(shared, _items, out) { shared.out = out; shared.peak = this.peak; return undefined; }
}
async function main() {
  const shared = { items: [1, 2, 3, 4, 5, 6] };
  await new AsyncFlow(new Double({ maxConcurrent: 2, maxPerMinute: 600 })).runAsync(shared);
  const provider = await startSimulatedProvider({ style: "openai" });
  await provider.stop();
  console.log(JSON.stringify({ out: shared.out, peak: shared.peak, provider: provider.url.startsWith("http://127.0.0.1:"), ${exportsOf} }));
}
main().catch((error) => { console.error(error); process.exitCode = 1; });
`;

const ESM = BATCH(
  `import { AsyncFlow } from "pocketflow-ts";
import { ThrottledParallelBatchNode, RateLimitHit, isRateLimitError } from "pocketflow-throttled";
import { startSimulatedProvider } from "pocketflow-throttled/testing";
import { createRequire } from "node:module";
const cjs = createRequire(import.meta.url)("pocketflow-throttled");`,
  // The dual-package hazard, pinned: the CommonJS copy's class is another class, recognised by name.
  "sameClass: cjs.RateLimitHit === RateLimitHit, recognised: isRateLimitError(new cjs.RateLimitHit())",
);

const CJS = BATCH(
  `const { AsyncFlow } = require("pocketflow-ts");
const { ThrottledParallelBatchNode } = require("pocketflow-throttled");
const { startSimulatedProvider } = require("pocketflow-throttled/testing");`,
  "format: typeof module",
);

const CTS = `import { AsyncFlow } from "pocketflow-ts";
import { ThrottledParallelBatchNode } from "pocketflow-throttled";
import { startSimulatedProvider, type SimulatedProvider } from "pocketflow-throttled/testing";

interface Shared { items: number[]; out?: number[] }

class Double extends ThrottledParallelBatchNode<Shared, number, number> {
  override async prepAsync(shared: Shared): Promise<number[]> { return shared.items; }
  override async execAsync(n: number): Promise<number> { return n * 2; }
  override async postAsync(shared: Shared, _items: number[], out: number[]): Promise<undefined> { shared.out = out; return undefined; }
}

async function main(): Promise<void> {
  const shared: Shared = { items: [1, 2, 3] };
  await new AsyncFlow(new Double({ maxConcurrent: 2 })).runAsync(shared);
  const provider: SimulatedProvider = await startSimulatedProvider({ style: "anthropic" });
  await provider.stop();
  console.log(JSON.stringify({ out: shared.out, format: typeof module }));
}
void main();
`;

/** A `.cts` line that must not compile: the check is a real type check. */
const CTS_WRONG = `import { ThrottledParallelBatchNode } from "pocketflow-throttled";
new ThrottledParallelBatchNode({ maxConcurrent: "five" });
`;

let dir = "";
const tarballs = new Map<string, string>();

async function node(file: string): Promise<unknown> {
  const { stdout } = await exec(process.execPath, [file], { cwd: join(dir, "app"), timeout: 60_000 });
  return JSON.parse(stdout);
}

beforeAll(async () => {
  requireBuilt(...PACKAGES.map((p) => p.folder));
  dir = await mkdtemp(join(tmpdir(), "pocketflow-packaging-"));
  const packed = join(dir, "packed");
  for (const { name, folder } of PACKAGES) {
    await exec("npx", ["-y", "pnpm@10.34.8", "pack", "--pack-destination", packed], { cwd: folder, timeout: 240_000 });
    const file = (await readdir(packed)).find((f) => f.startsWith(`${name}-`) && f.endsWith(".tgz"));
    if (!file) throw new Error(`pnpm pack wrote no ${name} tarball into ${packed}`);
    tarballs.set(name, join(packed, file));
  }
  const app = join(dir, "app");
  await mkdir(app);
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  await exec("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...tarballs.values()], {
    cwd: app,
    timeout: 300_000,
    env: { ...process.env, npm_config_loglevel: "error", npm_config_update_notifier: "false" },
  });
  await mkdir(join(app, "node_modules", "@types"), { recursive: true });
  await symlink(join(REPO, "node_modules", "@types", "node"), join(app, "node_modules", "@types", "node"), "dir");
  const compilerOptions = { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", types: ["node"], strict: true, skipLibCheck: false };
  await writeFile(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["consumer.cts"] }));
  await writeFile(join(app, "tsconfig.wrong.json"), JSON.stringify({ compilerOptions: { ...compilerOptions, noEmit: true, skipLibCheck: true }, files: ["wrong.cts"] }));
  await writeFile(join(app, "esm.mjs"), ESM);
  await writeFile(join(app, "plain.cjs"), CJS);
  await writeFile(join(app, "consumer.cts"), CTS);
  await writeFile(join(app, "wrong.cts"), CTS_WRONG);
}, 600_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The entries of a tarball (`tar -tzf`), without the leading `package/`. */
async function entries(tarball: string): Promise<string[]> {
  const { stdout } = await exec("tar", ["-tzf", tarball]);
  return stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/^package\//, ""));
}

describe.each(PACKAGES)("the packed tarball of $name", ({ name }) => {
  it("holds README.md, LICENSE, the ESM and CommonJS builds, and no test file", async () => {
    const tarball = tarballs.get(name) as string;
    const files = await entries(tarball);
    console.log(`${name}: ${(await stat(tarball)).size} bytes packed, ${files.length} files`);
    expect(files).toEqual(expect.arrayContaining(["README.md", "LICENSE", "package.json", "dist/index.js", "dist/cjs/index.js", "dist/cjs/package.json"]));
    expect(files.filter((f) => /(^|\/)(test|tests|__tests__)\/|\.test\.|\.spec\./.test(f))).toEqual([]);
    expect(await readFile(join(dir, "app", "node_modules", name, "LICENSE"), "utf8")).toContain("pocketflow-ts contributors");
  });

  it("names its dependencies with version ranges, no workspace: protocol", async () => {
    const manifest = JSON.parse(await readFile(join(dir, "app", "node_modules", name, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    expect(JSON.stringify(manifest)).not.toContain("workspace:");
    if (name === "pocketflow-throttled") expect(manifest.dependencies?.["pocketflow-ts"]).toMatch(/^\^?\d+\.\d+\.\d+$/);
  });
});

describe("a fresh npm project with both tarballs installed", () => {
  it("runs a throttled batch from ESM (an .mjs file), pocketflow-throttled/testing included", async () => {
    await expect(node("esm.mjs")).resolves.toMatchObject({ out: [2, 4, 6, 8, 10, 12], peak: 2, provider: true });
  });

  it("runs the same batch from require (a .cjs file), from the CommonJS build", async () => {
    await expect(node("plain.cjs")).resolves.toEqual({ out: [2, 4, 6, 8, 10, 12], peak: 2, provider: true, format: "object" });
  });

  it("loads a second, CommonJS copy beside the ESM one, whose RateLimitHit is another class, still recognised by name", async () => {
    await expect(node("esm.mjs")).resolves.toMatchObject({ sameClass: false, recognised: true });
  });

  it("type-checks a .cts file (strict, skipLibCheck off) against the CommonJS declarations, and runs it", async () => {
    await expect(runTsc(["-p", "tsconfig.json"], join(dir, "app"))).resolves.toBe("");
    await expect(node("consumer.cjs")).resolves.toEqual({ out: [2, 4, 6], format: "object" });
  }, 240_000);

  it("runs the simulated provider's command through npx: --help, and a base URL that answers", async () => {
    const app = join(dir, "app");
    const help = await exec("npx", ["--no-install", "pocketflow-simulated-provider", "--help"], { cwd: app, timeout: 60_000 });
    expect(help.stdout).toMatch(/--style/);
    const child = spawn("npx", ["--no-install", "pocketflow-simulated-provider", "--style", "openai", "--port", "0"], { cwd: app });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk;
          const match = /Base URL: (http:\/\/127\.0\.0\.1:\d+\/v1)\s/.exec(out);
          if (match) resolve(match[1] as string);
        });
        child.on("exit", (code) => reject(new Error(`the command exited (${code}) before printing a URL: ${out}`)));
      });
      const answer = await fetch(`${url}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer test" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
      });
      expect(answer.status).toBe(200);
    } finally {
      child.kill("SIGTERM");
    }
  }, 120_000);

  it("rejects a .cts file with a type error (the check above is a real one)", async () => {
    await expect(runTsc(["-p", "tsconfig.wrong.json"], join(dir, "app"))).rejects.toThrow(/wrong\.cts\(2,\d+\): error TS2322/);
  }, 240_000);
});
