/**
 * Wake-ups: waiters sleep until the time the store named, or until a message
 * on the key's channel (a release, a refund, a reset, a new concurrency) says
 * to look again. No fixed polling interval.
 */
import { type RedisClientLike, endConnection, settleWithin } from "./store.js";
import { longTimeout } from "./timer.js";

/** While the subscriber is reconnecting, a waiter looks again at least this often (a release may go unheard). */
const UNHEARD_RECHECK_MS = 1000;

export class WakeUps {
  /** True once a subscription was tried (a waiter sleeps only after it, so no release goes unheard). */
  tried = false;
  /** Set by `wake()`; the queue clears it before each take, so a wake-up during a take is not lost. */
  woken = false;
  private _sub: RedisClientLike | undefined;
  private _listening = false;
  private _everListened = false;
  private _resolveSleep: (() => void) | undefined;
  private _cancelTimer: (() => void) | undefined;
  private _closed = false;
  private _endWait: (() => void) | undefined;

  constructor(
    private readonly _client: RedisClientLike,
    private readonly _channel: string,
    private readonly _timeoutMs: number,
    /** A process changed the live concurrency. */
    private readonly _onConcurrency: (value: number) => void,
  ) {}

  /**
   * Opens the subscriber connection (once). After a dropped subscriber
   * reconnects, it subscribes again and wakes the queue: a release published
   * while it was away was not heard.
   */
  async subscribe(): Promise<void> {
    if (this.tried || this._closed) return;
    this.tried = true;
    try {
      const sub = this._client.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null });
      this._sub = sub;
      sub.on("error", () => undefined); // reconnects on its own; the main connection reports outages
      sub.on("message", (_channel: unknown, payload: unknown) => {
        const message = String(payload);
        if (message.startsWith("c:")) {
          const value = Number(message.slice(2));
          if (value > 0) this._onConcurrency(value);
        }
        this.wake();
      });
      sub.on("close", () => {
        if (!this._listening) return;
        this._listening = false;
        this.wake(); // look again now, then at least once a second until it is back
      });
      sub.on("ready", () => {
        if (this._everListened && !this._listening) void this._confirm(sub, true);
      });
      await this._race(this._confirm(sub, false));
    } catch {
      // without wake-ups waiters still wake at the time the store named
    }
  }

  /** Sleeps `ms` (any length: one clamped timer; Infinity: no timer) or until `wake()`. */
  sleep(ms: number): Promise<void> {
    const delay = this._sub && !this._listening ? Math.min(ms, UNHEARD_RECHECK_MS) : ms;
    return new Promise<void>((resolve) => {
      this._resolveSleep = resolve;
      if (delay !== Number.POSITIVE_INFINITY) this._cancelTimer = longTimeout(() => this.wake(), delay);
    });
  }

  /** Ends the current sleep now. */
  wake(): void {
    this.woken = true;
    this._cancelTimer?.();
    this._cancelTimer = undefined;
    const resolve = this._resolveSleep;
    this._resolveSleep = undefined;
    resolve?.();
  }

  async close(): Promise<void> {
    this._closed = true;
    this._endWait?.();
    this.wake();
    if (this._sub) await endConnection(this._sub);
  }

  /** Resolves once the subscription is in effect (SUBSCRIBE answered); a re-subscription then wakes the queue. */
  private async _confirm(sub: RedisClientLike, resubscribe: boolean): Promise<void> {
    try {
      await sub.subscribe(this._channel); // queued until the connection is up
      this._listening = true;
      this._everListened = true;
      if (resubscribe && !this._closed) this.wake();
    } catch {
      // retried on the next "ready"
    }
  }

  /** Waits for `promise` within the store timeout, or until close. */
  private async _race(promise: Promise<unknown>): Promise<void> {
    await Promise.race([settleWithin(promise, this._timeoutMs), new Promise<void>((r) => (this._endWait = r))]);
    this._endWait = undefined;
  }
}
