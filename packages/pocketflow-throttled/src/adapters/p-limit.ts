/**
 * `fromPLimit`: a `p-limit` limit as a `Limiter`. Typed structurally: this
 * package does not depend on p-limit.
 */
import type { Limiter } from "../limiters/types.js";
import { checkCount, checkOptions } from "../validate.js";
import { TicketLimiter } from "./tickets.js";

/** The part of a `p-limit` limit function the adapter uses. */
export interface PLimitLike {
  <T>(fn: () => PromiseLike<T>): Promise<T>;
  concurrency: number;
  readonly activeCount: number;
  readonly pendingCount: number;
}

/** Options of `fromPLimit`. */
export interface FromPLimitOptions {
  /**
   * What the adapter reports as `maxConcurrent` for `pLimit(Infinity)`: nodes
   * and flows size their worker pool by the larger of their own
   * `maxConcurrent` and this.
   * @default 1
   */
  unboundedConcurrency?: number;
}

/**
 * A `Limiter` over a `p-limit` limit you already share, for a node's or
 * flow's `limiter` option: each held permit is one running function of the
 * limit, so its `concurrency` caps nodes, flows and your own calls together.
 * `setConcurrency` sets `limit.concurrency`; `pause`, `observe` and `reset`
 * act on this adapter's own grants only; p-limit has no rate window.
 *
 * @example
 * import pLimit from "p-limit";
 * const limit = pLimit(4);
 * const node = new Translate({ limiter: fromPLimit(limit) });
 */
export function fromPLimit(limit: PLimitLike, options?: FromPLimitOptions): Limiter {
  if (typeof limit !== "function" || typeof limit.concurrency !== "number") {
    throw new TypeError(`fromPLimit needs a p-limit limit function, got ${String(limit)}`);
  }
  const opts = checkOptions("fromPLimit", options, ["unboundedConcurrency"]);
  const unbounded =
    opts.unboundedConcurrency === undefined ? 1 : checkCount("fromPLimit unboundedConcurrency", opts.unboundedConcurrency);
  return new TicketLimiter({
    schedule: (job) => limit(job),
    get maxConcurrent() {
      return Number.isFinite(limit.concurrency) ? limit.concurrency : unbounded;
    },
    setConcurrency(n) {
      limit.concurrency = checkCount("setConcurrency", n);
    },
    get running() {
      return limit.activeCount;
    },
    get queued() {
      return limit.pendingCount;
    },
  });
}
