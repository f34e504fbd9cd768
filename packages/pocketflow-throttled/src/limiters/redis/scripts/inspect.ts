/** Read-outs of the shared state, and the write probe that tells when an outage ended. */
import { NOW, script } from "./layout.js";

// KEYS: config, state, leases, starts. ARGV: windowSeconds.
export const INSPECT = script(`${NOW}
local window = tonumber(ARGV[1]) * 1000000
local conc = redis.call('HGET', KEYS[1], 'concurrency') or '0'
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') or 0
local tokens = redis.call('HGET', KEYS[2], 'tokens') or '0'
local active = redis.call('ZCOUNT', KEYS[3], '(' .. string.format('%.0f', now), '+inf')
local count = redis.call('ZCOUNT', KEYS[4], '(' .. string.format('%.0f', now - window), '+inf')
return {active, conc, count, tokens, math.max(0, math.ceil((paused - now) / 1000))}
`);

// KEYS: probe. A write, so a replica (READONLY) still counts as unavailable.
export const PROBE = script(`
redis.call('SET', KEYS[1], '1', 'PX', 60000)
return 1
`);
