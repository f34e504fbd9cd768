/** `limiter.metrics()`: counters, recent waits (bounded memory), refusals by kind, window use. */
/** The counters `metrics()` is built from (a limiter's `stats`). */
interface Counters {
  readonly acquired: number;
  readonly throttled: number;
  readonly totalWaitMs: number;
  readonly active: number;
  readonly pending: number;
}

/** How full one window is now. */
export interface WindowUse {
  /** The window's length in seconds. */
  readonly seconds: number;
  /** What it counts: `maxRequests`, `maxTokens`, `maxInputTokens` or `maxOutputTokens`. */
  readonly kind: string;
  /** Starts (or tokens of its kind) inside the window now. */
  readonly used: number;
  readonly limit: number;
  /** `used / limit`. */
  readonly use: number;
}

/** What `limiter.metrics()` returns. */
export interface LimiterMetrics {
  /** Starts granted. */
  readonly requests: number;
  /** Starts that had to wait at some gate. */
  readonly throttled: number;
  /** `throttled / requests` (0 before any request). */
  readonly throttleRate: number;
  /** Average wait per start in ms over every start, a start that did not wait counting 0. */
  readonly averageWaitMs: number;
  /** 95th percentile of the wait per start in ms, over the last `WAIT_SAMPLES` waits and the starts that did not wait. */
  readonly p95WaitMs: number;
  /** Refusals the run engine reported, by kind (`rate-limit`, `quota`, `overloaded`, `transient`). */
  readonly refusals: Readonly<Record<string, number>>;
  /** Running now. */
  readonly active: number;
  /** Waiting now. */
  readonly pending: number;
  /** Each window's use now. */
  readonly windows: readonly WindowUse[];
}

/** How many recent waits a limiter keeps for `p95WaitMs`. */
export const WAIT_SAMPLES = 512;

/** The last `WAIT_SAMPLES` waits of throttled starts, in a fixed ring (no growth). */
export class WaitSamples {
  private readonly ring = new Float64Array(WAIT_SAMPLES);
  private size = 0;
  private next = 0;

  add(ms: number): void {
    this.ring[this.next] = ms;
    this.next = (this.next + 1) % WAIT_SAMPLES;
    if (this.size < WAIT_SAMPLES) this.size++;
  }

  /** The `q` quantile of waits over starts, `zeroShare` of which did not wait. */
  quantile(q: number, zeroShare: number): number {
    if (this.size === 0 || zeroShare >= q) return 0;
    const sorted = Array.from(this.ring.subarray(0, this.size)).sort((a, b) => a - b);
    const within = (q - zeroShare) / (1 - zeroShare); // the quantile among the starts that waited
    return sorted[Math.min(this.size - 1, Math.ceil(within * this.size) - 1)] as number;
  }
}

/** Refusals by kind, reported by the run engine through `noteRefusal`. */
export class RefusalCounts {
  readonly byKind: Record<string, number> = {};

  add(kind: string): void {
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
  }
}

/** Builds `metrics()` from a limiter's counters. */
export function metricsOf(stats: Counters, waits: WaitSamples, refusals: RefusalCounts, windows: readonly WindowUse[]): LimiterMetrics {
  const requests = stats.acquired;
  const zeroShare = requests === 0 ? 1 : (requests - stats.throttled) / requests;
  return {
    requests,
    throttled: stats.throttled,
    throttleRate: requests === 0 ? 0 : stats.throttled / requests,
    averageWaitMs: requests === 0 ? 0 : stats.totalWaitMs / requests,
    p95WaitMs: waits.quantile(0.95, zeroShare),
    refusals: { ...refusals.byKind },
    active: stats.active,
    pending: stats.pending,
    windows,
  };
}

/** A window's use from its count and limit. */
export function windowUse(seconds: number, kind: string, used: number, limit: number): WindowUse {
  return { seconds, kind, used, limit, use: limit === 0 ? 0 : used / limit };
}
