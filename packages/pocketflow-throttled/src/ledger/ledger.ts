/**
 * `UsageLedger`: every paid attempt counted — successes, failures whose
 * error carries usage, and manual records made right after the API call —
 * with its cost from a price table.
 */
import type { TokenUsage } from "../limiters/types.js";
import { readUsage } from "../usage.js";
import { checkPrices, costOf, DEFAULT_PRICES, type PriceTable, priceOf } from "./prices.js";

/** A usage to record: token counts as the provider reported them. */
export interface LedgerUsage extends TokenUsage {
  /** Input tokens read from the provider's prompt cache (part of `inputTokens`). @default 0 */
  cachedInputTokens?: number;
}

/** Options of `ledger.record`. */
export interface RecordOptions {
  /** The model that answered (prices the record). @default undefined (unpriced: cost `undefined`) */
  model?: string;
  /**
   * The item (or micro-batch) whose attempt this is. Inside `execAsync`,
   * pass it: the node then knows this attempt is recorded and does not count
   * it again from the result or the error, and a later failure of the same
   * attempt (a parse error) marks these tokens wasted.
   * @default undefined (a record on its own)
   */
  item?: unknown;
  /** The attempt failed (its tokens are wasted). @default false */
  failed?: boolean;
}

/** Sums over recorded attempts. */
export interface LedgerTotals {
  /** Attempts recorded (each paid call once). */
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** Dollars; `undefined` when some record has no price (an unknown model), never a silent 0. */
  costUsd: number | undefined;
  /** Recorded attempts that failed. */
  failedAttempts: number;
  /** Tokens of attempts that did not give their item's final result (failed attempts). */
  wastedTokens: number;
}

/** Options of a `UsageLedger`. */
export interface UsageLedgerOptions {
  /**
   * Prices per model, in dollars per million tokens, merged over the shipped table.
   * @default DEFAULT_PRICES (dated; check the providers' pages)
   */
  prices?: PriceTable;
  /**
   * Where the one warning per unknown model goes.
   * @default console.warn
   */
  warn?: (message: string) => void;
}

/** What one attempt's record weighed, for a budget's correction. */
export interface Recorded {
  readonly tokens: number;
  /** `undefined` when the model has no price. */
  readonly costUsd: number | undefined;
  /** Its `byModel` row. */
  readonly model: string;
}

const NO_MODEL = "(unknown model)";

type Bag = Record<string, unknown>;

function field(value: unknown, key: string): unknown {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return undefined;
  try {
    return (value as Bag)[key];
  } catch {
    return undefined;
  }
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** Cache reads a result reports: [tokens, whether they are already inside the input count]. */
function cachedOf(value: unknown): [number, boolean] {
  const usage = field(value, "usage");
  const openai = num(field(field(usage, "prompt_tokens_details"), "cached_tokens")) || num(field(field(usage, "input_tokens_details"), "cached_tokens"));
  if (openai > 0) return [openai, true];
  const anthropic = num(field(usage, "cache_read_input_tokens"));
  if (anthropic > 0) return [anthropic, false];
  return [num(field(field(value, "usageMetadata"), "cachedContentTokenCount")), true];
}

function checkUsageCount(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
  }
  return value;
}

interface Row {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number | undefined;
  failedAttempts: number;
  wastedTokens: number;
}

const emptyRow = (): Row => ({ requests: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, failedAttempts: 0, wastedTokens: 0 });

/**
 * Counts every attempt that reports usage, and what it cost.
 *
 * @example
 * const ledger = new UsageLedger();
 * const node = new Summarize({ maxConcurrent: 8, ledger });
 * await node.runAsync(shared);
 * console.log(ledger.totals); // { requests, inputTokens, outputTokens, costUsd, failedAttempts, wastedTokens }
 */
export class UsageLedger {
  /** The prices in force (the shipped table with the given ones over it). */
  readonly prices: PriceTable;
  private readonly _warn: (message: string) => void;
  private readonly _warned = new Set<string>();
  private readonly _total = emptyRow();
  private readonly _byModel = new Map<string, Row>();
  /** Manual records of attempts still running, by item: claimed when the attempt ends. */
  private readonly _open = new Map<unknown, Recorded[]>();
  private _lastModel: string | undefined;

  constructor(options: UsageLedgerOptions = {}) {
    if (options === null || typeof options !== "object") throw new TypeError(`UsageLedger options must be an object, got ${String(options)}`);
    this.prices = options.prices === undefined ? DEFAULT_PRICES : Object.freeze({ ...DEFAULT_PRICES, ...checkPrices(options.prices) });
    this._warn = options.warn ?? ((m) => console.warn(m));
  }

  /** Sums over every recorded attempt. */
  get totals(): LedgerTotals {
    return { ...this._total };
  }

  /** The same sums per model (`"(unknown model)"` for records without one). */
  get byModel(): Record<string, LedgerTotals> {
    const out: Record<string, LedgerTotals> = {};
    for (const [model, row] of this._byModel) out[model] = { ...row };
    return out;
  }

  /** The model of the latest record, for pricing estimates. */
  get lastModel(): string | undefined {
    return this._lastModel;
  }

  /**
   * Records one paid attempt. Call it inside `execAsync` right after the API
   * call, before parsing, with `{ model, item }`, so a parse failure is still counted.
   */
  record(usage: LedgerUsage, options: RecordOptions = {}): void {
    const recorded = this._add(usage, options.model, options.failed === true);
    if (options.item !== undefined) {
      const open = this._open.get(options.item);
      if (open) open.push(recorded);
      else this._open.set(options.item, [recorded]);
    }
  }

  /** Dollars a start of these tokens would cost at `model`'s price; `undefined` without a price. */
  estimateCost(model: string | undefined, inputTokens: number, outputTokens: number): number | undefined {
    const price = model === undefined ? undefined : priceOf(this.prices, model);
    return price === undefined ? undefined : costOf(price, inputTokens, 0, outputTokens);
  }

  /**
   * One attempt of `unit` ended (the run engine's call): its manual records
   * if any (marked wasted when it failed), else what `usage` (or the value
   * itself: a result, an error, its `response` or `cause`) reports.
   * `undefined` when nothing reported usage. @internal
   */
  _attemptEnded(unit: unknown, value: unknown, usage: number | TokenUsage | undefined, failed: boolean): Recorded | undefined {
    const open = this._open.get(unit);
    if (open !== undefined) {
      this._open.delete(unit);
      if (failed) for (const r of open) this._waste(r);
      const first = open[0] as Recorded;
      return open.length === 1 ? first : { tokens: open.reduce((s, r) => s + r.tokens, 0), costUsd: sumCost(open), model: first.model };
    }
    let source = value;
    if (usage === undefined) {
      for (const candidate of failed ? [value, field(value, "response"), field(value, "cause")] : [value]) {
        usage = readUsage(candidate);
        source = candidate;
        if (usage !== undefined) break;
      }
      if (usage === undefined) return undefined;
    }
    const parts: LedgerUsage = typeof usage === "number" ? { tokens: usage } : { ...usage };
    const [cached, inside] = cachedOf(source);
    if (cached > 0) {
      parts.cachedInputTokens = cached;
      if (!inside) parts.inputTokens = (parts.inputTokens ?? 0) + cached;
    }
    const model = field(source, "model") ?? field(source, "modelVersion");
    return this._add(parts, typeof model === "string" ? model : undefined, failed);
  }

  private _add(usage: LedgerUsage, model: string | undefined, failed: boolean): Recorded {
    if (usage === null || typeof usage !== "object") throw new TypeError(`record usage must be { inputTokens?, outputTokens?, tokens? }, got ${String(usage)}`);
    const inputTokens = checkUsageCount("usage.inputTokens", usage.inputTokens);
    const outputTokens = checkUsageCount("usage.outputTokens", usage.outputTokens);
    const cached = checkUsageCount("usage.cachedInputTokens", usage.cachedInputTokens);
    const tokens = usage.tokens === undefined ? inputTokens + outputTokens : checkUsageCount("usage.tokens", usage.tokens);
    if (model !== undefined && typeof model !== "string") throw new TypeError(`record model must be a string, got ${String(model)}`);
    const priced = usage.inputTokens !== undefined || usage.outputTokens !== undefined;
    const price = model === undefined ? undefined : priceOf(this.prices, model);
    const costUsd = price !== undefined && priced ? costOf(price, inputTokens, cached, outputTokens) : undefined;
    if (costUsd === undefined) this._warnOnce(model);
    const name = model ?? NO_MODEL;
    if (model !== undefined) this._lastModel = model;
    const row = this._byModel.get(name) ?? emptyRow();
    this._byModel.set(name, row);
    const recorded: Recorded = { tokens, costUsd, model: name };
    for (const r of [this._total, row]) {
      r.requests++;
      r.inputTokens += inputTokens;
      r.outputTokens += outputTokens;
      r.costUsd = r.costUsd === undefined || costUsd === undefined ? undefined : r.costUsd + costUsd;
    }
    if (failed) this._waste(recorded);
    return recorded;
  }

  private _waste(r: Recorded): void {
    const row = this._byModel.get(r.model);
    for (const target of row ? [this._total, row] : [this._total]) {
      target.failedAttempts++;
      target.wastedTokens += r.tokens;
    }
  }

  private _warnOnce(model: string | undefined): void {
    const name = model ?? NO_MODEL;
    if (this._warned.has(name)) return;
    this._warned.add(name);
    this._warn(
      model === undefined
        ? "UsageLedger: a record has no model (or no input/output split), so its cost is undefined; pass { model } or a result with `model`"
        : `UsageLedger: no price for model ${JSON.stringify(model)}, so its cost is undefined; add it to prices`,
    );
  }
}

function sumCost(records: readonly Recorded[]): number | undefined {
  let sum = 0;
  for (const r of records) {
    if (r.costUsd === undefined) return undefined;
    sum += r.costUsd;
  }
  return sum;
}
