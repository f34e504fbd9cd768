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
import type { Weight } from "../limiter.js";
import { WindowLog, type WindowRule } from "../windows.js";
import { PROBE } from "./scripts/inspect.js";
import type { KeyLayout } from "./scripts/layout.js";
import { isReadOnlyError, isReplyError, type RedisStore } from "./store.js";

/** While on the fallback, Redis is probed this often (the one periodic call, only during an outage). */
const PROBE_EVERY_MS = 1000;

/**
 * This process's own starts in every window in force (local clock, the same
 * sliding-window log as `RateLimiter`), and its pause, for the checks made
 * without Redis.
 */
export class LocalView {
  private readonly _log: WindowLog;
  private _pausedUntil = 0;

  constructor(marginMs: number, rules: readonly WindowRule[]) {
    this._log = new WindowLog(marginMs);
    this._log.setRules(rules, performance.now());
  }

  /** Puts the rules in force now (learned ones changed); the starts already logged count in them. */
  setRules(rules: readonly WindowRule[]): void {
    this._log.setRules(rules, performance.now());
  }

  /**
   * Milliseconds until every window admits one more start of `w` from this
   * process (0: now; Infinity: a window can never admit it). The pause counts
   * only with `withPause` (on the fallback: Redis holds it otherwise).
   */
  delay(now: number, w: Weight, withPause: boolean): number {
    const paused = withPause ? Math.max(0, this._pausedUntil - now) : 0;
    return this._log.limited ? Math.max(paused, this._log.delayFor(now, w)) : paused;
  }

  /** The first budget (`onExceed: "fail"`) this process's own starts and one more of `w` would cross, with what it holds. */
  refusal(now: number, w: Weight): { rule: WindowRule; used: number } | undefined {
    return this._log.limited ? this._log.refusal(now, w) : undefined;
  }

  /** Milliseconds of this process's pause still to run. */
  pausedFor(now: number): number {
    return Math.max(0, this._pausedUntil - now);
  }

  /** Records a start of this process (Redis or local); its sequence number for `settle` (-1: no window to count it in). */
  record(now: number, w: Weight): number {
    return this._log.limited ? this._log.record(now, w) : -1;
  }

  /** Replaces a start's estimate by its actual weight; true if that made room. */
  settle(seq: number, actual: Weight): boolean {
    return seq >= 0 && this._log.settle(seq, actual);
  }

  /** No local start until `until` (performance.now() ms); the later pause wins. */
  pauseUntil(until: number): void {
    if (until > this._pausedUntil) this._pausedUntil = until;
  }

  reset(): void {
    this._log.clear();
    this._pausedUntil = 0;
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
