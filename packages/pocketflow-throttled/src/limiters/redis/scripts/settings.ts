/** Changes one process makes for all: live concurrency, pause, reset, and a start's settled tokens. */
import { CONFIG, NOW, script } from "./layout.js";

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

// KEYS: state, starts, weights. ARGV: channel. Forgets the window and any pause (leases stay).
export const RESET = script(`
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'tokens', 0, 'pausedUntil', 0)
redis.call('PUBLISH', ARGV[1], 'x')
return 1
`);

// KEYS: state, weights. ARGV: id, actual, channel. Replaces a start's token estimate while it is in the window.
export const SETTLE = script(`
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
local diff = tonumber(ARGV[2]) - tonumber(old)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBYFLOAT', KEYS[1], 'tokens', diff)
if diff < 0 then redis.call('PUBLISH', ARGV[3], 'x') end
return 1
`);
