/**
 * Section 8, provider styles: a node told the limits as DESIGN section 10
 * recommends, against each style of the simulated provider (its own
 * process, the real SDK with retries off, the default arrival margin):
 * 429s, items lost, and makespan ÷ the theoretical minimum. Plus a node told
 * nothing (`learnLimits`) against OpenAI's limit headers.
 */
import { type Row, row, type SectionResult, times } from "./lib.js";
import { measureStyled, StyledHost, type StyledRun } from "./styled.js";

/** OpenAI: 1,500 RPM in a real minute, enforced as 25 per second; 100 items need 4 seconds' shares. */
const OPENAI: StyledRun = {
  style: "openai",
  provider: { latencyMs: 20, seed: 8, limits: { rpm: 1500 } },
  node: { maxConcurrent: 50, maxPerMinute: 1500, maxPerSecond: 25 },
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
  node: { maxConcurrent: 50, windows: [{ seconds: 1, maxRequests: 40, maxInputTokens: 270, maxOutputTokens: 240 }] },
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
  node: { maxConcurrent: 50, windows: [{ seconds: 1, maxRequests: 25 }] },
  items: 100,
  maxTokens: 8,
  warmUp: 25,
  settleMs: 1100,
};

/** Told nothing: the limits come from the first answer's x-ratelimit headers. */
const LEARNING: StyledRun = { ...OPENAI, node: { maxConcurrent: 50, learnLimits: true } };

export async function benchProviderStyles(): Promise<SectionResult> {
  const section = "8 provider styles";
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  const cases: { name: string; run: StyledRun; minimumMs: number; maxRatio: number; maxRefused: number }[] = [
    { name: "openai (RPM per second)", run: OPENAI, minimumMs: 3 * 1000 + 20, maxRatio: 1.15, maxRefused: 0 },
    // Full buckets take 30 items; the other 60 wait for 2 minutes of refill.
    { name: "anthropic (RPM, ITPM, OTPM buckets)", run: ANTHROPIC, minimumMs: 2 * 1000 + 20, maxRatio: 1.5, maxRefused: 0 },
    { name: "gemini (sliding RPM)", run: GEMINI, minimumMs: 3 * 1000 + 20, maxRatio: 1.15, maxRefused: 0 },
    { name: "openai told nothing (learnLimits)", run: LEARNING, minimumMs: 3 * 1000 + 20, maxRatio: 1.3, maxRefused: 2 },
  ];
  const host = new StyledHost();
  try {
    for (const { name, run, minimumMs, maxRatio, maxRefused } of cases) {
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
    }
  } finally {
    await host.close();
  }
  return { rows, data };
}
