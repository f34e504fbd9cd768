/**
 * Shared pieces of the benchmark: result rows, child-process runs, the
 * simulated provider's HTTP client, and number formatting.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** One line of the printed table (and of `results.json`). */
export interface Row {
  section: string;
  variant: string;
  /** The measured figure, formatted for people (e.g. "5.1M items/s"). */
  figure: string;
  /** The raw number behind `figure`. */
  value: number;
  /** `value` against the section's baseline, formatted (e.g. "0.31x bare pool"); "baseline" on the baseline's row, "" when none applies. */
  ratio: string;
  /** The target, formatted (e.g. ">= 0.33x"); "" when there is none. */
  target: string;
  /** Whether the target is met; `undefined` when there is no target. */
  pass: boolean | undefined;
}

/** What a section returns: its table rows and the raw data for `results.json`. */
export interface SectionResult {
  rows: Row[];
  data: Record<string, unknown>;
}

/** What every child runner prints as its last stdout line. */
export interface ChildResult {
  variant: string;
  items: number;
  ms: number;
  peakRssMb: number;
  [key: string]: unknown;
}

const CHILDREN = fileURLToPath(new URL("./children/", import.meta.url));

/**
 * Runs `children/<script>` in a fresh `node --expose-gc` and returns the JSON
 * of its last stdout line. Children are plain JavaScript importing built
 * `dist` files, so no loader inflates their memory.
 */
export function runChild(script: string, args: readonly (string | number)[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", `${CHILDREN}${script}`, ...args.map(String)],
      { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`child ${script} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
          return;
        }
        const last = stdout.trim().split("\n").at(-1) ?? "";
        try {
          resolve(JSON.parse(last) as ChildResult);
        } catch {
          reject(new Error(`child ${script} ${args.join(" ")} printed no result: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

/**
 * Runs each variant `runs` times, interleaved (a, b, c, a, b, c) so a slow
 * spell of the shared machine hits every variant alike; returns every run
 * of each variant.
 */
export async function interleave(
  variants: readonly string[],
  runs: number,
  once: (variant: string, round: number) => Promise<ChildResult> | undefined,
): Promise<Map<string, ChildResult[]>> {
  const all = new Map<string, ChildResult[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < runs; round++) {
    for (const variant of variants) {
      const result = once(variant, round); // undefined: this variant sits this round out
      if (result !== undefined) all.get(variant)?.push(await result);
    }
  }
  return all;
}

/** The run with the highest `key` (throughput): the least disturbed one. */
export function best(results: readonly ChildResult[], key: string): ChildResult {
  return results.reduce((a, b) => ((b[key] as number) > (a[key] as number) ? b : a));
}

/** The lowest of a numeric field over runs (peak memory: the least disturbed one). */
export function lowest(results: readonly ChildResult[], key: string): number {
  return Math.min(...results.map((r) => r[key] as number));
}

// ---- Formatting ------------------------------------------------------------------------------------------

/** 17_200_000 -> "17.2M", 420 -> "420", 235_000 -> "235k". */
export function compact(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toFixed(abs >= 1e8 ? 0 : 1)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  return n.toPrecision(2);
}

/** A ratio as "0.31x" (two significant decimals below 10, whole numbers above). */
export function times(ratio: number): string {
  if (!Number.isFinite(ratio)) return "n/a";
  if (ratio >= 100) return `${ratio.toFixed(0)}x`;
  if (ratio >= 10) return `${ratio.toFixed(1)}x`;
  return `${ratio.toFixed(3)}x`;
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

export function seconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(3)} s` : `${ms.toFixed(1)} ms`;
}

/** A row, with `pass` derived from `check` when a target is given. */
export function row(
  section: string,
  variant: string,
  figure: string,
  value: number,
  ratio = "",
  target = "",
  pass?: boolean,
): Row {
  return { section, variant, figure, value, ratio, target, pass };
}

/** Words of `text` in lines of at most `width` characters (a longer word is cut). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (let word of text.split(/\s+/).filter(Boolean)) {
    while (word.length > width) {
      if (line) lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = "";
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}

const HEADER = ["measure", "figure", "vs baseline", "target", "result"];

/**
 * Renders rows as a text table of at most `width` columns, one block per
 * section (long measures and ratios wrap), or as one Markdown table.
 */
export function renderTable(rows: readonly Row[], markdown = false, width = 120): string {
  const cellsOf = (r: Row) => [r.variant, r.figure, r.ratio || "-", r.target || "-", r.pass === undefined ? "-" : r.pass ? "PASS" : "FAIL"];
  if (markdown) {
    const line = (c: string[]) => `| ${c.join(" | ")} |`;
    const header = ["section", ...HEADER];
    return [line(header), line(header.map(() => "---")), ...rows.map((r) => line([r.section, ...cellsOf(r)]))].join("\n");
  }
  const cells = rows.map(cellsOf);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const gap = 2;
  const total = () => widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
  // Narrow the wider of the two wrapping columns (measure, vs baseline) until the table fits.
  while (total() > width) {
    const i = (widths[0] as number) >= (widths[2] as number) ? 0 : 2;
    if ((widths[i] as number) <= 16) break;
    widths[i] = (widths[i] as number) - 1;
  }
  const render = (c: string[]) => {
    const wrapped = c.map((cell, i) => wrap(cell, widths[i] as number));
    const height = Math.max(...wrapped.map((w) => w.length));
    return Array.from({ length: height }, (_, k) =>
      wrapped
        .map((w, i) => (w[k] ?? "").padEnd(widths[i] as number))
        .join(" ".repeat(gap))
        .trimEnd(),
    );
  };
  const out = [...render(HEADER), widths.map((w) => "-".repeat(w)).join(" ".repeat(gap))];
  let section: string | undefined;
  rows.forEach((r, index) => {
    if (r.section !== section) {
      section = r.section;
      out.push(`[${section}]`);
    }
    out.push(...render(cells[index] as string[]));
  });
  return out.join("\n");
}

// ---- The simulated provider's HTTP client -----------------------------------------------------------------

/** A non-2xx answer, shaped like the SDKs' errors: `status` and Fetch `headers`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    body: string,
  ) {
    super(`HTTP ${status}: ${body.slice(0, 200)}`);
    this.name = "HttpError";
  }
}

/** POSTs JSON with plain `fetch`; resolves to the parsed body, throws an {@link HttpError} on a non-2xx answer. */
export async function postJson<T>(url: string, body: unknown): Promise<{ body: T; headers: Headers }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new HttpError(response.status, response.headers, text);
  return { body: JSON.parse(text) as T, headers: response.headers };
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
