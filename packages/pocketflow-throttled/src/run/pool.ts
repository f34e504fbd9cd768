/**
 * The one pull pool and run lifecycle behind every throttled node, the
 * micro-batch node and both throttled flows.
 *
 * A fixed number of workers pull units of work from one source, so the
 * state of a run is proportional to the concurrency, never one promise per
 * pending unit. The lifecycle owns the run's signal: it aborts when the
 * caller aborts or when a unit fails for good, so queued waits leave the
 * limiter at once and no worker pulls (or starts) another unit.
 */
import { setMaxListeners } from "node:events";

/** One execution of a node or flow: its signal, its first failure, its cleanups. */
export class RunLifecycle {
  /** Aborted when the caller aborts or a unit has failed for good. */
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private failure: { error: unknown } | undefined;
  private readonly cleanups: Array<() => void> = [];
  private readonly forward: () => void;

  constructor(private readonly outer: AbortSignal | undefined) {
    this.signal = this.controller.signal;
    // Every waiting unit listens here: at most one listener per worker, so no leak warning is due.
    setMaxListeners(0, this.signal);
    this.forward = () => this.controller.abort(outer?.reason);
    if (outer?.aborted) this.forward();
    else outer?.addEventListener("abort", this.forward, { once: true });
  }

  /** True once a unit failed for good. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** A unit failed for good: the run stops and will reject with the first such error. */
  fail(error: unknown): void {
    this.failure ??= { error };
    if (!this.signal.aborted) this.controller.abort(error);
  }

  /** Runs `cleanup` once every worker has settled (limiter hooks, retry scopes). */
  onSettled(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  /**
   * Waits for the workers. Rejects with the first failed unit's own error or
   * the caller's abort reason as soon as either is known — or, with
   * `settleAll`, once every worker has settled (a flow reports the outcome
   * of every instance that was running). Cleanups run once the last worker
   * has settled (in-flight calls finish, nothing new starts).
   */
  async join(workers: Promise<void>[], settleAll = false): Promise<void> {
    const settled = Promise.allSettled(workers).then(() => {
      for (const cleanup of this.cleanups) cleanup();
      this.outer?.removeEventListener("abort", this.forward);
    });
    if (settleAll) await settled;
    try {
      await Promise.all(workers);
    } catch (error) {
      throw this.failure ? this.failure.error : error;
    }
    if (this.failure) throw this.failure.error;
    this.outer?.throwIfAborted();
  }
}

/**
 * How the pool runs one unit. The fast path takes a start synchronously and
 * makes the call with one `await`, like a bare pool; anything else goes
 * through `run`.
 */
export interface UnitRunner<U, R> {
  /** True when the fast path may be tried at all for this run. */
  readonly fast: boolean;
  /** Takes a start at once, without waiting or allocating; false when that is impossible now. */
  tryFast(): boolean;
  /** The unit's call, under a start taken by `tryFast`. */
  call(unit: U): Promise<R>;
  /** A fast call succeeded: observe, free the start. */
  finishFast(result: R): void;
  /** A fast call failed: settle that attempt (its start is still held) and go on with the policies. */
  recoverFast(unit: U, error: unknown): Promise<R>;
  /** Every attempt of the unit (`index`: its place in the run), start to finish. Rejects when the unit fails for good. */
  run(unit: U, index: number): Promise<R>;
}

/** What `next` returns when the source is exhausted. */
export const DONE: unique symbol = Symbol("pocketflow-throttled.done");

/** Where units come from and where results go. */
export interface PoolOptions<U, R> {
  readonly lifecycle: RunLifecycle;
  readonly workers: number;
  /** The next unit, or `DONE`. May throw: that fails the run. */
  next(): U | typeof DONE;
  readonly runner: UnitRunner<U, R>;
  /** Stores the result of the `index`-th unit pulled. */
  place(index: number, result: R, unit: U): void;
  /** Settle only once every worker has settled, even after a failure (flows). @default false */
  readonly settleAll?: boolean;
}

/** Runs every unit through `runner` on `workers` workers; settles as `lifecycle.join` does. */
export function runPool<U, R>(options: PoolOptions<U, R>): Promise<void> {
  const { lifecycle, runner } = options;
  const signal = lifecycle.signal;
  let pulled = 0;
  const worker = async (): Promise<void> => {
    while (!signal.aborted) {
      try {
        const unit = options.next();
        if (unit === DONE) return;
        const index = pulled++;
        if (runner.fast && runner.tryFast()) {
          let result: R;
          try {
            result = await runner.call(unit);
          } catch (error) {
            options.place(index, await runner.recoverFast(unit, error), unit);
            continue;
          }
          runner.finishFast(result);
          options.place(index, result, unit);
          continue;
        }
        options.place(index, await runner.run(unit, index), unit);
      } catch (error) {
        lifecycle.fail(error);
        throw error; // the run rejects at once; the other workers stop pulling and settle on their own
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < options.workers; i++) workers.push(worker());
  return lifecycle.join(workers, options.settleAll === true);
}
