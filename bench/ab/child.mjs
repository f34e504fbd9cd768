/**
 * One A/B run: a ThrottledParallelBatchNode over N no-op items at concurrency
 * 64, loaded from `<root>/node_modules` (a copy of one build of the packages).
 * Usage: node --expose-gc child.mjs <root> <items> <mode>; mode: none | subscriber | otel.
 */
import { subscribe } from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [root, itemsArg = "1000000", mode = "none"] = process.argv.slice(2);
const n = Number(itemsArg);
/** Imports `pkg[/sub]` from the root's node_modules through its package.json `exports` (the import condition). */
const load = (name) => {
  const [pkg, sub] = name.split(/\/(.*)/);
  const dir = join(root, "node_modules", pkg);
  const { import: esm } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).exports[sub ? `./${sub}` : "."];
  const entry = typeof esm === "string" ? esm : esm.default; // { types, default } since the dual ESM/CommonJS build
  return import(pathToFileURL(join(dir, entry)).href);
};
const { ThrottledParallelBatchNode } = await load("pocketflow-throttled");
if (mode === "subscriber") {
  for (const name of ["pocketflow:run", "pocketflow-throttled:attempt", "pocketflow-throttled:limiter"]) subscribe(name, () => {});
} else if (mode === "otel") {
  const { instrument } = await load("pocketflow-throttled/otel");
  // The SDK's CommonJS build (its ESM build has extensionless imports Node does not resolve).
  const { BasicTracerProvider } = createRequire(import.meta.url)(join(root, "node_modules/@opentelemetry/sdk-trace-base"));
  instrument({ tracerProvider: new BasicTracerProvider() }); // spans recorded, exported nowhere
}
class Noop extends ThrottledParallelBatchNode {
  async prepAsync(shared) {
    return shared.items;
  }
  async execAsync(item) {
    return item;
  }
  async postAsync(shared, _p, results) {
    shared.results = results;
    return undefined;
  }
}
const items = Array.from({ length: n }, (_, i) => i);
globalThis.gc?.();
const started = performance.now();
const shared = { items };
await new Noop({ maxConcurrent: 64 }).runAsync(shared);
const ms = performance.now() - started;
if (shared.results.length !== n || shared.results[n - 1] !== n - 1) throw new Error("results out of place");
process.stdout.write(`${JSON.stringify({ itemsPerSecond: (n / ms) * 1000 })}\n`);
