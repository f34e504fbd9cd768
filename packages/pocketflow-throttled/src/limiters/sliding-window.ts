/**
 * `RateLimiter`: a concurrency gate plus a true sliding window over starts
 * (and optionally over their token weights). No half-open interval
 * `[t, t + windowSeconds)` ever holds more than `maxPerWindow` starts, or
 * starts whose tokens sum above `maxTokensPerWindow`.
 */
import { checkCount, checkOptionalCount, checkOptions, checkPositive, checkRequestTokens, checkTokenCount } from "../validate.js";
import { LocalLimiter } from "./limiter.js";

/** Options of a `RateLimiter`. */
export interface RateLimiterOptions {
  /** At most this many running at once (default 5). */
  maxConcurrent?: number;
  /** At most this many starts in any `windowSeconds` (undefined: unlimited). */
  maxPerWindow?: number;
  /** The window length in seconds (default 60). */
  windowSeconds?: number;
  /** At most this many estimated tokens started in any `windowSeconds` (undefined: unlimited). */
  maxTokensPerWindow?: number;
}

const OPTION_NAMES = ["maxConcurrent", "maxPerWindow", "windowSeconds", "maxTokensPerWindow"] as const;

/** Compacts the start log once this many expired entries have piled up at its front. */
const COMPACT_AFTER = 1024;

/**
 * Concurrency gate + true sliding window, FIFO, no polling.
 *
 * @example
 * const limiter = new RateLimiter({ maxConcurrent: 5, maxPerWindow: 60, windowSeconds: 60 });
 * const answer = await limiter.run(() => client.chat.completions.create(request));
 */
export class RateLimiter extends LocalLimiter {
  readonly windowSeconds: number;
  readonly maxTokensPerWindow: number | undefined;
  protected readonly _timed: boolean;
  private _maxPerWindow: number | undefined;
  private readonly _windowMs: number;
  // Start log: times[i] and tokens[i] of the start with sequence number base + i; live entries from `first`.
  private _times: number[] = [];
  private _tokens: number[] = [];
  private _first = 0;
  private _base = 0;
  private _windowTokens = 0;

  constructor(options: RateLimiterOptions = {}) {
    checkOptions("RateLimiter", options, OPTION_NAMES);
    super(options.maxConcurrent);
    this._maxPerWindow = checkOptionalCount("maxPerWindow", options.maxPerWindow);
    this.windowSeconds = checkPositive("windowSeconds", options.windowSeconds ?? 60);
    this.maxTokensPerWindow = checkOptionalCount("maxTokensPerWindow", options.maxTokensPerWindow);
    this._windowMs = this.windowSeconds * 1000;
    this._timed = this._maxPerWindow !== undefined || this.maxTokensPerWindow !== undefined;
  }

  /** At most this many starts in any window (undefined: unlimited). */
  get maxPerWindow(): number | undefined {
    return this._maxPerWindow;
  }

  /** Changes `maxPerWindow` live (used by adaptive rates); the window history is kept. */
  setMaxPerWindow(maxPerWindow: number): void {
    if (!this._timed) throw new Error("setMaxPerWindow needs a limiter created with a maxPerWindow");
    this._maxPerWindow = checkCount("maxPerWindow", maxPerWindow);
    this._drain();
  }

  /** Starts inside the current window. */
  get currentWindowCount(): number {
    this._prune(performance.now());
    return this._times.length - this._first;
  }

  /** Tokens of the starts inside the current window (estimates, or settled usage). */
  get currentWindowTokens(): number {
    this._prune(performance.now());
    return this._windowTokens;
  }

  protected override _checkTokens(tokens: number | undefined): number {
    return checkRequestTokens(tokens, this.maxTokensPerWindow);
  }

  protected _delayFor(now: number, tokens: number): number {
    this._prune(now);
    let delay = 0;
    const count = this._times.length - this._first;
    if (this._maxPerWindow !== undefined && count >= this._maxPerWindow) {
      // The start that must leave the window before one more fits.
      delay = (this._times[this._first + count - this._maxPerWindow] as number) + this._windowMs - now;
    }
    const maxTokens = this.maxTokensPerWindow;
    if (maxTokens !== undefined && this._windowTokens + tokens > maxTokens) {
      if (tokens > maxTokens) this._checkTokens(tokens); // throws: it could never start
      let excess = this._windowTokens + tokens - maxTokens;
      let i = this._first;
      while (excess > 0 && i < this._times.length) excess -= this._tokens[i++] as number;
      delay = Math.max(delay, (this._times[i - 1] as number) + this._windowMs - now);
    }
    return Math.max(delay, 0);
  }

  protected _record(now: number, tokens: number): number {
    this._times.push(now);
    this._tokens.push(tokens);
    this._windowTokens += tokens;
    return this._base + this._times.length - 1;
  }

  /** Replaces a start's estimate by the actual usage in the window's token sum. */
  settleStart(seq: number, _estimate: number, actual: number): void {
    checkTokenCount("settle(actualTokens)", actual);
    this._prune(performance.now());
    const i = seq - this._base;
    if (i < this._first || i >= this._times.length) return; // already out of the window: nothing to correct
    const before = this._tokens[i] as number;
    this._tokens[i] = actual;
    this._windowTokens += actual - before;
    if (actual < before) this._drain(); // a refund takes effect at once
  }

  protected _resetRate(): void {
    this._base += this._times.length;
    this._times = [];
    this._tokens = [];
    this._first = 0;
    this._windowTokens = 0;
  }

  private _prune(now: number): void {
    const cutoff = now - this._windowMs;
    const times = this._times;
    let first = this._first;
    while (first < times.length && (times[first] as number) <= cutoff) {
      this._windowTokens -= this._tokens[first] as number;
      first++;
    }
    if (first >= COMPACT_AFTER && first * 2 >= times.length) {
      times.splice(0, first);
      this._tokens.splice(0, first);
      this._base += first;
      first = 0;
    }
    this._first = first;
    if (first === times.length) this._windowTokens = 0; // no drift from float sums
  }

  override toString(): string {
    return `RateLimiter(maxConcurrent=${this.maxConcurrent}, maxPerWindow=${this.maxPerWindow}, windowSeconds=${this.windowSeconds})`;
  }
}
