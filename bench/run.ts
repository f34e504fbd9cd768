/**
 * `pnpm bench`: runs every section, prints one table (measure, figure,
 * ratio vs baseline, target, result; at most 120 columns) and writes
 * `bench/out/<timestamp>/results.json` with the charts of the sections that
 * ran (SVG). Every ratio is against a baseline measured in the same
 * invocation. `--only 1,3` runs some sections; `--markdown` also prints the
 * table as Markdown (for docs/performance.md). The tracked
 * `bench/results.sample.json` is an example of the output, never rewritten.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { benchAdaptive, benchAdaptiveRate } from "./adaptive.js";
import { chartsOf, writeCharts } from "./charts.js";
import { benchCompliance } from "./compliance.js";
import { benchDurable } from "./durable.js";
import { benchFlow } from "./flow.js";
import { renderTable, type Row, type SectionResult } from "./lib.js";
import { benchLimiter } from "./limiter.js";
import { benchMicroBatch } from "./microbatch.js";
import { benchOverhead } from "./overhead.js";
import { benchProviderStyles } from "./provider-styles.js";
import { benchRedisSection } from "./redis.js";
import { benchTokens } from "./tokens.js";

const SECTIONS: [id: string, name: string, run: () => Promise<SectionResult | { skipped: string }>][] = [
  ["1", "overhead", benchOverhead],
  ["2", "limiter start rate", benchLimiter],
  ["3", "compliance", benchCompliance],
  ["4", "adaptive", benchAdaptive],
  ["4b", "adaptive (per-window limit)", benchAdaptiveRate],
  ["5", "flow level", benchFlow],
  ["6", "token budgets", benchTokens],
  ["6b", "micro-batching", benchMicroBatch],
  ["7", "redis", benchRedisSection],
  ["8", "provider styles", benchProviderStyles],
  ["9", "durable batches", benchDurable],
];

const args = process.argv.slice(2);
const onlyIndex = args.indexOf("--only");
const only = onlyIndex >= 0 ? new Set((args[onlyIndex + 1] ?? "").split(",")) : undefined;
const markdown = args.includes("--markdown");

const started = performance.now();
const startedAt = new Date();
const load = loadavg();
const rows: Row[] = [];
const sections: Record<string, unknown> = {};
const notes: string[] = [];
for (const [id, name, run] of SECTIONS) {
  if (only && !only.has(id)) continue;
  const t = performance.now();
  const sectionStartedAt = new Date().toISOString();
  process.stderr.write(`[bench] ${id} ${name}...`);
  try {
    const result = await run();
    const secondsTaken = (performance.now() - t) / 1000;
    process.stderr.write(` ${secondsTaken.toFixed(1)} s\n`);
    if ("skipped" in result) {
      notes.push(`section ${id} (${name}) skipped: ${result.skipped}`);
      sections[name] = { startedAt: sectionStartedAt, skipped: result.skipped };
      continue;
    }
    rows.push(...result.rows);
    // Series in the data are in seconds (or ms) since the section's own start.
    sections[name] = { startedAt: sectionStartedAt, finishedAt: new Date().toISOString(), seconds: secondsTaken, ...result.data };
  } catch (error) {
    process.stderr.write(" FAILED\n");
    notes.push(`section ${id} (${name}) failed: ${error instanceof Error ? error.stack : String(error)}`);
    sections[name] = { startedAt: sectionStartedAt, error: String(error) };
  }
}
const totalSeconds = (performance.now() - started) / 1000;

console.log();
console.log(renderTable(rows));
for (const note of notes) console.log(`\nNote: ${note}`);
const failed = rows.filter((r) => r.pass === false).length;
const checked = rows.filter((r) => r.pass !== undefined).length;
console.log(`\n${checked - failed}/${checked} targets met; bench took ${totalSeconds.toFixed(1)} s (load average at start ${load.map((l) => l.toFixed(2)).join(" ")}).`);
if (markdown) console.log(`\n${renderTable(rows, true)}`);

// One folder per run (ignored by git): results.json and the charts.
const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
const outDir = fileURLToPath(new URL(`./out/${stamp}/`, import.meta.url));
mkdirSync(outDir, { recursive: true });
// Written whole, then renamed: an interrupted run never leaves half a file.
const out = `${outDir}results.json`;
const tmp = `${out}.tmp-${process.pid}`;
writeFileSync(
  tmp,
  `${JSON.stringify(
    {
      date: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      loadAverageAtStart: load,
      totalSeconds,
      rows,
      notes,
      sections,
    },
    null,
    2,
  )}\n`,
);
renameSync(tmp, out);
console.log(`Wrote ${out}`);
for (const path of await writeCharts(outDir, chartsOf(sections))) console.log(`Drew ${path}`);
