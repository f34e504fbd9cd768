/**
 * `onStoreError: "local"`: while Redis is unreachable (or a replica answers
 * READONLY), a process goes on under its own view of the limits, and returns
 * to Redis once a probe write gets through.
 *
 * The view is kept all along, not built at the switch: this process's own
 * starts in the window and the permits it holds (from Redis or not) count on
 * both sides of each switch, so within one process the limits hold across an
 * outage. Across processes they hold only while Redis answers.
 */
import { PROBE } from "./scripts/inspect.js";
import type { KeyLayout } from "./scripts/layout.js";
import { isReadOnlyError, isReplyError, type RedisStore } from "./store.js";

/** Compacts the start log once this many expired entries have piled up at its front. */
const COMPACT_AFTER = 1024;
/** While on the fallback, Redis is probed this often (the one periodic call, only during an outage). */
const PROBE_EVERY_MS = 1000;

/** This process's own starts in the window (local clock), and its pause, for the checks made without Redis. */
export class LocalView {
  // times[i] and tokens[i] of the start with sequence number base + i; live entries from `first`.
  private _times: number[] = [];
  private _tokens: number[] = [];
  private _first = 0;
  private _base = 0;
  private _windowTokens = 0;
  private _pausedUntil = 0;
  private readonly _windowMs: number;
  private readonly _tracked: boolean;

  constructor(
    private readonly _maxPerWindow: number | undefined,
    windowSeconds: number,
    private readonly _maxTokens: number | undefined,
  ) {
    this._windowMs = windowSeconds * 1000;
    this._tracked = _maxPerWindow !== undefined || _maxTokens !== undefined;
  }

  /**
   * Milliseconds until this process may start one more of `tokens` (0: now;
   * Infinity: when one of its `active` permits is released). The pause
   * counts only with `withPause` (on the fallback: Redis holds it otherwise).
   */
  delay(now: number, tokens: number, active: number, concurrency: number, withPause: boolean): number {
    if (active >= concurrency) return Number.POSITIVE_INFINITY;
    let delay = withPause ? Math.max(0, this._pausedUntil - now) : 0;
    if (!this._tracked) return delay;
    this._prune(now);
    const count = this._times.length - this._first;
    if (this._maxPerWindow !== undefined && count >= this._maxPerWindow) {
      delay = Math.max(delay, (this._times[this._first + count - this._maxPerWindow] as number) + this._windowMs - now);
    }
    if (this._maxTokens !== undefined && this._windowTokens + tokens > this._maxTokens) {
      let excess = this._windowTokens + tokens - this._maxTokens;
      let i = this._first;
      while (excess > 0 && i < this._times.length) excess -= this._tokens[i++] as number;
      delay = Math.max(delay, (this._times[i - 1] as number) + this._windowMs - now);
    }
    return Math.max(delay, 0);
  }

  /** Records a start of this process (Redis or local); its sequence number for `settle`. */
  record(now: number, tokens: number): number {
    if (!this._tracked) return -1;
    this._times.push(now);
    this._tokens.push(tokens);
    this._windowTokens += tokens;
    return this._base + this._times.length - 1;
  }

  /** Replaces a start's estimate by its actual tokens; true if that made room. */
  settle(seq: number, actual: number): boolean {
    const i = seq - this._base;
    if (seq < 0 || i < this._first || i >= this._times.length) return false;
    const before = this._tokens[i] as number;
    this._tokens[i] = actual;
    this._windowTokens += actual - before;
    return actual < before;
  }

  /** No local start until `until` (performance.now() ms); the later pause wins. */
  pauseUntil(until: number): void {
    if (until > this._pausedUntil) this._pausedUntil = until;
  }

  reset(): void {
    this._base += this._times.length;
    this._times = [];
    this._tokens = [];
    this._first = 0;
    this._windowTokens = 0;
    this._pausedUntil = 0;
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
}

/** Whether a store failure moves the process to its local view, and the probe that brings it back. */
export class Fallback {
  /** True while this process starts by its local view alone. */
  using = false;
  private _warned = false;
  private _probe: ReturnType<typeof setTimeout> | undefined;
  private _closed = false;

  constructor(
    readonly enabled: boolean,
    private readonly _store: RedisStore,
    private readonly _keys: KeyLayout,
    /** Redis answers writes again. */
    private readonly _onReturn: () => void,
  ) {}

  /** A failure to fall back on: Redis away, a timeout, or a replica refusing writes (not a wrong command or limits). */
  covers(cause: unknown): boolean {
    return this.enabled && (!isReplyError(cause) || isReadOnlyError(cause));
  }

  enter(error: Error): void {
    if (this.using || this._closed) return;
    this.using = true;
    if (!this._warned) {
      this._warned = true;
      console.warn(`${error.message} Falling back to an in-process limiter (limits now hold per process) until Redis answers again.`);
    }
    this._scheduleProbe();
  }

  close(): void {
    this._closed = true;
    clearTimeout(this._probe);
  }

  /** A write, so a replica that only reads does not end the outage. */
  private _scheduleProbe(): void {
    clearTimeout(this._probe);
    this._probe = setTimeout(() => {
      this._store.call(PROBE, [this._keys.probe], []).then(
        () => {
          if (this._closed) return;
          this.using = false;
          this._warned = false; // a later outage warns again
          this._onReturn();
        },
        () => {
          if (!this._closed) this._scheduleProbe();
        },
      );
    }, PROBE_EVERY_MS);
    this._probe.unref?.();
  }
}
