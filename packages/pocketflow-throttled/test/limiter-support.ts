import { vi } from "vitest";

/** Small helpers for the limiter and node tests: deferred promises, waiting, and window checks. */

export { type Deferred, deferred } from "../../pocketflow/test/helpers.js";

/** Counts what runs now and the most that ever ran at once. */
export class Gauge {
  current = 0;
  peak = 0;
  enter(): void {
    this.current++;
    this.peak = Math.max(this.peak, this.current);
  }
  leave(): void {
    this.current--;
  }
}

/** Resolves after `ms` of real time. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Lets every pending promise callback run (one macrotask turn). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Whether `promise` has settled by the next macrotask turn. */
export async function settledSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await flush();
  return settled;
}

/**
 * The largest sum of `weights` over starts that lie within any half-open
 * interval `[t, t + spanMs)` that begins at a recorded start. Starts are
 * observed a little after the limiter grants them, so callers pass a span a
 * few milliseconds shorter than the window.
 */
export function maxWeightInAnySpan(times: readonly number[], spanMs: number, weights?: readonly number[]): number {
  const order = times.map((_, i) => i).sort((a, b) => (times[a] as number) - (times[b] as number));
  let max = 0;
  for (let i = 0; i < order.length; i++) {
    const from = times[order[i] as number] as number;
    let sum = 0;
    for (let j = i; j < order.length && (times[order[j] as number] as number) < from + spanMs; j++) {
      sum += weights ? (weights[order[j] as number] as number) : 1;
    }
    max = Math.max(max, sum);
  }
  return max;
}

/**
 * Watches the `setTimeout` timers created from now on (vitest keeps timers of
 * its own, so a process-wide count is not a stable baseline). `live()` is how
 * many of them have neither fired nor been cleared, `created()` how many were
 * set; `restore()` stops watching.
 */
export function trackTimers(): { live(): number; created(): number; restore(): void } {
  const live = new Set<unknown>();
  let created = 0;
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const setSpy = vi.spyOn(globalThis, "setTimeout").mockImplementation(((
    callback: (...args: unknown[]) => void,
    ms?: number,
    ...args: unknown[]
  ) => {
    const handle = realSetTimeout(() => {
      live.delete(handle);
      callback(...args);
    }, ms);
    live.add(handle);
    created++;
    return handle;
  }) as typeof setTimeout);
  const clearSpy = vi.spyOn(globalThis, "clearTimeout").mockImplementation(((handle?: NodeJS.Timeout) => {
    live.delete(handle);
    realClearTimeout(handle);
  }) as typeof clearTimeout);
  return {
    live: () => live.size,
    created: () => created,
    restore() {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    },
  };
}
