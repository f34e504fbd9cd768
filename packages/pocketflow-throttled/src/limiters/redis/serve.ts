/**
 * The serving loop of a `RedisLimiter`: head by head, the process's own view
 * first, then one take in Redis (or, on the fallback, the view alone), then
 * sleep until the store's time or a wake-up. Bounded waits end here too.
 */
import type { Weight } from "../limiter.js";
import { budgetExceeded, neverFits } from "../windows.js";
import type { Fallback, LocalView } from "./fallback.js";
import { type Leases, type PermitOwner, StorePermit } from "./leases.js";
import { limitsMismatchError } from "./options.js";
import { timeoutError, type Waiter, type WaiterQueue } from "./queue.js";
import type { KeyLayout } from "./scripts/layout.js";
import { RELEASE } from "./scripts/release.js";
import { parseTake, TAKE, type TakeReply } from "./scripts/take.js";
import type { SharedState } from "./shared.js";
import { isNotSent, isReplyError, type RedisStore } from "./store.js";
import type { WakeUps } from "./wake-ups.js";
import { decodeRules } from "./windows.js";

/** The parts of a limiter the loop works with. */
export interface ServeParts {
  readonly key: string;
  readonly queue: WaiterQueue;
  readonly view: LocalView;
  readonly shared: SharedState;
  readonly leases: Leases;
  readonly wakeUps: WakeUps;
  readonly fallback: Fallback;
  readonly store: RedisStore;
  readonly keys: KeyLayout;
  readonly declared: readonly string[];
  readonly leaseUs: number;
  readonly windowSeconds: number;
  readonly idPrefix: string;
  readonly owner: PermitOwner;
  readonly isClosed: () => boolean;
  readonly background: (what: string, send: () => Promise<unknown>) => void;
}

export class Server {
  /** The running loop (awaited by close). */
  pump: Promise<void> | undefined;
  /** A take on the wire (awaited by flush). */
  inflight: Promise<unknown> | undefined;
  private _pumping = false;
  private _nextId = 0;

  constructor(private readonly p: ServeParts) {}

  /** Starts the loop unless it runs. */
  start(): void {
    if (this._pumping) return;
    this._pumping = true;
    this.pump = this._serve();
  }

  /** A waiter's `maxWaitSeconds` ran out while it waited (for a slot, or behind the head). */
  deadlinePassed(waiter: Waiter): void {
    const now = performance.now();
    const paused = this.p.view.pausedFor(now);
    const why = paused > 0 ? "pause" : "wait";
    const limitMs = waiter.deadline - waiter.since;
    this.p.queue.timeOut(waiter, timeoutError(now - waiter.since + paused, limitMs, why, this.p.shared.pauseCause(now)));
    this.p.wakeUps.wake();
  }

  mismatchError(stored: readonly string[]): Error {
    return limitsMismatchError(this.p.key, this.p.keys.config, this.p.declared, stored);
  }

  private async _serve(): Promise<void> {
    const { queue, view, leases, wakeUps, fallback, shared } = this.p;
    try {
      while (queue.size > 0 && !this.p.isClosed()) {
        const waiter = queue.head as Waiter;
        wakeUps.woken = false;
        const local = fallback.using;
        const now = performance.now();
        // On Redis, Redis counts the slots (the fallback's permits as `reserved`); on the fallback, this process does.
        if (local && leases.held.size >= shared.cap) {
          waiter.waited = true;
          await wakeUps.sleep(Number.POSITIVE_INFINITY); // a release wakes it
          continue;
        }
        const delay = view.delay(now, waiter.weight, local);
        if (delay === Number.POSITIVE_INFINITY && !local && view.refusal(now, waiter.weight) !== undefined) {
          await this._takeFor(waiter); // this process alone filled a budget: Redis, which counts every process, refuses it
        } else if (delay === Number.POSITIVE_INFINITY) {
          queue.rejectOne(waiter, this._neverFitsError(now, waiter.weight));
        } else if (delay > 0) {
          waiter.waited = true;
          this._expireBefore(now, delay, local && view.pausedFor(now) >= delay);
          if (!waiter.done) await wakeUps.sleep(delay);
        } else if (local) {
          this._grant(waiter, `${this.p.idPrefix}${++this._nextId}`, undefined);
        } else {
          await this._takeFor(waiter);
        }
      }
    } catch (error) {
      queue.rejectAll(error);
    } finally {
      this._pumping = false; // in the same turn as the loop's last check, so a new waiter is never left unserved
    }
  }

  private async _takeFor(waiter: Waiter): Promise<void> {
    const { queue, wakeUps, shared } = this.p;
    const id = `${this.p.idPrefix}${++this._nextId}`;
    let reply: TakeReply;
    try {
      const take = this._take(id, waiter.weight);
      this.inflight = take;
      reply = await take;
    } catch (error) {
      if (!isReplyError(error) && !isNotSent(error)) this._giveBack(id); // a take that timed out may still run: hand its lease back
      this._storeFailed(error);
      return;
    } finally {
      this.inflight = undefined;
    }
    if (reply.kind === "mismatch") {
      queue.rejectAll(this.mismatchError(reply.stored));
      return;
    }
    shared.adopt(reply);
    if (reply.kind === "granted") {
      if (waiter.done) this._giveBack(id); // aborted or closed while the store granted it: the lease goes back, the start stays in the window
      else this._grant(waiter, id, reply.nowUs / 1000);
      return;
    }
    if (reply.kind === "never") {
      // learned limits shrank below its weight since it queued
      const configured = shared.windows.configuredText.split(",").includes(reply.rule);
      const rule = decodeRules(reply.rule, !configured)[0];
      if (!waiter.done) queue.rejectOne(waiter, rule ? neverFits(rule, waiter.weight) : this._neverFitsError(performance.now(), waiter.weight));
      return;
    }
    if (reply.kind === "refused") {
      // a budget (always a configured rule) the start would cross: refused now, never retried, no lease taken
      const rule = decodeRules(reply.rule, false)[0];
      if (!waiter.done) {
        queue.rejectOne(waiter, rule ? budgetExceeded(rule, reply.used, waiter.weight) : this._neverFitsError(performance.now(), waiter.weight));
      }
      return;
    }
    waiter.waited = true;
    const now = performance.now();
    if (reply.cause === "pause") this.p.view.pauseUntil(now + reply.delayMs); // kept if Redis goes away meanwhile
    // A pause or a full window is a known lower bound of the wait; a slot may free sooner.
    if (reply.cause !== "slot") this._expireBefore(now, reply.delayMs, reply.cause === "pause");
    if (waiter.done || wakeUps.woken || this.p.isClosed()) return;
    if (!wakeUps.tried) {
      await wakeUps.subscribe(); // a release published before the subscription took effect is caught by re-taking now
      return;
    }
    await wakeUps.sleep(reply.delayMs + 1);
  }

  private _grant(waiter: Waiter, id: string, startedAt: number | undefined): void {
    const seq = this.p.view.record(performance.now(), waiter.weight);
    const permit = new StorePermit(this.p.owner, id, waiter.weight, seq, startedAt);
    this.p.leases.add(permit);
    this.p.queue.grant(waiter, permit);
  }

  private async _take(id: string, w: Weight): Promise<TakeReply> {
    const { keys: k, leases } = this.p;
    const solo = this.p.shared.solo ? "1" : "0";
    const args = [...this.p.declared, id, w.tokens, w.inputTokens, w.outputTokens, w.costUsd, this.p.leaseUs, leases.localHeld, solo, this.p.windowSeconds];
    return parseTake(await this.p.store.call(TAKE, [k.config, k.state, k.leases, k.starts, k.weights], args));
  }

  /** Nobody in this process starts before `now + delay`: every waiter whose deadline comes first fails now. */
  private _expireBefore(now: number, delay: number, byPause: boolean): void {
    const at = now + delay;
    const cause = byPause ? this.p.shared.pauseCause(now) : undefined;
    this.p.queue.expireBefore(at, (w) => timeoutError(at - w.since, w.deadline - w.since, byPause ? "pause" : "window", cause));
  }

  /** Why a start of `w` cannot happen by this process's own view: a budget it would cross, or a window it never fits. */
  private _neverFitsError(now: number, w: Weight): Error {
    const refused = this.p.view.refusal(now, w);
    if (refused !== undefined) return budgetExceeded(refused.rule, refused.used, w);
    const rule = this.p.shared.windows.neverFits(w);
    return rule === undefined ? new RangeError("a request of this weight can never start under this limiter") : neverFits(rule, w);
  }

  private _giveBack(id: string): void {
    const k = this.p.keys;
    this.p.background("release", () => this.p.store.call(RELEASE, [k.leases], [id, k.channel]));
  }

  /** Redis unreachable: move to the fallback (waiters keep their place), or reject every waiter with a clear error. */
  private _storeFailed(cause: unknown): void {
    const error = this.p.store.error(cause);
    if (this.p.fallback.covers(cause)) {
      this.p.fallback.enter(error);
      return;
    }
    this.p.queue.rejectAll(error);
  }
}
