/** The `ledger` and `budget` options nodes and flows share, their checks, and the books of one run. */
import type { Validator } from "../configure.js";
import type { Limiter } from "../limiters/types.js";
import { weighsCost } from "../limiters/windows.js";
import { type BudgetOptions, type BudgetStore, checkBudget, MemoryBudgetStore } from "./budget.js";
import { Books } from "./books.js";
import { UsageLedger } from "./ledger.js";

/** Usage accounting and spending caps of a node or flow. */
export interface LedgerOptions<Item = never> {
  /**
   * Records every attempt that reports usage (results, failed attempts whose
   * error carries usage, manual `ledger.record` calls) and its cost.
   * @default undefined (nothing recorded)
   */
  ledger?: UsageLedger;
  /**
   * Caps spending per period (and per key): a start whose estimate would
   * cross a limit fails with `BudgetExceeded` and no further item starts.
   * @default undefined (no budget)
   */
  budget?: BudgetOptions<Item>;
}

/** Checks of `LedgerOptions`, for `configure`. */
export const LEDGER_VALIDATORS: Readonly<Record<keyof LedgerOptions, Validator>> = {
  ledger: (v) => {
    if (v === undefined || v instanceof UsageLedger) return v;
    throw new TypeError(`ledger must be a UsageLedger, got ${String(v)}`);
  },
  budget: (v) => (checkBudget(v) === undefined ? undefined : v),
};

/** Defaults of `LedgerOptions`, for `configure`. */
export const LEDGER_DEFAULTS: Readonly<Record<keyof LedgerOptions, unknown>> = { ledger: undefined, budget: undefined };

/** Each node's (or flow's) own budget periods, kept across its runs. */
const memories = new WeakMap<object, BudgetStore>();

/** The books of one run of `owner`, or `undefined` when it has neither ledger nor budget (no cost on the attempt path). */
export function booksFor(owner: object, o: { ledger?: unknown; budget?: unknown }, limiter: Limiter, source: string): Books | undefined {
  // A limiter window of dollars needs prices on every attempt, ledger or not.
  if (o.ledger === undefined && o.budget === undefined && !weighsCost(limiter.windows)) return undefined;
  const memory = (): BudgetStore => {
    const known = memories.get(owner);
    if (known !== undefined) return known;
    const store = new MemoryBudgetStore();
    memories.set(owner, store);
    return store;
  };
  return new Books(o.ledger as UsageLedger | undefined, checkBudget(o.budget), limiter, memory, source);
}
