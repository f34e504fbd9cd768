/**
 * `tsx bench/margin.ts`: measures `arrivalMarginSeconds` against each provider
 * style with 0-100 ms of arrival jitter (the provider's `arrivalJitterMs`):
 * 429s and makespan ÷ the theoretical minimum for each margin. Prints
 * Markdown tables (recorded in docs/decisions.md) and writes
 * `bench/margin-results.json`. Not part of `pnpm bench` (about 5 minutes).
 *
 * Scale: the window the node fills is 1 s in every style (OpenAI's real
 * per-second share of a per-minute limit; a "minute" of 1 s for Anthropic's
 * bucket and Gemini's sliding minute). A refusal needs a request to arrive
 * earlier, relative to its start, than one a window before it by more than
 * the margin, so the refusal count depends on margin and jitter in ms, not on
 * the window's length; the cost of the margin in makespan is margin ÷ window,
 * so 1 s (the shortest window a provider enforces) shows the worst case.
 *
 * Flags: `--items N` (default 100), `--styles openai,gemini`,
 * `--jitters 0,100`, `--margins 0,0.1`, `--runs N` (default 1),
 * `--per-window N` (default 25), `--window-ms N` (default 1000), `--out FILE`.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ProviderStyle } from "pocketflow-throttled/testing";
import { measureStyled, StyledHost, type StyledRun } from "./styled.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const list = (name: string, fallback: string) => flag(name, fallback).split(",").filter(Boolean);

const ITEMS = Number(flag("items", "100"));
const RUNS = Number(flag("runs", "1"));
const STYLES = list("styles", "openai,anthropic,gemini") as ProviderStyle[];
const JITTERS = list("jitters", "0,25,50,100").map(Number);
const MARGINS = list("margins", "0,0.025,0.05,0.1,0.15").map(Number);
/** Requests per window, on both sides, and the window's length. */
const PER_WINDOW = Number(flag("per-window", "25"));
const WINDOW_MS = Number(flag("window-ms", "1000"));
const LATENCY_MS = 20;

/** The node and provider of `style` with `jitterMs` of arrival jitter and the node's margin `margin`. */
function marginRun(style: ProviderStyle, jitterMs: number, margin: number, seed: number): StyledRun {
  const common = { latencyMs: LATENCY_MS, arrivalJitterMs: jitterMs, seed };
  const node = { maxConcurrent: 2 * PER_WINDOW, arrivalMarginSeconds: margin };
  const base = { style, items: ITEMS, maxTokens: 16, warmUp: PER_WINDOW, settleMs: WINDOW_MS + jitterMs + 100 };
  if (style === "openai") {
    // The per-second share is the window: 60 x PER_WINDOW per "minute" of 60 windows (1,500 RPM: 25 per second).
    const minuteMs = 60 * WINDOW_MS;
    const windows = [
      { seconds: minuteMs / 1000, maxRequests: 60 * PER_WINDOW },
      { seconds: WINDOW_MS / 1000, maxRequests: PER_WINDOW },
    ];
    return { ...base, provider: { ...common, minuteMs, limits: { rpm: 60 * PER_WINDOW } }, node: { ...node, windows } };
  }
  // A "minute" of one window: Anthropic's bucket refills PER_WINDOW per window, Gemini's sliding minute holds PER_WINDOW.
  return {
    ...base,
    provider: { ...common, minuteMs: WINDOW_MS, limits: { rpm: PER_WINDOW } },
    node: { ...node, windows: [{ seconds: WINDOW_MS / 1000, maxRequests: PER_WINDOW }] },
  };
}

/** Full windows back to back, then one latency. */
const minimumMs = (items: number): number => (Math.ceil(items / PER_WINDOW) - 1) * WINDOW_MS + LATENCY_MS;

interface Cell {
  style: ProviderStyle;
  jitterMs: number;
  margin: number;
  refused: number[];
  lost: number[];
  ratio: number[];
}

async function main(): Promise<void> {
  const host = new StyledHost();
  const cells: Cell[] = [];
  try {
    for (const style of STYLES) {
      for (const jitterMs of JITTERS) {
        for (const margin of MARGINS) {
          const cell: Cell = { style, jitterMs, margin, refused: [], lost: [], ratio: [] };
          for (let r = 0; r < RUNS; r++) {
            const figures = await measureStyled(host, marginRun(style, jitterMs, margin, 1000 + r));
            cell.refused.push(figures.refused);
            cell.lost.push(figures.lost);
            cell.ratio.push(figures.makespanMs / minimumMs(ITEMS));
            process.stderr.write(
              `${style} jitter ${jitterMs} ms margin ${margin} s: ${figures.refused} x 429, ${figures.lost} lost, ${(figures.makespanMs / minimumMs(ITEMS)).toFixed(3)}x${figures.failure ? ` (${figures.failure.slice(0, 80)})` : ""}\n`,
            );
          }
          cells.push(cell);
        }
      }
    }
  } finally {
    await host.close();
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const mean = (xs: number[]) => sum(xs) / xs.length;
  for (const style of STYLES) {
    console.log(`\n${style}: 429s (items lost) / makespan ÷ minimum, ${ITEMS} items at ${PER_WINDOW} per ${WINDOW_MS} ms window, ${RUNS} run(s) each\n`);
    console.log(`| arrival jitter | ${MARGINS.map((m) => `margin ${m} s`).join(" | ")} |`);
    console.log(`|---|${MARGINS.map(() => "---").join("|")}|`);
    for (const jitterMs of JITTERS) {
      const row = MARGINS.map((margin) => {
        const c = cells.find((x) => x.style === style && x.jitterMs === jitterMs && x.margin === margin);
        if (c === undefined) return "-";
        const lost = sum(c.lost);
        return `${sum(c.refused)}${lost > 0 ? ` (${lost} lost)` : ""} / ${mean(c.ratio).toFixed(3)}x`;
      });
      console.log(`| ${jitterMs} ms | ${row.join(" | ")} |`);
    }
  }
  const out = fileURLToPath(new URL(flag("out", "./margin-results.json"), import.meta.url));
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), items: ITEMS, runs: RUNS, perWindow: PER_WINDOW, windowMs: WINDOW_MS, cells }, null, 2)}\n`);
  console.log(`\nWrote ${out}`);
}

await main();
