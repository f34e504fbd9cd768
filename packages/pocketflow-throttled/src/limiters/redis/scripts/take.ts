/** The check-and-take of one start: pause, concurrency lease, request window and token window in one atomic step. */
import { CONFIG, NOW, script } from "./layout.js";

/** TAKE's first reply field. */
export const TAKE_GRANTED = 1;
/** Wait: the concurrency or a window is full. */
export const TAKE_WAIT = 0;
/** Wait: the key is paused. */
export const TAKE_PAUSED = 2;

// KEYS: config, state, leases, starts, weights. ARGV: limits (1..4), id, tokens, leaseUs.
// Returns {1, nowUs, concurrency, windowCount}, {0 or 2, delayMs, concurrency, windowCount (-1: unknown)}, or a mismatch.
export const TAKE = script(`${NOW}${CONFIG}
local id, tokens, leaseUs = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') or 0
if paused > now then return {2, math.ceil((paused - now) / 1000), conc, -1} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local active = redis.call('ZCARD', KEYS[3])
if active >= conc then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {0, math.ceil((tonumber(first[2]) - now) / 1000), conc, -1}
end
local maxPer, maxTok = tonumber(stored[2]), tonumber(stored[4])
local count = 0
local windowUs = tonumber(stored[3]) * 1000000
if maxPer or maxTok then
  local cutoff = now - windowUs
  local sum = 0
  if maxTok then
    sum = tonumber(redis.call('HGET', KEYS[2], 'tokens') or '0') or 0
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', cutoff)) do
      sum = sum - (tonumber(redis.call('HGET', KEYS[5], old) or '0') or 0)
      redis.call('HDEL', KEYS[5], old)
    end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cutoff)
  count = redis.call('ZCARD', KEYS[4])
  if maxTok then
    if count == 0 then sum = 0 end
    redis.call('HSET', KEYS[2], 'tokens', sum)
  end
  local delay = 0
  if maxPer and count >= maxPer then
    local e = redis.call('ZRANGE', KEYS[4], count - maxPer, count - maxPer, 'WITHSCORES')
    delay = tonumber(e[2]) + windowUs - now
  end
  if maxTok and sum + tokens > maxTok then
    -- the oldest starts that must leave the window before this one fits
    local excess, at, i = sum + tokens - maxTok, now, 0
    while excess > 0 and i < count do
      local batch = redis.call('ZRANGE', KEYS[4], i, i + 99, 'WITHSCORES')
      for j = 1, #batch, 2 do
        excess = excess - (tonumber(redis.call('HGET', KEYS[5], batch[j]) or '0') or 0)
        at = tonumber(batch[j + 1])
        if excess <= 0 then break end
      end
      i = i + 100
    end
    delay = math.max(delay, at + windowUs - now)
  end
  if delay > 0 then return {0, math.ceil(delay / 1000), conc, count} end
end
redis.call('ZADD', KEYS[3], now + leaseUs, id)
redis.call('PEXPIRE', KEYS[3], math.ceil(leaseUs / 1000) + 1000)
if maxPer or maxTok then
  local ttl = math.ceil(windowUs / 1000) + 1000
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('PEXPIRE', KEYS[4], ttl)
  if maxTok then
    redis.call('HSET', KEYS[5], id, tokens)
    redis.call('PEXPIRE', KEYS[5], ttl)
    redis.call('HINCRBYFLOAT', KEYS[2], 'tokens', tokens)
  end
  count = count + 1
end
return {1, string.format('%.0f', now), conc, count}
`);
