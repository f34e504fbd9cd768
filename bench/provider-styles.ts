/**
 * Section 8, provider styles: a node told the limits as DESIGN section 10
 * recommends, against each style of the simulated provider (its own
 * process, the real SDK with retries off, the default arrival margin):
 * 429s, items lost, and makespan ÷ the theoretical minimum. Plus a node told
 * nothing (`learnLimits`) against OpenAI's limit headers; Bottleneck
 * (`minTime`) and p-queue (`intervalCap`) configured from each style's
 * published request limit, as their READMEs show, for comparison (no target);
 * and how fast a run stops when OpenAI answers `insufficient_quota`.
 */
import Bottleneck from "bottleneck";
import PQueue from "p-queue";
import { QuotaExhausted } from "pocketflow-throttled";
import { type Row, row, type SectionResult, seconds, times } from "./lib.js";
import { measureQuotaStop, measureScheduled, measureStyled, type Schedule, StyledHost, type StyledRun } from "./styled.js";

/** In flight at once, for the nodes and the baselines alike. */
const CONCURRENCY = 50;

/** OpenAI: 1,500 RPM in a real minute, enforced as 25 per second; 100 items need 4 seconds' shares. */
const OPENAI: StyledRun = {
  style: "openai",
  provider: { latencyMs: 20, seed: 8, limits: { rpm: 1500 } },
  node: { maxConcurrent: CONCURRENCY, maxPerMinute: 1500, maxPerSecond: 25 },
  items: 100,
  maxTokens: 8,
  warmUp: 25,
  settleMs: 1100,
};

/**
 * Anthropic: token buckets in a "minute" of 1 s; each item is 9 input tokens and reserves 8 output tokens,
 * so ITPM (270) and OTPM (240) hold 30 items a minute, RPM 40. The buckets start full.
 */
const ANTHROPIC: StyledRun = {
  style: "anthropic",
  provider: { latencyMs: 20, seed: 8, minuteMs: 1000, limits: { rpm: 40, itpm: 270, otpm: 240 } },
  node: { maxConcurrent: CONCURRENCY, windows: [{ seconds: 1, maxRequests: 40, maxInputTokens: 270, maxOutputTokens: 240 }] },
  estimate: { inputTokens: 9, outputTokens: 8 },
  items: 90,
  maxTokens: 8,
  warmUp: 30,
  settleMs: 1100,
};

/** Gemini: a sliding "minute" of 1 s holding 25. */
const GEMINI: StyledRun = {
  style: "gemini",
  provider: { latencyMs: 20, seed: 8, minuteMs: 1000, limits: { rpm: 25 } },
  node: { maxConcurrent: CONCURRENCY, windows: [{ seconds: 1, maxRequests: 25 }] },
  items: 100,
  maxTokens: 8,
  warmUp: 25,
  settleMs: 1100,
};

/** Told nothing: the limits come from the first answer's x-ratelimit headers. */
const LEARNING: StyledRun = { ...OPENAI, node: { maxConcurrent: CONCURRENCY, learnLimits: true } };

/** What refused a request, as the rows name it. */
const REFUSED_BY: Record<string, string> = {
  requests: "RPM",
  tokens: "tokens",
  inputTokens: "ITPM",
  outputTokens: "OTPM",
  perDay: "per day",
  concurrency: "in flight",
  quota: "quota",
  overloaded: "529",
};

/**
 * The baselines, configured as a newcomer would from the style's published request limit (RPM over the style's
 * minute) and nothing else: no token limit, no margin, no retry (a 429 is an item lost).
 */
const BASELINES: { label: (rpm: number, minuteMs: number) => string; schedule: (rpm: number, minuteMs: number) => Schedule }[] = [
  {
    label: (rpm, minuteMs) => `Bottleneck minTime ${minuteMs / rpm} ms`,
    schedule: (rpm, minuteMs) => {
      const limiter = new Bottleneck({ maxConcurrent: CONCURRENCY, minTime: minuteMs / rpm });
      return (task) => limiter.schedule(task);
    },
  },
  {
    label: (rpm, minuteMs) => `p-queue intervalCap ${rpm} per ${minuteMs} ms`,
    schedule: (rpm, minuteMs) => {
      const queue = new PQueue({ concurrency: CONCURRENCY, intervalCap: rpm, interval: minuteMs });
      return (task) => queue.add(task);
    },
  },
];

/**
 * OpenAI's quota runs out after 35 accepted requests: the first second's 25, then the first wave of 10 of the
 * second; what starts as that wave ends is refused. Stopping at once wastes at most maxConcurrent requests
 * (those already sent when the first refusal comes back).
 */
const QUOTA_CONCURRENCY = 10;
const QUOTA: StyledRun = {
  ...OPENAI,
  provider: { ...OPENAI.provider, insufficientQuotaAfter: 35 },
  node: { maxConcurrent: QUOTA_CONCURRENCY, maxPerMinute: 1500, maxPerSecond: 25 },
};

/**
 * Anthropic's 529 overloaded on a fifth of the requests, no rate limit in force: a node with default options
 * (nothing told) must deliver every item, re-running the 529s without pausing or cutting concurrency.
 */
const OVERLOADED: StyledRun = {
  style: "anthropic",
  provider: { latencyMs: 20, seed: 8, overloadedShare: 0.2 },
  node: {},
  items: 60,
  maxTokens: 8,
  warmUp: 0,
  settleMs: 0,
};

export async function benchProviderStyles(): Promise<SectionResult> {
  const section = "8 provider styles";
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  // `baselines`: Bottleneck and p-queue run against the same provider, after the node.
  const cases: { name: string; run: StyledRun; minimumMs: number; maxRatio: number; maxRefused: number; baselines?: boolean }[] = [
    { name: "openai (RPM per second)", run: OPENAI, minimumMs: 3 * 1000 + 20, maxRatio: 1.15, maxRefused: 0, baselines: true },
    // Full buckets take 30 items; the other 60 wait for 2 minutes of refill.
    { name: "anthropic (RPM, ITPM, OTPM buckets)", run: ANTHROPIC, minimumMs: 2 * 1000 + 20, maxRatio: 1.5, maxRefused: 0, baselines: true },
    { name: "gemini (sliding RPM)", run: GEMINI, minimumMs: 3 * 1000 + 20, maxRatio: 1.15, maxRefused: 0, baselines: true },
    { name: "openai told nothing (learnLimits)", run: LEARNING, minimumMs: 3 * 1000 + 20, maxRatio: 1.3, maxRefused: 2 },
  ];
  const host = new StyledHost();
  try {
    for (const { name, run, minimumMs, maxRatio, maxRefused, baselines } of cases) {
      const figures = await measureStyled(host, run);
      const ratio = figures.makespanMs / minimumMs;
      rows.push(
        row(section, `${name}: 429s`, String(figures.refused), figures.refused, "", String(maxRefused), figures.refused <= maxRefused),
        row(section, `${name}: items lost`, `${figures.lost}/${run.items}${figures.inOrder ? "" : " (out of order)"}`, figures.lost, "", "0", figures.lost === 0 && figures.inOrder),
        row(
          section,
          `${name}: makespan`,
          `${(figures.makespanMs / 1000).toFixed(3)} s`,
          figures.makespanMs,
          `${times(ratio)} min ${(minimumMs / 1000).toFixed(3)} s`,
          `<= ${maxRatio}x`,
          ratio <= maxRatio,
        ),
      );
      data[name] = { ...figures, minimumMs, ratio, run };
      if (baselines) rows.push(...(await baselineRows(host, section, run, minimumMs, data)));
    }
    rows.push(...(await quotaRows(host, section, data)));
    rows.push(...(await overloadedRows(host, section, data)));
  } finally {
    await host.close();
  }
  return { rows, data };
}

/** The baselines' rows against `run`'s provider: informative (no target; their 429s fail nothing). */
async function baselineRows(host: StyledHost, section: string, run: StyledRun, minimumMs: number, data: Record<string, unknown>): Promise<Row[]> {
  const rows: Row[] = [];
  const rpm = run.provider.limits?.rpm ?? 0;
  const minuteMs = run.provider.minuteMs ?? 60_000;
  for (const baseline of BASELINES) {
    const name = `${run.style}, ${baseline.label(rpm, minuteMs)}`;
    const figures = await measureScheduled(host, run, baseline.schedule(rpm, minuteMs));
    const ratio = figures.makespanMs / minimumMs;
    const by = Object.entries(figures.refusedBy)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${n} ${REFUSED_BY[kind] ?? kind}`)
      .join(", ");
    rows.push(
      row(section, `${name}: 429s`, by === "" ? String(figures.refused) : `${figures.refused} (${by})`, figures.refused),
      row(section, `${name}: items delivered, lost`, `${figures.delivered} delivered, ${figures.lost} lost`, figures.lost),
      row(section, `${name}: makespan`, seconds(figures.makespanMs), figures.makespanMs, `${times(ratio)} min ${(minimumMs / 1000).toFixed(3)} s`),
    );
    data[name] = { ...figures, minimumMs, ratio, run };
  }
  return rows;
}

/** The quota rows: a node told the limits, OpenAI's quota running out midway. */
async function quotaRows(host: StyledHost, section: string, data: Record<string, unknown>): Promise<Row[]> {
  const name = `openai quota runs out (maxConcurrent ${QUOTA_CONCURRENCY})`;
  const figures = await measureQuotaStop(host, QUOTA);
  const rejected = figures.error instanceof QuotaExhausted;
  const errorName = figures.error === undefined ? "resolved" : figures.error instanceof Error ? figures.error.name : String(figures.error);
  data[name] = { ...figures, error: String(figures.error), run: QUOTA };
  return [
    row(section, `${name}: rejects with`, errorName, rejected ? 1 : 0, "", "QuotaExhausted", rejected),
    row(
      section,
      `${name}: first refusal to rejection`,
      Number.isNaN(figures.stopMs) ? "no quota refusal" : seconds(figures.stopMs),
      figures.stopMs,
      "",
      "<= 1 s",
      figures.stopMs <= 1000,
    ),
    row(
      section,
      `${name}: requests refused for quota`,
      String(figures.quotaRefused),
      figures.quotaRefused,
      `${figures.accepted} accepted; ${figures.startedAfter} started after the first refusal reached the node`,
      `1-${QUOTA_CONCURRENCY}`,
      figures.quotaRefused >= 1 && figures.quotaRefused <= QUOTA_CONCURRENCY,
    ),
  ];
}

/** The 529 rows: default options, a fifth of the answers overloaded; every item must come back, in order. */
async function overloadedRows(host: StyledHost, section: string, data: Record<string, unknown>): Promise<Row[]> {
  const name = "anthropic 529 on 20% (default options)";
  const figures = await measureStyled(host, OVERLOADED);
  data[name] = { ...figures, run: OVERLOADED };
  const overloaded = figures.refusedBy.overloaded ?? 0;
  return [
    row(section, `${name}: 529s answered`, String(overloaded), overloaded, "re-run: no pause, no concurrency cut", ">= 1", overloaded >= 1),
    row(
      section,
      `${name}: items delivered`,
      `${figures.delivered}/${OVERLOADED.items}${figures.inOrder ? "" : " (out of order)"}`,
      figures.delivered,
      figures.failure ?? "",
      `${OVERLOADED.items}`,
      figures.delivered === OVERLOADED.items && figures.inOrder,
    ),
  ];
}
