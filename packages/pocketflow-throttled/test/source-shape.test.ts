/**
 * The shape DESIGN section 15 asks of the package's source: no file over 400
 * lines, no import cycle, and every optional option documented with its
 * `@default` (as p-queue's options are).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

const FILES = sources(SRC);

/** The package-local files `file` imports (type-only imports included: a cycle of types is still a tangle). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(/(?:import|export)[^"';]*?from\s+"(\.[^"]+)"/g)) {
    found.push(resolve(dirname(file), (match[1] as string).replace(/\.js$/, ".ts")));
  }
  return found;
}

/** Every import cycle, each as the list of files around it. */
function cycles(files: readonly string[], importsOfFile: (file: string) => string[] = importsOf): string[][] {
  const graph = new Map(files.map((f) => [f, importsOfFile(f)]));
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") found.push(stack.slice(stack.indexOf(next)).map((f) => relative(SRC, f)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return found;
}

/** Optional members of `*Options` interfaces whose doc comment lacks `@default`. */
function undocumentedDefaults(file: string, text = readFileSync(file, "utf8")): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const missing: string[] = [];
  for (const statement of source.statements) {
    if (!ts.isInterfaceDeclaration(statement) || !statement.name.text.endsWith("Options")) continue;
    for (const member of statement.members) {
      if (!ts.isPropertySignature(member) || member.questionToken === undefined) continue;
      if (!ts.getJSDocTags(member).some((tag) => tag.tagName.text === "default")) missing.push(`${statement.name.text}.${member.name.getText(source)}`);
    }
  }
  return missing;
}

describe("the source of pocketflow-throttled", () => {
  it("has no file over 400 lines", () => {
    const long = FILES.map((f) => [relative(SRC, f), readFileSync(f, "utf8").split("\n").length] as const).filter(([, n]) => n > 400);

    expect(long).toEqual([]);
  });

  it("has no import cycle", () => {
    expect(FILES.length).toBeGreaterThan(30);
    expect(cycles(FILES)).toEqual([]);
  });

  it("documents every optional option with its @default", () => {
    const missing = FILES.flatMap((file) => undocumentedDefaults(file));

    expect(missing).toEqual([]);
  });

  it("would report a cycle and an undocumented default (the checks can fail)", () => {
    const graph: Record<string, string[]> = { [join(SRC, "a.ts")]: [join(SRC, "b.ts")], [join(SRC, "b.ts")]: [join(SRC, "a.ts")] };

    expect(cycles(Object.keys(graph), (f) => graph[f] ?? [])).toEqual([["a.ts", "b.ts"]]);
    const text = "export interface XOptions {\n  /** no tag */\n  x?: number;\n  /** @default 1 */\n  y?: number;\n  z: number;\n}";
    expect(undocumentedDefaults("x.ts", text)).toEqual([
      "XOptions.x",
    ]);
  });
});
