/**
 * Option precedence under both class-field semantics (DESIGN section 4): a
 * fixture subclassing the built package is compiled with the real `tsc` as
 * native fields (`[[Define]]`) and as assignments after `super()`
 * (`useDefineForClassFields: false`, `[[Set]]`, the default below ES2022),
 * then run in a child process.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaseResult } from "./fixtures/class-fields/fixture.js";
import { REPO, requireBuilt, type TempProject, tempProject } from "./fixtures/tsc-project.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/class-fields/fixture.ts", import.meta.url));
const THROTTLED = join(REPO, "packages", "pocketflow-throttled");
const POCKETFLOW = join(REPO, "packages", "pocketflow");

const KINDS = [
  "ThrottledParallelBatchNode",
  "AdaptiveThrottledNode",
  "ThrottledMicroBatchNode",
  "ThrottledAsyncParallelBatchFlow",
  "AdaptiveThrottledBatchFlow",
] as const;

interface Setting {
  label: string;
  compilerOptions: Record<string, unknown>;
  /** How the compiled fixture must spell `maxConcurrent = 3`, so the run really tests that semantics. */
  emitted: RegExp;
}

const SETTINGS: Setting[] = [
  {
    label: "native fields ([[Define]]: target ES2022, useDefineForClassFields true)",
    compilerOptions: { target: "ES2022", useDefineForClassFields: true },
    emitted: /^\s+maxConcurrent = 3;$/m,
  },
  {
    label: "assigned fields ([[Set]]: target ES2019, useDefineForClassFields left at its default)",
    compilerOptions: { target: "ES2019" },
    emitted: /^\s+this\.maxConcurrent = 3;$/m,
  },
  {
    label: "assigned fields ([[Set]]: target ES2022, useDefineForClassFields false)",
    compilerOptions: { target: "ES2022", useDefineForClassFields: false },
    emitted: /^\s+this\.maxConcurrent = 3;$/m,
  },
];

/** What one setting's compiled fixture emitted and reported. */
interface Outcome {
  emitted: string;
  results: Map<string, CaseResult>;
}

const projects: TempProject[] = [];
const outcomes = new Map<Setting, Outcome>();

/** Compiles the fixture under `setting` in a temp project and runs it. */
async function compileAndRun(setting: Setting): Promise<Outcome> {
  const tsconfig = {
    compilerOptions: {
      module: "NodeNext",
      moduleResolution: "NodeNext",
      lib: ["ES2022", "DOM"],
      types: [],
      strict: true,
      skipLibCheck: true,
      rootDir: "src",
      outDir: "out",
      ...setting.compilerOptions,
    },
    include: ["src"],
  };
  const project = await tempProject(
    "class-fields",
    {
      "package.json": JSON.stringify({ type: "module" }),
      "tsconfig.json": JSON.stringify(tsconfig, null, 2),
      "src/fixture.ts": await readFile(FIXTURE, "utf8"),
    },
    { "pocketflow-ts": POCKETFLOW, "pocketflow-throttled": THROTTLED },
  );
  projects.push(project);
  await project.tsc();
  const emitted = await readFile(join(project.dir, "out", "fixture.js"), "utf8");
  const output = await project.node("out/fixture.js");
  return { emitted, results: new Map((JSON.parse(output) as CaseResult[]).map((result) => [result.name, result])) };
}

beforeAll(async () => {
  requireBuilt(POCKETFLOW, THROTTLED);
  // The three compilations are independent: run them side by side.
  const done = await Promise.all(SETTINGS.map(compileAndRun));
  for (const [i, setting] of SETTINGS.entries()) outcomes.set(setting, done[i] as Outcome);
}, 180_000);

afterAll(async () => {
  await Promise.all(projects.map((project) => project.remove()));
});

describe.each(SETTINGS)("subclass fields and constructor options, compiled as $label", (setting) => {
  const outcome = (): Outcome => {
    const found = outcomes.get(setting);
    if (!found) throw new Error(`the fixture was not compiled for ${setting.label}`);
    return found;
  };

  const result = (kind: string, name: string): CaseResult => {
    const found = outcome().results.get(`${kind}: ${name}`);
    if (!found) throw new Error(`the fixture reported no case "${kind}: ${name}"`);
    return found;
  };

  it("compiles the fixture's fields with that semantics", () => {
    expect(outcome().emitted).toMatch(setting.emitted);
  });

  it.each(KINDS)("%s: the constructor option wins over a subclass field, read and run (7, also over two levels)", (kind) => {
    expect(result(kind, "field 3, option 7")).toMatchObject({ read: 7, peak: 7 });
    expect(result(kind, "fields 3 then 4, option 7")).toMatchObject({ read: 7, peak: 7 });
  });

  it.each(KINDS)("%s: a subclass field alone is the value in force (3; the most derived of two levels: 4)", (kind) => {
    expect(result(kind, "field 3 only")).toMatchObject({ read: 3, peak: 3 });
    expect(result(kind, "fields 3 then 4 only")).toMatchObject({ read: 4, peak: 4 });
  });

  it.each(KINDS)("%s: an assignment after construction applies (9) and is validated (0 is a RangeError)", (kind) => {
    expect(result(kind, "field 3, option 7, then assigned 9")).toMatchObject({ read: 9, peak: 9 });
    const option = kind.endsWith("Flow") ? "maxConcurrentFlows" : "maxConcurrent";
    expect(result(kind, "assigned 0 later").error).toMatch(new RegExp(`^RangeError: .*${option}.*\\b0\\b`));
  });
});
