/**
 * How a start enters the windows of a `RateLimiter`: several true sliding
 * windows (each its own length and kind of weight) over one log of starts.
 * A window of `seconds` admits a start at `t` only if the starts in
 * `(t - seconds - margin, t]` plus this one stay within its limit; the margin
 * keeps each start counted a little longer, since a provider counts arrival.
 */
import { BudgetExceeded } from "../errors.js";
import { checkCount, checkOptions, checkPositive } from "../validate.js";

/** What one start weighs: its total, input and output token estimates, and its estimated cost. */
export interface Weight {
  /** Total tokens (counts against `maxTokens` windows). */
  tokens: number;
  /** Input (prompt) tokens (counts against `maxInputTokens` windows). */
  inputTokens: number;
  /** Output (completion) tokens (counts against `maxOutputTokens` windows). */
  outputTokens: number;
  /** US dollars (counts against `maxCostUsd` windows). */
  costUsd: number;
}

/**
 * One sliding window: no interval of `seconds` holds more than each limit
 * given. Give at least one limit. A window with `onExceed: "fail"` is a
 * budget: a start that would cross it fails with `BudgetExceeded` instead of
 * waiting for room.
 *
 * @example
 * // Anthropic-style: 50 requests, 30,000 input and 8,000 output tokens per minute
 * const windows = [{ seconds: 60, maxRequests: 50, maxInputTokens: 30_000, maxOutputTokens: 8_000 }];
 * // and at most $5 in any day, refused (not delayed) once spent
 * windows.push({ seconds: 86_400, maxCostUsd: 5, onExceed: "fail" });
 */
export interface WindowLimit {
  /** The window's length in seconds (finite, > 0). */
  seconds: number;
  /** At most this many starts in any interval of `seconds` (undefined: not limited). */
  maxRequests?: number;
  /** At most this many total tokens started in any interval of `seconds` (undefined: not limited). */
  maxTokens?: number;
  /** At most this many input tokens started in any interval of `seconds` (undefined: not limited). */
  maxInputTokens?: number;
  /** At most this many output tokens started in any interval of `seconds` (undefined: not limited). */
  maxOutputTokens?: number;
  /** At most this many US dollars (start estimates, corrected by `settle`) in any interval of `seconds` (undefined: not limited). */
  maxCostUsd?: number;
  /** What a start that would cross a limit of this window does: wait for room, or fail with `BudgetExceeded`. @default "wait" */
  onExceed?: "wait" | "fail";
}

/** Limits a provider reported (limit headers, a quota error's body); each becomes a window of that kind. */
export interface LearnedLimits {
  /** Requests per minute; also enforced as `ceil(n / 60)` per second. */
  requestsPerMinute?: number;
  /** Total tokens per minute; also enforced as `ceil(n / 60)` per second. */
  tokensPerMinute?: number;
  /** Input tokens per minute; also enforced as `ceil(n / 60)` per second. */
  inputTokensPerMinute?: number;
  /** Output tokens per minute; also enforced as `ceil(n / 60)` per second. */
  outputTokensPerMinute?: number;
  /** Requests per day (86,400 s). */
  requestsPerDay?: number;
  /** Total tokens per day (86,400 s). */
  tokensPerDay?: number;
}

/** The limit fields of a `WindowLimit`, which are also the kinds of window. */
export type WindowKind = "maxRequests" | "maxTokens" | "maxInputTokens" | "maxOutputTokens" | "maxCostUsd";

/** One limit of one window, as the limiter enforces it. */
export interface WindowRule {
  readonly seconds: number;
  readonly kind: WindowKind;
  readonly limit: number;
  /** The option it came from, for messages (`maxPerWindow`, `maxInputTokens`, ...). */
  readonly option: string;
  readonly learned: boolean;
  /**
   * A short-period share of a per-minute limit: a request heavier than it may
   * still start alone in an empty window (the provider accepts any request
   * within its per-minute limit).
   */
  readonly share: boolean;
  /** `onExceed: "fail"`: a start that would cross it is refused with `BudgetExceeded`, never queued. */
  readonly fail: boolean;
}

const KINDS: readonly WindowKind[] = ["maxRequests", "maxTokens", "maxInputTokens", "maxOutputTokens", "maxCostUsd"];
const WINDOW_KEYS = ["seconds", "onExceed", ...KINDS];
const UNITS: Record<WindowKind, string> = {
  maxRequests: "requests",
  maxTokens: "tokens",
  maxInputTokens: "input tokens",
  maxOutputTokens: "output tokens",
  maxCostUsd: "US dollars",
};

/** Compacts the start log once this many expired entries have piled up at its front. */
const COMPACT_AFTER = 1024;

/** What `w` weighs in a window of `kind`. */
export function weightIn(kind: WindowKind, w: Weight): number {
  if (kind === "maxTokens") return w.tokens;
  if (kind === "maxInputTokens") return w.inputTokens;
  if (kind === "maxOutputTokens") return w.outputTokens;
  if (kind === "maxCostUsd") return w.costUsd;
  return 1;
}

/** Float sums of prices must not refuse a start that exactly fits. */
const COST_SLACK = 1e-9;

/** The rules of the `windows` option, validated: each window an object with `seconds` and at least one limit. */
export function windowRules(windows: unknown): WindowRule[] {
  if (windows === undefined) return [];
  if (!Array.isArray(windows)) throw new TypeError(`windows must be an array of { seconds, maxRequests?, ... }, got ${String(windows)}`);
  const rules: WindowRule[] = [];
  windows.forEach((window: unknown, i) => {
    const name = `windows[${i}]`;
    const w = checkOptions(name, window, WINDOW_KEYS);
    const seconds = checkPositive(`${name}.seconds`, w.seconds);
    const onExceed = w.onExceed ?? "wait";
    if (onExceed !== "wait" && onExceed !== "fail") throw new TypeError(`${name}.onExceed must be "wait" or "fail", got ${JSON.stringify(w.onExceed)}`);
    const fail = onExceed === "fail";
    const before = rules.length;
    for (const kind of KINDS) {
      if (w[kind] === undefined) continue;
      // Dollars are not counts: any finite amount >= 0 (0 refuses every priced start).
      const limit = kind === "maxCostUsd" ? checkPositive(`${name}.maxCostUsd`, w[kind], true) : checkCount(`${name}.${kind}`, w[kind]);
      rules.push({ seconds, kind, limit, option: kind, learned: false, share: false, fail });
    }
    if (rules.length === before) {
      throw new RangeError(`${name} has no limit: give it maxRequests, maxTokens, maxInputTokens, maxOutputTokens or maxCostUsd`);
    }
  });
  return rules;
}

const LEARNED: ReadonlyArray<readonly [keyof LearnedLimits, WindowKind, number]> = [
  ["requestsPerMinute", "maxRequests", 60],
  ["tokensPerMinute", "maxTokens", 60],
  ["inputTokensPerMinute", "maxInputTokens", 60],
  ["outputTokensPerMinute", "maxOutputTokens", 60],
  ["requestsPerDay", "maxRequests", 86_400],
  ["tokensPerDay", "maxTokens", 86_400],
];

/** The rules a provider's reported limits stand for: per-minute ones with their per-second share beside them. */
export function learnedRules(limits: LearnedLimits): WindowRule[] {
  const given = checkOptions(
    "learn",
    limits,
    LEARNED.map(([key]) => key),
  );
  const rules: WindowRule[] = [];
  for (const [key, kind, seconds] of LEARNED) {
    if (given[key] === undefined) continue;
    const limit = checkCount(`learn ${key}`, given[key]);
    rules.push({ seconds, kind, limit, option: `${kind} (learned)`, learned: true, share: false, fail: false });
    if (seconds === 60) {
      rules.push({ seconds: 1, kind, limit: Math.ceil(limit / 60), option: `${kind} (learned)`, learned: true, share: true, fail: false });
    }
  }
  return rules;
}

/** `current` with every waiting rule of the same period and kind as one of `learned` replaced by it (budgets stay). */
export function replaceRules(current: readonly WindowRule[], learned: readonly WindowRule[]): WindowRule[] {
  const kept = current.filter((r) => r.fail || !learned.some((l) => l.seconds === r.seconds && l.kind === r.kind));
  return [...kept, ...learned];
}

/** The rules grouped back into windows (one per period and `onExceed`; of two limits of one kind, the stricter). */
export function windowsOf(rules: readonly WindowRule[]): readonly WindowLimit[] {
  const byPeriod = new Map<string, WindowLimit>();
  for (const r of rules) {
    const at = `${r.seconds}${r.fail ? "f" : "w"}`;
    const w = byPeriod.get(at) ?? (r.fail ? { seconds: r.seconds, onExceed: "fail" as const } : { seconds: r.seconds });
    byPeriod.set(at, w);
    const had = w[r.kind];
    w[r.kind] = had === undefined ? r.limit : Math.min(had, r.limit);
  }
  return Object.freeze([...byPeriod.values()].map((w) => Object.freeze(w)));
}

/** True when some window weighs dollars: its starts need a cost estimate. */
export function weighsCost(windows: readonly WindowLimit[] | undefined): boolean {
  return windows?.some((w) => w.maxCostUsd !== undefined) === true;
}

/** The RangeError for a start that no window of `rule` could ever admit. */
export function neverFits(rule: WindowRule, w: Weight): RangeError {
  return new RangeError(
    `a request of ${weightIn(rule.kind, w)} ${UNITS[rule.kind]} can never start under the ${rule.seconds} s window's ${rule.option} ${rule.limit}: split it or raise the limit`,
  );
}

/** The refusal of a start that would cross the budget `rule` (`used` already in its window). */
export function budgetExceeded(rule: WindowRule, used: number, w: Weight): BudgetExceeded {
  const money = rule.kind === "maxCostUsd";
  const show = (n: number): string => (money ? `$${Number(n.toPrecision(6))}` : String(n));
  return new BudgetExceeded(
    `a start of ${show(weightIn(rule.kind, w))}${money ? "" : ` ${UNITS[rule.kind]}`} would cross the ${rule.seconds} s budget window's ${rule.option} ${rule.limit} (${show(used)} used)`,
    { spent: used, limit: rule.limit, kind: rule.kind, key: "" },
  );
}

interface Tracked {
  readonly rule: WindowRule;
  readonly spanMs: number;
  /** The log's weights of this kind (undefined for a request window, which counts entries). */
  readonly values: number[] | undefined;
  /** Index of the first start still inside this window. */
  first: number;
  /** Sum of `values` from `first` on. */
  sum: number;
}

/**
 * The start log and the windows over it. Entry `i` is the start with sequence
 * number `base + i`; each window keeps its own first live entry and sum.
 */
export class WindowLog {
  private _tracked: Tracked[] = [];
  private readonly _times: number[] = [];
  private readonly _tokens: number[] = [];
  private readonly _input: number[] = [];
  private readonly _output: number[] = [];
  private readonly _cost: number[] = [];
  private _base = 0;

  constructor(readonly marginMs: number) {}

  /** Whether any window is in force. */
  get limited(): boolean {
    return this._tracked.length > 0;
  }

  /** Puts `rules` in force, counting the starts already logged. */
  setRules(rules: readonly WindowRule[], now: number): void {
    this._tracked = rules.map((rule) => {
      const values = this._valuesOf(rule.kind);
      let sum = 0;
      if (values) for (const v of values) sum += v;
      return { rule, spanMs: rule.seconds * 1000 + this.marginMs, values, first: 0, sum };
    });
    this._prune(now);
  }

  /** The first waiting rule a start of weight `w` could never fit (a share admits anything alone), else undefined. */
  neverFits(w: Weight): WindowRule | undefined {
    for (const t of this._tracked) if (!t.rule.fail && !t.rule.share && weightIn(t.rule.kind, w) > t.rule.limit) return t.rule;
    return undefined;
  }

  /** The first budget (`onExceed: "fail"`) a start of `w` would cross now, with what it holds; else undefined. */
  refusal(now: number, w: Weight): { rule: WindowRule; used: number } | undefined {
    this._prune(now);
    for (const t of this._tracked) {
      if (!t.rule.fail) continue;
      const used = t.values === undefined ? this._times.length - t.first : t.sum;
      if (used + weightIn(t.rule.kind, w) > t.rule.limit + COST_SLACK) return { rule: t.rule, used };
    }
    return undefined;
  }

  /** Milliseconds until every window admits a start of `w` (0: now; Infinity: never). */
  delayFor(now: number, w: Weight): number {
    this._prune(now);
    const times = this._times;
    const len = times.length;
    let delay = 0;
    for (const t of this._tracked) {
      const { rule, values } = t;
      let at: number;
      if (rule.fail) {
        // A budget is never waited for: crossing it is a refusal (see `refusal`).
        const used = values === undefined ? len - t.first : t.sum;
        if (used + weightIn(rule.kind, w) > rule.limit + COST_SLACK) return Number.POSITIVE_INFINITY;
        continue;
      }
      if (values === undefined) {
        if (len - t.first < rule.limit) continue;
        at = times[len - rule.limit] as number; // the start that must leave first
      } else {
        let add = weightIn(rule.kind, w);
        if (add > rule.limit) {
          if (!rule.share) return Number.POSITIVE_INFINITY;
          add = rule.limit; // alone: waits for the window to empty
        }
        let excess = t.sum + add - rule.limit;
        if (excess <= 0) continue;
        let i = t.first;
        while (excess > 0 && i < len) excess -= values[i++] as number;
        at = times[i - 1] as number;
      }
      const d = at + t.spanMs - now;
      if (d > delay) delay = d;
    }
    return delay;
  }

  /** Logs an admitted start; returns its sequence number. */
  record(now: number, w: Weight): number {
    this._times.push(now);
    this._tokens.push(w.tokens);
    this._input.push(w.inputTokens);
    this._output.push(w.outputTokens);
    this._cost.push(w.costUsd);
    for (const t of this._tracked) if (t.values !== undefined) t.sum += weightIn(t.rule.kind, w);
    return this._base + this._times.length - 1;
  }

  /** Replaces start `seq`'s weight by `actual`; true when some weight went down (a refund). */
  settle(seq: number, actual: Weight): boolean {
    const i = seq - this._base;
    if (i < 0 || i >= this._times.length) return false; // compacted away: out of every window
    const refund =
      actual.tokens < (this._tokens[i] as number) ||
      actual.inputTokens < (this._input[i] as number) ||
      actual.outputTokens < (this._output[i] as number) ||
      actual.costUsd < (this._cost[i] as number);
    for (const t of this._tracked) {
      if (t.values !== undefined && i >= t.first) t.sum += weightIn(t.rule.kind, actual) - (t.values[i] as number);
    }
    this._tokens[i] = actual.tokens;
    this._input[i] = actual.inputTokens;
    this._output[i] = actual.outputTokens;
    this._cost[i] = actual.costUsd;
    return refund;
  }

  /** Forgets every logged start. */
  clear(): void {
    this._base += this._times.length;
    this._times.length = this._tokens.length = this._input.length = this._output.length = this._cost.length = 0;
    for (const t of this._tracked) {
      t.first = 0;
      t.sum = 0;
    }
  }

  /** Each window in force: starts (or tokens of its kind) inside it now, and its limit. */
  use(now: number): { seconds: number; kind: WindowKind; used: number; limit: number }[] {
    this._prune(now);
    const len = this._times.length;
    return this._tracked.map((t) => ({ seconds: t.rule.seconds, kind: t.rule.kind, used: t.values === undefined ? len - t.first : t.sum, limit: t.rule.limit }));
  }

  /** Starts, and their total tokens, in the last `spanMs`. */
  recent(now: number, spanMs: number): { count: number; tokens: number } {
    this._prune(now);
    let count = 0;
    let tokens = 0;
    for (let i = this._times.length - 1; i >= 0 && (this._times[i] as number) > now - spanMs; i--) {
      count++;
      tokens += this._tokens[i] as number;
    }
    return { count, tokens };
  }

  private _valuesOf(kind: WindowKind): number[] | undefined {
    if (kind === "maxTokens") return this._tokens;
    if (kind === "maxInputTokens") return this._input;
    if (kind === "maxOutputTokens") return this._output;
    if (kind === "maxCostUsd") return this._cost;
    return undefined;
  }

  private _prune(now: number): void {
    const times = this._times;
    const len = times.length;
    let oldest = len;
    for (const t of this._tracked) {
      const cutoff = now - t.spanMs;
      let f = t.first;
      if (t.values === undefined) {
        while (f < len && (times[f] as number) <= cutoff) f++;
      } else {
        while (f < len && (times[f] as number) <= cutoff) t.sum -= t.values[f++] as number;
        if (f === len) t.sum = 0; // no drift from float sums
      }
      t.first = f;
      if (f < oldest) oldest = f;
    }
    if (this._tracked.length > 0 && oldest >= COMPACT_AFTER && oldest * 2 >= len) {
      for (const a of [times, this._tokens, this._input, this._output, this._cost]) a.splice(0, oldest);
      this._base += oldest;
      for (const t of this._tracked) t.first -= oldest;
    }
  }
}
