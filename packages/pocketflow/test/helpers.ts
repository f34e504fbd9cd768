/** Resource counters for the runtime's abort and timer tests (general helpers live in `test-support`). */
import { getEventListeners } from "node:events";
import { vi } from "vitest";

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
