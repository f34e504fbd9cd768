/**
 * A/B of the observability change's cost: the built packages of main
 * (copied before the change) against this branch's, each variant a fresh
 * process, interleaved round by round; medians reported.
 *
 *   node bench/ab/run.mjs <main-root> <branch-root> [rounds=7] [items=1000000]
 *
 * A root holds `node_modules/pocketflow` and `node_modules/pocketflow-throttled`
 * (package.json + dist). Variants: main, branch (no subscriber), branch with a
 * subscriber on every channel, branch with OpenTelemetry instrumented.
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [mainRoot, branchRoot, roundsArg = "7", itemsArg = "1000000"] = process.argv.slice(2);
if (!mainRoot || !branchRoot) throw new Error("usage: node bench/ab/run.mjs <main-root> <branch-root> [rounds] [items]");
const child = join(dirname(fileURLToPath(import.meta.url)), "child.mjs");
const variants = [
  ["main, no subscriber", mainRoot, "none", itemsArg],
  ["branch, no subscriber", branchRoot, "none", itemsArg],
  ["branch, subscriber on every channel", branchRoot, "subscriber", itemsArg],
  ["branch, OTel instrumented", branchRoot, "otel", String(Math.min(Number(itemsArg), 100_000))],
];
const results = new Map(variants.map(([label]) => [label, []]));
for (let round = 0; round < Number(roundsArg); round++) {
  for (const [label, root, mode, items] of round % 2 === 0 ? variants : [...variants].reverse()) {
    const out = execFileSync(process.execPath, ["--expose-gc", child, root, items, mode], { cwd: dirname(child), encoding: "utf8" });
    results.get(label).push(JSON.parse(out.trim().split("\n").at(-1)).itemsPerSecond);
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = median(results.get("main, no subscriber"));
for (const [label, xs] of results) {
  const m = median(xs);
  console.log(`${label.padEnd(38)} median ${(m / 1e6).toFixed(3)} M items/s  (${((m / base) * 100).toFixed(1)}% of main)  runs: ${xs.map((x) => (x / 1e6).toFixed(2)).join(" ")}`);
}
