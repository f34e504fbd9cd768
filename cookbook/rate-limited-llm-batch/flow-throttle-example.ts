/**
 * Flow-level throttling: `ThrottledAsyncParallelBatchFlow` runs one copy of a
 * multi-node flow per item (user, document...) and limits how many copies run
 * at once and start per minute.
 *
 * 1. Basic: 20 users through profile -> orders, 5 users at a time.
 * 2. Nested: 15 users, 5 at a time, each fetching 4 endpoints with a
 *    `ThrottledParallelBatchNode` of 3 at a time: at most 5 × 3 = 15 calls in flight.
 * 3. Presets: `FlowPresets` as flow options.
 *
 * The "API" is the embedded simulated provider; it counts the calls in flight.
 *
 *   npx tsx flow-throttle-example.ts
 */
import { AsyncNode } from "pocketflow-ts";
import {
  type FlowThrottleStats,
  FlowPresets,
  ThrottledAsyncParallelBatchFlow,
  ThrottledParallelBatchNode,
} from "pocketflow-throttled";
import { callLlm, isMain, secondsSince, type SimulatedProvider, startDemoProvider } from "./utils.js";

interface Shared {
  userIds: number[];
  profiles?: Record<number, string>;
  orders?: Record<number, string>;
  userData?: Record<number, string[]>;
}

/** One API call: a request for `endpoint` to the simulated provider. */
async function callApi(api: SimulatedProvider, endpoint: string): Promise<string> {
  return (await callLlm(`GET ${endpoint}`, { server: api, maxTokens: 20 })).text;
}

// =============================================================================
// Example 1: basic flow throttling
// =============================================================================

/** Fetches the profile of `params.userId`, then hands over to the orders node. */
export class FetchUserProfileNode extends AsyncNode<Shared, number, string> {
  constructor(readonly api: SimulatedProvider) {
    super();
  }
  override async prepAsync() {
    return this.params.userId as number;
  }
  override async execAsync(userId: number) {
    return callApi(this.api, `/users/${userId}/profile`);
  }
  override async postAsync(shared: Shared, userId: number, profile: string) {
    shared.profiles ??= {};
    shared.profiles[userId] = profile;
    return "fetch_orders";
  }
}

export class FetchUserOrdersNode extends AsyncNode<Shared, number, string> {
  constructor(readonly api: SimulatedProvider) {
    super();
  }
  override async prepAsync() {
    return this.params.userId as number;
  }
  override async execAsync(userId: number) {
    return callApi(this.api, `/users/${userId}/orders`);
  }
  override async postAsync(shared: Shared, userId: number, orders: string) {
    shared.orders ??= {};
    shared.orders[userId] = orders;
    return "default";
  }
}

/** At most 5 users in progress and 60 started per minute, however many users there are. */
export class BasicUserFlow extends ThrottledAsyncParallelBatchFlow<Shared> {
  override maxConcurrentFlows = 5;
  override maxFlowsPerMinute = 60;
  override async prepAsync(shared: Shared) {
    return shared.userIds.map((userId) => ({ userId }));
  }
}

// =============================================================================
// Example 2: nested throttling (flow + node)
// =============================================================================

/** Four API calls per user, at most 3 at once (the node's own limit holds per flow instance). */
export class FetchUserDataNode extends ThrottledParallelBatchNode<Shared, string, string> {
  override maxConcurrent = 3;
  constructor(readonly api: SimulatedProvider) {
    super();
  }
  override async prepAsync() {
    const userId = this.params.userId as number;
    return ["profile", "orders", "preferences", "notifications"].map((part) => `/users/${userId}/${part}`);
  }
  override async execAsync(endpoint: string) {
    return callApi(this.api, endpoint);
  }
  override async postAsync(shared: Shared, _endpoints: unknown, results: string[]) {
    shared.userData ??= {};
    shared.userData[this.params.userId as number] = results;
    return "default";
  }
}

/** At most 5 users at once; with 3 calls per user, at most 15 calls in flight. */
export class NestedThrottledFlow extends ThrottledAsyncParallelBatchFlow<Shared> {
  override maxConcurrentFlows = 5;
  override async prepAsync(shared: Shared) {
    return shared.userIds.map((userId) => ({ userId }));
  }
}

// =============================================================================
// Running the examples
// =============================================================================

export interface FlowRunFigures {
  users: number;
  usersDone: number;
  apiCalls: number;
  /** Most calls in flight at the API. */
  peakConcurrency: number;
  /** The most calls the limits allow in flight. */
  limit: number;
  seconds: number;
  stats: FlowThrottleStats;
}

export interface FlowExamplesReport {
  basic: FlowRunFigures;
  nested: FlowRunFigures;
  presets: { maxConcurrentFlows: number; maxFlowsPerMinute: number | undefined; usersDone: number };
}

export interface FlowExamplesOptions {
  basicUsers?: number;
  nestedUsers?: number;
  latencyMs?: number | readonly [number, number];
  log?: (line: string) => void;
}

export async function runFlowThrottleExamples(options: FlowExamplesOptions = {}): Promise<FlowExamplesReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const api = await startDemoProvider({ latencyMs: options.latencyMs ?? [50, 150] });
  try {
    // --- 1. Basic -------------------------------------------------------------------------------------------
    log(`${"=".repeat(60)}\nExample 1: Basic flow throttling\n${"=".repeat(60)}`);
    const profile = new FetchUserProfileNode(api);
    profile.next(new FetchUserOrdersNode(api), "fetch_orders");
    const basicFlow = new BasicUserFlow(profile);
    const basicShared: Shared = { userIds: Array.from({ length: options.basicUsers ?? 20 }, (_, i) => i) };
    api.resetStats();
    let start = performance.now();
    await basicFlow.runAsync(basicShared);
    const basic: FlowRunFigures = {
      users: basicShared.userIds.length,
      usersDone: Object.keys(basicShared.orders ?? {}).length,
      apiCalls: api.stats.answered,
      peakConcurrency: api.stats.maxConcurrentSeen,
      limit: basicFlow.maxConcurrentFlows,
      seconds: secondsSince(start),
      stats: basicFlow.stats,
    };
    log("\nResults:");
    log(`  - Users processed: ${basic.usersDone}/${basic.users}`);
    log(`  - Total API calls: ${basic.apiCalls}`);
    log(`  - Max concurrent API calls: ${basic.peakConcurrency} (5 flows, one call at a time each)`);
    log(`  - Time elapsed: ${basic.seconds.toFixed(2)} s`);
    log(`  - Flow stats: ${JSON.stringify(basic.stats)}`);

    // --- 2. Nested ------------------------------------------------------------------------------------------
    log(`\n${"=".repeat(60)}\nExample 2: Nested throttling (flow + node)\n${"=".repeat(60)}`);
    const dataNode = new FetchUserDataNode(api);
    const nestedFlow = new NestedThrottledFlow(dataNode);
    const nestedShared: Shared = { userIds: Array.from({ length: options.nestedUsers ?? 15 }, (_, i) => i) };
    api.resetStats();
    start = performance.now();
    await nestedFlow.runAsync(nestedShared);
    const nested: FlowRunFigures = {
      users: nestedShared.userIds.length,
      usersDone: Object.keys(nestedShared.userData ?? {}).length,
      apiCalls: api.stats.answered,
      peakConcurrency: api.stats.maxConcurrentSeen,
      limit: nestedFlow.maxConcurrentFlows * dataNode.maxConcurrent,
      seconds: secondsSince(start),
      stats: nestedFlow.stats,
    };
    log("\nResults:");
    log(`  - Users processed: ${nested.usersDone}/${nested.users}`);
    log(`  - Total API calls: ${nested.apiCalls}`);
    log(`  - Max concurrent API calls (observed): ${nested.peakConcurrency}`);
    log(
      `  - Allowed: ${nestedFlow.maxConcurrentFlows} flows × ${dataNode.maxConcurrent} calls per node = ${nested.limit}`,
    );
    log(`  - Time elapsed: ${nested.seconds.toFixed(2)} s`);
    log(`  - Flow stats: ${JSON.stringify(nested.stats)}`);

    // --- 3. Presets -----------------------------------------------------------------------------------------
    log(`\n${"=".repeat(60)}\nExample 3: Flow presets\n${"=".repeat(60)}`);
    log("\nAvailable flow presets:");
    for (const [name, description] of Object.entries(FlowPresets.listPresets())) log(`  - ${name}: ${description}`);
    log("\nPreset configurations:");
    for (const name of ["CONSERVATIVE", "MODERATE", "AGGRESSIVE", "BATCH_PROCESSING", "ADAPTIVE_MODERATE"] as const) {
      log(`  ${name}: ${JSON.stringify(FlowPresets[name])}`);
    }
    // A preset as flow options.
    const presetProfile = new FetchUserProfileNode(api);
    presetProfile.next(new FetchUserOrdersNode(api), "fetch_orders");
    const presetFlow = new BasicUserFlow(presetProfile, FlowPresets.MODERATE);
    const presetShared: Shared = { userIds: Array.from({ length: 10 }, (_, i) => i) };
    await presetFlow.runAsync(presetShared);
    const presets = {
      maxConcurrentFlows: presetFlow.maxConcurrentFlows,
      maxFlowsPerMinute: presetFlow.maxFlowsPerMinute,
      usersDone: Object.keys(presetShared.orders ?? {}).length,
    };
    log("\nA flow created with FlowPresets.MODERATE (the constructor option wins over the class fields):");
    log(`  maxConcurrentFlows: ${presets.maxConcurrentFlows}`);
    log(`  maxFlowsPerMinute: ${presets.maxFlowsPerMinute}`);
    log(`  users processed: ${presets.usersDone}`);

    log(`\n${"=".repeat(60)}\nSummary\n${"=".repeat(60)}`);
    log(`
1. ThrottledAsyncParallelBatchFlow limits concurrent flow instances: each
   instance runs the whole node graph with its own params (users, documents...).
2. Nested throttling multiplies: flows × calls per node (${nested.limit} here) is the most
   calls in flight. A node's own limiter holds per flow instance; for one limit across
   all instances, give the nodes a shared limiter (see shared-limiter-example.ts).
3. FlowPresets give ready-made flow limits; ADAPTIVE_* are for AdaptiveThrottledBatchFlow.`);
    return { basic, nested, presets };
  } finally {
    await api.stop();
  }
}

if (isMain(import.meta.url)) await runFlowThrottleExamples();
