#!/usr/bin/env node
/**
 * The CommonJS build of one package (run from its folder): `tsconfig.cjs.json`
 * compiled into `dist/cjs`, marked `{"type":"commonjs"}` so Node and TypeScript
 * read its `.js` and `.d.ts` as CommonJS. See docs/decisions.md, "Published
 * packages".
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import ts from "typescript";

// `import.meta.url` has no CommonJS meaning: its one use, resolving the optional
// `ioredis` peer from the package's own folder, becomes `__filename` here.
const ALLOWED = resolve("src/limiters/redis/store.ts");
/** tsc writes the call as `(0, node_module_1.createRequire)(import.meta.url)`. */
const FROM = /(createRequire\)?\()import\.meta\.url\)/g;

const config = ts.getParsedCommandLineOfConfigFile("tsconfig.cjs.json", {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: fail });
if (!config) throw new Error("tsconfig.cjs.json: cannot be read");
const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
const diagnostics = ts
  .getPreEmitDiagnostics(program)
  .filter((d) => !(d.code === 1343 && d.file && resolve(d.file.fileName) === ALLOWED));
if (diagnostics.length > 0) fail(diagnostics);

let swapped = 0;
const result = program.emit(undefined, (fileName, text, bom) => {
  let out = text;
  if (fileName.endsWith(".js") && out.includes("import.meta")) {
    out = out.replace(FROM, "$1__filename)");
    if (out.includes("import.meta")) throw new Error(`${fileName}: an import.meta use the CommonJS build cannot translate`);
    swapped += 1;
  }
  ts.sys.writeFile(fileName, out, bom);
});
if (result.diagnostics.length > 0) fail(result.diagnostics);
if (swapped > 1) throw new Error(`expected import.meta in one file at most, found ${swapped}`);
writeFileSync(join(config.options.outDir ?? "dist/cjs", "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);

function fail(found) {
  const list = Array.isArray(found) ? found : [found];
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: ts.sys.getCurrentDirectory, getNewLine: () => "\n" };
  process.stderr.write(ts.formatDiagnostics(list, host));
  process.exit(1);
}
