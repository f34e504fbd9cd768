/**
 * Where a `RedisLimiter` keeps its state, and the pieces every script shares.
 *
 * Redis layout for key K: `K:config` (hash: the limits, the live
 * `concurrency`), `K:state` (hash: `pausedUntil`, window token sum),
 * `K:leases` (sorted set: lease id → expiry), `K:starts` (sorted set: start id
 * → start time), `K:weights` (hash: start id → tokens), `K:probe` (a string
 * the outage probe writes), channel `K:wake`. Times are Redis `TIME` in
 * microseconds.
 */
import { createHash } from "node:crypto";

/** The Redis keys and channel of one limiter key. */
export interface KeyLayout {
  readonly config: string;
  readonly state: string;
  readonly leases: string;
  readonly starts: string;
  readonly weights: string;
  readonly probe: string;
  readonly channel: string;
}

export function keyLayout(key: string): KeyLayout {
  return {
    config: `${key}:config`,
    state: `${key}:state`,
    leases: `${key}:leases`,
    starts: `${key}:starts`,
    weights: `${key}:weights`,
    probe: `${key}:probe`,
    channel: `${key}:wake`,
  };
}

/** A Lua script and its SHA1 (sent with EVALSHA, falling back to EVAL once). */
export interface Script {
  readonly src: string;
  readonly sha: string;
}

export function script(src: string): Script {
  return { src, sha: createHash("sha1").update(src).digest("hex") };
}

/** Sets `now`: Redis's clock in microseconds (every process shares it). */
export const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`;

/**
 * KEYS[1] = config; ARGV[1..4] = maxConcurrent, maxPerWindow, windowSeconds,
 * maxTokensPerWindow ('' = unset). Creates the config on first use; any
 * difference from the stored limits returns them instead. Sets `stored` and
 * `conc` (the live concurrency).
 */
export const CONFIG = `
local stored = redis.call('HMGET', KEYS[1], 'maxConcurrent', 'maxPerWindow', 'windowSeconds', 'maxTokensPerWindow', 'concurrency')
if not stored[1] then
  redis.call('HSET', KEYS[1], 'maxConcurrent', ARGV[1], 'maxPerWindow', ARGV[2], 'windowSeconds', ARGV[3], 'maxTokensPerWindow', ARGV[4], 'concurrency', ARGV[1])
  stored = {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[1]}
elseif stored[1] ~= ARGV[1] or stored[2] ~= ARGV[2] or stored[3] ~= ARGV[3] or stored[4] ~= ARGV[4] then
  return {'mismatch', stored[1], stored[2], stored[3], stored[4]}
end
local conc = tonumber(stored[5] or stored[1])
`;
