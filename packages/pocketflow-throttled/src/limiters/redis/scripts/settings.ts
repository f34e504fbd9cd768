/** Changes one process makes for all: live concurrency, pause, reset, learned limits, the first answer, and a start's settled weight. */
import { CONFIG, NOW, RULES, script } from "./layout.js";

// KEYS: config. ARGV: limits (1..4), concurrency, channel.
export const SET_CONCURRENCY = script(`${CONFIG}
redis.call('HSET', KEYS[1], 'concurrency', ARGV[5])
redis.call('PUBLISH', ARGV[6], 'c:' .. ARGV[5])
return {'ok'}
`);

// KEYS: state. ARGV: ms, channel. Pauses until max(current pause, now + ms).
export const PAUSE = script(`${NOW}
local untilUs = now + tonumber(ARGV[1]) * 1000
local current = tonumber(redis.call('HGET', KEYS[1], 'pausedUntil') or '0') or 0
if untilUs > current then redis.call('HSET', KEYS[1], 'pausedUntil', string.format('%.0f', untilUs)) end
redis.call('PUBLISH', ARGV[2], 'p')
return 1
`);

// KEYS: state, starts, weights. ARGV: channel. Forgets the window history, learned limits, the first answer
// and any pause (leases stay).
export const RESET = script(`
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HDEL', KEYS[1], 'learned', 'answered')
redis.call('HSET', KEYS[1], 'pausedUntil', 0)
redis.call('PUBLISH', ARGV[1], 'x')
return 1
`);

// KEYS: state. ARGV: rule text of the provider's limits, channel. Replaces learned rules of the same period
// and kind, marks the first answer, wakes the waiters; returns the learned rule text now in force.
export const LEARN = script(`${RULES}
local kept = {}
local given = parseRules(ARGV[1])
for _, old in ipairs(parseRules(redis.call('HGET', KEYS[1], 'learned'))) do
  local replaced = false
  for _, l in ipairs(given) do
    if l.seconds == old.seconds and l.kind == old.kind then replaced = true end
  end
  if not replaced then kept[#kept + 1] = old.text end
end
for _, l in ipairs(given) do kept[#kept + 1] = l.text end
local text = table.concat(kept, ',')
redis.call('HSET', KEYS[1], 'learned', text, 'answered', 1)
redis.call('PUBLISH', ARGV[2], 'x')
return text
`);

// KEYS: state. ARGV: channel. An answer arrived: the lone first request of learnLimits is over for everyone.
export const ANSWERED = script(`
if redis.call('HGET', KEYS[1], 'answered') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'answered', 1)
redis.call('PUBLISH', ARGV[1], 'x')
return 1
`);

// KEYS: starts, weights. ARGV: id, tokens, inputTokens, outputTokens, costUsd, channel. Replaces a start's weight
// while it is in the log (its cost counts in budgets from now on); a refund wakes the waiters.
export const SETTLE = script(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local old = redis.call('HGET', KEYS[2], ARGV[1])
local ot, oi, oo, oc = 0, 0, 0, 0
if old then
  local a, b, c, d = string.match(old, '^([^:]+):([^:]+):([^:]+):?([^:]*)$')
  ot, oi, oo, oc = tonumber(a), tonumber(b), tonumber(c), tonumber(d) or 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4] .. ':' .. ARGV[5])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
if tonumber(ARGV[2]) < ot or tonumber(ARGV[3]) < oi or tonumber(ARGV[4]) < oo or tonumber(ARGV[5]) < oc then redis.call('PUBLISH', ARGV[6], 'x') end
return 1
`);
