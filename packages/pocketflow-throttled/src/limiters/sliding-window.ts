/**
 * `RateLimiter`: a concurrency gate plus true sliding windows over starts and
 * their token weights. No half-open interval `[t, t + seconds)` of any window
 * ever holds more starts, or more tokens of a kind, than that window allows
 * (each start counted `arrivalMarginSeconds` longer). The window math lives
 * in `windows.ts`; this file holds the options, learned limits and getters.
 */
import { checkBoolean, checkCount, checkOptionalCount, checkOptions, checkPositive } from "../validate.js";
import { HeaderLimits, type RateLimitHeaderInfo } from "./headers.js";
import { LocalLimiter } from "./limiter.js";
import { limiterChannel, publishLimiter, changeReason } from "../observe/channels.js";
import { type LimiterMetrics, windowUse } from "./metrics.js";
import type { Weight } from "./types.js";
import {
  budgetExceeded,
  type LearnedLimits,
  learnedRules,
  neverFits,
  replaceRules,
  WindowLog,
  type WindowLimit,
  type WindowRule,
  windowRules,
  windowsOf,
} from "./windows.js";

/**
 * How long each start stays in its windows beyond `seconds`, by default: a
 * provider counts a request when it arrives, a little after our start. The
 * smallest margin measured to give no 429 with up to 100 ms of arrival
 * jitter against every provider style (docs/decisions.md).
 */
export const DEFAULT_ARRIVAL_MARGIN_SECONDS = 0.1;

/** Options of a `RateLimiter`. */
export interface RateLimiterOptions {
  /** At most this many running at once. @default 5 */
  maxConcurrent?: number;
  /** At most this many starts in any `windowSeconds` (the one-window shorthand). @default undefined (unlimited) */
  maxPerWindow?: number;
  /** The shorthand window's length in seconds. @default 60 */
  windowSeconds?: number;
  /** At most this many estimated tokens started in any `windowSeconds`. @default undefined (unlimited) */
  maxTokensPerWindow?: number;
  /**
   * More windows, each a true sliding window checked on its own; a start waits
   * until every window admits it. With the shorthand, the shorthand adds one more.
   * @default []
   */
  windows?: WindowLimit[];
  /** Each start stays in its windows this much longer than their `seconds`. @default DEFAULT_ARRIVAL_MARGIN_SECONDS (0.1) */
  arrivalMarginSeconds?: number;
  /** A start that cannot happen within this many seconds fails with `LimiterTimeout` (an acquire's own value wins). @default undefined (unbounded) */
  maxWaitSeconds?: number;
  /**
   * Take limits from the provider (`learn()`); with no window configured, one
   * request runs alone until the first answer (`observe()` or `learn()`).
   * @default false
   */
  learnLimits?: boolean;
}

/** The option names of `RateLimiter` (the registry and `RedisLimiter` accept the same). */
export const RATE_LIMITER_OPTION_NAMES = [
  "maxConcurrent",
  "maxPerWindow",
  "windowSeconds",
  "maxTokensPerWindow",
  "windows",
  "arrivalMarginSeconds",
  "maxWaitSeconds",
  "learnLimits",
] as const;

/**
 * Concurrency gate + true sliding windows, FIFO, no polling.
 *
 * @example
 * // OpenAI-style: 500 per minute, enforced per second too
 * const limiter = new RateLimiter({ maxConcurrent: 8, windows: [{ seconds: 60, maxRequests: 500 }, { seconds: 1, maxRequests: 9 }] });
 * const answer = await limiter.run(() => client.chat.completions.create(request));
 */
export class RateLimiter extends LocalLimiter {
  /** The shorthand window's length in seconds. */
  readonly windowSeconds: number;
  /** How long each start stays in its windows beyond their `seconds`. */
  readonly arrivalMarginSeconds: number;
  /** Whether the limiter waits for the provider's limits before running more than one request. */
  readonly learnLimits: boolean;
  private readonly _configured: WindowRule[];
  private _learned: WindowRule[] = [];
  private readonly _headerLimits = new HeaderLimits();
  private _inForce: WindowRule[] = [];
  private _windows: readonly WindowLimit[] = [];
  /** Set by `setMaxPerWindow`: the shorthand request window stays beside learned ones. */
  private _pinned = false;
  private readonly _log: WindowLog;

  constructor(options: RateLimiterOptions = {}) {
    checkOptions("RateLimiter", options, RATE_LIMITER_OPTION_NAMES);
    super(options.maxConcurrent, options.maxWaitSeconds);
    const maxPerWindow = checkOptionalCount("maxPerWindow", options.maxPerWindow);
    this.windowSeconds = checkPositive("windowSeconds", options.windowSeconds ?? 60);
    const maxTokensPerWindow = checkOptionalCount("maxTokensPerWindow", options.maxTokensPerWindow);
    this.arrivalMarginSeconds = checkPositive("arrivalMarginSeconds", options.arrivalMarginSeconds ?? DEFAULT_ARRIVAL_MARGIN_SECONDS, true);
    this.learnLimits = checkBoolean("learnLimits", options.learnLimits ?? false);
    const shorthand = (kind: WindowRule["kind"], limit: number, option: string): WindowRule => ({
      seconds: this.windowSeconds,
      kind,
      limit,
      option,
      learned: false,
      share: false,
      fail: false,
    });
    this._configured = [
      ...(maxPerWindow === undefined ? [] : [shorthand("maxRequests", maxPerWindow, "maxPerWindow")]),
      ...(maxTokensPerWindow === undefined ? [] : [shorthand("maxTokens", maxTokensPerWindow, "maxTokensPerWindow")]),
      ...windowRules(options.windows),
    ];
    this._log = new WindowLog(this.arrivalMarginSeconds * 1000);
    this._apply();
    if (this._soloUntilAnswer()) this._setSolo(true);
  }

  /** At most this many starts in any `windowSeconds` (the shorthand window in force; undefined: none configured). */
  get maxPerWindow(): number | undefined {
    return this._shorthand("maxPerWindow", "maxRequests");
  }

  /** At most this many estimated tokens in any `windowSeconds` (the shorthand window in force; undefined: none configured). */
  get maxTokensPerWindow(): number | undefined {
    return this._shorthand("maxTokensPerWindow", "maxTokens");
  }

  /** The windows in force, configured and learned, one per period. */
  get windows(): readonly WindowLimit[] {
    return this._windows;
  }

  /**
   * Changes the shorthand window's `maxPerWindow` live (adaptive rates); the
   * window history is kept. From then on a learned limit of the same period
   * no longer replaces it (both hold, the stricter binds).
   */
  setMaxPerWindow(maxPerWindow: number): void {
    const i = this._configured.findIndex((r) => r.option === "maxPerWindow");
    if (i < 0) throw new Error("setMaxPerWindow needs a limiter created with a maxPerWindow");
    const limit = checkCount("maxPerWindow", maxPerWindow);
    const from = this.maxPerWindow;
    this._configured[i] = { ...(this._configured[i] as WindowRule), limit };
    this._pinned = true;
    this._apply();
    if (limiterChannel.hasSubscribers && from !== limit) publishLimiter({ event: "rate", limiter: this, from, to: limit, reason: changeReason() });
    this._drain();
  }

  /**
   * Puts the provider's limits in force: each becomes a window of its kind
   * (per-minute ones with a per-second window of `ceil(limit / 60)` beside
   * them), replacing configured and earlier learned windows of the same kind
   * and period, until `reset()`. Ends the lone first request of `learnLimits`.
   */
  learn(limits: LearnedLimits): void {
    this._learned = replaceRules(this._learned, learnedRules(limits));
    this._apply();
    if (limiterChannel.hasSubscribers) publishLimiter({ event: "learned", limiter: this, windows: this._windows });
    this._setSolo(false);
  }

  /** Starts inside the shorthand window now (its `windowSeconds` plus the arrival margin). */
  get currentWindowCount(): number {
    return this._log.recent(performance.now(), this._spanMs()).count;
  }

  /** Tokens of the starts inside the shorthand window now (estimates, or settled usage). */
  get currentWindowTokens(): number {
    return this._log.recent(performance.now(), this._spanMs()).tokens;
  }

  /** With `learnLimits`, the limits an answer's headers state become windows (only when they changed). */
  protected override _learnFrom(info: RateLimitHeaderInfo): void {
    if (!this.learnLimits) return;
    const limits = this._headerLimits.changed(info);
    if (limits !== undefined) this.learn(limits);
  }

  protected override _answered(): void {
    if (!this._soloUntilAnswer()) return;
    this._setSolo(false);
    if (!this._log.limited) this._stopClock();
  }

  /** The counters, with each window's use now. */
  override metrics(): LimiterMetrics {
    const windows = this._log.use(performance.now()).map((u) => windowUse(u.seconds, u.kind, u.used, u.limit));
    return { ...super.metrics(), windows };
  }

  protected _delayFor(now: number, weight: Weight): number {
    return this._log.delayFor(now, weight);
  }

  protected _record(now: number, weight: Weight): number {
    return this._log.record(now, weight);
  }

  protected _settle(seq: number, actual: Weight): void {
    if (this._log.settle(seq, actual)) this._drain(); // a refund takes effect at once
  }

  protected override _neverFits(weight: Weight): Error {
    const refused = this._log.refusal(performance.now(), weight);
    if (refused !== undefined) return budgetExceeded(refused.rule, refused.used, weight);
    const rule = this._log.neverFits(weight);
    return rule === undefined ? super._neverFits(weight) : neverFits(rule, weight);
  }

  protected _resetRate(): void {
    this._headerLimits.forget();
    this._log.clear();
    this._learned = [];
    this._apply();
    this._setSolo(this._soloUntilAnswer());
  }

  /** With `learnLimits` and no window of its own, the limiter knows nothing until the first answer. */
  private _soloUntilAnswer(): boolean {
    return this.learnLimits && this._configured.length === 0;
  }

  private _apply(): void {
    if (this._pinned) {
      const own = this._configured.filter((r) => r.option === "maxPerWindow");
      this._inForce = [...replaceRules(this._configured.filter((r) => r.option !== "maxPerWindow"), this._learned), ...own];
    } else {
      this._inForce = replaceRules(this._configured, this._learned);
    }
    this._log.setRules(this._inForce, performance.now());
    this._windows = windowsOf(this._inForce);
    // Log starts while the first request runs alone: learned windows then count it.
    this._timed = this._log.limited || this._soloUntilAnswer();
  }

  private _stopClock(): void {
    this._timed = false;
    this._log.clear();
  }

  private _shorthand(option: string, kind: WindowRule["kind"]): number | undefined {
    if (!this._configured.some((r) => r.option === option)) return undefined;
    let limit: number | undefined;
    for (const r of this._inForce) {
      if (r.seconds === this.windowSeconds && r.kind === kind && (limit === undefined || r.limit < limit)) limit = r.limit;
    }
    return limit;
  }

  private _spanMs(): number {
    return this.windowSeconds * 1000 + this._log.marginMs;
  }

  override toString(): string {
    return `RateLimiter(maxConcurrent=${this.maxConcurrent}, maxPerWindow=${this.maxPerWindow}, windowSeconds=${this.windowSeconds})`;
  }
}
