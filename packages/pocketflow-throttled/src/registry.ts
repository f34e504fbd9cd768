/**
 * `LimiterRegistry`: named limiters shared by every node, flow and plain
 * function in the process (or, with a Redis store, across processes).
 */
import { isLimiter, type Limiter, type LimiterStats } from "./limiters/limiter.js";
import { RedisLimiter, type RedisLimiterOptions } from "./limiters/redis/index.js";
import type { LimiterMetrics } from "./limiters/metrics.js";
import { RATE_LIMITER_OPTION_NAMES, RateLimiter, type RateLimiterOptions } from "./limiters/sliding-window.js";
import { limiterMetrics } from "./observe/summary.js";

/** How a registered limiter is described by `listAll()` and `stats()`. */
export interface RegisteredLimiterInfo {
  maxConcurrent: number;
  maxPerWindow: number | undefined;
  windowSeconds: number | undefined;
  maxTokensPerWindow?: number;
  /** A `TokenBucket`'s refill rate, in starts per second. */
  ratePerSecond?: number;
  /** A `TokenBucket`'s size. */
  burst?: number;
}

/** `stats(name)`: the limits plus the limiter's counters. */
export type RegisteredLimiterStats = RegisteredLimiterInfo & LimiterStats & { currentWindowCount: number | undefined };

/** Options of `register`. */
export interface RegisterOptions {
  /** Replace an existing limiter of that name instead of throwing. @default false */
  replace?: boolean;
}

/** `register` options for a limit shared across processes: the `RedisLimiter` options, `key` defaulting to `pocketflow:limiter:<name>`. */
export type RegisterStoreOptions = Omit<RedisLimiterOptions, "key"> & { key?: string };

/** What `register` and `getOrCreate` take: limiter options, a store's options, or a ready limiter. */
export type RegisterLimiterOptions = RateLimiterOptions | RegisterStoreOptions | Limiter;

const limiters = new Map<string, Limiter>();
/** The limiters this registry built from options: it closes them when it drops them (a limiter passed in is its owner's). */
const built = new WeakSet<Limiter>();

function checkName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`limiter name must be a non-empty string, got ${String(name)}`);
  }
  return name;
}

function build(name: string, options: RegisterLimiterOptions): Limiter {
  if (isLimiter(options)) return options;
  let limiter: Limiter;
  if (options !== null && typeof options === "object" && "redis" in options && options.redis !== undefined) {
    // ioredis itself loads only here, when a URL is given
    const key = (options as RegisterStoreOptions).key ?? `pocketflow:limiter:${name}`;
    limiter = new RedisLimiter({ ...(options as RegisterStoreOptions), key } as RedisLimiterOptions);
  } else {
    checkOptionNames(name, options);
    limiter = new RateLimiter(options as RateLimiterOptions);
  }
  built.add(limiter);
  return limiter;
}

/** Closes a limiter the registry built and no longer holds, so no socket or timer outlives it. */
function drop(limiter: Limiter | undefined): void {
  if (limiter === undefined || !built.has(limiter)) return;
  for (const held of limiters.values()) if (held === limiter) return; // still registered under another name
  built.delete(limiter);
  limiter.close?.().catch(() => undefined); // closing never throws to the caller of remove/reset
}

const RATE_LIMITER_OPTIONS: readonly string[] = RATE_LIMITER_OPTION_NAMES;

/** A misspelt or node-style option (`maxPerMinute`) would otherwise leave the limiter unlimited without a word. */
function checkOptionNames(name: string, options: object | null | undefined): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object") {
    throw new TypeError(`limiter "${name}": options must be an object or a Limiter, got ${String(options)}`);
  }
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || RATE_LIMITER_OPTIONS.includes(key)) continue;
    const hint = key === "maxPerMinute" ? ' (use maxPerWindow with windowSeconds: 60)' : "";
    throw new TypeError(
      `limiter "${name}" has no option "${key}"${hint}; known options: ${RATE_LIMITER_OPTIONS.join(", ")}, or pass a Limiter such as a TokenBucket`,
    );
  }
}

function describe(limiter: Limiter): RegisteredLimiterInfo {
  const l = limiter as Limiter & {
    maxPerWindow?: number;
    windowSeconds?: number;
    maxTokensPerWindow?: number;
    ratePerSecond?: number;
    burst?: number;
  };
  const info: RegisteredLimiterInfo = {
    maxConcurrent: l.maxConcurrent,
    maxPerWindow: l.maxPerWindow,
    windowSeconds: l.windowSeconds,
  };
  if (l.maxTokensPerWindow !== undefined) info.maxTokensPerWindow = l.maxTokensPerWindow;
  if (l.ratePerSecond !== undefined) info.ratePerSecond = l.ratePerSecond;
  if (l.burst !== undefined) info.burst = l.burst;
  return info;
}

/**
 * Named limiters shared across nodes, flows and plain code.
 *
 * @example
 * LimiterRegistry.register("openai", { maxConcurrent: 10, maxPerWindow: 500, windowSeconds: 60 });
 * const answer = await LimiterRegistry.get("openai").run(() => client.chat.completions.create(request));
 * // or in a node: new Translate({ limiter: "openai" })
 */
export const LimiterRegistry = {
  /** Creates (or takes) the limiter `name`; throws if it exists unless `{ replace: true }`. */
  register(
    name: string,
    options: RegisterLimiterOptions = {},
    { replace = false }: RegisterOptions = {},
  ): Limiter {
    checkName(name);
    if (limiters.has(name) && !replace) {
      throw new Error(`a limiter named "${name}" is already registered: pass { replace: true } to replace it, or use get("${name}")`);
    }
    const limiter = build(name, options);
    const previous = limiters.get(name);
    limiters.set(name, limiter);
    drop(previous);
    return limiter;
  },

  /** The limiter `name`; throws naming it and how to register it when missing. */
  get(name: string): Limiter {
    const limiter = limiters.get(checkName(name));
    if (!limiter) {
      const known = limiters.size > 0 ? ` (registered: ${[...limiters.keys()].join(", ")})` : "";
      throw new Error(
        `no limiter named "${name}" is registered${known}: call LimiterRegistry.register("${name}", { maxConcurrent, maxPerWindow, windowSeconds }) first`,
      );
    }
    return limiter;
  },

  /** The limiter `name`, registering it with `options` if missing. */
  getOrCreate(name: string, options: RegisterLimiterOptions = {}): Limiter {
    return limiters.get(checkName(name)) ?? LimiterRegistry.register(name, options);
  },

  /** Removes `name` (closing it if the registry built it); true if one was removed. */
  remove(name: string): boolean {
    const limiter = limiters.get(name);
    if (!limiters.delete(name)) return false;
    drop(limiter);
    return true;
  },

  /** Removes `name`, or every limiter when no name is given, closing those the registry built. */
  reset(name?: string): void {
    if (name !== undefined) {
      LimiterRegistry.remove(name);
      return;
    }
    const dropped = [...limiters.values()];
    limiters.clear();
    for (const limiter of dropped) drop(limiter);
  },

  exists(name: string): boolean {
    return limiters.has(name);
  },

  listNames(): string[] {
    return [...limiters.keys()];
  },

  /** Every limiter's limits, keyed by name. */
  listAll(): Record<string, RegisteredLimiterInfo> {
    return Object.fromEntries([...limiters].map(([name, limiter]) => [name, describe(limiter)]));
  },

  /** Every limiter's `metrics()`, keyed by name. */
  metrics(): Record<string, LimiterMetrics> {
    return Object.fromEntries([...limiters].map(([name, limiter]) => [name, limiterMetrics(limiter)]));
  },

  /** The limits and counters of `name`; throws like `get` when missing. */
  stats(name: string): RegisteredLimiterStats {
    const limiter = LimiterRegistry.get(name);
    const windowCount = (limiter as { currentWindowCount?: number }).currentWindowCount;
    return { ...describe(limiter), currentWindowCount: windowCount, ...limiter.stats };
  },
};

/** A `limiter` option resolved: a registry name to its limiter, a limiter to itself. */
export function resolveLimiter(option: Limiter | string | undefined): Limiter | undefined {
  return typeof option === "string" ? LimiterRegistry.get(option) : option;
}
