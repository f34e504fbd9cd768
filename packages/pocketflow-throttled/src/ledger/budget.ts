/**
 * Budgets: windows that fail instead of waiting. Each budget key (a user, a
 * tenant, `""` for all) has fixed periods of `periodSeconds` (or one run);
 * a start reserves its estimate, is refused if that would cross a limit,
 * and its actual usage corrects the reservation when the attempt ends.
 */
import { checkBetween, checkOptions, checkPositive } from "../validate.js";

/** A budget alert: a limit's use crossed `alertAt` (once per key and period). */
export interface BudgetAlert {
  /** The budget's key, `""` for one budget for all. */
  key: string;
  /** Which limit crossed `alertAt`. */
  kind: "maxCostUsd" | "maxTokens" | "maxRequests";
  /** Spent in this period (reservations of starts in flight included). */
  spent: number;
  limit: number;
  /** The fraction that triggered it. */
  alertAt: number;
}

/**
 * The `budget` option of nodes and flows.
 *
 * @example
 * new Summarize({ ledger, budget: { maxCostUsd: 0.5, periodSeconds: 86_400, key: (item) => item.userId, onAlert: (a) => notify(a) } });
 */
export interface BudgetOptions<Item = never> {
  /** At most this many dollars per period (estimates priced by the ledger's prices). @default undefined (no cost limit) */
  maxCostUsd?: number;
  /** At most this many tokens per period. @default undefined (no token limit) */
  maxTokens?: number;
  /** At most this many starts per period. @default undefined (no request limit) */
  maxRequests?: number;
  /**
   * The period's length in seconds: fixed periods (a day: 86,400) that every
   * run of the node, and every process of a `RedisLimiter`, shares.
   * @default undefined (the run: each run starts a fresh budget)
   */
  periodSeconds?: number;
  /** The fraction of a limit at which `onAlert` is called (once per key and period). @default 0.8 */
  alertAt?: number;
  /** Called when a limit's use crosses `alertAt`. @default undefined (no call) */
  onAlert?: (alert: BudgetAlert) => void;
  /**
   * The budget's key for an item (per user, per tenant): each key has its own
   * limits. An error it throws fails that item with it.
   * @default undefined (one budget for all items)
   */
  key?: (item: Item) => string;
  /** The model that prices start estimates. @default the ledger's latest recorded model (before any record, estimates cost 0) */
  model?: string;
}

/** A budget's limits, validated. */
export interface BudgetRules {
  readonly maxCostUsd: number | undefined;
  readonly maxTokens: number | undefined;
  readonly maxRequests: number | undefined;
  readonly periodSeconds: number | undefined;
  readonly alertAt: number;
  readonly onAlert: ((alert: BudgetAlert) => void) | undefined;
  readonly key: ((item: unknown) => string) | undefined;
  readonly model: string | undefined;
}

const KEYS = ["maxCostUsd", "maxTokens", "maxRequests", "periodSeconds", "alertAt", "onAlert", "key", "model"];

function limit(name: string, value: unknown): number | undefined {
  return value === undefined ? undefined : checkPositive(`budget.${name}`, value, true);
}

function fn<T>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") throw new TypeError(`budget.${name} must be a function, got ${String(value)}`);
  return value as T;
}

/** Checks the `budget` option; every error names `budget.<field>`. */
export function checkBudget(value: unknown): BudgetRules | undefined {
  if (value === undefined) return undefined;
  const o = checkOptions("budget", value, KEYS);
  const rules: BudgetRules = {
    maxCostUsd: limit("maxCostUsd", o.maxCostUsd),
    maxTokens: limit("maxTokens", o.maxTokens),
    maxRequests: limit("maxRequests", o.maxRequests),
    periodSeconds: o.periodSeconds === undefined ? undefined : checkPositive("budget.periodSeconds", o.periodSeconds),
    alertAt: o.alertAt === undefined ? 0.8 : checkBetween("budget.alertAt", o.alertAt, 0, 1),
    onAlert: fn("onAlert", o.onAlert),
    key: fn("key", o.key),
    model: o.model === undefined ? undefined : typeof o.model === "string" ? o.model : badModel(o.model),
  };
  if (rules.maxCostUsd === undefined && rules.maxTokens === undefined && rules.maxRequests === undefined) {
    throw new RangeError("budget has no limit: give it maxCostUsd, maxTokens or maxRequests");
  }
  return Object.freeze(rules);
}

function badModel(value: unknown): never {
  throw new TypeError(`budget.model must be a string, got ${String(value)}`);
}

/** What one start asks of a budget, or what its correction adds (may be negative). */
export interface BudgetAmount {
  requests: number;
  tokens: number;
  costUsd: number;
}

/** A store's answer to a reservation. */
export type ReserveReply =
  | { ok: true; period: number; spent: BudgetAmount; alert: boolean }
  | { ok: false; kind: BudgetAlert["kind"]; spent: number; limit: number };

/** Where budget periods are counted: in this process, or shared (a `RedisLimiter`'s store). */
export interface BudgetStore {
  /** Adds `ask` to `key`'s current period unless it would cross a limit; `alert` true the first time a limit's use reaches `alertAt`. */
  reserve(key: string, ask: BudgetAmount, rules: BudgetRules): ReserveReply | Promise<ReserveReply>;
  /** Adds `delta` to period `period` of `key` (the actual usage replacing the estimate). */
  adjust(key: string, period: number, delta: BudgetAmount, rules: BudgetRules): { spent: BudgetAmount; alert: boolean } | Promise<{ spent: BudgetAmount; alert: boolean }>;
}

const LIMITS: ReadonlyArray<readonly [BudgetAlert["kind"], keyof BudgetAmount]> = [
  ["maxRequests", "requests"],
  ["maxTokens", "tokens"],
  ["maxCostUsd", "costUsd"],
];

/** The first limit `spent + ask` would cross, else undefined. */
export function crossed(rules: BudgetRules, spent: BudgetAmount, ask: BudgetAmount): ReserveReply | undefined {
  for (const [kind, field] of LIMITS) {
    const max = rules[kind];
    // A tiny slack so float sums of prices do not refuse a start that exactly fits.
    if (max !== undefined && spent[field] + ask[field] > max + 1e-12) return { ok: false, kind, spent: spent[field], limit: max };
  }
  return undefined;
}

/** The first limit whose use is at or past `alertAt`, else undefined. */
export function alerting(rules: BudgetRules, spent: BudgetAmount): BudgetAlert["kind"] | undefined {
  for (const [kind, field] of LIMITS) {
    const max = rules[kind];
    if (max !== undefined && spent[field] >= max * rules.alertAt) return kind;
  }
  return undefined;
}

interface Period {
  period: number;
  spent: BudgetAmount;
  alerted: boolean;
}

/** Budget periods counted in this process. */
export class MemoryBudgetStore implements BudgetStore {
  private readonly _keys = new Map<string, Period>();

  reserve(key: string, ask: BudgetAmount, rules: BudgetRules): ReserveReply {
    const state = this._current(key, rules);
    const refused = crossed(rules, state.spent, ask);
    if (refused) return refused;
    add(state.spent, ask);
    return { ok: true, period: state.period, spent: { ...state.spent }, alert: this._alert(state, rules) };
  }

  adjust(key: string, period: number, delta: BudgetAmount, rules: BudgetRules): { spent: BudgetAmount; alert: boolean } {
    const state = this._keys.get(key);
    if (state === undefined || state.period !== period) return { spent: { ...delta }, alert: false }; // that period is over
    add(state.spent, delta);
    return { spent: { ...state.spent }, alert: this._alert(state, rules) };
  }

  private _alert(state: Period, rules: BudgetRules): boolean {
    if (state.alerted || alerting(rules, state.spent) === undefined) return false;
    state.alerted = true;
    return true;
  }

  private _current(key: string, rules: BudgetRules): Period {
    const period = rules.periodSeconds === undefined ? 0 : Math.floor(Date.now() / 1000 / rules.periodSeconds);
    let state = this._keys.get(key);
    if (state === undefined || state.period !== period) {
      state = { period, spent: { requests: 0, tokens: 0, costUsd: 0 }, alerted: false };
      this._keys.set(key, state);
    }
    return state;
  }
}

function add(to: BudgetAmount, delta: BudgetAmount): void {
  to.requests += delta.requests;
  to.tokens += delta.tokens;
  to.costUsd += delta.costUsd;
}
