/**
 * Different parameters per flow instance: `prepAsync` of a
 * `ThrottledAsyncParallelBatchFlow` returns one params object per instance;
 * every node of that instance reads it as `this.params`. Instances run in
 * parallel, at most `maxConcurrentFlows` at once.
 *
 * 1. Users with their own type, region and priority.
 * 2. Documents, each with its own model, temperature, max tokens and summary.
 * 3. Tasks sent to region-specific endpoints.
 * 4. Jobs whose params come from typed config objects (a database, a file...).
 *
 *   npx tsx parameterized-flow-example.ts
 */
import { AsyncNode } from "pocketflow-ts";
import { type FlowThrottleStats, ThrottledAsyncParallelBatchFlow } from "pocketflow-throttled";
import { callLlm, isMain, secondsSince, type SimulatedProvider, sleep, startDemoProvider } from "./utils.js";

/** What the nodes of this example share: the API, where to print, and how long local work takes. */
interface Context {
  api: SimulatedProvider;
  log: (line: string) => void;
  /** Local (non-API) work of 100 units takes this many ms (default 100). */
  workMs: number;
}

type Params = Record<string, unknown>;

interface Shared {
  userData?: Record<number, Params>;
  results?: Record<number, { userId: number; status: string; priority: number }>;
  analyses?: Record<string, { docId: string; model: string; analysis: string }>;
  summaries?: Record<string, { docId: string; summary: string; language: string }>;
  responses?: Record<string, { taskId: string; region: string; endpoint: string; response: string }>;
  jobConfigs?: JobConfig[];
  completedJobs?: Record<string, { jobId: string; status: string; output: string; notified: string }>;
}

/** A node that reads its params and has the example's context. */
abstract class ParamsNode<E> extends AsyncNode<Shared, Params, E> {
  constructor(readonly context: Context) {
    super();
  }
  override async prepAsync() {
    return this.params;
  }
}

// =============================================================================
// Example 1: users with different configurations
// =============================================================================

export class FetchUserNode extends ParamsNode<Params> {
  override async execAsync(params: Params) {
    const { userId, userType = "standard", region = "us" } = params;
    this.context.log(`  [Fetch] User ${userId} (type=${userType}, region=${region})`);
    const reply = await callLlm(`GET /users/${userId}?region=${region}`, { server: this.context.api, maxTokens: 20 });
    return { userId, userType, region, data: reply.text };
  }
  override async postAsync(shared: Shared, params: Params, data: Params) {
    // Keyed by user, so parallel instances never overwrite each other.
    shared.userData ??= {};
    shared.userData[params.userId as number] = data;
    return "process";
  }
}

export class ProcessUserNode extends ParamsNode<{ userId: number; status: string; priority: number }> {
  override async execAsync(params: Params) {
    const userId = params.userId as number;
    const priority = (params.priority as number | undefined) ?? 1;
    // Premium users take half the processing time.
    const ms = params.userType === "premium" ? this.context.workMs / 2 : this.context.workMs;
    this.context.log(`  [Process] User ${userId} (priority=${priority}, time=${ms} ms)`);
    await sleep(ms);
    return { userId, status: "processed", priority };
  }
  override async postAsync(shared: Shared, params: Params, result: { userId: number; status: string; priority: number }) {
    shared.results ??= {};
    shared.results[params.userId as number] = result;
    return "default";
  }
}

/** 3 users at a time; each user's own type, region and priority. */
export class UserProcessingFlow extends ThrottledAsyncParallelBatchFlow<Shared> {
  override maxConcurrentFlows = 3;
  override async prepAsync() {
    return [
      { userId: 1, userType: "premium", region: "us", priority: 3 },
      { userId: 2, userType: "standard", region: "eu", priority: 1 },
      { userId: 3, userType: "premium", region: "asia", priority: 2 },
      { userId: 4, userType: "standard", region: "us", priority: 1 },
      { userId: 5, userType: "premium", region: "eu", priority: 3 },
      { userId: 6, userType: "standard", region: "asia", priority: 2 },
    ];
  }
}

// =============================================================================
// Example 2: documents with different LLM settings
// =============================================================================

export class AnalyzeDocumentNode extends ParamsNode<{ docId: string; model: string; analysis: string }> {
  override async execAsync(params: Params) {
    const docId = params.docId as string;
    const model = (params.model as string | undefined) ?? "gpt-4o-mini";
    const temperature = (params.temperature as number | undefined) ?? 0.7;
    const maxTokens = (params.maxTokens as number | undefined) ?? 1000;
    this.context.log(`  [Analyze] Doc ${docId} with ${model} (temperature=${temperature}, maxTokens=${maxTokens})`);
    const reply = await callLlm(`Analyze document ${docId}`, { server: this.context.api, model, maxTokens });
    return { docId, model: reply.model, analysis: reply.text };
  }
  override async postAsync(shared: Shared, params: Params, analysis: { docId: string; model: string; analysis: string }) {
    shared.analyses ??= {};
    shared.analyses[params.docId as string] = analysis;
    return "summarize";
  }
}

export class SummarizeDocumentNode extends ParamsNode<{ docId: string; summary: string; language: string }> {
  override async execAsync(params: Params) {
    const docId = params.docId as string;
    const length = (params.summaryLength as string | undefined) ?? "medium";
    const language = (params.outputLanguage as string | undefined) ?? "english";
    this.context.log(`  [Summarize] Doc ${docId} (${length} summary in ${language})`);
    await callLlm(`Summarize document ${docId} (${length}) in ${language}`, { server: this.context.api, maxTokens: 200 });
    return { docId, summary: `${length.toUpperCase()} summary of doc ${docId} in ${language}`, language };
  }
  override async postAsync(shared: Shared, params: Params, summary: { docId: string; summary: string; language: string }) {
    shared.summaries ??= {};
    shared.summaries[params.docId as string] = summary;
    return "default";
  }
}

/** 2 documents at a time, each with its own model and settings. */
export class DocumentProcessingFlow extends ThrottledAsyncParallelBatchFlow<Shared> {
  override maxConcurrentFlows = 2;
  override async prepAsync() {
    return [
      { docId: "report_q1", model: "gpt-4o", temperature: 0.3, maxTokens: 2000, summaryLength: "detailed", outputLanguage: "english" },
      // Low temperature for legal documents.
      { docId: "contract_v2", model: "gpt-4o", temperature: 0.1, maxTokens: 3000, summaryLength: "detailed", outputLanguage: "english" },
      // A cheaper model for emails.
      { docId: "email_thread", model: "gpt-4o-mini", temperature: 0.7, maxTokens: 500, summaryLength: "brief", outputLanguage: "english" },
      { docId: "meeting_notes", model: "gpt-4o-mini", temperature: 0.5, maxTokens: 1000, summaryLength: "medium", outputLanguage: "spanish" },
    ];
  }
}

// =============================================================================
// Example 3: region-specific endpoints
// =============================================================================

const ENDPOINTS: Record<string, string> = {
  us: "https://api.us.example.com",
  eu: "https://api.eu.example.com",
  asia: "https://api.asia.example.com",
};

export class RegionalApiNode extends ParamsNode<{ taskId: string; region: string; endpoint: string; response: string }> {
  override async execAsync(params: Params) {
    const taskId = params.taskId as string;
    const region = params.region as string;
    const timeout = (params.timeout as number | undefined) ?? 30;
    const endpoint = ENDPOINTS[region] ?? (ENDPOINTS.us as string);
    this.context.log(`  [API] Task ${taskId} -> ${endpoint} (timeout=${timeout}s)`);
    // The simulated provider stands in for every regional endpoint.
    await callLlm(`POST ${endpoint}/tasks/${taskId}`, { server: this.context.api, maxTokens: 20 });
    return { taskId, region, endpoint, response: `Response from ${region} for task ${taskId}` };
  }
  override async postAsync(
    shared: Shared,
    params: Params,
    response: { taskId: string; region: string; endpoint: string; response: string },
  ) {
    shared.responses ??= {};
    shared.responses[params.taskId as string] = response;
    return "default";
  }
}

/** 4 tasks at a time across 3 regions, each with its own key and timeout. */
export class MultiRegionFlow extends ThrottledAsyncParallelBatchFlow<Shared> {
  override maxConcurrentFlows = 4;
  override async prepAsync() {
    return [
      { taskId: "task_1", region: "us", apiKey: "us_key_123", timeout: 30 },
      { taskId: "task_2", region: "eu", apiKey: "eu_key_456", timeout: 45 },
      { taskId: "task_3", region: "asia", apiKey: "asia_key_789", timeout: 60 },
      { taskId: "task_4", region: "us", apiKey: "us_key_123", timeout: 30 },
      { taskId: "task_5", region: "eu", apiKey: "eu_key_456", timeout: 45 },
    ];
  }
}

// =============================================================================
// Example 4: params from typed configs (a database, a config file...)
// =============================================================================

/** A job's configuration, as loaded from somewhere else. */
export class JobConfig {
  constructor(
    readonly jobId: string,
    readonly inputFile: string,
    readonly outputFormat: string,
    readonly quality: string,
    readonly notifyEmail: string,
  ) {}

  toParams(): Params {
    return {
      jobId: this.jobId,
      inputFile: this.inputFile,
      outputFormat: this.outputFormat,
      quality: this.quality,
      notifyEmail: this.notifyEmail,
    };
  }
}

export class ProcessJobNode extends ParamsNode<{ jobId: string; status: string; output: string }> {
  override async execAsync(params: Params) {
    const jobId = params.jobId as string;
    const inputFile = params.inputFile as string;
    const outputFormat = params.outputFormat as string;
    this.context.log(`  [Job] ${jobId}: ${inputFile} -> ${outputFormat} (${params.quality} quality)`);
    await sleep(this.context.workMs * 2);
    return { jobId, status: "completed", output: `${inputFile.replace(".", "_")}.${outputFormat}` };
  }
  override async postAsync(shared: Shared, params: Params, result: { jobId: string; status: string; output: string }) {
    shared.completedJobs ??= {};
    shared.completedJobs[params.jobId as string] = { ...result, notified: params.notifyEmail as string };
    return "default";
  }
}

/** 2 jobs at a time; the params come from the configs in the shared store. */
export class JobProcessingFlow extends ThrottledAsyncParallelBatchFlow<Shared> {
  override maxConcurrentFlows = 2;
  override async prepAsync(shared: Shared) {
    return (shared.jobConfigs ?? []).map((config) => config.toParams());
  }
}

// =============================================================================
// Running the examples
// =============================================================================

export interface ParameterizedReport {
  users: Shared["results"];
  summaries: Shared["summaries"];
  responses: Shared["responses"];
  completedJobs: Shared["completedJobs"];
  stats: FlowThrottleStats[];
}

export interface ParameterizedOptions {
  latencyMs?: number | readonly [number, number];
  workMs?: number;
  log?: (line: string) => void;
}

export async function runParameterizedExamples(options: ParameterizedOptions = {}): Promise<ParameterizedReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const api = await startDemoProvider({ latencyMs: options.latencyMs ?? [80, 150] });
  const context: Context = { api, log, workMs: options.workMs ?? 100 };
  const heading = (title: string) => log(`\n${"=".repeat(70)}\n${title}\n${"=".repeat(70)}`);
  try {
    heading("Example 1: User processing with different configs");
    const fetch = new FetchUserNode(context);
    fetch.next(new ProcessUserNode(context), "process");
    const userFlow = new UserProcessingFlow(fetch);
    const users: Shared = {};
    log(`\nProcessing 6 users with maxConcurrentFlows=${userFlow.maxConcurrentFlows}`);
    log("Each user has its own userType, region and priority\n");
    let start = performance.now();
    await userFlow.runAsync(users);
    log(`\nResults (${secondsSince(start).toFixed(2)} s):`);
    for (const [userId, result] of Object.entries(users.results ?? {})) log(`  User ${userId}: ${JSON.stringify(result)}`);
    log(`\nFlow stats: ${JSON.stringify(userFlow.stats)}`);

    heading("Example 2: Document processing with different LLM configs");
    const analyze = new AnalyzeDocumentNode(context);
    analyze.next(new SummarizeDocumentNode(context), "summarize");
    const documentFlow = new DocumentProcessingFlow(analyze);
    const documents: Shared = {};
    log(`\nProcessing 4 documents with maxConcurrentFlows=${documentFlow.maxConcurrentFlows}`);
    log("Each document has its own model, temperature, summary length and language\n");
    start = performance.now();
    await documentFlow.runAsync(documents);
    log(`\nSummaries (${secondsSince(start).toFixed(2)} s):`);
    for (const [docId, summary] of Object.entries(documents.summaries ?? {})) log(`  ${docId}: ${summary.summary}`);

    heading("Example 3: Multi-region API calls");
    const regionFlow = new MultiRegionFlow(new RegionalApiNode(context));
    const regions: Shared = {};
    log(`\nRunning 5 tasks across 3 regions with maxConcurrentFlows=${regionFlow.maxConcurrentFlows}`);
    log("Each task has its own region, API key and timeout\n");
    start = performance.now();
    await regionFlow.runAsync(regions);
    log(`\nResponses (${secondsSince(start).toFixed(2)} s):`);
    for (const [taskId, response] of Object.entries(regions.responses ?? {}).sort()) log(`  ${taskId}: ${response.response}`);

    heading("Example 4: Params from an external source");
    const jobs: Shared = {
      jobConfigs: [
        new JobConfig("job_001", "video1.mp4", "webm", "high", "user1@example.com"),
        new JobConfig("job_002", "video2.mov", "mp4", "medium", "user2@example.com"),
        new JobConfig("job_003", "audio1.wav", "mp3", "high", "user1@example.com"),
        new JobConfig("job_004", "image1.png", "webp", "low", "user3@example.com"),
      ],
    };
    const jobFlow = new JobProcessingFlow(new ProcessJobNode(context));
    log(`\nProcessing ${jobs.jobConfigs?.length} jobs with maxConcurrentFlows=${jobFlow.maxConcurrentFlows}`);
    log("Job configs loaded from an external source (simulated)\n");
    start = performance.now();
    await jobFlow.runAsync(jobs);
    log(`\nCompleted jobs (${secondsSince(start).toFixed(2)} s):`);
    for (const [jobId, job] of Object.entries(jobs.completedJobs ?? {})) log(`  ${jobId}: ${job.output} (notify: ${job.notified})`);

    heading("Summary: how params flow");
    log(`
  prepAsync(shared) returns one params object per flow instance:
    [{ userId: 1, userType: "premium" }, { userId: 2, userType: "standard" }, ...]

  Instance 1                     Instance 2
  NodeA  this.params =           NodeA  this.params =
         { userId: 1, ... }             { userId: 2, ... }
    |                              |
  NodeB  this.params =  <-- parallel -->  NodeB  this.params =
         { userId: 1, ... }             { userId: 2, ... }

  - Every node of an instance sees the same params (merged over the flow's own params).
  - Instances run in parallel, at most maxConcurrentFlows at once.
  - Store results under a key of the instance (userId, docId...) so instances never collide.
  - prepAsync can load the params from anywhere: a database, a file, an API.`);
    return {
      users: users.results,
      summaries: documents.summaries,
      responses: regions.responses,
      completedJobs: jobs.completedJobs,
      stats: [userFlow.stats, documentFlow.stats, regionFlow.stats, jobFlow.stats],
    };
  } finally {
    await api.stop();
  }
}

if (isMain(import.meta.url)) await runParameterizedExamples();
