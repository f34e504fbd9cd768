/**
 * The TypeScript blocks of README.md, docs/*.md and the packages' READMEs
 * type-check against the built packages, each as its own module with its own
 * imports (a reader copies one block, not the page). A block fenced
 * `ts fragment` is skipped. A canary snippet with a type error is checked in
 * the same program, so the check cannot pass vacuously.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, requireBuilt, type TempProject, tempProject } from "./fixtures/tsc-project.js";

interface Snippet {
  /** `docs/core.md:42` (the line of the opening fence). */
  where: string;
  code: string;
}

/** The ```ts blocks of a Markdown text; `ts fragment` blocks are left out. */
export function extractSnippets(markdown: string, file: string): Snippet[] {
  const snippets: Snippet[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript)(\s+\S.*)?$/.exec(lines[i] as string);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) body.push(lines[i] as string);
    if (open[2]?.trim().split(/\s+/).includes("fragment")) continue;
    snippets.push({ where: `${file}:${start + 1}`, code: `${body.join("\n")}\n` });
  }
  return snippets;
}

const CANARY: Snippet = {
  where: "canary",
  code: 'import { ThrottledParallelBatchNode } from "pocketflow-throttled";\nnew ThrottledParallelBatchNode({ maxConcurrent: "five" });\n',
};

async function markdownFiles(): Promise<string[]> {
  const docs = (await readdir(join(REPO, "docs"))).filter((f) => f.endsWith(".md")).map((f) => join("docs", f));
  return ["README.md", ...docs, "packages/pocketflow/README.md", "packages/pocketflow-throttled/README.md"];
}

let project: TempProject | undefined;
const snippets: Snippet[] = [];
/** Diagnostics per snippet (`where`), formatted. */
const errors = new Map<string, string[]>();

beforeAll(async () => {
  const pocketflow = join(REPO, "packages", "pocketflow");
  const throttled = join(REPO, "packages", "pocketflow-throttled");
  requireBuilt(pocketflow, throttled);
  for (const file of await markdownFiles()) snippets.push(...extractSnippets(await readFile(join(REPO, file), "utf8"), file));
  const all = [...snippets, CANARY];
  const names = all.map((_, i) => `snippet-${i}.ts`);
  project = await tempProject(
    "doc-snippets",
    {
      "package.json": JSON.stringify({ type: "module" }),
      ...Object.fromEntries(all.map((snippet, i) => [names[i], snippet.code])),
    },
    {
      "pocketflow-ts": pocketflow,
      "pocketflow-throttled": throttled,
      "@types/node": join(REPO, "node_modules", "@types", "node"),
      // The official PocketFlow TypeScript package, which docs/official-pocketflow.md imports by its npm name.
      pocketflow: join(throttled, "node_modules", "official-pocketflow"),
      // SDKs some snippets show, resolved from the throttled package's devDependencies.
      ...Object.fromEntries(
        ["openai", "@anthropic-ai/sdk", "ioredis", "ai", "@ai-sdk/openai", "@google/genai", "zod", "bottleneck", "p-limit", "@opentelemetry/api"].map((name) => [
          name,
          join(throttled, "node_modules", name),
        ]),
      ),
    },
  );
  const dir = project.dir;
  const program = ts.createProgram({
    rootNames: names.map((name) => join(dir, name)),
    options: {
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.es2022.d.ts", "lib.esnext.disposable.d.ts", "lib.dom.d.ts"],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      moduleDetection: ts.ModuleDetectionKind.Force,
      types: ["node"],
      strict: true,
      noImplicitOverride: false,
      skipLibCheck: true,
      noEmit: true,
    },
  });
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const index = d.file ? names.indexOf(relative(dir, d.file.fileName)) : -1;
    const where = index >= 0 ? (all[index] as Snippet).where : "(global)";
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
    const list = errors.get(where) ?? [];
    list.push(`line ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    errors.set(where, list);
  }
}, 240_000);

afterAll(async () => {
  await project?.remove();
});

describe("the TypeScript snippets of the docs", () => {
  it("are found (README.md and docs/*.md hold some)", () => {
    expect(snippets.length).toBeGreaterThan(20);
  });

  it("type-check as self-contained modules against the built packages", () => {
    expect(Object.fromEntries([...errors].filter(([where]) => where !== "canary"))).toEqual({});
  });

  it("would fail on a type error: the canary snippet's error is reported", () => {
    expect(errors.get("canary")?.join("\n")).toMatch(/Type .string. is not assignable to type .number./);
  });
});

describe("extractSnippets", () => {
  it("takes ts and typescript blocks with their line, skips ts fragment blocks and other languages", () => {
    const md = "# t\n```ts\nconst a = 1;\n```\n```sh\nls\n```\n```ts fragment\nx.y;\n```\n```typescript\nconst b = 2;\n```\n";
    expect(extractSnippets(md, "x.md")).toEqual([
      { where: "x.md:2", code: "const a = 1;\n" },
      { where: "x.md:11", code: "const b = 2;\n" },
    ]);
  });
});
