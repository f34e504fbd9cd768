/**
 * `ThrottledMicroBatchNode`: packs items into batches and makes one call per
 * batch (`execBatchAsync`), so a limit of N calls per minute moves up to
 * N × batchSize items. A batch that fails for good is split in halves down
 * to the bad item, so one bad item costs only itself.
 */
import { raw, type Validator } from "./configure.js";
import { type ThrottleOptions, type ThrottleStats, ThrottledParallelBatchNode } from "./nodes.js";
import type { TokenUsage } from "./limiters/limiter.js";
import type { Weight } from "./limiters/windows.js";
import type { UnitHooks } from "./run/attempt.js";
import { estimateWeight, usageWeight } from "./run/weights.js";
import { DONE } from "./run/pool.js";
import { checkBoolean, checkCount, checkOptionalCount } from "./validate.js";

/** Options of a `ThrottledMicroBatchNode`. */
export interface MicroBatchOptions extends ThrottleOptions {
  /**
   * At most this many items per call.
   * @default 10
   */
  batchSize?: number;
  /**
   * At most this many estimated tokens per call. Packing is greedy and in
   * order; an item that alone exceeds the bound forms a batch of its own.
   * Batches also stay within the limiter's `maxTokensPerWindow`.
   * @default undefined (no bound)
   */
  maxBatchTokens?: number;
  /**
   * Split a batch that failed for good in halves down to single items, so one
   * bad item costs only itself. A batch that failed on a rate limit, or whose
   * `execBatchAsync` returned the wrong number of results, is never split.
   * @default true
   */
  splitOnError?: boolean;
}

/** `execBatchAsync` broke its contract (not one result per item): a bug of the node, not of an item, so never split. */
class BatchShapeError extends TypeError {}

/** Counters of the last run. */
export interface MicroBatchStats extends ThrottleStats {
  /** Items taken from `prepAsync`. */
  totalItems: number;
  /** Calls of `execBatchAsync`, attempts and split halves included. */
  apiCalls: number;
  /** Split operations (one failed batch split in two counts once). */
  splits: number;
}

/** A batch of items: the unit of work (one call). `offset` is its first item's index; `tokens` its summed estimate when packing computed it. */
interface Batch<Item> {
  readonly items: Item[];
  readonly offset: number;
  readonly tokens?: Weight;
}

/** `a + b`, part by part. */
function addWeights(a: Weight, b: Weight): Weight {
  return { tokens: a.tokens + b.tokens, inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, costUsd: a.costUsd + b.costUsd };
}

const NO_TOKENS: Weight = Object.freeze({ tokens: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 });

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

  /** `{ totalItems, apiCalls, splits, resumed }` of the last run. */
  override get stats(): MicroBatchStats {
    return { ...this._stats, resumed: this._resumed ?? 0 };
  }

  /** Packs the items into batches and runs them; `onResult` sees each item's result (durable runs save there). @internal */
  override async _runItems(
    list: Iterable<Item>,
    signal: AbortSignal | undefined,
    onResult?: (index: number, result: Result) => void,
  ): Promise<Result[]> {
    const self = raw(this);
    const iterator = list[Symbol.iterator]();
    const stats = self._stats;
    Object.assign(stats, { totalItems: 0, apiCalls: 0, splits: 0 });
    const results: Result[] = [];
    let tokenBound = self.maxBatchTokens ?? Number.POSITIVE_INFINITY;
    let lookahead: IteratorResult<Item> | undefined;

    // Greedy packing: a batch takes items until the next would exceed batchSize or the token bound.
    const nextBatch = (): Batch<Item> | typeof DONE => {
      const offset = stats.totalItems;
      const batch: Item[] = [];
      const boundTokens = tokenBound !== Number.POSITIVE_INFINITY;
      let tokens = NO_TOKENS;
      for (;;) {
        const step = lookahead ?? iterator.next();
        lookahead = undefined;
        if (step.done) break;
        const itemTokens = boundTokens ? estimateWeight("estimateTokens", self.estimateTokens(step.value)) : NO_TOKENS;
        if (batch.length > 0 && tokens.tokens + itemTokens.tokens > tokenBound) {
          lookahead = step;
          break;
        }
        batch.push(step.value);
        tokens = addWeights(tokens, itemTokens);
        stats.totalItems++;
        if (batch.length >= self.batchSize) break;
      }
      if (batch.length === 0) return DONE;
      return boundTokens ? { items: batch, offset, tokens } : { items: batch, offset };
    };
    await self._runUnits<Batch<Item>, Result[]>(
      signal,
      self._batchHooks(),
      nextBatch,
      (_index, out, batch) => {
        for (let i = 0; i < out.length; i++) {
          results[batch.offset + i] = out[i] as Result;
          onResult?.(batch.offset + i, out[i] as Result);
        }
      },
      // No more workers than batches can exist (one item each at least).
      Array.isArray(list) ? list.length : Number.POSITIVE_INFINITY,
      (limiter) => {
        // A batch must also fit the limiter's token budget, or it could never start (its items alone could).
        if (limiter.maxTokensPerWindow !== undefined) tokenBound = Math.min(tokenBound, limiter.maxTokensPerWindow);
      },
    );
    return results;
  }

  /** The engine's view of batches: one call each, split on failure when allowed. @internal */
  _batchHooks(): UnitHooks<Batch<Item>, Result[]> {
    const { classify, retryAfter, setAttempt } = this._itemHooks();
    return {
      classify,
      retryAfter,
      setAttempt,
      call: (batch) => this._callBatch(batch.items),
      estimate: (batch) => batch.tokens ?? this._batchEstimate(batch.items), // summed while packing, when it bounded
      usage: (batch, out) => this._batchUsage(batch.items, out),
      fallback: async (batch, error, rerun) => {
        if (batch.items.length === 1) return [await this.execFallbackAsync(batch.items[0] as Item, error)];
        // A refusal is no item's fault, and a wrong result count is the node's: splitting would only multiply calls.
        if (!this.splitOnError || classify(error) !== undefined || error instanceof BatchShapeError) throw error;
        this._stats.splits++;
        const half = Math.ceil(batch.items.length / 2);
        const [left, right] = await Promise.all([
          rerun({ items: batch.items.slice(0, half), offset: batch.offset }),
          rerun({ items: batch.items.slice(half), offset: batch.offset + half }),
        ]);
        return [...left, ...right];
      },
    };
  }

  /** One call of `execBatchAsync`, held to its contract of one result per item. */
  private async _callBatch(items: Item[]): Promise<Result[]> {
    this._stats.apiCalls++;
    const out = await this.execBatchAsync(items);
    if (!Array.isArray(out) || out.length !== items.length) {
      const got = Array.isArray(out) ? `${out.length} results` : `${typeof out} (not an array)`;
      throw new BatchShapeError(
        `${this.constructor.name}.execBatchAsync returned ${got} for a batch of ${items.length} items: return exactly one result per item, in order`,
      );
    }
    return out;
  }

  /** The summed estimate of a batch's items. */
  private _batchEstimate(items: Item[]): Weight {
    let sum = NO_TOKENS;
    for (const item of items) sum = addWeights(sum, estimateWeight("estimateTokens", this.estimateTokens(item)));
    return sum;
  }

  /** The batch's usage: each result's `usageOf`, or its item's estimate where that is undefined (undefined if none is known). */
  private _batchUsage(items: Item[], results: Result[]): TokenUsage | undefined {
    let sum = NO_TOKENS;
    let known = false;
    for (let i = 0; i < results.length; i++) {
      const estimate = estimateWeight("estimateTokens", this.estimateTokens(items[i] as Item));
      const used = this.usageOf(results[i] as Result);
      if (used !== undefined) known = true;
      sum = addWeights(sum, used === undefined ? estimate : usageWeight("usageOf", used, estimate));
    }
    return known ? sum : undefined;
  }
}
