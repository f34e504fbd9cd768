/**
 * Per-user daily budgets, with an alert at 80%, and a ledger of every paid token.
 *
 * Each user's request runs a batch of questions through one node. The node's
 * `budget` keys spending by user (`key: (q) => q.user`) over a day
 * (`periodSeconds: 86_400`); a start whose estimate (prompt plus `max_tokens`,
 * priced at gpt-4o-mini's list price) would cross the user's limit does not
 * happen: that batch fails with `BudgetExceeded` and nothing more of it
 * starts. At 80% of a user's limit `onAlert` fires, once per day. The
 * `UsageLedger` counts what every attempt really used, and what it cost.
 *
 * Above the users, the app has a monthly cap: a budget window of the node's
 * limiter (`{ seconds: 30 days, maxCostUsd, onExceed: "fail" }`), which
 * every request shares whoever asks. Its estimates are priced with the
 * ledger's prices, and each start is settled at what its answer cost.
 *
 * Against the simulated provider (no key needed):
 *   npx tsx budget-example.ts
 */
import { BudgetExceeded, type LedgerTotals, RateLimiter, ThrottledParallelBatchNode, UsageLedger } from "pocketflow-throttled";
import { callLlm, isMain, type LlmResult, type SimulatedProvider, startDemoProvider } from "./utils.js";

const MODEL = "gpt-4o-mini";
const MAX_TOKENS = 60;
/** Each user may spend this many dollars a day. */
export const DAILY_LIMIT_USD = 0.0002;
/** The whole app may spend this many dollars in any 30 days. */
export const MONTHLY_APP_LIMIT_USD = 0.0003;

interface Question {
  user: string;
  text: string;
}

interface Shared {
  questions: Question[];
  answers?: string[];
}

class AnswerNode extends ThrottledParallelBatchNode<Shared, Question, LlmResult> {
  constructor(
    readonly api: SimulatedProvider,
    appLimiter: RateLimiter,
    ledger: UsageLedger,
    onAlert: (line: string) => void,
  ) {
    super({
      maxConcurrent: 2,
      limiter: appLimiter,
      ledger,
      budget: {
        maxCostUsd: DAILY_LIMIT_USD,
        periodSeconds: 86_400,
        key: (q: Question) => q.user,
        model: MODEL,
        onAlert: (a) => onAlert(`ALERT ${a.key}: $${a.spent.toFixed(6)} of $${a.limit} today (${Math.round(a.alertAt * 100)}%)`),
      },
    });
  }

  /** The prompt (about 4 characters a token) and the longest answer asked for. */
  override estimateTokens(q: Question) {
    return { inputTokens: Math.ceil(q.text.length / 4) + 8, outputTokens: MAX_TOKENS };
  }

  override async prepAsync(shared: Shared) {
    return shared.questions;
  }

  override async execAsync(q: Question) {
    return callLlm(q.text, { server: this.api, model: MODEL, maxTokens: MAX_TOKENS });
  }

  override async postAsync(shared: Shared, _q: unknown, results: LlmResult[]) {
    shared.answers = results.map((r) => r.text);
    return undefined;
  }
}

/** One user's request: who, how many questions, and how it ended. */
export interface BudgetRequestOutcome {
  user: string;
  questions: number;
  outcome: "answered" | "over budget" | "over the app's budget";
}

export interface BudgetExampleResult {
  requests: BudgetRequestOutcome[];
  alerts: string[];
  totals: LedgerTotals;
  byModel: Record<string, LedgerTotals>;
}

/** Resolves once no call holds the limiter (within 5 s: a call of the demo provider takes at most 20 ms). */
async function inFlightDone(limiter: RateLimiter): Promise<void> {
  for (const end = Date.now() + 5000; limiter.active > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
}

const question = (user: string, i: number): Question => ({ user, text: `Question ${i} from ${user}: what limits an LLM batch?` });

export async function runBudgetExample(log: (line: string) => void = (l) => console.log(l)): Promise<BudgetExampleResult> {
  const api = await startDemoProvider({ latencyMs: [5, 20] });
  const ledger = new UsageLedger();
  const alerts: string[] = [];
  // The app's monthly cap: refused, never waited for.
  const appLimiter = new RateLimiter({ maxConcurrent: 2, windows: [{ seconds: 30 * 86_400, maxCostUsd: MONTHLY_APP_LIMIT_USD, onExceed: "fail" }] });
  const node = new AnswerNode(api, appLimiter, ledger, (line) => {
    alerts.push(line);
    log(`  ${line}`);
  });
  const requests: BudgetRequestOutcome[] = [];
  log(`Per-user daily budget: $${DAILY_LIMIT_USD} (alert at 80%), model ${MODEL}`);
  try {
    // alice's daily budget runs out on her third request, bob's does not; carol then finds the app's month spent.
    for (const [user, count] of [["alice", 3], ["bob", 3], ["alice", 3], ["alice", 3], ["carol", 3], ["carol", 3]] as const) {
      const questions = Array.from({ length: count }, (_, i) => question(user, i));
      try {
        await node.runAsync({ questions });
        requests.push({ user, questions: count, outcome: "answered" });
        log(`${user}: ${count} questions answered`);
      } catch (error) {
        if (!(error instanceof BudgetExceeded)) throw error;
        // The user's budget names its key; the limiter's window has none.
        const app = error.key === "";
        requests.push({ user, questions: count, outcome: app ? "over the app's budget" : "over budget" });
        log(`${user}: refused, BudgetExceeded (${app ? "app" : `key ${error.key}`}: spent $${error.spent.toFixed(6)} of $${error.limit})`);
        // A refused batch rejects at once; its calls already in flight finish on their own. Until they
        // do, their estimates (not yet their real cost) hold their place in the budgets.
        await inFlightDone(appLimiter);
      }
    }
  } finally {
    await api.stop();
  }
  const totals = ledger.totals;
  log("\nLedger:");
  log(`  totals: ${JSON.stringify(totals)}`);
  for (const [model, row] of Object.entries(ledger.byModel)) log(`  ${model}: ${JSON.stringify(row)}`);
  return { requests, alerts, totals, byModel: ledger.byModel };
}

if (isMain(import.meta.url)) await runBudgetExample();
