/** Read-outs of the shared state, and the write probe that tells when an outage ended. */
import { NOW, script } from "./layout.js";

// KEYS: config, state, leases, starts, weights. ARGV: span in seconds (the shorthand window plus the margin).
// Returns {active, concurrency, windowCount, windowTokens, pausedMs}.
export const INSPECT = script(`${NOW}
local cut = '(' .. string.format('%.0f', now - tonumber(ARGV[1]) * 1000000)
local conc = redis.call('HGET', KEYS[1], 'concurrency') or '0'
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') or 0
local active = redis.call('ZCOUNT', KEYS[3], '(' .. string.format('%.0f', now), '+inf')
local ids = redis.call('ZRANGEBYSCORE', KEYS[4], cut, '+inf')
local tokens = 0
for i = 1, #ids, 1000 do
  for _, v in ipairs(redis.call('HMGET', KEYS[5], unpack(ids, i, math.min(i + 999, #ids)))) do
    if v then tokens = tokens + tonumber(string.match(v, '^([^:]+)')) end
  end
end
return {active, conc, #ids, tostring(tokens), math.max(0, math.ceil((paused - now) / 1000))}
`);

// KEYS: probe. A write, so a replica (READONLY) still counts as unavailable.
export const PROBE = script(`
redis.call('SET', KEYS[1], '1', 'PX', 60000)
return 1
`);
