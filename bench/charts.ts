/**
 * The bench's pictures: time series drawn as SVG by vega-lite (compiled to a
 * vega spec) and vega's headless SVG renderer, both pure JavaScript.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** One point of a series: `t` in seconds since the run started. */
export interface Point {
  t: number;
  value: number;
}

/** A line chart of one or more series over time, with an optional horizontal limit. */
export interface Chart {
  /** File name without extension (`compliance-starts` → `compliance-starts.svg`). */
  name: string;
  title: string;
  yTitle: string;
  series: Record<string, readonly Point[]>;
  /** A limit drawn as a dashed line (e.g. the window's request limit). */
  limit?: { value: number; label: string };
  /** Draw steps (a counter that jumps) rather than straight segments. @default true */
  steps?: boolean;
}

/** The vega-lite spec of a chart. */
export function chartSpec(chart: Chart): TopLevelSpec {
  const values = Object.entries(chart.series).flatMap(([series, points]) => points.map((p) => ({ series, t: p.t, value: p.value })));
  const line = {
    mark: { type: "line" as const, interpolate: chart.steps === false ? ("linear" as const) : ("step-after" as const) },
    encoding: {
      x: { field: "t", type: "quantitative" as const, title: "seconds since start" },
      y: { field: "value", type: "quantitative" as const, title: chart.yTitle },
      color: { field: "series", type: "nominal" as const, title: null, legend: { orient: "bottom" as const, labelLimit: 400 } },
    },
  };
  const layers: TopLevelSpec[] = [{ data: { values }, ...line } as TopLevelSpec];
  if (chart.limit !== undefined) {
    layers.push({
      data: { values: [{ limit: chart.limit.value, label: chart.limit.label }] },
      layer: [
        { mark: { type: "rule", color: "firebrick", strokeDash: [6, 4] }, encoding: { y: { field: "limit", type: "quantitative" } } },
        {
          mark: { type: "text", color: "firebrick", align: "left", dx: 4, dy: -6, x: 0 },
          encoding: { y: { field: "limit", type: "quantitative" }, text: { field: "label" } },
        },
      ],
    } as TopLevelSpec);
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: chart.title,
    width: 640,
    height: 260,
    layer: layers,
  } as TopLevelSpec;
}

/** Renders a chart to SVG text. */
export async function renderSvg(chart: Chart): Promise<string> {
  const view = new View(parse(compile(chartSpec(chart)).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize(); // its timers and listeners
  }
}

/** Writes every chart as `<dir>/<name>.svg`; returns the paths written. */
export async function writeCharts(dir: string, charts: readonly Chart[]): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (const chart of charts) {
    const path = join(dir, `${chart.name}.svg`);
    writeFileSync(path, await renderSvg(chart));
    paths.push(path);
  }
  return paths;
}

// ---- From recorded events to series ---------------------------------------------------------------------

/**
 * Starts in the trailing window at each start and just after each leaves it:
 * the count a provider's sliding window sees. `starts` in ms, sorted.
 */
export function startsInWindow(starts: readonly number[], windowMs: number): Point[] {
  const events = [...starts.map((t) => ({ t, d: 1 })), ...starts.map((t) => ({ t: t + windowMs, d: -1 }))].sort(
    (a, b) => a.t - b.t || a.d - b.d,
  );
  const points: Point[] = [{ t: 0, value: 0 }];
  let count = 0;
  for (const e of events) {
    count += e.d;
    points.push({ t: e.t / 1000, value: count });
  }
  return points;
}

/** Samples `read()` every `everyMs` until `stop()` is called; the timer never keeps the process alive. */
export function sampler(read: () => number, everyMs = 50): { stop(): Point[] } {
  const started = performance.now();
  const points: Point[] = [{ t: 0, value: read() }];
  const timer = setInterval(() => points.push({ t: (performance.now() - started) / 1000, value: read() }), everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      points.push({ t: (performance.now() - started) / 1000, value: read() });
      return points;
    },
  };
}

// ---- The charts of a bench run ---------------------------------------------------------------------------

type Sections = Readonly<Record<string, unknown>>;

function field<T>(value: unknown, ...path: string[]): T | undefined {
  let at = value;
  for (const key of path) {
    if (typeof at !== "object" || at === null) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at as T | undefined;
}

/**
 * The charts a run's section data allows (a section that did not run, or
 * failed, draws none): compliance starts against the window, adaptive
 * concurrency over time, token-window use.
 */
export function chartsOf(sections: Sections): Chart[] {
  const charts: Chart[] = [];
  const compliance = sections.compliance;
  const starts = field<number[]>(compliance, "startsMs");
  const config = field<{ limit: number; windowMs: number }>(compliance, "config");
  if (starts !== undefined && config !== undefined) {
    charts.push({
      name: "compliance-starts-in-window",
      title: `Compliance: starts in the trailing ${config.windowMs / 1000} s window (${starts.length} starts)`,
      yTitle: "starts in window",
      series: { "starts in window": startsInWindow(starts, config.windowMs) },
      limit: { value: config.limit, label: `provider limit ${config.limit}` },
    });
  }
  const adaptive: Record<string, readonly Point[]> = {};
  for (const [variant, data] of Object.entries(field<Record<string, unknown>>(sections.adaptive, "adaptive") ?? {})) {
    const points = field<Point[]>(data, "concurrencyOverTime");
    if (points !== undefined) adaptive[`hidden limit, ${variant}`] = points;
  }
  const serverConcurrent = field<number>(sections.adaptive, "config", "serverConcurrent");
  const rate = field<Point[]>(sections["adaptive (per-window limit)"], "concurrencyOverTime");
  if (rate !== undefined) adaptive["per-window limit, defaults"] = rate;
  if (Object.keys(adaptive).length > 0) {
    charts.push({
      name: "adaptive-concurrency",
      title: "AdaptiveThrottledNode: concurrency in force over time",
      yTitle: "concurrency",
      series: adaptive,
      limit: serverConcurrent === undefined ? undefined : { value: serverConcurrent, label: `hidden limit ${serverConcurrent} in flight` },
    });
  }
  const tokens: Record<string, readonly Point[]> = {};
  for (const [key, name] of [
    ["exact", "exact estimates"],
    ["overestimatedSettled", "estimates +30%, settled"],
    ["overestimatedUnsettled", "estimates +30%, not settled"],
  ] as const) {
    const points = field<Point[]>(sections["token budgets"], key, "tokenWindowOverTime");
    if (points !== undefined) tokens[name] = points;
  }
  const tokensPerWindow = field<number>(sections["token budgets"], "config", "tokensPerWindow");
  if (Object.keys(tokens).length > 0) {
    charts.push({
      name: "token-window-use",
      title: "Token budget: tokens counted in the limiter's window over time",
      yTitle: "tokens in window",
      series: tokens,
      limit: tokensPerWindow === undefined ? undefined : { value: tokensPerWindow, label: `budget ${tokensPerWindow} tokens` },
      steps: false,
    });
  }
  return charts;
}
