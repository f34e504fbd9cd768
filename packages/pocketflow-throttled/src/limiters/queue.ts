/**
 * The FIFO queue of an in-process limiter: a doubly linked list of waiters,
 * the bookkeeping of their deadlines, and one abort listener per signal
 * however many waiters share it (no `MaxListenersExceededWarning`).
 */
import type { Weight } from "./windows.js";

/** One queued acquisition. */
export interface Waiter {
  readonly weight: Weight;
  readonly since: number;
  /** When its `maxWaitSeconds` runs out (Infinity: never). */
  readonly deadline: number;
  readonly resolve: (seq: number) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  /** Its deadline timer, cleared when it leaves. */
  timer: ReturnType<typeof setTimeout> | undefined;
  prev: Waiter | null;
  next: Waiter | null;
}

export class WaitQueue {
  head: Waiter | null = null;
  private _tail: Waiter | null = null;
  /** Waiters now. */
  size = 0;
  /** A lower bound of the waiters' deadlines (Infinity when none has one); the limiter tightens it after an expiry walk. */
  earliestDeadline = Number.POSITIVE_INFINITY;
  private _bounded = 0;
  private readonly _signals = new Map<AbortSignal, { waiters: number; onAbort: () => void }>();

  /** `onAbort(signal)` runs once per aborted signal; it removes that signal's waiters. */
  constructor(private readonly _onAbort: (signal: AbortSignal) => void) {}

  push(waiter: Waiter): void {
    if (waiter.deadline !== Number.POSITIVE_INFINITY) {
      this._bounded++;
      if (waiter.deadline < this.earliestDeadline) this.earliestDeadline = waiter.deadline;
    }
    const signal = waiter.signal;
    if (signal !== undefined) {
      const entry = this._signals.get(signal);
      if (entry !== undefined) entry.waiters++;
      else {
        const onAbort = () => this._onAbort(signal);
        this._signals.set(signal, { waiters: 1, onAbort });
        signal.addEventListener("abort", onAbort, { once: true });
      }
    }
    waiter.prev = this._tail;
    if (this._tail) this._tail.next = waiter;
    else this.head = waiter;
    this._tail = waiter;
    this.size++;
  }

  /** Takes `waiter` out: its timer is cleared, and its signal's listener removed when it was the last on it. */
  remove(waiter: Waiter): void {
    if (waiter.prev) waiter.prev.next = waiter.next;
    else this.head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    else this._tail = waiter.prev;
    waiter.prev = waiter.next = null;
    this.size--;
    if (waiter.deadline !== Number.POSITIVE_INFINITY) {
      if (--this._bounded === 0) this.earliestDeadline = Number.POSITIVE_INFINITY;
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      waiter.timer = undefined;
    }
    const signal = waiter.signal;
    if (signal !== undefined) {
      const entry = this._signals.get(signal);
      if (entry !== undefined && --entry.waiters === 0) {
        this._signals.delete(signal);
        signal.removeEventListener("abort", entry.onAbort);
      }
    }
  }
}
