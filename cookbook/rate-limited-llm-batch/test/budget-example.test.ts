import { describe, expect, it } from "vitest";
import { MONTHLY_APP_LIMIT_USD, runBudgetExample } from "../budget-example.js";

describe("budget-example.ts", () => {
  it("refuses alice's batch once her daily budget would be crossed, alerts her once at 80%, and bob keeps his", async () => {
    const result = await runBudgetExample(() => {});
    expect(result.requests.map((r) => `${r.user}:${r.outcome}`)).toEqual([
      "alice:answered",
      "bob:answered",
      "alice:answered",
      "alice:over budget",
      "carol:answered",
      "carol:over the app's budget",
    ]);
    expect(result.alerts).toHaveLength(1);
    expect(result.alerts[0]).toMatch(/^ALERT alice/);
    // Every answered call is in the ledger, priced: alice's spend stays within her limit, bob's is apart.
    expect(result.totals.requests).toBeGreaterThanOrEqual(9);
    expect(result.totals.costUsd).toBeGreaterThan(0);
    expect(result.totals.costUsd as number).toBeLessThanOrEqual(MONTHLY_APP_LIMIT_USD);
    expect(result.totals.costUsd as number).toBeGreaterThan(MONTHLY_APP_LIMIT_USD * 0.75); // the app's cap is what stopped carol
    expect(Object.keys(result.byModel)).toEqual(["gpt-4o-mini"]);
  });
});
