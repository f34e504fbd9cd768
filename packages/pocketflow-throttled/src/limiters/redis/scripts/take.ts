/** The check-and-take of one start: pause, concurrency lease, request window and token window in one atomic step. */
import { CONFIG, NOW, script } from "./layout.js";

/** TAKE's answer: granted (at Redis time `nowUs`), wait `delayMs` (`paused`: for a pause), or the stored limits differ. */
export type TakeReply =
  | { kind: "granted"; nowUs: number; concurrency: number; windowCount: number }
  | { kind: "wait"; delayMs: number; paused: boolean; concurrency: number; windowCount: number }
  | { kind: "mismatch"; stored: string[] };

export function parseTake(raw: unknown): TakeReply {
  const reply = raw as unknown[];
  if (reply[0] === "mismatch") return { kind: "mismatch", stored: reply.slice(1).map(String) };
  const status = Number(reply[0]);
  const concurrency = Number(reply[2]);
  const windowCount = Number(reply[3]);
  if (status === 1) return { kind: "granted", nowUs: Number(reply[1]), concurrency, windowCount };
  return { kind: "wait", delayMs: Number(reply[1]), paused: status === 2, concurrency, windowCount };
}

// KEYS: config, state, leases, starts, weights. ARGV: limits (1..4), id, tokens, leaseUs, reserved
// (slots this process holds without a lease: permits of its local fallback, still running).
// Returns {1, nowUs, concurrency, windowCount}, {0 or 2, delayMs, concurrency, windowCount (-1: unknown)}, or a mismatch.
export const TAKE = script(`${NOW}${CONFIG}
local id, tokens, leaseUs, reserved = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') or 0
if paused > now then return {2, math.ceil((paused - now) / 1000), conc, -1} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local active = redis.call('ZCARD', KEYS[3])
if active + reserved >= conc then
  -- the first lease to lapse; with none, the caller's own release wakes it
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local untilUs = first[2] and tonumber(first[2]) or now + leaseUs
  return {0, math.ceil((untilUs - now) / 1000), conc, -1}
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
