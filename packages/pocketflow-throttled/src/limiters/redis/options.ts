/** The options of a `RedisLimiter`, and their checks: a wrong or unknown option is an error at `new`. */
import { checkBoolean, checkCount, checkOptionalCount, checkPositive, checkWaitSeconds } from "../../validate.js";
import { DEFAULT_ARRIVAL_MARGIN_SECONDS, RATE_LIMITER_OPTION_NAMES, type RateLimiterOptions } from "../sliding-window.js";
import { type WindowRule, windowRules } from "../windows.js";
import { MISMATCH, type RedisClientLike } from "./store.js";
import { describeRules } from "./windows.js";


/**
 * Options of a `RedisLimiter`: the `RateLimiter` options (the same meaning,
 * shared by every process on `key`: the windows, the token weights, the
 * arrival margin, learned limits and bounded waits), plus the store's own.
 */
export interface RedisLimiterOptions extends RateLimiterOptions {
  /**
   * Where the limits live: an `ioredis` client (left open by `close()`), or a
   * URL such as `redis://127.0.0.1:6379` or `rediss://…` (then `ioredis` must
   * be installed, and the limiter opens and closes its own connections).
   */
  redis: string | RedisClientLike;
  /** The Redis key every process sharing these limits uses, e.g. `pocketflow:limiter:openai`. */
  key: string;
  /**
   * A slot whose process stopped renewing it (it died) comes back after this
   * many seconds; a live process renews every third of it. At least 0.1.
   * @default 30
   */
  leaseSeconds?: number;
  /**
   * `"error"`: Redis unreachable rejects `acquire` with a `RedisStoreError`.
   * `"local"`: the process goes on under its own view of the limits (its own
   * starts and permits, kept across the switch) until Redis answers writes
   * again; also when a replica answers READONLY.
   * @default "error"
   */
  onStoreError?: "error" | "local";
  /**
   * How long a store call may take before Redis counts as unreachable, in ms (1 to 60000).
   * @default 2000
   */
  storeTimeoutMs?: number;
}

/** The checked options with defaults applied. */
export interface CheckedRedisOptions {
  redis: string | RedisClientLike;
  key: string;
  maxConcurrent: number;
  maxPerWindow: number | undefined;
  windowSeconds: number;
  maxTokensPerWindow: number | undefined;
  /** The configured rules: the shorthand's, then those of `windows`. */
  rules: WindowRule[];
  arrivalMarginSeconds: number;
  maxWaitSeconds: number | undefined;
  learnLimits: boolean;
  leaseSeconds: number;
  onStoreError: "error" | "local";
  storeTimeoutMs: number;
}

const OPTION_NAMES: readonly string[] = [
  "redis",
  "key",
  ...RATE_LIMITER_OPTION_NAMES,
  "leaseSeconds",
  "onStoreError",
  "storeTimeoutMs",
] satisfies (keyof RedisLimiterOptions)[];

/** Node-style names a user may bring from a node's options, and what they mean here. */
const HINTS: Record<string, string> = {
  maxPerMinute: "use maxPerWindow with windowSeconds: 60",
  maxPerSecond: "use maxPerWindow with windowSeconds: 1",
  maxTokensPerMinute: "use maxTokensPerWindow with windowSeconds: 60",
};

/** Below this a lease is a few timer ticks and round trips long: a busy event loop would lose it. */
const MIN_LEASE_SECONDS = 0.1;
/** Lease times stay exact integers in microseconds well below 2^53. */
const MAX_LEASE_SECONDS = 1e9;
const MAX_STORE_TIMEOUT_MS = 60_000;

export function checkRedisOptions(options: RedisLimiterOptions): CheckedRedisOptions {
  if (options === null || typeof options !== "object") throw new TypeError("RedisLimiter needs options { redis, key, ... }");
  const { redis, key } = options;
  if (typeof key !== "string" || key.length === 0) throw new TypeError(`RedisLimiter key must be a non-empty string, got ${shown(key)}`);
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || OPTION_NAMES.includes(name)) continue;
    const hint = HINTS[name] ? ` (${HINTS[name]})` : "";
    throw new TypeError(`RedisLimiter "${key}" has no option "${name}"${hint}; known options: ${OPTION_NAMES.join(", ")}`);
  }
  checkRedis(redis);
  const leaseSeconds = checkPositive("leaseSeconds", options.leaseSeconds ?? 30);
  if (leaseSeconds < MIN_LEASE_SECONDS || leaseSeconds > MAX_LEASE_SECONDS) {
    throw new RangeError(`leaseSeconds must be between ${MIN_LEASE_SECONDS} and ${MAX_LEASE_SECONDS}, got ${leaseSeconds}`);
  }
  const storeTimeoutMs = checkPositive("storeTimeoutMs", options.storeTimeoutMs ?? 2000);
  if (storeTimeoutMs < 1 || storeTimeoutMs > MAX_STORE_TIMEOUT_MS) {
    throw new RangeError(`storeTimeoutMs must be between 1 and ${MAX_STORE_TIMEOUT_MS}, got ${storeTimeoutMs}`);
  }
  const onStoreError = options.onStoreError ?? "error";
  if (onStoreError !== "error" && onStoreError !== "local") {
    throw new RangeError(`onStoreError must be "error" or "local", got ${shown(onStoreError)}`);
  }
  const maxPerWindow = checkOptionalCount("maxPerWindow", options.maxPerWindow);
  const windowSeconds = checkPositive("windowSeconds", options.windowSeconds ?? 60);
  const maxTokensPerWindow = checkOptionalCount("maxTokensPerWindow", options.maxTokensPerWindow);
  const shorthand = (kind: WindowRule["kind"], limit: number, option: string): WindowRule => ({
    seconds: windowSeconds,
    kind,
    limit,
    option,
    learned: false,
    share: false,
    fail: false,
  });
  const rules = [
    ...(maxPerWindow === undefined ? [] : [shorthand("maxRequests", maxPerWindow, "maxPerWindow")]),
    ...(maxTokensPerWindow === undefined ? [] : [shorthand("maxTokens", maxTokensPerWindow, "maxTokensPerWindow")]),
    ...windowRules(options.windows),
  ];
  return {
    redis,
    key,
    maxConcurrent: checkCount("maxConcurrent", options.maxConcurrent ?? 5),
    maxPerWindow,
    windowSeconds,
    maxTokensPerWindow,
    rules,
    arrivalMarginSeconds: checkPositive("arrivalMarginSeconds", options.arrivalMarginSeconds ?? DEFAULT_ARRIVAL_MARGIN_SECONDS, true),
    maxWaitSeconds: checkWaitSeconds("maxWaitSeconds", options.maxWaitSeconds),
    learnLimits: checkBoolean("learnLimits", options.learnLimits ?? false),
    leaseSeconds,
    onStoreError,
    storeTimeoutMs,
  };
}

/** A URL ioredis can open (redis: or rediss:), or a client; checked now, not at the first acquire. */
function checkRedis(redis: unknown): void {
  if (typeof redis === "string") {
    let protocol = "";
    try {
      protocol = new URL(redis).protocol;
    } catch {
      // not a URL at all
    }
    if (protocol === "redis:" || protocol === "rediss:") return;
    throw new TypeError(
      `redis must be a Redis URL such as "redis://127.0.0.1:6379" (redis: or rediss:) or an ioredis client, got ${shown(redis)}`,
    );
  }
  if (redis === null || typeof redis !== "object" || typeof (redis as RedisClientLike).evalsha !== "function") {
    throw new TypeError(`redis must be a Redis URL or an ioredis client, got ${shown(redis)}`);
  }
}

function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** The limits every process sharing a key must agree on, as the config script takes them. */
export function declaredLimits(o: CheckedRedisOptions, rulesText: string): [string, string, string, string] {
  return [String(o.maxConcurrent), rulesText, String(o.arrivalMarginSeconds), o.learnLimits ? "1" : "0"];
}

function limitsText(values: readonly string[]): string {
  const [maxConcurrent, rules, margin, learn] = values;
  const parts = [`maxConcurrent: ${maxConcurrent}`, describeRules(rules ?? ""), `arrivalMarginSeconds: ${margin || "unset"}`];
  if (learn === "1") parts.push("learnLimits: true");
  return `{ ${parts.join(", ")} }`;
}

/** This process's limits differ from those stored with the key: every process sharing a key must use the same. */
export function limitsMismatchError(key: string, configKey: string, declared: readonly string[], stored: readonly string[]): Error {
  const error = new Error(
    `RedisLimiter "${key}": this process's limits ${limitsText(declared)} differ from the limits stored in Redis at "${configKey}" ${limitsText(stored)}. Every process sharing a key must use the same limits: fix the options, use another key, or delete "${configKey}" to redefine them.`,
  );
  error.name = MISMATCH;
  return error;
}
