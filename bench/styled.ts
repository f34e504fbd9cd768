/**
 * Provider styles for the bench: the simulated provider in any style, in its
 * own process, called through the real SDKs (their retries off), and one
 * measured run of a throttled node against it (429s, items lost, makespan).
 * Used by section 8 ("provider styles") and by `margin.ts`.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { ThrottledParallelBatchNode, type ThrottleOptions } from "pocketflow-throttled";
import type { ProviderStyle, SimulatedProviderOptions, SimulatedProviderStats } from "pocketflow-throttled/testing";
import { delay } from "./lib.js";

const HOST = fileURLToPath(new URL("./children/styled-host.ts", import.meta.url));

/** A simulated provider of any style in a child process; `start` again for a fresh one. */
export class StyledHost {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 1;

  constructor() {
    this.child = fork(HOST, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (message: { id: number; result?: unknown; error?: string }) => {
      const entry = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error !== undefined) entry?.reject(new Error(`styled provider: ${message.error}`));
      else entry?.resolve(message.result);
    });
    this.child.on("exit", (code) => {
      for (const entry of this.waiting.values()) entry.reject(new Error(`styled provider exited (${code})`));
      this.waiting.clear();
    });
  }

  private ask<T>(request: Record<string, unknown>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ ...request, id });
    });
  }

  start(options: SimulatedProviderOptions): Promise<{ url: string; baseURL: string }> {
    return this.ask({ op: "start", options });
  }
  stats(): Promise<SimulatedProviderStats> {
    return this.ask({ op: "stats" });
  }
  resetStats(): Promise<void> {
    return this.ask({ op: "resetStats" });
  }
  maxInAnyWindow(windowMs: number): Promise<number> {
    return this.ask({ op: "maxInAnyWindow", windowMs });
  }
  async close(): Promise<void> {
    await this.ask({ op: "close" }).catch(() => undefined);
    this.child.disconnect();
    await new Promise((resolve) => (this.child.exitCode === null ? this.child.once("exit", resolve) : resolve(undefined)));
  }
}

/** An answer as the node returns it: text, the provider's usage object (for `readUsage`) and the response headers. */
export interface Answer {
  text: string;
  usage: unknown;
  headers?: Headers;
  /** The prompt it answers (set by the measured node, to check the order). */
  prompt?: string;
}

/** One call of `style`'s real SDK, retries off, asking for `maxTokens` output tokens. */
export function callerFor(style: ProviderStyle, baseURL: string, maxTokens: number): (prompt: string) => Promise<Answer> {
  if (style === "openai") {
    const client = new OpenAI({ apiKey: "test", baseURL, maxRetries: 0 });
    return async (prompt) => {
      const { data, response } = await client.chat.completions
        .create({ model: "gpt-4o-mini", max_tokens: maxTokens, messages: [{ role: "user", content: prompt }] })
        .withResponse();
      return { text: data.choices[0]?.message.content ?? "", usage: data.usage, headers: response.headers };
    };
  }
  if (style === "anthropic") {
    const client = new Anthropic({ apiKey: "test", baseURL, maxRetries: 0 });
    return async (prompt) => {
      const { data, response } = await client.messages
        .create({ model: "claude-haiku-4-5", max_tokens: maxTokens, messages: [{ role: "user", content: prompt }] })
        .withResponse();
      const text = data.content.map((block) => (block.type === "text" ? block.text : "")).join("");
      return { text, usage: data.usage, headers: response.headers };
    };
  }
  // @google/genai retries only when given retryOptions: none here.
  const ai = new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: baseURL } });
  return async (prompt) => {
    const response = await ai.models.generateContent({
      model: "gemini-2.0-flash",
      contents: prompt,
      config: { maxOutputTokens: maxTokens },
    });
    return { text: response.text ?? "", usage: { usageMetadata: response.usageMetadata } };
  };
}

/** One measured run: a node with `node` options against a fresh provider of `style`. */
export interface StyledRun {
  style: ProviderStyle;
  /** Options of the provider (its `style` is `style`). */
  provider: Omit<SimulatedProviderOptions, "style">;
  /** Options of the throttled node. */
  node: ThrottleOptions;
  items: number;
  /** Output tokens asked of each request (`max_tokens`). */
  maxTokens: number;
  /** Estimated tokens of one item, for token windows (`estimateTokens`). */
  estimate?: { inputTokens: number; outputTokens: number };
  /** Requests sent (and left to expire) before the measured run, so cold connections do not count. */
  warmUp: number;
  /** How long to wait after the warm-up for the provider's windows to empty, in ms. */
  settleMs: number;
}

/** What one run measured. */
export interface StyledFigures {
  refused: number;
  refusedBy: SimulatedProviderStats["refusedBy"];
  delivered: number;
  lost: number;
  /** Every result is the answer to its own item's prompt, in input order. */
  inOrder: boolean;
  makespanMs: number;
  failure: string | undefined;
}

/** The prompt of item `i`: distinct, about 10 tokens. */
export const promptOf = (i: number): string => `Say hello to record number ${i} please`;

/**
 * A fresh provider of `run.style` on `host`, warmed up (`run.warmUp` requests, then `run.settleMs` for its windows
 * to empty) and its counters zeroed: the measured run starts here. Returns the SDK call and the items' prompts.
 */
export async function prepareStyled(host: StyledHost, run: StyledRun): Promise<{ call: (prompt: string) => Promise<Answer>; prompts: string[] }> {
  const { baseURL } = await host.start({ ...run.provider, style: run.style });
  const call = callerFor(run.style, baseURL, run.maxTokens);
  await Promise.all(Array.from({ length: run.warmUp }, (_, i) => call(`warm-up ${i}`)));
  await delay(run.settleMs);
  await host.resetStats();
  return { call, prompts: Array.from({ length: run.items }, (_, i) => promptOf(i)) };
}

/** The figures of a run that ended with `answers` (index i: item i's, `undefined` when lost) after `makespanMs`. */
async function figuresOf(host: StyledHost, run: StyledRun, answers: readonly (Answer | undefined)[], makespanMs: number, failure: unknown): Promise<StyledFigures> {
  const stats = await host.stats();
  const delivered = answers.filter((a) => a !== undefined).length;
  const inOrder = answers.length === run.items && answers.every((a, i) => a?.prompt === promptOf(i) && a.text !== "");
  return {
    refused: stats.refused,
    refusedBy: stats.refusedBy,
    delivered,
    lost: run.items - delivered,
    inOrder,
    makespanMs,
    failure: failure === undefined ? undefined : String(failure),
  };
}

/** Runs `run` on `host` (a fresh provider), warm-up first; the provider is left running for the caller to inspect. */
export async function measureStyled(host: StyledHost, run: StyledRun): Promise<StyledFigures> {
  const { call, prompts } = await prepareStyled(host, run);
  const estimate = run.estimate;
  class Ask extends ThrottledParallelBatchNode<{ answers?: Answer[] }, string, Answer> {
    override async prepAsync() {
      return prompts;
    }
    override async execAsync(prompt: string) {
      const answer = await call(prompt);
      return { ...answer, prompt };
    }
    override estimateTokens(prompt: string) {
      return estimate ?? Math.ceil(prompt.length / 4);
    }
    override async postAsync(shared: { answers?: Answer[] }, _p: unknown, answers: Answer[]) {
      shared.answers = answers;
      return undefined;
    }
  }
  const shared: { answers?: Answer[] } = {};
  let failure: unknown;
  const started = performance.now();
  try {
    await new Ask(run.node).runAsync(shared);
  } catch (error) {
    failure = error;
  }
  return figuresOf(host, run, shared.answers ?? [], performance.now() - started, failure);
}

/**
 * Another library's scheduler, as its README has it: `schedule(task)` runs `task` under the library's limits
 * and resolves or rejects as `task` does.
 */
export type Schedule = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * Runs `run`'s items through `schedule` (a baseline: Bottleneck, p-queue) against a fresh provider, every item
 * submitted at once, no retry: a refused item is lost. `run.node` is not used.
 */
export async function measureScheduled(host: StyledHost, run: StyledRun, schedule: Schedule): Promise<StyledFigures> {
  const { call, prompts } = await prepareStyled(host, run);
  const started = performance.now();
  const settled = await Promise.allSettled(prompts.map((prompt) => schedule(async () => ({ ...(await call(prompt)), prompt }))));
  const makespanMs = performance.now() - started;
  const answers = settled.map((s) => (s.status === "fulfilled" ? s.value : undefined));
  const firstFailure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  return figuresOf(host, run, answers, makespanMs, firstFailure?.reason);
}

/** What a run against a provider whose quota runs out measured. */
export interface QuotaStopFigures {
  /** From the first `insufficient_quota` answer reaching the client to the run's rejection, in ms (NaN: none came). */
  stopMs: number;
  /** Requests the provider refused for quota: those sent with or after the first refusal. */
  quotaRefused: number;
  /** Requests the node started after the first refusal reached it. */
  startedAfter: number;
  accepted: number;
  /** The run's rejection, `undefined` if it resolved. */
  error: unknown;
}

/**
 * A node with `run.node`'s options against a provider of `run.style` that answers `insufficient_quota` after its
 * `insufficientQuotaAfter` accepted requests (counted from the end of the warm-up): how fast the run stops.
 */
export async function measureQuotaStop(host: StyledHost, run: StyledRun): Promise<QuotaStopFigures> {
  const { call, prompts } = await prepareStyled(host, run);
  let firstRefusalAt: number | undefined;
  let startedAfter = 0;
  class Ask extends ThrottledParallelBatchNode<Record<string, never>, string, Answer> {
    override async prepAsync() {
      return prompts;
    }
    override async execAsync(prompt: string) {
      if (firstRefusalAt !== undefined) startedAfter++;
      try {
        return await call(prompt);
      } catch (error) {
        // The SDK's RateLimitError carries the body's `code`; read here, not through the package's classifier.
        if ((error as { code?: unknown }).code === "insufficient_quota") firstRefusalAt ??= performance.now();
        throw error;
      }
    }
  }
  let error: unknown;
  try {
    await new Ask(run.node).runAsync({});
  } catch (caught) {
    error = caught;
  }
  const endedAt = performance.now();
  const stats = await host.stats();
  return {
    stopMs: firstRefusalAt === undefined ? Number.NaN : endedAt - firstRefusalAt,
    quotaRefused: stats.refusedBy.quota,
    startedAfter,
    accepted: stats.accepted,
    error,
  };
}
