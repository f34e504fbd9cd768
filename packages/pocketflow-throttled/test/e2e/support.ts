/**
 * End-to-end support: simulated providers stopped after each test, the real
 * SDK of each style with its own retries off, and a node that records when
 * each call started and how each failed.
 */
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterEach } from "vitest";
import type { ThrottledParallelBatchNode } from "../../src/nodes.js";
import { type SimulatedProvider, type SimulatedProviderOptions, startSimulatedProvider } from "../../src/testing/index.js";

const started: SimulatedProvider[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((provider) => provider.stop()));
});

/** A provider stopped after the test (latency 10 ms unless told otherwise). */
export async function provider(options: SimulatedProviderOptions): Promise<SimulatedProvider> {
  const running = await startSimulatedProvider({ latencyMs: 10, seed: 7, ...options });
  started.push(running);
  return running;
}

/** An answer: its prompt (to check the order), text, the provider's usage object and the headers. */
export interface Answer {
  prompt: string;
  text: string;
  usage: unknown;
  headers?: Headers;
}

/** One call through the style's real SDK (no retries of its own), asking for `maxTokens` output tokens. */
export function sdkCall(running: SimulatedProvider, maxTokens = 8): (prompt: string) => Promise<Answer> {
  if (running.style === "openai") {
    const client = new OpenAI({ apiKey: "test", baseURL: running.baseURL, maxRetries: 0 });
    return async (prompt) => {
      const { data, response } = await client.chat.completions
        .create({ model: "gpt-4o-mini", max_tokens: maxTokens, messages: [{ role: "user", content: prompt }] })
        .withResponse();
      return { prompt, text: data.choices[0]?.message.content ?? "", usage: data.usage, headers: response.headers };
    };
  }
  if (running.style === "anthropic") {
    const client = new Anthropic({ apiKey: "test", baseURL: running.baseURL, maxRetries: 0 });
    return async (prompt) => {
      const { data, response } = await client.messages
        .create({ model: "claude-haiku-4-5", max_tokens: maxTokens, messages: [{ role: "user", content: prompt }] })
        .withResponse();
      const text = data.content.map((block) => (block.type === "text" ? block.text : "")).join("");
      return { prompt, text, usage: data.usage, headers: response.headers };
    };
  }
  // @google/genai retries only when given retryOptions: none here.
  const ai = new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: running.baseURL } });
  return async (prompt) => {
    const response = await ai.models.generateContent({ model: "gemini-2.0-flash", contents: prompt, config: { maxOutputTokens: maxTokens } });
    return { prompt, text: response.text ?? "", usage: { usageMetadata: response.usageMetadata } };
  };
}

export const promptOf = (i: number): string => `Say hello to record number ${i} please`;
export const prompts = (n: number): string[] => Array.from({ length: n }, (_, i) => promptOf(i));

/** What a recorded node saw: each call's start, and each failure with its time. */
export interface CallLog {
  starts: { prompt: string; at: number }[];
  failures: { prompt: string; at: number; error: unknown }[];
}

export interface Shared {
  prompts: string[];
  answers?: Answer[];
}

/**
 * Makes `node` answer `shared.prompts` through `call`, logging every call's
 * start and failure (`performance.now()` ms) in the returned log.
 */
export function recording<N extends ThrottledParallelBatchNode<Shared, string, Answer>>(
  node: N,
  call: (prompt: string) => Promise<Answer>,
): { node: N; log: CallLog } {
  const log: CallLog = { starts: [], failures: [] };
  node.prepAsync = async (shared: Shared) => shared.prompts;
  node.execAsync = async (prompt: string) => {
    log.starts.push({ prompt, at: performance.now() });
    try {
      return await call(prompt);
    } catch (error) {
      log.failures.push({ prompt, at: performance.now(), error });
      throw error;
    }
  };
  node.postAsync = async (shared: Shared, _prep: unknown, answers: Answer[]) => {
    shared.answers = answers;
    return undefined;
  };
  return { node, log };
}

/** True when `answers` holds one non-empty answer per prompt, each to its own prompt, in input order. */
export function inOrder(answers: readonly (Answer | undefined)[] | undefined, expected: readonly string[]): boolean {
  return (
    answers !== undefined &&
    answers.length === expected.length &&
    answers.every((answer, i) => answer !== undefined && answer.prompt === expected[i] && answer.text !== "")
  );
}

/** The rejection of `promise` (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

/**
 * Opens `connections` connections with one request each, then waits `settleMs` for the provider's windows to
 * empty and zeroes its counters: a cold client's first requests arrive tens of ms later than later ones, which
 * alone can put the second window's starts closer than a window to the first's.
 */
export async function warmUp(running: SimulatedProvider, call: (prompt: string) => Promise<Answer>, connections: number, settleMs: number): Promise<void> {
  await Promise.all(Array.from({ length: connections }, (_, i) => call(`warm-up ${i}`)));
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  running.resetStats();
}
