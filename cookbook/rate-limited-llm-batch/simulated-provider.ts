/**
 * An embedded, simulated LLM provider: an HTTP server on 127.0.0.1 that speaks
 * enough of the OpenAI and Anthropic APIs for the real `openai` and
 * `@anthropic-ai/sdk` clients to be pointed at it, and that enforces request,
 * token and concurrency limits strictly, answering `429` with the headers the
 * real APIs send. The cookbook runs against it when no API key is given; tests
 * and benchmarks use it to check that clients never go over a limit.
 *
 * Uses only `node:http`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";

/** Options of {@link startSimulatedProvider}; every one is optional. */
export interface SimulatedProviderOptions {
  /** Time an admitted request takes before it is answered, in ms: a number, or a `[min, max]` range drawn uniformly (default 20). */
  latencyMs?: number | readonly [number, number];
  /** At most this many requests admitted in any `windowMs` interval, an RPM-style limit (undefined: unlimited). */
  requestsPerWindow?: number;
  /** The sliding window's length in ms (default 60_000). */
  windowMs?: number;
  /** At most this many requests in flight at once; one more is a `429` (undefined: unlimited). */
  maxConcurrent?: number;
  /**
   * At most this many tokens admitted in any `windowMs` interval, a TPM-style limit (undefined: unlimited).
   * A chat request costs its prompt tokens (about one per 4 characters of its messages) plus `max_tokens`;
   * an embeddings request costs about one token per 4 characters of each input.
   */
  tokensPerWindow?: number;
  /** Probability that an admitted request ends in a `500`, for fault injection (default 0). */
  failureRate?: number;
  /** Seed of the latency and failure draws, for runs that repeat exactly (default: random). */
  seed?: number;
}

/** Counters of a {@link SimulatedProvider}; they change live. */
export interface SimulatedProviderStats {
  /** `200` answers sent. */
  served: number;
  /** `429` answers sent, for whatever reason. */
  rejected: number;
  /** `429`s because `requestsPerWindow` was reached. */
  rejectedRequests: number;
  /** `429`s because `tokensPerWindow` would have been exceeded. */
  rejectedTokens: number;
  /** `429`s because `maxConcurrent` requests were already in flight. */
  rejectedConcurrency: number;
  /** Most requests in flight at once. */
  peakConcurrency: number;
  /** Requests admitted and not yet answered. */
  inFlight: number;
  /** Injected `500` answers (`failureRate`). */
  failures: number;
}

/** A running simulated provider, returned by {@link startSimulatedProvider}. */
export interface SimulatedProvider {
  /** `http://127.0.0.1:PORT`: the Anthropic SDK's `baseURL`. */
  readonly url: string;
  /** `url + "/v1"`: the OpenAI SDK's `baseURL`. */
  readonly baseURL: string;
  /** Live counters. */
  readonly stats: Readonly<SimulatedProviderStats>;
  /** When each admitted request started, in `performance.now()` milliseconds, oldest first. */
  admittedTimestamps(): readonly number[];
  /** Most admitted starts in any half-open interval `[t, t + windowMs)` (default: the server's window). */
  maxInAnyWindow(windowMs?: number): number;
  /** Most tokens charged to the starts of any interval `[t, t + windowMs)`, after the give-back on completion. */
  maxTokensInAnyWindow(windowMs?: number): number;
  /** Zeroes the counters and forgets the timestamps so far; the limits keep counting what is still in the window. */
  resetStats(): void;
  /** Stops the server: drops every connection (keep-alive ones included) and clears every timer. */
  close(): Promise<void>;
}

/** What one request costs and how to answer it, once its body is understood. */
interface Prepared {
  /** Tokens charged to the window on admission. */
  cost: number;
  /** Tokens the request uses even if it fails: the floor of the give-back. */
  promptTokens: number;
  /** The `200` body and the tokens it really used (what its `usage` reports). */
  answer(): { body: unknown; usedTokens: number };
}

interface Route {
  flavor: "openai" | "anthropic";
  /** Throws a `BadRequest` when the body is not a request this route understands. */
  prepare(body: Record<string, unknown>, id: number): Prepared;
}

class BadRequest extends Error {}

type Rejection = { reason: "requests" | "tokens" | "concurrency"; waitMs: number; message: string };

/**
 * Starts a simulated provider on 127.0.0.1 and a free port.
 *
 * Endpoints: `POST /v1/chat/completions` and `POST /v1/embeddings` (OpenAI shapes, `x-ratelimit-*` headers)
 * and `POST /v1/messages` (Anthropic shape, `anthropic-ratelimit-*` headers). Limits use a true sliding window:
 * a request is admitted only if the requests (and tokens) admitted in the last `windowMs`, plus its own, stay
 * within the limits; a rejected request does not count. A `429` carries `retry-after` (whole seconds, at least 1)
 * and `retry-after-ms` (exact time until the window would admit it), which both SDKs honour when they retry.
 * When an answer is sent, the unused part of `max_tokens` is given back to the window (as Anthropic does for
 * output tokens), so the window then holds what `usage` reports, never more than was charged.
 *
 * A chat prompt that asks to translate "into French" (or "to French") answers `"[French] <text>"`, the text
 * being what follows the first colon or newline after the language; anything else answers
 * `"Simulated reply to: <first 60 characters>"`.
 *
 * @example
 * const provider = await startSimulatedProvider({ requestsPerWindow: 60, windowMs: 60_000 });
 * const client = new OpenAI({ apiKey: "simulated", baseURL: provider.baseURL });
 * const reply = await client.chat.completions.create({ model: "sim", messages: [{ role: "user", content: "Hi" }] });
 * await provider.close();
 */
export async function startSimulatedProvider(options: SimulatedProviderOptions = {}): Promise<SimulatedProvider> {
  const windowMs = checkPositive("windowMs", options.windowMs ?? 60_000);
  const requestLimit = checkOptionalCount("requestsPerWindow", options.requestsPerWindow);
  const tokenLimit = checkOptionalCount("tokensPerWindow", options.tokensPerWindow);
  const concurrencyLimit = checkOptionalCount("maxConcurrent", options.maxConcurrent);
  const failureRate = options.failureRate ?? 0;
  if (!(failureRate >= 0 && failureRate <= 1)) throw new RangeError(`failureRate must be in [0, 1], got ${failureRate}`);
  const [minLatency, maxLatency] = latencyRange(options.latencyMs ?? 20);
  const random = mulberry32(options.seed ?? Math.floor(Math.random() * 2 ** 32));

  const log = new AdmissionLog(windowMs);
  const stats: SimulatedProviderStats = {
    served: 0,
    rejected: 0,
    rejectedRequests: 0,
    rejectedTokens: 0,
    rejectedConcurrency: 0,
    peakConcurrency: 0,
    inFlight: 0,
    failures: 0,
  };
  // Cancels every latency wait in progress, so close() frees their slots and leaves no timer.
  const pending = new Set<() => void>();
  // Expected end of each in-flight request: the retry hint of a concurrency rejection.
  const inFlightEnds = new Map<number, number>();
  let nextId = 1;

  const routes: Record<string, Route> = {
    "/v1/chat/completions": { flavor: "openai", prepare: prepareChatCompletion },
    "/v1/embeddings": { flavor: "openai", prepare: prepareEmbeddings },
    "/v1/messages": { flavor: "anthropic", prepare: prepareMessage },
  };

  function admit(cost: number, now: number): Rejection | undefined {
    if (concurrencyLimit !== undefined && stats.inFlight >= concurrencyLimit) {
      const firstEnd = Math.min(...inFlightEnds.values());
      return {
        reason: "concurrency",
        waitMs: Math.max(1, firstEnd - now),
        message: `Concurrency limit reached: ${concurrencyLimit} requests already in flight.`,
      };
    }
    const requestWait = requestLimit === undefined ? 0 : log.waitForRequests(now, requestLimit);
    const tokenWait = tokenLimit === undefined ? 0 : log.waitForTokens(now, cost, tokenLimit);
    const limits = `per ${formatDuration(windowMs)}`;
    if (tokenWait === Number.POSITIVE_INFINITY) {
      return { reason: "tokens", waitMs: tokenWait, message: `Request too large for tokens: limit ${tokenLimit} ${limits}, requested ${cost}.` };
    }
    if (requestWait > 0) {
      return {
        reason: "requests",
        waitMs: Math.max(requestWait, tokenWait),
        message: `Rate limit reached for requests: limit ${requestLimit} ${limits}, used ${log.count()}.`,
      };
    }
    if (tokenWait > 0) {
      return {
        reason: "tokens",
        waitMs: tokenWait,
        message: `Rate limit reached for tokens: limit ${tokenLimit} ${limits}, used ${log.tokensInWindow}, requested ${cost}.`,
      };
    }
    return undefined;
  }

  function rateLimitHeaders(flavor: Route["flavor"], now: number): Record<string, string> {
    const headers: Record<string, string> = {};
    // The reset is when `remaining` next rises (the oldest charge leaves the window): what a client
    // that was told "0 remaining" needs to wait for.
    const requests =
      requestLimit === undefined
        ? undefined
        : { limit: requestLimit, remaining: requestLimit - log.count(), resetMs: log.nextRelease(now) };
    const tokens =
      tokenLimit === undefined
        ? undefined
        : { limit: tokenLimit, remaining: tokenLimit - log.tokensInWindow, resetMs: log.nextTokenRelease(now) };
    for (const [kind, state] of [
      ["requests", requests],
      ["tokens", tokens],
    ] as const) {
      if (state === undefined) continue;
      const remaining = String(Math.max(0, state.remaining));
      if (flavor === "openai") {
        headers[`x-ratelimit-limit-${kind}`] = String(state.limit);
        headers[`x-ratelimit-remaining-${kind}`] = remaining;
        headers[`x-ratelimit-reset-${kind}`] = formatDuration(state.resetMs);
      } else {
        headers[`anthropic-ratelimit-${kind}-limit`] = String(state.limit);
        headers[`anthropic-ratelimit-${kind}-remaining`] = remaining;
        headers[`anthropic-ratelimit-${kind}-reset`] = new Date(Date.now() + Math.ceil(state.resetMs)).toISOString();
      }
    }
    return headers;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = req.method === "POST" ? routes[new URL(req.url ?? "/", "http://localhost").pathname] : undefined;
    if (route === undefined) {
      sendJson(res, 404, {}, errorBody("openai", "invalid_request_error", `Unknown endpoint: ${req.method} ${req.url}`));
      return;
    }
    const id = nextId++;
    let prepared: Prepared;
    try {
      const body: unknown = JSON.parse(await readBody(req));
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadRequest("The body must be a JSON object.");
      prepared = route.prepare(body as Record<string, unknown>, id);
    } catch (error) {
      if (error instanceof SyntaxError || error instanceof BadRequest) {
        sendJson(res, 400, {}, errorBody(route.flavor, "invalid_request_error", error.message));
        return;
      }
      throw error;
    }
    const requestIdHeader = route.flavor === "openai" ? "x-request-id" : "request-id";
    const ids = { [requestIdHeader]: `req_sim_${id}` };

    const now = performance.now();
    log.expire(now);
    const rejection = admit(prepared.cost, now);
    if (rejection !== undefined) {
      stats.rejected++;
      if (rejection.reason === "requests") stats.rejectedRequests++;
      else if (rejection.reason === "tokens") stats.rejectedTokens++;
      else stats.rejectedConcurrency++;
      const waitMs = Math.ceil(rejection.waitMs);
      // A request larger than the whole token limit can never be admitted: tell clients not to retry.
      const hint: Record<string, string> = Number.isFinite(waitMs)
        ? { "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))), "retry-after-ms": String(waitMs) }
        : { "x-should-retry": "false" };
      const type = rejection.reason === "tokens" ? "tokens" : "requests";
      const body =
        route.flavor === "openai"
          ? { error: { message: rejection.message, type, param: null, code: "rate_limit_exceeded" } }
          : errorBody("anthropic", "rate_limit_error", rejection.message);
      sendJson(res, 429, { ...ids, ...rateLimitHeaders(route.flavor, now), ...hint, "x-simulated-reject-reason": rejection.reason }, body);
      return;
    }

    const entry = log.add(now, prepared.cost);
    const latency = minLatency + random() * (maxLatency - minLatency);
    stats.inFlight++;
    stats.peakConcurrency = Math.max(stats.peakConcurrency, stats.inFlight);
    inFlightEnds.set(id, now + latency);
    let open = true;
    // Frees the slot and gives back unused tokens, once, whether the request ends or its client goes away.
    const finish = (usedTokens: number): void => {
      if (!open) return;
      open = false;
      stats.inFlight--;
      inFlightEnds.delete(id);
      log.settle(entry, Math.min(prepared.cost, usedTokens));
    };

    const completed = await wait(latency, res);
    if (!completed) {
      finish(prepared.promptTokens);
      return;
    }
    const end = performance.now();
    if (failureRate > 0 && random() < failureRate) {
      finish(prepared.promptTokens);
      stats.failures++;
      log.expire(end);
      const body = errorBody(route.flavor, route.flavor === "openai" ? "server_error" : "api_error", "Simulated server error.");
      sendJson(res, 500, { ...ids, ...rateLimitHeaders(route.flavor, end) }, body);
      return;
    }
    const { body, usedTokens } = prepared.answer();
    finish(usedTokens);
    stats.served++;
    log.expire(end);
    sendJson(res, 200, { ...ids, ...rateLimitHeaders(route.flavor, end) }, body);
  }

  /** Resolves true after `ms`, or false as soon as the client goes away or the server closes; no timer outlives it. */
  function wait(ms: number, res: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      const settle = (completed: boolean): void => {
        clearTimeout(timer);
        pending.delete(cancel);
        resolve(completed);
      };
      const cancel = (): void => settle(false);
      const timer = setTimeout(() => settle(!res.destroyed), ms);
      pending.add(cancel);
      res.once("close", cancel);
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      sendJson(res, 500, {}, errorBody("openai", "server_error", `Simulated provider bug: ${String(error)}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;

  return {
    url,
    baseURL: `${url}/v1`,
    stats,
    admittedTimestamps: () => log.history().times,
    maxInAnyWindow: (span = windowMs) => maxInAnyWindow(log.history().times, undefined, span),
    maxTokensInAnyWindow: (span = windowMs) => {
      const { times, tokens } = log.history();
      return maxInAnyWindow(times, tokens, span);
    },
    resetStats() {
      Object.assign(stats, {
        served: 0,
        rejected: 0,
        rejectedRequests: 0,
        rejectedTokens: 0,
        rejectedConcurrency: 0,
        peakConcurrency: stats.inFlight,
        failures: 0,
      });
      log.forgetHistory();
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const cancel of [...pending]) cancel();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/**
 * Formats a duration the way OpenAI's `x-ratelimit-reset-*` headers do (Go's style), rounding up to whole
 * milliseconds: `20ms`, `1s`, `1m30.5s`, `6m0s`, `2h0m0s`; zero or less is `0s`.
 *
 * @example
 * formatDuration(90_500); // "1m30.5s"
 */
export function formatDuration(ms: number): string {
  const total = Math.ceil(ms);
  if (!(total > 0)) return "0s";
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = ((total % 60_000) / 1000).toFixed(3).replace(/\.?0+$/, "");
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/**
 * The simulated model's deterministic reply to a prompt (the text of the last user message).
 *
 * @example
 * simulatedReply("Translate the following text into German:\nGood morning"); // "[German] Good morning"
 */
export function simulatedReply(prompt: string): string {
  const language = findTargetLanguage(prompt);
  if (language === undefined) return `Simulated reply to: ${prompt.slice(0, 60)}`;
  const rest = prompt.slice(language.end);
  const cut = rest.search(/[:\n]/);
  const text = cut >= 0 ? rest.slice(cut + 1).trim() : rest.replace(/^[\s.,;!?]+/, "").trim();
  return `[${language.name}] ${text || prompt.trim()}`;
}

// "into" may name a language in any case; "to" only a capitalised word, so "want to translate" names none.
const LANGUAGE_MENTIONS = [/\binto\s+(\p{L}[\p{L}-]*)/gu, /\bto\s+(\p{Lu}[\p{L}-]*)/gu];
const NOT_LANGUAGES = new Set(["the", "a", "an", "this", "that", "it", "your", "my"]);

function findTargetLanguage(prompt: string): { name: string; end: number } | undefined {
  if (!/translat/i.test(prompt)) return undefined;
  for (const pattern of LANGUAGE_MENTIONS) {
    for (const match of prompt.matchAll(pattern)) {
      const name = match[1]!;
      if (NOT_LANGUAGES.has(name.toLowerCase()) || /^translat/i.test(name)) continue;
      return { name, end: match.index + match[0].length };
    }
  }
  return undefined;
}

// ---- Endpoints ----------------------------------------------------------------------------------------------

function prepareChatCompletion(body: Record<string, unknown>, id: number): Prepared {
  const messages = messageList(body.messages);
  const promptTokens = tokensOf(messages.map((message) => message.text).join(""));
  const maxTokens = optionalCount(body.max_completion_tokens ?? body.max_tokens, "max_tokens");
  const model = typeof body.model === "string" ? body.model : "simulated";
  return {
    cost: promptTokens + maxTokens,
    promptTokens,
    answer() {
      const content = simulatedReply(lastUserText(messages));
      const completionTokens = tokensOf(content);
      const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
      return {
        usedTokens: usage.total_tokens,
        body: {
          id: `chatcmpl-sim-${id}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" }],
          usage,
        },
      };
    },
  };
}

function prepareMessage(body: Record<string, unknown>, id: number): Prepared {
  const messages = messageList(body.messages);
  const system = body.system === undefined ? "" : textOf(body.system, "system");
  const promptTokens = tokensOf(system + messages.map((message) => message.text).join(""));
  const maxTokens = optionalCount(body.max_tokens, "max_tokens");
  const model = typeof body.model === "string" ? body.model : "simulated";
  return {
    cost: promptTokens + maxTokens,
    promptTokens,
    answer() {
      const text = simulatedReply(lastUserText(messages));
      const outputTokens = tokensOf(text);
      return {
        usedTokens: promptTokens + outputTokens,
        body: {
          id: `msg_sim_${id}`,
          type: "message",
          role: "assistant",
          model,
          content: [{ type: "text", text }],
          stop_reason: "end_turn",
          stop_sequence: null,
          usage: { input_tokens: promptTokens, output_tokens: outputTokens },
        },
      };
    },
  };
}

function prepareEmbeddings(body: Record<string, unknown>): Prepared {
  const inputs = typeof body.input === "string" ? [body.input] : body.input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((input) => typeof input === "string")) {
    throw new BadRequest("input must be a string or a non-empty array of strings.");
  }
  const strings = inputs as string[];
  const promptTokens = strings.reduce((sum, input) => sum + tokensOf(input), 0);
  const base64 = body.encoding_format === "base64";
  const model = typeof body.model === "string" ? body.model : "simulated-embedding";
  return {
    cost: promptTokens,
    promptTokens,
    answer() {
      const data = strings.map((input, index) => {
        const vector = embeddingOf(input);
        // The OpenAI SDK asks for base64 (little-endian float32) unless told otherwise, and decodes it.
        const embedding = base64 ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
        return { object: "embedding", index, embedding };
      });
      return { usedTokens: promptTokens, body: { object: "list", data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } } };
    },
  };
}

// ---- Sliding-window accounting ------------------------------------------------------------------------------

/**
 * Admitted starts and their tokens, oldest first. Entries from `first` on are still in the window; older
 * ones are kept as history for `admittedTimestamps()` until `forgetHistory()`. Entries are named by a
 * sequence number (`base + index`) so in-flight requests can settle after the arrays are compacted.
 */
class AdmissionLog {
  private times: number[] = [];
  private tokens: number[] = [];
  private base = 0;
  private first = 0;
  private historyFrom = 0;
  tokensInWindow = 0;

  constructor(private readonly windowMs: number) {}

  /** Drops from the window the starts at least `windowMs` old. */
  expire(now: number): void {
    const end = this.base + this.times.length;
    while (this.first < end && now - this.times[this.first - this.base]! >= this.windowMs) {
      this.tokensInWindow -= this.tokens[this.first - this.base]!;
      this.first++;
    }
  }

  /** Starts in the window. */
  count(): number {
    return this.base + this.times.length - this.first;
  }

  add(now: number, tokens: number): number {
    this.times.push(now);
    this.tokens.push(tokens);
    this.tokensInWindow += tokens;
    return this.base + this.times.length - 1;
  }

  /** Replaces an entry's tokens (the window's sum too, if it is still in it). */
  settle(entry: number, tokens: number): void {
    const index = entry - this.base;
    if (index < 0) return;
    if (entry >= this.first) this.tokensInWindow += tokens - this.tokens[index]!;
    this.tokens[index] = tokens;
  }

  /** Ms until one more start fits under `limit` (0: it fits now). */
  waitForRequests(now: number, limit: number): number {
    const mustLeave = this.count() + 1 - limit;
    if (mustLeave <= 0) return 0;
    return this.times[this.first - this.base + mustLeave - 1]! + this.windowMs - now;
  }

  /** Ms until `cost` more tokens fit under `limit` (0: now; infinite: never). */
  waitForTokens(now: number, cost: number, limit: number): number {
    if (cost > limit) return Number.POSITIVE_INFINITY;
    let excess = this.tokensInWindow + cost - limit;
    if (excess <= 0) return 0;
    for (let index = this.first - this.base; index < this.times.length; index++) {
      excess -= this.tokens[index]!;
      if (excess <= 0) return this.times[index]! + this.windowMs - now;
    }
    return Number.POSITIVE_INFINITY;
  }

  /** Ms until the oldest start leaves the window (0 if it is empty). */
  nextRelease(now: number): number {
    const index = this.first - this.base;
    return index < this.times.length ? this.times[index]! + this.windowMs - now : 0;
  }

  /** Ms until the oldest start that holds tokens leaves the window (0 if none does). */
  nextTokenRelease(now: number): number {
    for (let index = this.first - this.base; index < this.times.length; index++) {
      if (this.tokens[index]! > 0) return this.times[index]! + this.windowMs - now;
    }
    return 0;
  }

  history(): { times: number[]; tokens: number[] } {
    const from = this.historyFrom - this.base;
    return { times: this.times.slice(from), tokens: this.tokens.slice(from) };
  }

  forgetHistory(): void {
    const drop = this.first - this.base;
    this.times.splice(0, drop);
    this.tokens.splice(0, drop);
    this.base = this.first;
    this.historyFrom = this.base + this.times.length;
  }
}

/** Most entries (or their `weights`' sum) in any `[t, t + span)`: two pointers over sorted times. */
function maxInAnyWindow(times: readonly number[], weights: readonly number[] | undefined, span: number): number {
  let best = 0;
  let sum = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    sum += weights === undefined ? 1 : weights[end]!;
    while (times[end]! - times[start]! >= span) {
      sum -= weights === undefined ? 1 : weights[start]!;
      start++;
    }
    best = Math.max(best, sum);
  }
  return best;
}

// ---- Helpers ------------------------------------------------------------------------------------------------

interface Message {
  role: string;
  text: string;
}

function messageList(value: unknown): Message[] {
  if (!Array.isArray(value) || value.length === 0) throw new BadRequest("messages must be a non-empty array.");
  return value.map((message: unknown, index) => {
    if (typeof message !== "object" || message === null) throw new BadRequest(`messages[${index}] must be an object.`);
    const { role, content } = message as { role?: unknown; content?: unknown };
    if (typeof role !== "string") throw new BadRequest(`messages[${index}].role must be a string.`);
    return { role, text: content === null || content === undefined ? "" : textOf(content, `messages[${index}].content`) };
  });
}

/** The text of a content field: a string, or an array of blocks whose `text` parts are joined. */
function textOf(content: unknown, name: string): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((block: unknown) => (typeof block === "object" && block !== null && typeof (block as { text?: unknown }).text === "string" ? (block as { text: string }).text : "")).join("");
  }
  throw new BadRequest(`${name} must be a string or an array of content blocks.`);
}

function lastUserText(messages: readonly Message[]): string {
  for (let index = messages.length - 1; index >= 0; index--) {
    if (messages[index]!.role === "user") return messages[index]!.text;
  }
  return messages.at(-1)!.text;
}

/** About one token per 4 characters, the usual rule of thumb for English. */
function tokensOf(text: string): number {
  return Math.ceil(text.length / 4);
}

function optionalCount(value: unknown, name: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw new BadRequest(`${name} must be a non-negative integer.`);
  return value;
}

/** A unit vector of 8 numbers that depends only on the text. */
function embeddingOf(text: string): number[] {
  let hash = 2166136261;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 16777619);
  const next = mulberry32(hash >>> 0);
  const vector = Array.from({ length: 8 }, () => next() * 2 - 1);
  const norm = Math.hypot(...vector) || 1;
  // Rounded to float32 so JSON and base64 answers carry the same numbers.
  return vector.map((value) => Math.fround(value / norm));
}

/** A small seeded PRNG (mulberry32): numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function errorBody(flavor: Route["flavor"], type: string, message: string): unknown {
  return flavor === "openai" ? { error: { message, type, param: null, code: null } } : { type: "error", error: { type, message } };
}

function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function latencyRange(latency: number | readonly [number, number]): [number, number] {
  const [min, max] = typeof latency === "number" ? [latency, latency] : latency;
  if (!(min >= 0 && max >= min && Number.isFinite(max))) {
    throw new RangeError(`latencyMs must be a number >= 0 or a [min, max] range with 0 <= min <= max, got ${JSON.stringify(latency)}`);
  }
  return [min, max];
}

function checkPositive(name: string, value: number): number {
  if (!(value > 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

function checkOptionalCount(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
