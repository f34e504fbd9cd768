/**
 * Shared limiters: `LimiterRegistry` holds named limiters that every node,
 * flow and plain function of the process uses together, so one API's limit
 * holds however many pipelines call it.
 *
 * 1. Two flows, a throttled node and plain calls share "main_api": 5 in flight in all.
 * 2. Two APIs (OpenAI-shaped and Anthropic-shaped), each with its own limit.
 * 3. Lazy registration with `getOrCreate`.
 * 4. Watching a limiter's counters with `LimiterRegistry.stats`.
 *
 * The APIs are embedded simulated providers; they count the calls in flight.
 *
 *   npx tsx shared-limiter-example.ts
 */
import { AsyncNode } from "pocketflow-ts";
import { LimiterRegistry, ThrottledAsyncParallelBatchFlow, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { callLlm, isMain, type ProviderName, secondsSince, type SimulatedProvider, startDemoProvider } from "./utils.js";

/** Calls to a simulated API, counted by endpoint (its first path segment). */
class Api {
  readonly callsByEndpoint: Record<string, number> = {};
  constructor(
    readonly server: SimulatedProvider,
    readonly provider: ProviderName = "mock",
  ) {}

  async call(endpoint: string): Promise<string> {
    const group = `/${endpoint.split("/")[1]}`;
    this.callsByEndpoint[group] = (this.callsByEndpoint[group] ?? 0) + 1;
    return (await callLlm(`GET ${endpoint}`, { server: this.server, provider: this.provider, maxTokens: 20 })).text;
  }
}

interface Shared {
  profiles?: string[];
  orders?: string[];
  reports?: string[];
}

// =============================================================================
// Example 1: nodes, flows and plain code sharing one limiter
// =============================================================================

/** Takes a slot of the shared "main_api" limiter for its call. */
export class ProfileFetchNode extends AsyncNode<Shared, number, string> {
  constructor(readonly api: Api) {
    super();
  }
  override async prepAsync() {
    return this.params.userId as number;
  }
  override async execAsync(userId: number) {
    return LimiterRegistry.get("main_api").run(() => this.api.call(`/profiles/${userId}`));
  }
  override async postAsync(shared: Shared, _userId: number, profile: string) {
    shared.profiles ??= [];
    shared.profiles.push(profile);
    return "default";
  }
}

/** Same limiter as `ProfileFetchNode`: the two together stay within its limit. */
export class OrderFetchNode extends AsyncNode<Shared, number, string> {
  constructor(readonly api: Api) {
    super();
  }
  override async prepAsync() {
    return this.params.userId as number;
  }
  override async execAsync(userId: number) {
    return LimiterRegistry.get("main_api").run(() => this.api.call(`/orders/${userId}`));
  }
  override async postAsync(shared: Shared, _userId: number, orders: string) {
    shared.orders ??= [];
    shared.orders.push(orders);
    return "default";
  }
}

/** A throttled batch node that runs under the registry's "main_api" instead of a limiter of its own. */
export class ReportNode extends ThrottledParallelBatchNode<Shared, number, string> {
  constructor(readonly api: Api) {
    super({ limiter: "main_api" });
  }
  override async prepAsync() {
    return Array.from({ length: 15 }, (_, i) => i);
  }
  override async execAsync(report: number) {
    return this.api.call(`/reports/${report}`);
  }
  override async postAsync(shared: Shared, _items: unknown, reports: string[]) {
    shared.reports = reports;
    return "default";
  }
}

/** 20 users at once, far more than the API allows: the shared limiter holds them back. */
class UsersFlow extends ThrottledAsyncParallelBatchFlow<Shared> {
  override maxConcurrentFlows = 20;
  override async prepAsync() {
    return Array.from({ length: 15 }, (_, userId) => ({ userId }));
  }
}

export interface SharedLimiterReport {
  shared: { calls: number; peakConcurrency: number; limit: number; callsByEndpoint: Record<string, number> };
  multipleApis: { openaiPeak: number; openaiLimit: number; anthropicPeak: number; anthropicLimit: number; calls: number };
  lazy: { namesBefore: string[]; namesAfter: string[]; calls: number };
  monitoring: { windowCounts: number[]; acquired: number };
}

export interface SharedLimiterOptions {
  latencyMs?: number | readonly [number, number];
  log?: (line: string) => void;
}

export async function runSharedLimiterExamples(options: SharedLimiterOptions = {}): Promise<SharedLimiterReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const latencyMs = options.latencyMs ?? [50, 100];
  const heading = (title: string) => log(`\n${"=".repeat(60)}\n${title}\n${"=".repeat(60)}`);
  const servers: SimulatedProvider[] = [];
  const start = async (style: "openai" | "anthropic" = "openai") => {
    const server = await startDemoProvider({ latencyMs, style });
    servers.push(server);
    return server;
  };
  try {
    // --- 1 ------------------------------------------------------------------------------------------------------
    heading("Example 1: Nodes, flows and plain calls sharing a limiter");
    LimiterRegistry.reset();
    // Register once, at startup.
    LimiterRegistry.register("main_api", { maxConcurrent: 5, maxPerWindow: 100, windowSeconds: 60 });
    log(`\nRegistered shared limiter "main_api": ${JSON.stringify(LimiterRegistry.listAll().main_api)}`);
    const api = new Api(await start());
    const profileFlow = new UsersFlow(new ProfileFetchNode(api));
    const orderFlow = new UsersFlow(new OrderFetchNode(api));
    const shared: Shared = {};
    const plainCall = () => LimiterRegistry.get("main_api").run(() => api.call("/health"));
    let t = performance.now();
    // Everything at once: 2 flows of 20 instances, a batch node and 5 plain calls.
    await Promise.all([
      profileFlow.runAsync(shared),
      orderFlow.runAsync(shared),
      new ReportNode(api).runAsync(shared),
      ...Array.from({ length: 5 }, plainCall),
    ]);
    const sharedFigures = {
      calls: api.server.stats.answered,
      peakConcurrency: api.server.stats.maxConcurrentSeen,
      limit: 5,
      callsByEndpoint: api.callsByEndpoint,
    };
    log("\nResults (two flows, a batch node and plain calls ran at the same time):");
    log(`  - Total API calls: ${sharedFigures.calls}`);
    log(`  - Max concurrent API calls: ${sharedFigures.peakConcurrency} (shared limit: 5)`);
    log(`  - Calls by endpoint: ${JSON.stringify(sharedFigures.callsByEndpoint)}`);
    log(`  - Time elapsed: ${secondsSince(t).toFixed(2)} s`);

    // --- 2 ------------------------------------------------------------------------------------------------------
    heading("Example 2: Multiple APIs with different limits");
    LimiterRegistry.reset();
    LimiterRegistry.register("openai", { maxConcurrent: 5, maxPerWindow: 60 });
    LimiterRegistry.register("anthropic", { maxConcurrent: 3, maxPerWindow: 30 });
    log("\nRegistered limiters:");
    for (const [name, config] of Object.entries(LimiterRegistry.listAll())) log(`  - ${name}: ${JSON.stringify(config)}`);
    const openaiApi = new Api(await start(), "mock");
    const anthropicApi = new Api(await start("anthropic"), "mock-anthropic");
    t = performance.now();
    await Promise.all([
      ...Array.from({ length: 20 }, () => LimiterRegistry.get("openai").run(() => openaiApi.call("/chat/completions"))),
      ...Array.from({ length: 15 }, () => LimiterRegistry.get("anthropic").run(() => anthropicApi.call("/messages"))),
    ]);
    const multipleApis = {
      openaiPeak: openaiApi.server.stats.maxConcurrentSeen,
      openaiLimit: 5,
      anthropicPeak: anthropicApi.server.stats.maxConcurrentSeen,
      anthropicLimit: 3,
      calls: openaiApi.server.stats.answered + anthropicApi.server.stats.answered,
    };
    log("\nResults:");
    log(`  - Total API calls: ${multipleApis.calls}`);
    log(`  - OpenAI-shaped API: peak ${multipleApis.openaiPeak} in flight (limit 5)`);
    log(`  - Anthropic-shaped API: peak ${multipleApis.anthropicPeak} in flight (limit 3)`);
    log(`  - Time elapsed: ${secondsSince(t).toFixed(2)} s`);

    // --- 3 ------------------------------------------------------------------------------------------------------
    heading("Example 3: Lazy registration with getOrCreate");
    LimiterRegistry.reset();
    const lazyApi = new Api(await start());
    // Creates the limiter on first use, reuses it afterwards.
    const lazyCall = () =>
      LimiterRegistry.getOrCreate("lazy_api", { maxConcurrent: 10, maxPerWindow: 100 }).run(() => lazyApi.call("/lazy"));
    const namesBefore = LimiterRegistry.listNames();
    log(`\nBefore: registered ${JSON.stringify(namesBefore)}`);
    await lazyCall();
    const namesAfter = LimiterRegistry.listNames();
    log(`After the first call: registered ${JSON.stringify(namesAfter)}`);
    log(`  Config: ${JSON.stringify(LimiterRegistry.listAll().lazy_api)}`);
    await Promise.all(Array.from({ length: 5 }, lazyCall));
    log(`After 5 more calls: the same limiter, ${LimiterRegistry.stats("lazy_api").acquired} acquisitions`);
    const lazy = { namesBefore, namesAfter, calls: lazyApi.server.stats.answered };

    // --- 4 ------------------------------------------------------------------------------------------------------
    heading("Example 4: Monitoring limiter stats");
    LimiterRegistry.reset();
    LimiterRegistry.register("monitored_api", { maxConcurrent: 3, maxPerWindow: 10, windowSeconds: 5 });
    const monitoredApi = new Api(await start());
    const windowCounts: number[] = [];
    log("\nMaking 8 calls, watching the window:");
    for (let i = 1; i <= 8; i++) {
      await LimiterRegistry.get("monitored_api").run(() => monitoredApi.call("/monitored"));
      const count = LimiterRegistry.stats("monitored_api").currentWindowCount ?? 0;
      windowCounts.push(count);
      log(`  Call ${i}: window count ${count}`);
    }
    const final = LimiterRegistry.stats("monitored_api");
    log(`\nFinal stats: ${JSON.stringify(final)}`);

    heading("Summary");
    log(`
1. LimiterRegistry holds named limiters for the whole process: register once at
   startup, use by name anywhere (LimiterRegistry.get(name).run(fn), or limiter: "name" on a node).
2. Everything that uses one name shares one limit: flows, nodes and plain calls together.
3. getOrCreate registers on first use: handy in reusable components.
4. LimiterRegistry.stats(name) shows the window and the counters (acquired, throttled, waits).
Across processes, register a Redis-backed limiter under the same name (docs/decision-guide.md).`);
    LimiterRegistry.reset();
    return {
      shared: sharedFigures,
      multipleApis,
      lazy,
      monitoring: { windowCounts, acquired: final.acquired },
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

if (isMain(import.meta.url)) await runSharedLimiterExamples();
