/**
 * Test helpers shared by every suite of the monorepo: hand-settled promises,
 * event-loop turns, timer tracking, a concurrency gauge and a channel collector. A private
 * workspace package, so no package's tests reach into another's test folder.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { vi } from "vitest";

/** A promise with its settle functions, for a test that settles it by hand. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

/** A promise the test settles by hand, to pin down ordering without sleeps. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A promise that never settles: a node stuck in user code. */
export function never(): Promise<never> {
  return new Promise<never>(() => {});
}

/** Resolves after `ms` of real time (one `setTimeout`). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits `turns` macrotask turns (default 1): each turn is one `setImmediate`,
 * so every promise callback queued before it has run, and with it every
 * callback those queue in turn; timers run only if they are already due.
 * A chain that crosses a macrotask boundary (a `setImmediate` of its own)
 * needs one more turn per crossing.
 */
export async function flush(turns = 1): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Waits, one macrotask turn at a time and without a clock, until `condition` holds (at most 1,000 turns). */
export async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1000; turn++) {
    if (condition()) return;
    await flush();
  }
  throw new Error("condition never became true");
}

/** Whether `promise` has settled once the callbacks pending now have run (one macrotask turn). */
export async function settledSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  promise.then(mark, mark);
  await flush();
  return settled;
}

/** Counts what runs now (`current`) and the most that ever ran at once (`peak`). */
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

/** What `trackTimers()` saw. */
export interface TimerTracker {
  /** Timers set since tracking began. */
  created(): number;
  /** Of those, the ones neither fired nor cleared. */
  pending(): number;
  /** Stops tracking (`vi.restoreAllMocks()` does it too). */
  restore(): void;
}

/**
 * Tracks the `setTimeout` timers created from now on. Vitest keeps timers of
 * its own, so a process-wide count is not a stable baseline.
 */
export function trackTimers(): TimerTracker {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const pending = new Set<unknown>();
  let created = 0;
  const setSpy = vi.spyOn(globalThis, "setTimeout").mockImplementation(((
    callback: (...args: unknown[]) => void,
    ms?: number,
    ...args: unknown[]
  ) => {
    created++;
    const handle = realSetTimeout(() => {
      pending.delete(handle);
      callback(...args);
    }, ms);
    pending.add(handle);
    return handle;
  }) as typeof setTimeout);
  const clearSpy = vi.spyOn(globalThis, "clearTimeout").mockImplementation(((handle?: NodeJS.Timeout) => {
    pending.delete(handle);
    realClearTimeout(handle);
  }) as typeof clearTimeout);
  return {
    created: () => created,
    pending: () => pending.size,
    restore() {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    },
  };
}

/** Collects what the diagnostics channel `name` publishes (calling `onMessage` on each too) until `stop()`. */
export function collect<T>(name: string, onMessage?: (message: T) => void): { messages: T[]; stop: () => void } {
  const messages: T[] = [];
  const listener = (m: unknown) => {
    messages.push(m as T);
    onMessage?.(m as T);
  };
  subscribe(name, listener);
  return { messages, stop: () => unsubscribe(name, listener) };
}
