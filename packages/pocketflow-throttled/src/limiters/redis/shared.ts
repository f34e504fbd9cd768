/**
 * What a `RedisLimiter` process knows of the settings shared through Redis,
 * as of its last store answer: the live concurrency, the windows in force
 * (configured and learned), whether the provider answered yet (`learnLimits`),
 * and the cause of this process's own pause (for `LimiterTimeout`).
 */
import type { LimiterStats } from "../limiter.js";
import type { WindowRule } from "../windows.js";
import { RedisWindows } from "./windows.js";

/** `LimiterStats` plus the leases that lapsed while their job still ran. */
export interface RedisLimiterStats extends LimiterStats {
  /** Leases that expired in Redis before their permit was released (their slot may have been given to another start). */
  leasesLost: number;
}

/** What Redis holds for the key right now (`RedisLimiter.inspect()`). */
export interface RedisLimiterState {
  /** Live leases held by all processes. */
  active: number;
  /** The concurrency in force (after any `setConcurrency`). */
  concurrency: number;
  /** Starts inside the shorthand window (`windowSeconds` plus the arrival margin). */
  windowCount: number;
  /** Total tokens of the starts inside that window. */
  windowTokens: number;
  /** Milliseconds until a pause ends (0: not paused). */
  pausedMs: number;
}

export class SharedState {
  concurrency: number;
  /** Starts in the shorthand window as of the last take. */
  windowCount = 0;
  /** An answer arrived since the last reset. */
  answered = false;
  readonly windows: RedisWindows;
  /** `learnLimits` with no window configured: one request alone until an answer. */
  readonly solo: boolean;
  private _pauseCause: unknown;
  private _pauseCauseUntil = 0;

  constructor(maxConcurrent: number, rules: readonly WindowRule[], learnLimits: boolean, onRules: (rules: readonly WindowRule[]) => void) {
    this.concurrency = maxConcurrent;
    this.solo = learnLimits && rules.length === 0;
    this.windows = new RedisWindows(rules, onRules);
  }

  /** The concurrency this process may use on its own (the fallback): 1 while the lone first request runs. */
  get cap(): number {
    return this.solo && !this.answered ? 1 : this.concurrency;
  }

  /** Adopts what a take answered. */
  adopt(reply: { concurrency: number; windowCount: number; learned: string; answered: boolean }): void {
    this.concurrency = reply.concurrency;
    this.answered = reply.answered;
    this.windows.setLearned(reply.learned);
    if (reply.windowCount >= 0) this.windowCount = reply.windowCount;
  }

  /** This process paused until `until` (performance.now() ms) for `cause`; the later pause wins. */
  notePause(until: number, cause: unknown): void {
    if (until <= this._pauseCauseUntil) return;
    this._pauseCauseUntil = until;
    this._pauseCause = cause;
  }

  /** The cause of this process's pause if it is still in force. */
  pauseCause(now: number): unknown {
    return this._pauseCauseUntil > now ? this._pauseCause : undefined;
  }

  /** `reset()`: no learned limits, no answer, no pause. */
  forget(): void {
    this.windows.setLearned("");
    this.answered = false;
    this._pauseCause = undefined;
    this._pauseCauseUntil = 0;
  }
}
