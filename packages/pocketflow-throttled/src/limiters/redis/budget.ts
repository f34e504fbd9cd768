/** Budget periods kept in the limiter's Redis: what makes a budget shared across processes. */
import type { BudgetAmount, BudgetRules, BudgetStore, ReserveReply } from "../../ledger/budget.js";
import { BUDGET_ADJUST, BUDGET_RESERVE } from "./scripts/budget.js";
import type { RedisStore } from "./store.js";

const KINDS = { 1: "maxRequests", 2: "maxTokens", 3: "maxCostUsd" } as const;

function limitsOf(rules: BudgetRules): number[] {
  return [rules.maxRequests ?? -1, rules.maxTokens ?? -1, rules.maxCostUsd ?? -1, rules.alertAt];
}

export class RedisBudgetStore implements BudgetStore {
  constructor(
    private readonly store: RedisStore,
    private readonly prefix: string,
  ) {}

  private base(key: string, rules: BudgetRules): string {
    return `${this.prefix}:budget:${key}:${rules.periodSeconds}`;
  }

  async reserve(key: string, ask: BudgetAmount, rules: BudgetRules): Promise<ReserveReply> {
    const reply = (await this.store.call(
      BUDGET_RESERVE,
      [this.base(key, rules)],
      [rules.periodSeconds as number, ask.requests, ask.tokens, ask.costUsd, ...limitsOf(rules)],
    )) as unknown[];
    if (Number(reply[0]) === 0) {
      return { ok: false, kind: KINDS[Number(reply[1]) as 1 | 2 | 3], spent: Number(reply[2]), limit: Number(reply[3]) };
    }
    const spent = { requests: Number(reply[2]), tokens: Number(reply[3]), costUsd: Number(reply[4]) };
    return { ok: true, period: Number(reply[1]), spent, alert: Number(reply[5]) === 1 };
  }

  async adjust(key: string, period: number, delta: BudgetAmount, rules: BudgetRules): Promise<{ spent: BudgetAmount; alert: boolean }> {
    const reply = (await this.store.call(
      BUDGET_ADJUST,
      [this.base(key, rules)],
      [period, delta.requests, delta.tokens, delta.costUsd, ...limitsOf(rules)],
    )) as unknown[];
    return { spent: { requests: Number(reply[0]), tokens: Number(reply[1]), costUsd: Number(reply[2]) }, alert: Number(reply[3]) === 1 };
  }
}
