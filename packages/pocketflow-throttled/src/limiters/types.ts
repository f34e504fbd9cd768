/** The public shapes of every limiter: options, permits, counters, the `Limiter` interface and the in-process gate. */
import type { LimiterMetrics } from "./metrics.js";
import type { LearnedLimits, Weight, WindowLimit } from "./windows.js";

export type { LearnedLimits, Weight, WindowLimit } from "./windows.js";

/** Options of one acquisition (`acquire`, `run`). */
export interface AcquireOptions {
  /** Aborting leaves the queue at once and rejects with exactly `signal.reason`. @default undefined */
  signal?: AbortSignal;
  /** Estimated total tokens (counts against `maxTokens` windows). @default inputTokens + outputTokens */
  tokens?: number;
  /** Estimated input tokens (counts against `maxInputTokens` windows). @default 0 */
  inputTokens?: number;
  /** Estimated output tokens (counts against `maxOutputTokens` windows). @default 0 */
  outputTokens?: number;
  /** Estimated cost in US dollars (counts against `maxCostUsd` windows). @default 0 */
  costUsd?: number;
  /**
   * A start that cannot happen within this many seconds fails with
   * `LimiterTimeout` (at once when the wait is already known to be longer).
   * @default the limiter's `maxWaitSeconds` (unbounded)
   */
  maxWaitSeconds?: number;
}

/** A settled usage: what the provider reported. Missing parts keep the estimate's; `tokens` defaults to the sum of the parts given. */
export interface TokenUsage {
  tokens?: number;
  inputTokens?: number;
  outputTokens?: number;
  /** US dollars (against `maxCostUsd` windows); missing: the estimate's. */
  costUsd?: number;
}

/** Counters a limiter keeps. */
export interface LimiterStats {
  /** Acquisitions granted. */
  acquired: number;
  /** Acquisitions that had to wait at some gate. */
  throttled: number;
  /** Sum of those waits, in milliseconds. */
  totalWaitMs: number;
  /** `totalWaitMs / throttled` (0 when nothing waited). */
  averageWaitMs: number;
  /** Acquisitions that left the queue because their signal aborted. */
  aborted: number;
  /** Acquisitions that failed with `LimiterTimeout` (in-process limiters). */
  timedOut?: number;
  /** Running now. */
  active: number;
  /** Waiting now. */
  pending: number;
}

/** A granted start: release it when the work ends (idempotent); settle it with the real token usage. */
export interface Permit extends AsyncDisposable, Disposable {
  /** Frees the concurrency slot; later calls do nothing. */
  release(): void;
  /** Replaces this start's estimate by the actual usage (a refund or a charge): a total, or its parts. */
  settle(actual: number | TokenUsage): void;
  /** The total token estimate this permit reserved. */
  readonly tokens: number;
}

/**
 * What nodes, flows and the registry accept: an in-process `RateLimiter`,
 * a `TokenBucket`, or a shared `RedisLimiter`.
 *
 * @example
 * const permit = await limiter.acquire({ signal, inputTokens: 800, outputTokens: 200 });
 * try { const r = await callLlm(); permit.settle({ inputTokens: r.usage.input_tokens, outputTokens: r.usage.output_tokens }); } finally { permit.release(); }
 */
export interface Limiter {
  /** At most this many running at once. */
  readonly maxConcurrent: number;
  /** Running now. */
  readonly active: number;
  /** Waiting for a start now. */
  readonly pending: number;
  /** At most this many starts in any `windowSeconds` (`undefined`: no request window). */
  readonly maxPerWindow?: number | undefined;
  /** The request window's length in seconds (`undefined` for limiters without one). */
  readonly windowSeconds?: number | undefined;
  /**
   * At most this many estimated tokens started per window (`undefined`: no
   * token budget, so callers need not compute estimates for it).
   */
  readonly maxTokensPerWindow?: number | undefined;
  /** The windows in force, configured and learned (`undefined` for limiters without windows). */
  readonly windows?: readonly WindowLimit[] | undefined;
  /** Waits (first come, first served) until every gate admits one start. */
  acquire(options?: AcquireOptions): Promise<Permit>;
  /** Runs `fn` under the limiter and releases when it settles. */
  run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T>;
  /** Changes the concurrency live; in-flight work and window history are kept. */
  setConcurrency(maxConcurrent: number): void;
  /** No new start for `seconds` (waiters keep their place); `cause` (the hint's error) goes on a resulting `LimiterTimeout`. */
  pause(seconds: number, cause?: unknown): void;
  /** Reads provider rate-limit headers; when none remain, holds new starts until the reset. */
  observe(headers: unknown): void;
  /** Puts limits the provider reported in force as windows (replacing those of the same kind and period) until `reset()`. */
  learn?(limits: LearnedLimits): void;
  /** Forgets the window history, learned limits and any pause. */
  reset(): void;
  /** Changes `maxPerWindow` live (adaptive rates); absent on limiters without a request window. */
  setMaxPerWindow?(maxPerWindow: number): void;
  /** Frees what the limiter holds (connections, timers); the registry calls it on what it drops. */
  close?(): Promise<void>;
  readonly stats: LimiterStats;
  /** Requests, throttling, waits (average, p95), refusals by kind, queue and window use; absent on custom limiters that keep none. */
  metrics?(): LimiterMetrics;
  /** The run engine tells the limiter a call under it was refused (`rate-limit`, `quota`, ...), for `metrics().refusals`. */
  noteRefusal?(kind: string): void;
  /**
   * The allocation-free start path of an in-process limiter, used by the run
   * engine; `undefined` for limiters reached over a store. @internal
   */
  readonly gate?: LocalGate | undefined;
}

/**
 * Starts without a permit object: `tryStart` or `waitStart` take a slot and
 * return the start's sequence number, `settleStart` corrects its weight,
 * `finishStart` frees the slot. Weights are trusted (the caller validated
 * them). The run engine's path; other code wants `acquire`.
 */
export interface LocalGate {
  /** Takes a start at once if every gate admits it and nobody waits; its sequence number, or -1 (then `waitStart`). */
  tryStart(weight: Weight): number;
  /**
   * Queues for a start (FIFO); resolves with its sequence number. Rejects with
   * `signal.reason` on abort, a RangeError when the weight can never fit, and
   * `LimiterTimeout` when the start cannot happen within `maxWaitMs`
   * (default: the limiter's `maxWaitSeconds`).
   */
  waitStart(weight: Weight, signal?: AbortSignal, maxWaitMs?: number): Promise<number>;
  /** Replaces a start's estimate by the actual usage. */
  settleStart(seq: number, estimate: Weight, actual: Weight): void;
  /** Frees one concurrency slot. */
  finishStart(): void;
}

/** True for anything with the `Limiter` shape (an in-process, Redis or custom limiter). */
export function isLimiter(value: unknown): value is Limiter {
  return typeof value === "object" && value !== null && typeof (value as Limiter).acquire === "function";
}

/** The `limiter` option of nodes and flows: a `Limiter`, a `LimiterRegistry` name, or unset. */
export function checkLimiterOption(value: unknown): Limiter | string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string" || isLimiter(value)) return value;
  throw new TypeError(`limiter must be a Limiter (e.g. a RateLimiter) or a LimiterRegistry name, got ${String(value)}`);
}
