/**
 * The simulated provider's HTTP server: routing, the order of the checks at
 * arrival, latency, counters and a clean stop. Uses only `node:http`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { mulberry32 } from "./answers.js";
import { type Admission, admit, type Charge, limitsOf, settle } from "./enforcement.js";
import { resolveOptions, type ProviderStyle, type SimulatedProviderOptions } from "./options.js";
import { BadRequest, routeOf, ROUTES, type Parsed } from "./requests.js";
import {
  concurrencyReply,
  errorReply,
  overloadedReply,
  quotaReply,
  rateLimitHeaders,
  type Reply,
  refusalReply,
} from "./styles.js";
import { maxInAnyWindow } from "./windows.js";

/** Refusals, by what refused them. */
export interface RefusalCounts {
  /** A request limit (per minute, per second share, custom window). */
  requests: number;
  /** A total-token limit (OpenAI TPM, custom `maxTokens`). */
  tokens: number;
  /** An input-token limit (Anthropic ITPM, Gemini TPM). */
  inputTokens: number;
  /** An output-token limit (Anthropic OTPM). */
  outputTokens: number;
  /** Gemini's requests per day. */
  perDay: number;
  /** `maxConcurrent` requests already in flight. */
  concurrency: number;
  /** OpenAI `insufficient_quota`. */
  quota: number;
  /** Anthropic `529 overloaded_error`. */
  overloaded: number;
}

/** Counters of a {@link SimulatedProvider}; they change live. */
export interface SimulatedProviderStats {
  /** Requests that arrived on a known route with a valid body. */
  requests: number;
  /** Requests admitted by every limit (they count against the limits). */
  accepted: number;
  /** `200` answers sent. */
  answered: number;
  /** Refusals of any kind (429 and 529). */
  refused: number;
  refusedBy: RefusalCounts;
  /** Injected `500` answers (`failureRate`). */
  failures: number;
  /** Accepted requests not yet answered. */
  inFlight: number;
  /** Most requests in flight at once. */
  maxConcurrentSeen: number;
}

/** A running simulated provider, returned by {@link startSimulatedProvider}. */
export interface SimulatedProvider {
  readonly style: ProviderStyle;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The base URL the style's SDK takes: `url + "/v1"` for `openai`, `url` for `anthropic` and `gemini`. */
  readonly baseURL: string;
  readonly port: number;
  /** Live counters. */
  readonly stats: Readonly<SimulatedProviderStats>;
  /** Arrival time of each accepted request, in `performance.now()` ms, oldest first (since start or `resetStats()`). */
  arrivals(): readonly number[];
  /** Most accepted arrivals in any half-open interval `[t, t + windowMs)`. */
  maxInAnyWindow(windowMs: number): number;
  /** Most tokens (input + output as the usage reports them) of the accepted arrivals of any `[t, t + windowMs)`. */
  maxTokensInAnyWindow(windowMs: number): number;
  /** Accepted arrivals per consecutive `windowMs` since start (or `resetStats()`): element i counts `[i·w, (i+1)·w)`. */
  startsPerWindow(windowMs: number): number[];
  /** Zeroes the counters and forgets the arrivals; the limits keep counting what they hold. */
  resetStats(): void;
  /** Lets the process exit while the server listens (as `net.Server.unref()`); returns the provider. */
  unref(): SimulatedProvider;
  /** Stops the server: ends every connection (keep-alive ones too) and clears every timer. Idempotent. */
  stop(): Promise<void>;
}

function emptyStats(): SimulatedProviderStats {
  return {
    requests: 0,
    accepted: 0,
    answered: 0,
    refused: 0,
    refusedBy: { requests: 0, tokens: 0, inputTokens: 0, outputTokens: 0, perDay: 0, concurrency: 0, quota: 0, overloaded: 0 },
    failures: 0,
    inFlight: 0,
    maxConcurrentSeen: 0,
  };
}

const REFUSAL_COUNTER = {
  requests: "requests",
  tokens: "tokens",
  "input-tokens": "inputTokens",
  "output-tokens": "outputTokens",
} as const;

/**
 * Starts a simulated LLM provider that enforces limits the way OpenAI,
 * Anthropic or Gemini document them, so real clients (`openai`,
 * `@anthropic-ai/sdk`, `@google/genai`) can be pointed at it with no key.
 * Requests are counted when they arrive; a refused request counts against no limit.
 *
 * @example
 * const provider = await startSimulatedProvider({ style: "openai", limits: { rpm: 60, tpm: 10_000 } });
 * const client = new OpenAI({ apiKey: "test", baseURL: provider.baseURL, maxRetries: 0 });
 * await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
 * console.log(provider.stats.accepted); // 1
 * await provider.stop();
 */
export async function startSimulatedProvider(options: SimulatedProviderOptions = {}): Promise<SimulatedProvider> {
  const config = resolveOptions(options);
  const { style } = config;
  let origin = performance.now();
  const limits = limitsOf(config, origin);
  const random = mulberry32(config.seed);
  let stats = emptyStats();
  let arrivalTimes: number[] = [];
  let arrivalTokens: number[] = [];
  // Cancels each wait in progress, so stop() leaves no timer behind.
  const pending = new Set<() => void>();
  const inFlightEnds = new Map<number, number>();
  let nextId = 1;

  function send(res: ServerResponse, reply: Reply, extra: Record<string, string>): void {
    if (res.destroyed) return;
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...extra,
      ...reply.headers,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  }

  /** Resolves true after `ms`, false as soon as the client goes away or the server stops. */
  function wait(ms: number, res: ServerResponse): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(!res.destroyed);
    return new Promise((resolve) => {
      const done = (completed: boolean): void => {
        clearTimeout(timer);
        pending.delete(cancel);
        res.off("close", cancel);
        resolve(completed);
      };
      const cancel = (): void => done(false);
      const timer = setTimeout(() => done(!res.destroyed), ms);
      pending.add(cancel);
      res.once("close", cancel);
    });
  }

  function refuse(res: ServerResponse, reply: Reply, ids: Record<string, string>, now: number): void {
    stats.refused++;
    send(res, reply, { ...ids, ...rateLimitHeaders(style, limits, now) });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const found = req.method === "POST" ? routeOf(style, path) : undefined;
    const body = await readBody(req);
    if (found === undefined) {
      const routes = ROUTES[style].join(", ");
      send(res, errorReply(style, 404, "not_found_error", `Unknown endpoint ${req.method} ${path} for the ${style} style: it serves ${routes}.`), {});
      return;
    }
    const id = nextId++;
    const ids = { [style === "openai" ? "x-request-id" : "request-id"]: `req_sim_${id}` };
    let parsed: Parsed;
    try {
      const json: unknown = JSON.parse(body);
      if (typeof json !== "object" || json === null || Array.isArray(json)) throw new BadRequest("The body must be a JSON object.");
      parsed = found.route(json as Record<string, unknown>, found.model);
    } catch (error) {
      if (!(error instanceof SyntaxError || error instanceof BadRequest)) throw error;
      send(res, errorReply(style, 400, "invalid_request_error", error.message), ids);
      return;
    }
    const model = found.model ?? modelName(body);
    if (config.arrivalJitterMs > 0 && !(await wait(random() * config.arrivalJitterMs, res))) return;

    // Everything from here to the charge is synchronous: the arrival is one instant.
    const now = performance.now();
    stats.requests++;
    if (config.overloadedShare > 0 && random() < config.overloadedShare) {
      stats.refusedBy.overloaded++;
      refuse(res, overloadedReply(), ids, now);
      return;
    }
    if (config.insufficientQuotaAfter !== undefined && stats.accepted + stats.refusedBy.quota >= config.insufficientQuotaAfter) {
      stats.refusedBy.quota++;
      refuse(res, quotaReply(), ids, now);
      return;
    }
    if (config.maxConcurrent !== undefined && stats.inFlight >= config.maxConcurrent) {
      stats.refusedBy.concurrency++;
      const firstEnd = Math.min(...inFlightEnds.values());
      refuse(res, concurrencyReply(style, config.maxConcurrent, firstEnd - now), ids, now);
      return;
    }
    const admission = admit(limits, parsed.charge, now);
    if (!("handles" in admission)) {
      const { limit } = admission;
      if (limit.scope === "day") stats.refusedBy.perDay++;
      else stats.refusedBy[REFUSAL_COUNTER[limit.kind]]++;
      refuse(res, refusalReply(style, admission, model), ids, now);
      return;
    }
    await serve(res, parsed, admission, id, ids, now);
  }

  async function serve(res: ServerResponse, parsed: Parsed, admission: Admission, id: number, ids: Record<string, string>, now: number) {
    stats.accepted++;
    const index = arrivalTimes.push(now) - 1;
    const history = arrivalTimes;
    arrivalTokens.push(admission.charge.input + admission.charge.output);
    const latency = config.latencyMs + random() * config.jitterMs;
    stats.inFlight++;
    stats.maxConcurrentSeen = Math.max(stats.maxConcurrentSeen, stats.inFlight);
    inFlightEnds.set(id, now + latency);
    const finish = (used: Charge, reported = used): void => {
      stats.inFlight = Math.max(0, stats.inFlight - 1);
      inFlightEnds.delete(id);
      settle(limits, admission, used, reported, performance.now());
      if (history === arrivalTimes) arrivalTokens[index] = reported.input + reported.output;
    };
    if (!(await wait(latency, res))) {
      // The client went away: the input was read, no output produced.
      finish({ input: admission.charge.input, output: 0 });
      return;
    }
    if (config.failureRate > 0 && random() < config.failureRate) {
      finish({ input: admission.charge.input, output: 0 });
      stats.failures++;
      send(res, errorReply(style, 500, style === "openai" ? "server_error" : "api_error", "Simulated server error."), ids);
      return;
    }
    const { body, used, reported } = parsed.answer(id);
    finish(used, reported);
    stats.answered++;
    send(res, { status: 200, headers: {}, body }, { ...ids, ...rateLimitHeaders(style, limits, performance.now()) });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      send(res, errorReply(style, 500, "api_error", `Simulated provider bug: ${String(error)}`), {});
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  let stopping: Promise<void> | undefined;

  const provider: SimulatedProvider = {
    style,
    url,
    baseURL: style === "openai" ? `${url}/v1` : url,
    port,
    get stats() {
      return stats;
    },
    arrivals: () => arrivalTimes.slice(),
    maxInAnyWindow: (windowMs) => maxInAnyWindow(arrivalTimes, undefined, windowMs),
    maxTokensInAnyWindow: (windowMs) => maxInAnyWindow(arrivalTimes, arrivalTokens, windowMs),
    startsPerWindow(windowMs) {
      const counts: number[] = [];
      for (const time of arrivalTimes) {
        const slot = Math.floor((time - origin) / windowMs);
        while (counts.length <= slot) counts.push(0);
        counts[slot]!++;
      }
      return counts;
    },
    resetStats() {
      const { inFlight } = stats;
      stats = { ...emptyStats(), inFlight, maxConcurrentSeen: inFlight };
      arrivalTimes = [];
      arrivalTokens = [];
      origin = performance.now();
    },
    unref() {
      server.unref();
      return provider;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const cancel of [...pending]) cancel();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopping;
    },
  };
  return provider;
}

function modelName(body: string): string {
  try {
    const model = (JSON.parse(body) as { model?: unknown }).model;
    return typeof model === "string" ? model : "the model";
  } catch {
    return "the model";
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
