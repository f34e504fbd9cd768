/** `metricsOf` for any limiter, and `logSummary`: one aggregate line per active period instead of a line per wait. */
import { isLimiter, type Limiter } from "../limiters/limiter.js";
import { type LimiterMetrics, metricsOf, RefusalCounts, WaitSamples } from "../limiters/metrics.js";
import { checkOptions, checkPositive } from "../validate.js";

/** A limiter's `metrics()`; for a custom limiter without one, what its `stats` give. */
export function limiterMetrics(limiter: Limiter): LimiterMetrics {
  return limiter.metrics?.() ?? metricsOf(limiter.stats, new WaitSamples(), new RefusalCounts(), []);
}

/** What `logSummary` reads: a limiter, or the registry (every limiter it holds, summed). */
export type SummaryTarget = Limiter | { listNames(): string[]; get(name: string): Limiter };

/** Options of `logSummary`. */
export interface LogSummaryOptions {
  /** Seconds between lines (a period with no activity prints nothing). @default 10 */
  everySeconds?: number;
  /** Where each line goes. @default console.info */
  log?: (line: string) => void;
}

interface Totals {
  requests: number;
  throttled: number;
  active: number;
  pending: number;
  maxConcurrent: number;
}

function totalsOf(target: SummaryTarget): Totals {
  const limiters = isLimiter(target) ? [target] : target.listNames().map((name) => target.get(name));
  const totals: Totals = { requests: 0, throttled: 0, active: 0, pending: 0, maxConcurrent: 0 };
  for (const limiter of limiters) {
    const stats = limiter.stats;
    totals.requests += stats.acquired;
    totals.throttled += stats.throttled;
    totals.active += limiter.active;
    totals.pending += limiter.pending;
    totals.maxConcurrent += limiter.maxConcurrent;
  }
  return totals;
}

/**
 * The summary line of a period: starts granted in it, how many of them had
 * to wait, and the queue now (running / concurrency).
 */
export function summaryLine(seconds: number, requests: number, throttled: number, active: number, maxConcurrent: number): string {
  const share = requests === 0 ? 0 : (100 * throttled) / requests;
  return `Rate limiter summary (last ${seconds.toFixed(1)}s): ${requests} requests, ${throttled} throttled (${share.toFixed(1)}%), queue: ${active}/${maxConcurrent}`;
}

/**
 * Logs one line every `everySeconds` that had activity (starts granted, or
 * starts waiting), e.g. `Rate limiter summary (last 10.0s): 60 requests, 48
 * throttled (80.0%), queue: 60/60` — "queue" is running / concurrency now.
 * Its timer never keeps the process alive. Returns the function that stops it.
 *
 * @example
 * const stop = logSummary(LimiterRegistry, { everySeconds: 10 });
 * try { await flow.runAsync(shared); } finally { stop(); }
 */
export function logSummary(target: SummaryTarget, options: LogSummaryOptions = {}): () => void {
  checkOptions("logSummary", options, ["everySeconds", "log"]);
  if (!isLimiter(target) && (target === null || typeof target !== "object" || typeof (target as { listNames?: unknown }).listNames !== "function")) {
    throw new TypeError(`logSummary needs a limiter or the LimiterRegistry, got ${String(target)}`);
  }
  const everySeconds = checkPositive("everySeconds", options.everySeconds ?? 10);
  const log = options.log ?? console.info;
  if (typeof log !== "function") throw new TypeError(`log must be a function, got ${typeof log} ${String(log)}`);
  let last = totalsOf(target);
  let lastAt = performance.now();
  const timer = setInterval(() => {
    const now = totalsOf(target);
    const at = performance.now();
    const requests = now.requests - last.requests;
    const throttled = now.throttled - last.throttled;
    const seconds = (at - lastAt) / 1000;
    last = now;
    lastAt = at;
    if (requests === 0 && now.pending === 0) return; // idle: nothing to say
    log(summaryLine(seconds, requests, throttled, now.active, now.maxConcurrent));
  }, everySeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
