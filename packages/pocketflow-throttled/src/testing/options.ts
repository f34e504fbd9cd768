/**
 * Options of the simulated provider, and their validation: a bad value is a
 * RangeError or TypeError naming the option and quoting the value.
 */

/** Whose rules the provider enforces, and whose API shapes it answers in. */
export type ProviderStyle = "openai" | "anthropic" | "gemini";

export const STYLES: readonly ProviderStyle[] = ["openai", "anthropic", "gemini"];

/** A sliding window of your own, enforced beside the style's limits (any style). */
export interface ProviderWindow {
  /** Length of the window in seconds (> 0). */
  seconds: number;
  /** At most this many requests arriving in any interval of `seconds`. */
  maxRequests?: number;
  /** At most this many tokens (input + output) charged in any interval of `seconds`. */
  maxTokens?: number;
}

/** The limits the provider enforces; every one is optional (unset: unlimited). */
export interface ProviderLimits {
  /**
   * Requests per minute. OpenAI: a sliding minute plus, with `quantize`, `ceil(rpm / 60)` per second;
   * Anthropic: a token bucket of `rpm` refilled continuously; Gemini: a sliding minute.
   */
  rpm?: number;
  /**
   * Tokens per minute. OpenAI: prompt + `max_tokens` (or the produced completion when no `max_tokens` is sent),
   * with a per-second share under `quantize`; Gemini: input tokens. Not an Anthropic limit (use `itpm`/`otpm`).
   */
  tpm?: number;
  /** Anthropic: input tokens per minute, a continuously refilling token bucket. */
  itpm?: number;
  /** Anthropic: output tokens per minute, a bucket charged `max_tokens` on arrival and given back the unused part at the answer. */
  otpm?: number;
  /** Gemini: requests per day, a fixed period of `dayMs` from the provider's start. */
  rpd?: number;
  /** Extra sliding windows of any length, for any style (counted by arrival). */
  windows?: readonly ProviderWindow[];
}

/** Options of {@link startSimulatedProvider}; every one is optional. */
export interface SimulatedProviderOptions {
  /** Whose enforcement, headers, error bodies and routes to simulate. @default "openai" */
  style?: ProviderStyle;
  /** The limits to enforce. @default {} (unlimited) */
  limits?: ProviderLimits;
  /** At most this many requests in flight; one more is a 429. @default undefined (unlimited) */
  maxConcurrent?: number;
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to bind. @default "127.0.0.1" */
  host?: string;
  /** Time an accepted request takes before it is answered, in ms. @default 20 */
  latencyMs?: number;
  /** A uniform extra of `[0, jitterMs)` added to each request's latency. @default 0 */
  jitterMs?: number;
  /**
   * A uniform delay of `[0, arrivalJitterMs)` between a request reaching the socket and the provider counting
   * its arrival: network jitter between a client's start and the provider's count. @default 0
   */
  arrivalJitterMs?: number;
  /** Length of a "minute" in ms; tests shrink it (the per-second share scales with it, `minuteMs / 60`). @default 60000 */
  minuteMs?: number;
  /** Length of a "day" in ms (Gemini `rpd`); tests shrink it. @default 86400000 */
  dayMs?: number;
  /**
   * OpenAI's documented short-period enforcement: a per-minute limit L is also enforced as `ceil(L / 60)` per
   * 1/60 of `minuteMs`. Ignored by the other styles.
   * @default true
   */
  quantize?: boolean;
  /** OpenAI: after this many accepted requests every request is a 429 `insufficient_quota` (0: from the first). @default undefined (never) */
  insufficientQuotaAfter?: number;
  /** Anthropic: the share of requests, in [0, 1], answered `529 overloaded_error` (they count against no limit). @default 0 */
  overloadedShare?: number;
  /** The share of accepted requests, in [0, 1], that end in a 500 (fault injection). @default 0 */
  failureRate?: number;
  /** Seed of the latency, jitter and fault draws, for runs that repeat exactly. @default a random seed */
  seed?: number;
}

/** The options after validation, with every default filled in. */
export interface ResolvedOptions {
  style: ProviderStyle;
  limits: ProviderLimits;
  maxConcurrent: number | undefined;
  port: number;
  host: string;
  latencyMs: number;
  jitterMs: number;
  arrivalJitterMs: number;
  minuteMs: number;
  dayMs: number;
  quantize: boolean;
  insufficientQuotaAfter: number | undefined;
  overloadedShare: number;
  failureRate: number;
  seed: number;
}

function quote(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function count(name: string, value: unknown, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new RangeError(`startSimulatedProvider: ${name} must be an integer >= ${min}, got ${quote(value)}`);
  }
  return value;
}

function duration(name: string, value: unknown, fallback: number, allowZero: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`startSimulatedProvider: ${name} must be a finite number ${allowZero ? ">= 0" : "> 0"}, got ${quote(value)}`);
  }
  return value;
}

function share(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    throw new RangeError(`startSimulatedProvider: ${name} must be a number in [0, 1], got ${quote(value)}`);
  }
  return value;
}

// Which limit belongs to which provider: a limit the style does not have is a mistake, not a silent no-op.
const STYLE_LIMITS: Record<ProviderStyle, readonly (keyof ProviderLimits)[]> = {
  openai: ["rpm", "tpm", "windows"],
  anthropic: ["rpm", "itpm", "otpm", "windows"],
  gemini: ["rpm", "tpm", "rpd", "windows"],
};

/** Validates the options and fills in the defaults. */
export function resolveOptions(options: SimulatedProviderOptions): ResolvedOptions {
  const style = options.style ?? "openai";
  if (!STYLES.includes(style)) {
    throw new TypeError(`startSimulatedProvider: style must be one of ${STYLES.join(", ")}, got ${quote(style)}`);
  }
  const limits = options.limits ?? {};
  for (const key of Object.keys(limits) as (keyof ProviderLimits)[]) {
    if (limits[key] === undefined) continue;
    if (!STYLE_LIMITS[style].includes(key)) {
      throw new TypeError(
        `startSimulatedProvider: limits.${key} is not a limit of the ${style} style (it has ${STYLE_LIMITS[style].join(", ")})`,
      );
    }
    if (key !== "windows") count(`limits.${key}`, limits[key]);
  }
  for (const [index, window] of (limits.windows ?? []).entries()) {
    duration(`limits.windows[${index}].seconds`, window.seconds, 1, false);
    count(`limits.windows[${index}].maxRequests`, window.maxRequests);
    count(`limits.windows[${index}].maxTokens`, window.maxTokens);
    if (window.maxRequests === undefined && window.maxTokens === undefined) {
      throw new RangeError(`startSimulatedProvider: limits.windows[${index}] has no limit: give maxRequests or maxTokens`);
    }
  }
  if (options.insufficientQuotaAfter !== undefined && style !== "openai") {
    throw new TypeError(`startSimulatedProvider: insufficientQuotaAfter is an OpenAI behaviour, not one of the ${style} style`);
  }
  if (options.overloadedShare !== undefined && style !== "anthropic") {
    throw new TypeError(`startSimulatedProvider: overloadedShare (529) is an Anthropic behaviour, not one of the ${style} style`);
  }
  const port = count("port", options.port, 0) ?? 0;
  if (port > 65535) throw new RangeError(`startSimulatedProvider: port must be at most 65535, got ${port}`);
  if (options.host !== undefined && (typeof options.host !== "string" || options.host === "")) {
    throw new TypeError(`startSimulatedProvider: host must be a non-empty string, got ${quote(options.host)}`);
  }
  if (options.quantize !== undefined && typeof options.quantize !== "boolean") {
    throw new TypeError(`startSimulatedProvider: quantize must be a boolean, got ${quote(options.quantize)}`);
  }
  return {
    style,
    limits,
    maxConcurrent: count("maxConcurrent", options.maxConcurrent),
    port,
    host: options.host ?? "127.0.0.1",
    latencyMs: duration("latencyMs", options.latencyMs, 20, true),
    jitterMs: duration("jitterMs", options.jitterMs, 0, true),
    arrivalJitterMs: duration("arrivalJitterMs", options.arrivalJitterMs, 0, true),
    minuteMs: duration("minuteMs", options.minuteMs, 60_000, false),
    dayMs: duration("dayMs", options.dayMs, 86_400_000, false),
    quantize: options.quantize ?? true,
    insufficientQuotaAfter: count("insufficientQuotaAfter", options.insufficientQuotaAfter, 0),
    overloadedShare: share("overloadedShare", options.overloadedShare),
    failureRate: share("failureRate", options.failureRate),
    seed: count("seed", options.seed, 0) ?? Math.floor(Math.random() * 2 ** 32),
  };
}
