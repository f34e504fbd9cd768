/**
 * The books of one run: what the attempt path tells the ledger and the
 * budget. `begin` reserves a start's estimate (or refuses it with
 * `BudgetExceeded`); `end` records the attempt and corrects the reservation.
 * Only built when a node or flow has a `ledger` or a `budget`.
 */
import { limiterChannel, publishLimiter } from "../observe/channels.js";
import { BudgetExceeded } from "../errors.js";
import type { Limiter, TokenUsage } from "../limiters/types.js";
import { type Weight, weighsCost } from "../limiters/windows.js";
import { type BudgetAmount, type BudgetRules, type BudgetStore, MemoryBudgetStore } from "./budget.js";
import { type Recorded, UsageLedger } from "./ledger.js";

/** A reservation held by one attempt. */
export interface Hold {
  readonly key: string;
  readonly period: number;
  readonly ask: BudgetAmount;
}

/** A store that shares budgets (a `RedisLimiter`'s), if the limiter offers one. */
function sharedStore(limiter: Limiter): BudgetStore | undefined {
  const offer = (limiter as { budgetStore?: () => BudgetStore }).budgetStore;
  return typeof offer === "function" ? offer.call(limiter) : undefined;
}

export class Books {
  /** The budget needs a token estimate for every start. */
  readonly needsEstimate: boolean;
  /** The limiter has windows of dollars: estimates are priced and settled with the attempt's cost. */
  readonly costs: boolean;
  private readonly ledger: UsageLedger | undefined;
  private readonly pricing: UsageLedger;
  private readonly store: BudgetStore | undefined;

  /**
   * `memory`: the node's own periods, kept across its runs when the budget
   * has a `periodSeconds` (a fresh one per run otherwise).
   */
  constructor(
    ledger: UsageLedger | undefined,
    private readonly budget: BudgetRules | undefined,
    limiter: Limiter,
    memory: () => BudgetStore,
    private readonly source: string,
  ) {
    this.ledger = ledger;
    // Cost limits need prices even without a ledger of the user's.
    this.pricing = ledger ?? new UsageLedger({ warn: () => {} });
    this.costs = weighsCost(limiter.windows);
    this.needsEstimate = this.costs || (budget !== undefined && (budget.maxTokens !== undefined || budget.maxCostUsd !== undefined));
    if (budget === undefined) this.store = undefined;
    else if (budget.periodSeconds === undefined) this.store = new MemoryBudgetStore();
    else this.store = sharedStore(limiter) ?? memory();
  }

  /** Reserves a start of `unit` weighing `weight`; throws `BudgetExceeded`, or the key function's error. */
  begin(unit: unknown, weight: Weight): Hold | undefined | Promise<Hold | undefined> {
    const budget = this.budget;
    if (budget === undefined) return undefined;
    const key = budget.key === undefined ? "" : keyOf(budget, unit);
    const ask: BudgetAmount = {
      requests: 1,
      tokens: weight.tokens,
      costUsd: budget.maxCostUsd === undefined ? 0 : weight.costUsd || (this.pricing.estimateCost(this.model, weight.inputTokens, weight.outputTokens) ?? 0),
    };
    const reply = (this.store as BudgetStore).reserve(key, ask, budget);
    const held = (r: Awaited<typeof reply>): Hold => {
      if (!r.ok) {
        throw new BudgetExceeded(
          `${this.source}: a start would cross the budget${key === "" ? "" : ` of ${JSON.stringify(key)}`}: ${r.kind} ${r.limit}, ${r.spent} spent`,
          { spent: r.spent, limit: r.limit, kind: r.kind, key },
        );
      }
      if (r.alert) this.alert(key, r.spent);
      return { key, period: r.period, ask };
    };
    return reply instanceof Promise ? reply.then(held) : held(reply);
  }

  /** Resolves when the first attempt priced without a model ends (`modelKnown`); undefined before it starts. */
  private probe: Promise<void> | undefined;
  /** Ends `probe`; undefined once it ended. */
  private endProbe: (() => void) | undefined;

  /**
   * Resolves when estimates can be priced: at once when a model is known (or
   * the first answer came), else for the first caller, who goes alone; the
   * others wait for its attempt to end, or for `signal`.
   */
  modelKnown(signal: AbortSignal): Promise<void> | undefined {
    if (this.model !== undefined) return undefined;
    const probe = this.probe;
    if (probe === undefined) {
      this.probe = new Promise<void>((resolve) => {
        this.endProbe = resolve;
      });
      return undefined;
    }
    return new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      signal.addEventListener("abort", stop, { once: true });
      void probe.then(() => {
        signal.removeEventListener("abort", stop);
        resolve();
      });
    });
  }

  /** An attempt ended (an answer, an error, a refused start): the first one ends the wait of `modelKnown`. */
  attemptEnded(): void {
    this.endProbe?.();
    this.endProbe = undefined;
  }

  /** The model that prices estimates: the budget's, else the latest one recorded. */
  private get model(): string | undefined {
    return this.budget?.model ?? this.pricing.lastModel;
  }

  /** `weight` with its cost estimated at the model's price, when the limiter weighs dollars and the estimate gave none. */
  priced(weight: Weight): Weight {
    if (!this.costs || weight.costUsd !== 0) return weight;
    const costUsd = this.pricing.estimateCost(this.model, weight.inputTokens, weight.outputTokens);
    return costUsd === undefined || costUsd === 0 ? weight : { ...weight, costUsd };
  }

  /** Records one ended attempt (in the ledger, or for pricing only); `undefined` when nothing reported usage. */
  record(unit: unknown, hold: Hold | undefined, value: unknown, usage: number | TokenUsage | undefined, failed: boolean): Recorded | undefined {
    const target = this.ledger ?? (hold !== undefined || this.costs ? this.pricing : undefined);
    const recorded = target?._attemptEnded(unit, value, usage, failed);
    this.attemptEnded();
    return recorded;
  }

  /** The attempt ended: record it, and replace its reservation by what it used. */
  end(unit: unknown, hold: Hold | undefined, value: unknown, usage: number | TokenUsage | undefined, failed: boolean): void | Promise<void> {
    return this.correct(hold, this.record(unit, hold, value, usage, failed));
  }

  /** Replaces a reservation by what the attempt used (`recorded`, from `record`). */
  correct(hold: Hold | undefined, recorded: Recorded | undefined): void | Promise<void> {
    if (hold === undefined || recorded === undefined) return;
    const delta: BudgetAmount = {
      requests: 0,
      tokens: recorded.tokens - hold.ask.tokens,
      costUsd: recorded.costUsd === undefined ? 0 : recorded.costUsd - hold.ask.costUsd,
    };
    const budget = this.budget as BudgetRules;
    const reply = (this.store as BudgetStore).adjust(hold.key, hold.period, delta, budget);
    const after = (r: Awaited<typeof reply>): void => {
      if (r.alert) this.alert(hold.key, r.spent);
    };
    return reply instanceof Promise ? reply.then(after) : after(reply);
  }

  /** The start never happened (an abort, a timeout): its reservation is given back. */
  cancel(hold: Hold): void | Promise<void> {
    const { requests, tokens, costUsd } = hold.ask;
    const reply = (this.store as BudgetStore).adjust(hold.key, hold.period, { requests: -requests, tokens: -tokens, costUsd: -costUsd }, this.budget as BudgetRules);
    return reply instanceof Promise ? reply.then(() => {}) : undefined;
  }

  private alert(key: string, spent: BudgetAmount): void {
    const budget = this.budget as BudgetRules;
    for (const [kind, field] of [["maxCostUsd", "costUsd"], ["maxTokens", "tokens"], ["maxRequests", "requests"]] as const) {
      const limit = budget[kind];
      if (limit === undefined || spent[field] < limit * budget.alertAt) continue;
      const alert = { key, kind, spent: spent[field], limit, alertAt: budget.alertAt };
      if (limiterChannel.hasSubscribers) publishLimiter({ event: "budget-alert", source: this.source, ...alert });
      budget.onAlert?.(alert);
      return;
    }
  }
}

function keyOf(budget: BudgetRules, unit: unknown): string {
  const key = (budget.key as (item: unknown) => string)(unit);
  if (typeof key !== "string") throw new TypeError(`budget.key must return a string, got ${typeof key} ${String(key)}`);
  return key;
}
