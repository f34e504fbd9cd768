/**
 * LLM calls for the cookbook: one `callLlm(prompt, { provider })` for the
 * embedded simulated provider (`mock`, no key needed), OpenAI and Anthropic.
 *
 * Every provider is reached through its real SDK (the mock too: the `openai`
 * SDK pointed at the simulated provider with `baseURL`), with the SDK's own
 * retries off (`maxRetries: 0`) so that what you see is our throttling, not
 * the SDK quietly retrying. SDK errors are passed through untouched: they keep
 * `.status` and `.headers`, which `isRateLimitError` and `retryAfterOf` read.
 * Results carry `usage` and `headers`, which throttled nodes read to settle
 * token estimates (`usageOf`) and to follow the provider's rate-limit headers
 * (`observe`).
 */
import { pathToFileURL } from "node:url";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { type ProviderStyle, type SimulatedProvider, startSimulatedProvider } from "pocketflow-throttled/testing";

export type { SimulatedProvider } from "pocketflow-throttled/testing";

/** Where a call goes: the simulated provider in OpenAI's or Anthropic's shape, or a real API. */
export type ProviderName = "mock" | "mock-anthropic" | "openai" | "anthropic";

export const PROVIDERS: readonly ProviderName[] = ["mock", "mock-anthropic", "openai", "anthropic"];

/** Token usage as the provider reported it (OpenAI's or Anthropic's field names). */
export type Usage =
  | { prompt_tokens: number; completion_tokens: number; total_tokens: number }
  | { input_tokens: number; output_tokens: number };

/** What `callLlm` returns: the text, and what throttled nodes need to learn from the answer. */
export interface LlmResult {
  text: string;
  /** Tokens used, as reported (read by a node's default `usageOf`). */
  usage: Usage | undefined;
  /** The response's headers, a Fetch `Headers` (read by a node's `observe`). */
  headers: Headers;
  provider: ProviderName;
  model: string;
}

export interface CallLlmOptions {
  /** Default `"mock"`: the embedded simulated provider, started on first use. */
  provider?: ProviderName;
  /** Default: `OPENAI_MODEL` / `ANTHROPIC_MODEL`, else `gpt-4o-mini` / `claude-3-5-haiku-latest`. */
  model?: string;
  /** Upper bound of the answer's length (default 1024). */
  maxTokens?: number;
  /** For the mock providers: this simulated provider instead of the shared one. */
  server?: SimulatedProvider;
  signal?: AbortSignal;
}

/** Thrown before any call when a real provider is asked for and its key is not set. */
export class MissingApiKeyError extends Error {
  override readonly name = "MissingApiKeyError";
  constructor(readonly variable: string) {
    super(`${variable} is not set: export ${variable}="your-key" to use the real API, or run with --provider mock (no key needed)`);
  }
}

const API_KEY_VARIABLE = { openai: "OPENAI_API_KEY", anthropic: "ANTHROPIC_API_KEY" } as const;

/** The environment variable a provider's key comes from (`undefined` for the mocks). */
export function apiKeyVariable(provider: ProviderName): string | undefined {
  return provider === "openai" || provider === "anthropic" ? API_KEY_VARIABLE[provider] : undefined;
}

/** Throws a {@link MissingApiKeyError} when `provider` needs a key that is not set. */
export function checkApiKey(provider: ProviderName): void {
  const variable = apiKeyVariable(provider);
  if (variable !== undefined && !process.env[variable]) throw new MissingApiKeyError(variable);
}

// ---- The embedded simulated provider -----------------------------------------------------------------------

/**
 * The simulated provider of a demo, in the terms the demo's limiter mirrors: one sliding window of
 * `requestsPerWindow` requests (and `tokensPerWindow` tokens, as the answers' usage reports them) per
 * `windowMs`, counted by arrival. The provider itself comes from `pocketflow-throttled/testing`; a
 * demo that wants a provider's own rules (RPM with its per-second share, Anthropic's buckets) passes
 * `style` and its limits to `startSimulatedProvider` directly.
 */
export interface DemoProviderOptions {
  /** Whose API shapes to answer in (default `"openai"`). */
  style?: ProviderStyle;
  /** At most this many requests arriving in any `windowMs` (default: unlimited). */
  requestsPerWindow?: number;
  /** At most this many tokens in any `windowMs` (default: unlimited). */
  tokensPerWindow?: number;
  /** The window's length in ms (default 60_000). */
  windowMs?: number;
  /** At most this many requests in flight; one more is a 429 (default: unlimited). */
  maxConcurrent?: number;
  /** Time per answer in ms: a number, or a `[min, max]` range drawn uniformly (default 20). */
  latencyMs?: number | readonly [number, number];
}

/** Starts a {@link DemoProviderOptions} provider on 127.0.0.1 and a free port. */
export function startDemoProvider(options: DemoProviderOptions = {}): Promise<SimulatedProvider> {
  const [min, max] = typeof options.latencyMs === "object" ? options.latencyMs : [options.latencyMs ?? 20, options.latencyMs ?? 20];
  const hasWindow = options.requestsPerWindow !== undefined || options.tokensPerWindow !== undefined;
  const window = { seconds: (options.windowMs ?? 60_000) / 1000, maxRequests: options.requestsPerWindow, maxTokens: options.tokensPerWindow };
  return startSimulatedProvider({
    style: options.style ?? "openai",
    limits: hasWindow ? { windows: [window] } : {},
    maxConcurrent: options.maxConcurrent,
    latencyMs: min,
    jitterMs: max - min,
  });
}

/** Limits of the shared mock: a strict provider, like a small paid tier. */
export const MOCK_DEFAULTS: DemoProviderOptions = {
  latencyMs: [50, 150],
  requestsPerWindow: 60,
  windowMs: 60_000,
  maxConcurrent: 10,
};

const sharedMocks = new Map<ProviderStyle, Promise<SimulatedProvider>>();

/**
 * Starts the shared simulated provider of a style (127.0.0.1, a free port), or
 * returns the one already running (then `options` are ignored). `callLlm` calls it on
 * first use; call {@link stopMockProvider} when done so the process can exit.
 */
export function startMockProvider(options: DemoProviderOptions = MOCK_DEFAULTS): Promise<SimulatedProvider> {
  const style = options.style ?? "openai";
  let running = sharedMocks.get(style);
  if (running === undefined) {
    running = startDemoProvider({ ...options, style });
    sharedMocks.set(style, running);
  }
  return running;
}

/** Stops the shared simulated providers, if any run; the next mock call starts new ones. */
export async function stopMockProvider(): Promise<void> {
  const running = [...sharedMocks.values()];
  sharedMocks.clear();
  await Promise.all(running.map(async (provider) => (await provider).stop()));
}

// ---- Clients ---------------------------------------------------------------------------------------------

// One client per base URL: a client keeps its connections alive between calls.
const openaiClients = new Map<string, OpenAI>();
const anthropicClients = new Map<string, Anthropic>();

/** An `openai` client for the real API, or for a simulated provider when `server` is given. */
export function openaiClient(server?: SimulatedProvider): OpenAI {
  const key = server?.baseURL ?? "real";
  let client = openaiClients.get(key);
  if (client === undefined) {
    client =
      server === undefined
        ? new OpenAI({ apiKey: process.env.OPENAI_API_KEY, maxRetries: 0 })
        : new OpenAI({ apiKey: "simulated", baseURL: server.baseURL, maxRetries: 0 });
    openaiClients.set(key, client);
  }
  return client;
}

/** An `@anthropic-ai/sdk` client for the real API, or for a simulated provider when `server` is given. */
export function anthropicClient(server?: SimulatedProvider): Anthropic {
  const key = server?.url ?? "real";
  let client = anthropicClients.get(key);
  if (client === undefined) {
    client =
      server === undefined
        ? new Anthropic({ apiKey: process.env.ANTHROPIC_API_KEY, maxRetries: 0 })
        : new Anthropic({ apiKey: "simulated", baseURL: server.baseURL, maxRetries: 0 });
    anthropicClients.set(key, client);
  }
  return client;
}

// ---- Calls -----------------------------------------------------------------------------------------------

/**
 * Sends one prompt as a user message and returns the answer's text, usage
 * and headers. Rate limits surface as the SDK's own `RateLimitError` (status
 * 429, `headers` with `retry-after`), for the throttled nodes to handle.
 *
 * @example
 * const { text, usage } = await callLlm("Translate into French:\nGood morning");
 * const real = await callLlm("Say hello", { provider: "openai" }); // needs OPENAI_API_KEY
 */
export async function callLlm(prompt: string, options: CallLlmOptions = {}): Promise<LlmResult> {
  const provider = options.provider ?? "mock";
  const maxTokens = options.maxTokens ?? 1024;
  const requestOptions = { signal: options.signal };
  checkApiKey(provider);
  if (provider === "mock" || provider === "openai") {
    const server = provider === "mock" ? (options.server ?? (await startMockProvider())) : undefined;
    const model = options.model ?? (provider === "openai" ? process.env.OPENAI_MODEL || "gpt-4o-mini" : "simulated");
    const { data, response } = await openaiClient(server)
      .chat.completions.create(
        { model, max_completion_tokens: maxTokens, messages: [{ role: "user", content: prompt }] },
        requestOptions,
      )
      .withResponse();
    return {
      text: data.choices[0]?.message.content ?? "",
      usage: data.usage,
      headers: response.headers,
      provider,
      model: data.model,
    };
  }
  if (provider === "mock-anthropic" || provider === "anthropic") {
    const server =
      provider === "mock-anthropic" ? (options.server ?? (await startMockProvider({ ...MOCK_DEFAULTS, style: "anthropic" }))) : undefined;
    const model =
      options.model ?? (provider === "anthropic" ? process.env.ANTHROPIC_MODEL || "claude-3-5-haiku-latest" : "simulated");
    const { data, response } = await anthropicClient(server)
      .messages.create({ model, max_tokens: maxTokens, messages: [{ role: "user", content: prompt }] }, requestOptions)
      .withResponse();
    const text = data.content.map((block) => (block.type === "text" ? block.text : "")).join("");
    return {
      text,
      usage: { input_tokens: data.usage.input_tokens, output_tokens: data.usage.output_tokens },
      headers: response.headers,
      provider,
      model: data.model,
    };
  }
  throw new TypeError(`unknown provider ${JSON.stringify(provider)}: use one of ${PROVIDERS.join(", ")}`);
}

/** Embeddings of several texts in one call (OpenAI's `/v1/embeddings`; the mock by default). */
export async function embedTexts(
  texts: readonly string[],
  options: { provider?: "mock" | "openai"; server?: SimulatedProvider; model?: string } = {},
): Promise<{ vectors: number[][]; usage: { prompt_tokens: number; total_tokens: number }; headers: Headers }> {
  const provider = options.provider ?? "mock";
  checkApiKey(provider);
  const server = provider === "mock" ? (options.server ?? (await startMockProvider())) : undefined;
  const model = options.model ?? (provider === "openai" ? "text-embedding-3-small" : "simulated-embedding");
  const { data, response } = await openaiClient(server).embeddings.create({ model, input: [...texts] }).withResponse();
  return { vectors: data.data.map((entry) => entry.embedding), usage: data.usage, headers: response.headers };
}

/** The translation prompt of the cookbook (as in the Python original). */
export function makeTranslationPrompt(text: string, targetLanguage: string): string {
  return `Translate the following text into ${targetLanguage}. Only respond with the translation, no explanations.\n${text.trim()}`;
}

/** Total tokens of a usage of either shape. */
export function totalTokens(usage: Usage | undefined): number | undefined {
  if (usage === undefined) return undefined;
  return "total_tokens" in usage ? usage.total_tokens : usage.input_tokens + usage.output_tokens;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Seconds since `start` (a `performance.now()` value), to two decimals. */
export function secondsSince(start: number): number {
  return Math.round(performance.now() - start) / 1000;
}

/** True when the module at `moduleUrl` is the script node was started with, so importing an example does not run it. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  const href = pathToFileURL(script).href;
  // `tsx main` (no extension) runs main.ts too.
  return moduleUrl === href || moduleUrl.replace(/\.[cm]?[jt]s$/, "") === href;
}
