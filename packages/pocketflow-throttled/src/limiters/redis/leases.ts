/**
 * Leases: each concurrency slot a process holds is a lease in Redis that it
 * renews every third of `leaseSeconds`; a process that dies stops renewing
 * and its slots come back when the leases lapse.
 */
import type { Permit, TokenUsage, Weight } from "../limiter.js";
import { RENEW } from "./scripts/renew.js";
import type { KeyLayout } from "./scripts/layout.js";
import type { RedisStore } from "./store.js";
import { MAX_TIMER_MS } from "./timer.js";

/** A start granted by a `RedisLimiter`. */
export interface RedisPermit extends Permit {
  /** When the store granted this start, in epoch milliseconds of Redis's clock (undefined from the local fallback). */
  readonly startedAt?: number;
}

/** What a permit calls when it is released or settled. */
export interface PermitOwner {
  /** Frees the permit's slot (locally at once, in Redis in the background). @internal */
  releasePermit(permit: StorePermit): void;
  /** Replaces the permit's weight by the actual usage (a total or its parts). @internal */
  settlePermit(permit: StorePermit, actual: number | TokenUsage): void;
}

/** A granted start: a lease in Redis, or (`startedAt` undefined) a start of the local fallback, which has none. */
export class StorePermit implements RedisPermit {
  released = false;
  /** Its lease lapsed in Redis before the release. */
  lost = false;
  constructor(
    private readonly _owner: PermitOwner,
    readonly id: string,
    /** The estimate this start reserved (a settle's missing parts keep it). */
    readonly weight: Weight,
    /** The start's sequence number in the process's own window (`LocalView`). */
    readonly seq: number,
    readonly startedAt: number | undefined,
  ) {}

  /** The total token estimate this permit reserved. */
  get tokens(): number {
    return this.weight.tokens;
  }

  /** True for a start of the local fallback (no lease in Redis). */
  get local(): boolean {
    return this.startedAt === undefined;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this._owner.releasePermit(this);
  }

  settle(actual: number | TokenUsage): void {
    this._owner.settlePermit(this, actual);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}

/** The permits a process holds, and the timer that renews their leases while any is held. */
export class Leases {
  readonly held = new Map<string, StorePermit>();
  /** Held permits of the local fallback (no lease in Redis, so Redis is told to count them). */
  localHeld = 0;
  lost = 0;
  private _timer: ReturnType<typeof setInterval> | undefined;
  private _renewing = false;

  constructor(
    private readonly _store: RedisStore,
    private readonly _keys: KeyLayout,
    private readonly _leaseUs: number,
  ) {}

  add(permit: StorePermit): void {
    this.held.set(permit.id, permit);
    if (permit.local) this.localHeld++;
    else this._start();
  }

  /** Forgets a released permit; renewal stops with the last lease. */
  delete(permit: StorePermit): void {
    if (!this.held.delete(permit.id)) return;
    if (permit.local) this.localHeld--;
    if (this.held.size === 0) this.stop();
  }

  /** Counts a lease found lapsed (once per permit). */
  markLost(permit: StorePermit): void {
    if (permit.lost || permit.local) return;
    permit.lost = true;
    this.lost++;
  }

  stop(): void {
    clearInterval(this._timer);
    this._timer = undefined;
  }

  private _start(): void {
    if (this._timer !== undefined) return;
    // A third of the lease, so two renewals may be late before one lapses; clamped for leases over ~74 days.
    this._timer = setInterval(() => void this._renew(), Math.min(MAX_TIMER_MS, this._leaseUs / 3000));
    this._timer.unref?.();
  }

  private async _renew(): Promise<void> {
    const ids = [...this.held.values()].filter((p) => !p.local).map((p) => p.id);
    if (this._renewing || ids.length === 0) return;
    this._renewing = true;
    const k = this._keys;
    try {
      const lost = (await this._store.call(RENEW, [k.leases], [this._leaseUs, k.channel, ...ids])) as string[];
      for (const id of lost) {
        const permit = this.held.get(id);
        if (permit) this.markLost(permit);
      }
    } catch {
      // Redis away: leases lapse on their own; the next renewal that gets through counts them as lost
    } finally {
      this._renewing = false;
    }
  }
}
