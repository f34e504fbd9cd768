/**
 * Where a `RedisLimiter` keeps its state, and the pieces every script shares.
 *
 * Redis layout for key K (times are Redis `TIME` in microseconds):
 * - `K:config` hash: the limits every process must agree on (`maxConcurrent`,
 *   `windows` as rule text, `margin`, `learnLimits`) and the live `concurrency`.
 * - `K:state` hash: `pausedUntil`, `learned` (rule text of the provider's
 *   limits, kept until `reset()`), `answered` (an answer arrived: the lone
 *   first request of `learnLimits` is over).
 * - `K:leases` sorted set: lease id → expiry (the concurrency slots).
 * - `K:starts` sorted set: start id → start time, one log for every window;
 *   pruned past the longest window plus the arrival margin.
 * - `K:weights` hash: start id → `tokens:input:output:cost` (only starts
 *   that weigh something; a missing entry weighs 0, a missing cost — an
 *   entry of three parts — costs 0).
 * - `K:probe` (a string the outage probe writes) and channel `K:wake`.
 *
 * Rule text: `seconds:kind:limit:share[:f]` joined by `,`; kind `r` requests,
 * `t` total tokens, `i` input, `o` output, `c` US dollars (upper case
 * `R`/`T`: the shorthand `maxPerWindow` / `maxTokensPerWindow`); share `1`
 * for the per-second share of a learned per-minute limit; a fifth part `f`
 * marks a budget (`onExceed: "fail"`: crossing it refuses, never waits), so
 * the text of a waiting window reads as it always did. Limits are written as
 * JavaScript prints them (the shortest text that reads back as the same
 * double, e.g. `0.3`) and kept as text, so the agreement check compares them
 * exactly and Lua's `tonumber` reads the same value.
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
 * KEYS[1] = config; ARGV[1..4] = maxConcurrent, windows (rule text), margin
 * (seconds), learnLimits ('1' / '0'). Creates the config on first use; any
 * difference from the stored limits returns them instead. Sets `stored` and
 * `conc` (the live concurrency).
 */
export const CONFIG = `
local stored = redis.call('HMGET', KEYS[1], 'maxConcurrent', 'windows', 'margin', 'learnLimits', 'concurrency')
if not stored[1] then
  redis.call('HSET', KEYS[1], 'maxConcurrent', ARGV[1], 'windows', ARGV[2], 'margin', ARGV[3], 'learnLimits', ARGV[4], 'concurrency', ARGV[1])
  stored = {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[1]}
elseif stored[1] ~= ARGV[1] or stored[2] ~= ARGV[2] or stored[3] ~= ARGV[3] or stored[4] ~= ARGV[4] then
  return {'mismatch', stored[1], stored[2] or '', stored[3] or '', stored[4] or ''}
end
local conc = tonumber(stored[5] or stored[1])
`;

/**
 * Lua helpers over rule text: \`parseRules(text)\` → list of
 * {seconds, kind, limit, share, fail, text}; \`mergeRules(configured, learned)\`
 * drops configured waiting rules of a period and kind some learned rule has
 * (a budget always stays).
 */
export const RULES = `
local function parseRules(text)
  local rules = {}
  if not text then return rules end
  for part in string.gmatch(text, '[^,]+') do
    local s, k, l, sh, f = string.match(part, '^([^:]+):(%a):([^:]+):(%d):?(%a?)$')
    if s then
      rules[#rules + 1] = {seconds = tonumber(s), kind = string.lower(k), limit = tonumber(l), share = sh == '1', fail = f == 'f', text = part}
    end
  end
  return rules
end
local function mergeRules(configured, learned)
  local out = {}
  for _, c in ipairs(configured) do
    local replaced = false
    for _, l in ipairs(learned) do
      if not c.fail and l.seconds == c.seconds and l.kind == c.kind then replaced = true end
    end
    if not replaced then out[#out + 1] = c end
  end
  for _, l in ipairs(learned) do out[#out + 1] = l end
  return out
end
`;
