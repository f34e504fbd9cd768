/**
 * `ThrottledMicroBatchNode`: packs items into batches and makes one call per
 * batch (`execBatchAsync`), so a limit of N calls per minute moves up to
 * N × batchSize items. A batch that fails for good is split in halves down
 * to the bad item, so one bad item costs only itself.
 */
import { batchItems } from "pocketflow";
import { raw, type Validator } from "./configure.js";
import type { Limiter } from "./limiters/limiter.js";
import { type RunContext, type ThrottleOptions, ThrottledParallelBatchNode } from "./nodes.js";
import { checkBoolean, checkCount, checkOptionalCount } from "./validate.js";

/** Options of a `ThrottledMicroBatchNode`. */
export interface MicroBatchOptions extends ThrottleOptions {
  /** At most this many items per call (default 10). */
  batchSize?: number;
  /**
   * At most this many estimated tokens per call (default: no bound). Packing is
   * greedy and in order; an item that alone exceeds the bound forms a batch of
   * its own. Batches also stay within the limiter's `maxTokensPerWindow`.
   */
  maxBatchTokens?: number;
  /**
   * Split a batch that failed for good in halves down to single items (default
   * true), so one bad item costs only itself. A batch that failed on a rate
   * limit is never split: it fails with the provider's error.
   */
  splitOnError?: boolean;
}

/** Counters of the last run. */
export interface MicroBatchStats {
  /** Items taken from `prepAsync`. */
  totalItems: number;
  /** Calls of `execBatchAsync`, attempts and split halves included. */
  apiCalls: number;
  /** Split operations (one failed batch split in two counts once). */
  splits: number;
}

/** The token budget per window of a limiter that keeps one (a `RateLimiter` with `maxTokensPerWindow`), else infinity. */
function windowTokenBudget(limiter: Limiter): number {
  const budget = (limiter as { maxTokensPerWindow?: unknown }).maxTokensPerWindow;
  return typeof budget === "number" ? budget : Number.POSITIVE_INFINITY;
}

/** A batch of items: the unit of work (one call). `tokens` is its summed estimate when packing computed it. */
interface Batch<Item> {
  readonly items: Item[];
  readonly tokens?: number;
}

/**
 * Micro-batching under the node's limiter: one start per batch, carrying the
 * batch's summed token estimate. Results come back in input order.
 *
 * @example
 * class Embed extends ThrottledMicroBatchNode<Shared, string, number[]> {
 *   batchSize = 100;
 *   async prepAsync(shared: Shared) { return shared.texts; }
 *   async execBatchAsync(texts: string[]) {
 *     const res = await client.embeddings.create({ model: "text-embedding-3-small", input: texts });
 *     return res.data.map((d) => d.embedding);
 *   }
 * }
 */
export class ThrottledMicroBatchNode<S = unknown, Item = unknown, Result = unknown> extends ThrottledParallelBatchNode<
  S,
  Item,
  Result
> {
  declare batchSize: number;
  declare maxBatchTokens: number | undefined;
  declare splitOnError: boolean;
  /** @internal */
  declare _stats: MicroBatchStats;

  /** @internal */
  protected static override _validators: Readonly<Record<string, Validator>> = {
    ...ThrottledParallelBatchNode._validators,
    batchSize: (v) => checkCount("batchSize", v),
    maxBatchTokens: (v) => checkOptionalCount("maxBatchTokens", v),
    splitOnError: (v) => checkBoolean("splitOnError", v),
  };
  /** @internal */
  protected static override _defaults: Readonly<Record<string, unknown>> = {
    ...ThrottledParallelBatchNode._defaults,
    batchSize: 10,
    maxBatchTokens: undefined,
    splitOnError: true,
  };

  constructor(options: MicroBatchOptions = {}) {
    super(options);
    Object.defineProperty(raw(this), "_stats", {
      value: { totalItems: 0, apiCalls: 0, splits: 0 },
      enumerable: true,
      writable: true,
    });
  }

  /** Processes one batch; must return one result per item, in the same order. */
  async execBatchAsync(_items: Item[]): Promise<Result[]> {
    throw new Error(`${this.constructor.name} must implement execBatchAsync(items)`);
  }

  /** `{ totalItems, apiCalls, splits }` of the last run. */
  get stats(): MicroBatchStats {
    return { ...this._stats };
  }

  override async _execAsync(items: Iterable<Item> | null | undefined, signal?: AbortSignal): Promise<Result[]> {
    const self = raw(this);
    const list = batchItems(items, self, "prepAsync");
    const iterator = list[Symbol.iterator]();
    const batchRun = self._openRun(signal);
    const { limiter, ctx: run } = batchRun;
    const stats = self._stats;
    Object.assign(stats, { totalItems: 0, apiCalls: 0, splits: 0 });
    const results: Result[] = [];
    // A batch must also fit the limiter's token budget, or it could never start (its items alone could).
    const tokenBound = Math.min(self.maxBatchTokens ?? Number.POSITIVE_INFINITY, windowTokenBudget(limiter));
    const boundTokens = tokenBound !== Number.POSITIVE_INFINITY;
    let lookahead: IteratorResult<Item> | undefined;

    // Greedy packing: a batch takes items until the next would exceed batchSize or maxBatchTokens.
    const nextBatch = (): { offset: number; batch: Batch<Item> } | undefined => {
      const offset = stats.totalItems;
      const batch: Item[] = [];
      let tokens = 0;
      for (;;) {
        const step = lookahead ?? iterator.next();
        lookahead = undefined;
        if (step.done) break;
        const itemTokens = boundTokens ? self.estimateTokens(step.value) : 0;
        if (batch.length > 0 && tokens + itemTokens > tokenBound) {
          lookahead = step;
          break;
        }
        batch.push(step.value);
        tokens += itemTokens;
        stats.totalItems++;
        if (batch.length >= self.batchSize) break;
      }
      return batch.length > 0 ? { offset, batch: { items: batch, tokens: boundTokens ? tokens : undefined } } : undefined;
    };

    const worker = async (): Promise<void> => {
      while (!run.signal.aborted) {
        try {
          const packed = nextBatch(); // runs estimateTokens: a throw there fails the run too
          if (!packed) return;
          const out = await self._scoped(() => self._runBatch(packed.batch, run));
          for (let i = 0; i < out.length; i++) results[packed.offset + i] = out[i] as Result;
        } catch (error) {
          batchRun.fail(error);
        }
      }
    };
    // No more workers than batches can exist (one item each at least).
    const workerCount = Math.min(self._workerCount(limiter), Array.isArray(list) ? list.length : Number.POSITIVE_INFINITY);
    await batchRun.join(Array.from({ length: workerCount }, worker));
    return results;
  }

  /** One batch through the limiter with retries; split on failure when allowed. @internal */
  async _runBatch(batch: Batch<Item>, run: RunContext): Promise<Result[]> {
    run.signal.throwIfAborted(); // a split half of a run that is over makes no call
    return (await this._attempts(batch, run)) as Result[];
  }

  override async _call(unit: unknown): Promise<unknown> {
    const { items } = unit as Batch<Item>;
    this._stats.apiCalls++;
    const out = await this.execBatchAsync(items);
    if (!Array.isArray(out) || out.length !== items.length) {
      const got = Array.isArray(out) ? `${out.length} results` : `${typeof out} (not an array)`;
      throw new TypeError(
        `${this.constructor.name}.execBatchAsync returned ${got} for a batch of ${items.length} items: return exactly one result per item, in order`,
      );
    }
    return out;
  }

  override _unitTokens(unit: unknown): number {
    const batch = unit as Batch<Item>;
    if (batch.tokens !== undefined) return batch.tokens; // summed while packing
    let sum = 0;
    for (const item of batch.items) sum += this.estimateTokens(item);
    return sum;
  }

  /** The batch's usage: each result's `usageOf`, or its item's estimate where that is undefined (undefined if none is known). */
  override _unitUsage(unit: unknown, result: unknown): number | undefined {
    const { items } = unit as Batch<Item>;
    const results = result as Result[];
    let sum = 0;
    let known = false;
    for (let i = 0; i < results.length; i++) {
      const used = this.usageOf(results[i] as Result);
      if (used !== undefined) known = true;
      sum += used ?? this.estimateTokens(items[i] as Item);
    }
    return known ? sum : undefined;
  }

  override async _exhausted(unit: unknown, error: unknown, run: RunContext): Promise<unknown> {
    const { items } = unit as Batch<Item>;
    if (items.length === 1) return [await this.execFallbackAsync(items[0] as Item, error)];
    // A rate limit is no item's fault: splitting would only multiply the calls that hit it.
    const rateLimited = (this.constructor as typeof ThrottledParallelBatchNode).isRateLimitError(error);
    if (!this.splitOnError || rateLimited) throw error;
    this._stats.splits++;
    const half = Math.ceil(items.length / 2);
    const [left, right] = await Promise.all([
      this._runBatch({ items: items.slice(0, half) }, run),
      this._runBatch({ items: items.slice(half) }, run),
    ]);
    return [...left, ...right];
  }
}
