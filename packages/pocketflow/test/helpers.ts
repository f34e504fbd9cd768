/** Small test utilities: deferred promises, event-loop flushing, resource counters. */
import { getEventListeners } from "node:events";
import { vi } from "vitest";

export interface Deferred<T> {
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

/** Lets every pending promise continuation run (one macrotask turn, twice). */
export async function flush(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** How many `setTimeout` timers are alive in this process. */
export function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
}

/** How many `abort` listeners are registered on `signal` right now. */
export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, "abort").length;
}

/** Wraps `addEventListener`/`removeEventListener` on one signal to count `abort` registrations. */
export function spyAbortListeners(signal: AbortSignal): { added: () => number; removed: () => number } {
  const add = vi.spyOn(signal, "addEventListener");
  const remove = vi.spyOn(signal, "removeEventListener");
  return {
    added: () => add.mock.calls.filter(([type]) => type === "abort").length,
    removed: () => remove.mock.calls.filter(([type]) => type === "abort").length,
  };
}

/**
 * Tracks the `setTimeout` timers created from now on (by the runtime; vitest keeps
 * its own references): `pending()` counts those neither fired nor cleared.
 */
export function trackTimers(): { created: () => number; pending: () => number } {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const pending = new Set<unknown>();
  let created = 0;
  const fakeSetTimeout = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    created += 1;
    const handle = realSetTimeout(() => {
      pending.delete(handle);
      callback(...args);
    }, ms);
    pending.add(handle);
    return handle;
  };
  vi.spyOn(globalThis, "setTimeout").mockImplementation(fakeSetTimeout as unknown as typeof setTimeout);
  vi.spyOn(globalThis, "clearTimeout").mockImplementation((handle) => {
    pending.delete(handle);
    realClearTimeout(handle);
  });
  return { created: () => created, pending: () => pending.size };
}
