/**
 * `fromBottleneck`: a Bottleneck instance (local or Redis-clustered) as a
 * `Limiter`. Typed structurally: this package does not depend on Bottleneck.
 */
import type { Limiter } from "../limiters/types.js";
import { checkCount, checkOptions } from "../validate.js";
import { TicketLimiter } from "./tickets.js";

/** The part of a Bottleneck (v2) instance the adapter uses. */
export interface BottleneckLike {
  schedule<T>(options: { weight?: number; priority?: number }, fn: () => PromiseLike<T>): Promise<T>;
  /** Bottleneck's own types say it returns the instance; at runtime it is a promise. */
  updateSettings(options: { maxConcurrent?: number | null }): unknown;
  counts(): { RECEIVED: number; QUEUED: number; RUNNING: number; EXECUTING: number };
}

/** Options of `fromBottleneck`. */
export interface FromBottleneckOptions {
  /**
   * What the adapter reports as `maxConcurrent` when the Bottleneck has none
   * (`maxConcurrent: null`). Nodes and flows size their worker pool by the
   * larger of their own `maxConcurrent` and this, so leave it unset to let
   * their own `maxConcurrent` bound the calls in flight.
   * @default 1
   */
  unboundedConcurrency?: number;
  /**
   * The Bottleneck `priority` (0 = highest, 9 = lowest) of every job this adapter schedules.
   * @default 5 (Bottleneck's default)
   */
  priority?: number;
}

/** Reads the `maxConcurrent` the Bottleneck was configured with (there is no public getter). */
function configuredConcurrency(bottleneck: BottleneckLike): number | null | undefined {
  const store = (bottleneck as { _store?: { storeOptions?: { maxConcurrent?: unknown } } })._store;
  const value = store?.storeOptions?.maxConcurrent;
  return typeof value === "number" ? value : value === null ? null : undefined;
}

/**
 * A `Limiter` over a Bottleneck you already share, for a node's or flow's
 * `limiter` option: each held permit is one running Bottleneck job (weight
 * 1), so `maxConcurrent`, `minTime` and the reservoir apply to it, across
 * processes when the Bottleneck is clustered on Redis.
 *
 * What maps and what does not: `setConcurrency` calls `updateSettings`
 * (cluster-wide when clustered); `pause`, `observe` and `reset` act on this
 * adapter's own grants only (Bottleneck has no pause); token estimates are
 * not counted; `reset` leaves Bottleneck's `minTime` and reservoir alone. An
 * aborted `acquire` leaves at once; Bottleneck cannot withdraw a queued job,
 * so the adapter keeps at most one job queued and, if its caller is gone when
 * it starts, it ends at once (using one `minTime` slot and reservoir unit).
 * The Bottleneck stays yours: `disconnect()` it when done.
 *
 * @example
 * import Bottleneck from "bottleneck";
 * const shared = new Bottleneck({ maxConcurrent: 4, minTime: 250 });
 * const node = new Translate({ limiter: fromBottleneck(shared) });
 */
export function fromBottleneck(bottleneck: BottleneckLike, options?: FromBottleneckOptions): Limiter {
  if (
    bottleneck === null ||
    typeof bottleneck !== "object" ||
    typeof bottleneck.schedule !== "function" ||
    typeof bottleneck.counts !== "function"
  ) {
    throw new TypeError(`fromBottleneck needs a Bottleneck instance, got ${String(bottleneck)}`);
  }
  const opts = checkOptions("fromBottleneck", options, ["unboundedConcurrency", "priority"]);
  const unbounded =
    opts.unboundedConcurrency === undefined ? 1 : checkCount("fromBottleneck unboundedConcurrency", opts.unboundedConcurrency);
  const priority = opts.priority === undefined ? undefined : checkCount("fromBottleneck priority", opts.priority, 0);
  const jobOptions = priority === undefined ? { weight: 1 } : { weight: 1, priority };
  let maxConcurrent = configuredConcurrency(bottleneck);
  const counts = () => bottleneck.counts();
  return new TicketLimiter({
    schedule: (job) => bottleneck.schedule(jobOptions, job),
    get maxConcurrent() {
      return typeof maxConcurrent === "number" ? maxConcurrent : unbounded;
    },
    setConcurrency(n) {
      checkCount("setConcurrency", n);
      maxConcurrent = n;
      // A failed update (a clustered store down) surfaces on the next schedule; nothing to reject here.
      Promise.resolve(bottleneck.updateSettings({ maxConcurrent: n })).catch(() => undefined);
    },
    get running() {
      const c = counts();
      return c.RUNNING + c.EXECUTING;
    },
    get queued() {
      const c = counts();
      return c.RECEIVED + c.QUEUED;
    },
  });
}
