/** The check-and-take of one start: pause, concurrency lease and every window (configured and learned) in one atomic step. */
import { CONFIG, NOW, RULES, script } from "./layout.js";

/** What every TAKE answer carries besides its verdict: the shared settings as of this take. */
interface Shared {
  concurrency: number;
  /** Starts in the shorthand window (`windowSeconds` plus the margin); -1 when not counted. */
  windowCount: number;
  /** The learned rules in Redis (rule text, '' for none). */
  learned: string;
  /** An answer arrived since the last reset (the lone first request of `learnLimits` is over). */
  answered: boolean;
}

/**
 * TAKE's answer: granted (at Redis time `nowUs`); wait `delayMs` for a slot
 * (`"slot"`, a release may come sooner), a pause or a window (both known
 * lower bounds); a weight the rule `rule` (rule text) can never admit;
 * refused by the budget `rule`, which holds `used` already; or the stored
 * limits differ.
 */
export type TakeReply =
  | ({ kind: "granted"; nowUs: number } & Shared)
  | ({ kind: "wait"; delayMs: number; cause: "slot" | "pause" | "window" } & Shared)
  | ({ kind: "never"; rule: string } & Shared)
  | ({ kind: "refused"; rule: string; used: number } & Shared)
  | { kind: "mismatch"; stored: string[] };

const CAUSES = { 0: "slot", 2: "pause", 4: "window" } as const;

export function parseTake(raw: unknown): TakeReply {
  const reply = raw as unknown[];
  if (reply[0] === "mismatch") return { kind: "mismatch", stored: reply.slice(1).map(String) };
  const status = Number(reply[0]);
  const shared: Shared = {
    concurrency: Number(reply[2]),
    windowCount: Number(reply[3]),
    learned: String(reply[4] ?? ""),
    answered: String(reply[5]) === "1",
  };
  if (status === 1) return { kind: "granted", nowUs: Number(reply[1]), ...shared };
  if (status === 3) return { kind: "never", rule: String(reply[1]), ...shared };
  if (status === 5) return { kind: "refused", rule: String(reply[1]), used: Number(reply[6]), ...shared };
  return { kind: "wait", delayMs: Number(reply[1]), cause: CAUSES[status as 0 | 2 | 4] ?? "slot", ...shared };
}

// KEYS: config, state, leases, starts, weights. ARGV: limits (1..4), id, tokens, inputTokens, outputTokens, costUsd,
// leaseUs, reserved (slots this process holds without a lease: permits of its local fallback), solo
// ('1': learnLimits with no configured window), shorthand windowSeconds.
// Returns {status, delayMs | nowUs | rule, concurrency, windowCount, learned, answered[, used]}: status 1 granted,
// 0 wait for a slot, 2 paused, 4 wait for a window, 3 never fits, 5 refused by a budget (the rule text, and
// what its window holds as the 7th part, a string: a Lua number reply would lose its fraction); or a mismatch.
// A budget is checked first (a start that would cross it is refused even while paused or out of slots, as
// `RateLimiter` refuses it at `acquire`) and is never a reason to wait.
// Cost: one pass over the starts inside the longest token window (request windows are counted by ZCOUNT).
export const TAKE = script(`${NOW}${CONFIG}${RULES}
local id, leaseUs, reserved = ARGV[5], tonumber(ARGV[10]), tonumber(ARGV[11])
local w = {r = 1, t = tonumber(ARGV[6]), i = tonumber(ARGV[7]), o = tonumber(ARGV[8]), c = tonumber(ARGV[9])}
local learnedText = redis.call('HGET', KEYS[2], 'learned') or ''
local answered = redis.call('HGET', KEYS[2], 'answered') or '0'
local marginUs = tonumber(stored[3]) * 1000000
local function windowCount()
  local cut = now - tonumber(ARGV[13]) * 1000000 - marginUs
  return redis.call('ZCOUNT', KEYS[4], '(' .. string.format('%.0f', cut), '+inf')
end
local rules = mergeRules(parseRules(stored[2]), parseRules(learnedText))
local longest, tokenLongest = 0, 0
for _, r in ipairs(rules) do
  r.span = r.seconds * 1000000 + marginUs
  if r.span > longest then longest = r.span end
  if r.kind ~= 'r' and r.span > tokenLongest then tokenLongest = r.span end
end
-- the starts inside the longest token window, read once: times[j] and weights[j] by kind
local times, weights, n = nil, nil, 0
local function load()
  if times then return end
  local entries = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. string.format('%.0f', now - tokenLongest), '+inf', 'WITHSCORES')
  times, weights, n = {}, {}, #entries / 2
  for i = 1, n, 1000 do
    local ids = {}
    for j = i, math.min(i + 999, n) do ids[#ids + 1] = entries[2 * j - 1] end
    local vals = redis.call('HMGET', KEYS[5], unpack(ids))
    for j = i, math.min(i + 999, n) do
      times[j] = tonumber(entries[2 * j])
      local v = vals[j - i + 1]
      local ot, oi, oo, oc = 0, 0, 0, 0
      if v then
        local a, b, c, d = string.match(v, '^([^:]+):([^:]+):([^:]+):?([^:]*)$')
        ot, oi, oo, oc = tonumber(a), tonumber(b), tonumber(c), tonumber(d) or 0
      end
      weights[j] = {t = ot, i = oi, o = oo, c = oc}
    end
  end
end
-- what r's window holds now: its starts (a request window) or their weights, and the first start inside
local function used(r)
  local cut = now - r.span
  if r.kind == 'r' then return redis.call('ZCOUNT', KEYS[4], '(' .. string.format('%.0f', cut), '+inf'), nil end
  load()
  local sum, first = 0, nil
  for j = 1, n do
    if times[j] > cut then
      sum = sum + weights[j][r.kind]
      if not first then first = j end
    end
  end
  return sum, first
end
for _, r in ipairs(rules) do
  if r.fail then
    local u = used(r)
    if u + w[r.kind] > r.limit + 1e-9 then return {5, r.text, conc, -1, learnedText, answered, string.format('%.17g', u)} end
  end
end
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') or 0
if paused > now then return {2, math.ceil((paused - now) / 1000), conc, -1, learnedText, answered} end
local solo = ARGV[12] == '1' and answered ~= '1'
local cap = conc
if solo then cap = 1 end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) + reserved >= cap then
  -- the first lease to lapse; with none, the caller's own release wakes it
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local untilUs = first[2] and tonumber(first[2]) or now + leaseUs
  return {0, math.ceil((untilUs - now) / 1000), conc, -1, learnedText, answered}
end
for _, r in ipairs(rules) do
  if r.kind ~= 'r' and not r.fail and not r.share and w[r.kind] > r.limit then return {3, r.text, conc, -1, learnedText, answered} end
end
-- the log keeps the longest window; with none, a minute (the lone request of learnLimits counts in learned windows)
local keep = longest
if keep == 0 then keep = 60000000 + marginUs end
local cutoff = string.format('%.0f', now - keep)
local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', cutoff)
if #old > 0 then
  for i = 1, #old, 1000 do redis.call('HDEL', KEYS[5], unpack(old, i, math.min(i + 999, #old))) end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cutoff)
end
local total = redis.call('ZCARD', KEYS[4])
local delay = 0
for _, r in ipairs(rules) do
  if r.fail then
    -- a budget refuses (above), it is never waited for
  elseif r.kind == 'r' then
    if total >= r.limit and used(r) >= r.limit then
      -- the start that must leave this window first
      local e = redis.call('ZRANGE', KEYS[4], total - r.limit, total - r.limit, 'WITHSCORES')
      delay = math.max(delay, tonumber(e[2]) + r.span - now)
    end
  else
    -- a share's limit admits a heavier request alone, once its window is empty
    local sum, first = used(r)
    local excess = sum + math.min(w[r.kind], r.limit) - r.limit
    if excess > 0 then
      local at = now
      for j = first, n do
        excess = excess - weights[j][r.kind]
        at = times[j]
        if excess <= 0 then break end
      end
      delay = math.max(delay, at + r.span - now)
    end
  end
end
if delay > 0 then return {4, math.ceil(delay / 1000), conc, windowCount(), learnedText, answered} end
redis.call('ZADD', KEYS[3], now + leaseUs, id)
redis.call('PEXPIRE', KEYS[3], math.ceil(leaseUs / 1000) + 1000)
if #rules > 0 or solo then
  local ttl = math.ceil(keep / 1000) + 1000
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('PEXPIRE', KEYS[4], ttl)
  if w.t > 0 or w.i > 0 or w.o > 0 or w.c > 0 then
    redis.call('HSET', KEYS[5], id, ARGV[6] .. ':' .. ARGV[7] .. ':' .. ARGV[8] .. ':' .. ARGV[9])
    redis.call('PEXPIRE', KEYS[5], ttl)
  end
end
return {1, string.format('%.0f', now), conc, windowCount(), learnedText, answered}
`);
