/**
 * Budget periods in Redis, shared by every process on one key: a reservation
 * is checked and added in one atomic step, so concurrent processes never
 * spend past a limit on their estimates.
 *
 * Layout: hash `K:budget:<budget key>:<periodSeconds>:<period>` with fields
 * `r` (starts), `t` (tokens), `c` (dollars), `a` (the alert was sent); it
 * expires one period after the period ends. The period is Redis `TIME` /
 * `periodSeconds`, the same for every process.
 */
import { script } from "./layout.js";

const LIMITS = `
local function over(spent, ask, max) return max >= 0 and spent + ask > max + 1e-12 end
local function alerting(r, t, c)
  local at = tonumber(ARGV[8])
  return (tonumber(ARGV[5]) >= 0 and r >= tonumber(ARGV[5]) * at) or (tonumber(ARGV[6]) >= 0 and t >= tonumber(ARGV[6]) * at)
    or (tonumber(ARGV[7]) >= 0 and c >= tonumber(ARGV[7]) * at)
end
local function alert(k, r, t, c)
  if alerting(r, t, c) and redis.call('HSETNX', k, 'a', '1') == 1 then return 1 end
  return 0
end
`;

// KEYS: the budget's base key. ARGV: periodSeconds, requests, tokens, costUsd, maxRequests, maxTokens, maxCostUsd
// (-1: none), alertAt. Returns {1, period, r, t, c, alert} or {0, kind (1 r, 2 t, 3 c), spent, limit}.
export const BUDGET_RESERVE = script(`${LIMITS}
local period = math.floor(tonumber(redis.call('TIME')[1]) / tonumber(ARGV[1]))
local k = KEYS[1] .. ':' .. period
local r = tonumber(redis.call('HGET', k, 'r') or '0')
local t = tonumber(redis.call('HGET', k, 't') or '0')
local c = tonumber(redis.call('HGET', k, 'c') or '0')
if over(r, tonumber(ARGV[2]), tonumber(ARGV[5])) then return {0, 1, tostring(r), ARGV[5]} end
if over(t, tonumber(ARGV[3]), tonumber(ARGV[6])) then return {0, 2, tostring(t), ARGV[6]} end
if over(c, tonumber(ARGV[4]), tonumber(ARGV[7])) then return {0, 3, tostring(c), ARGV[7]} end
r = tonumber(redis.call('HINCRBYFLOAT', k, 'r', ARGV[2]))
t = tonumber(redis.call('HINCRBYFLOAT', k, 't', ARGV[3]))
c = tonumber(redis.call('HINCRBYFLOAT', k, 'c', ARGV[4]))
redis.call('EXPIRE', k, 2 * math.ceil(tonumber(ARGV[1])) + 1)
return {1, period, tostring(r), tostring(t), tostring(c), alert(k, r, t, c)}
`);

// KEYS: the budget's base key. ARGV: period, requests, tokens, costUsd (deltas), maxRequests, maxTokens, maxCostUsd, alertAt.
// Returns {r, t, c, alert}; a period already gone is not brought back.
export const BUDGET_ADJUST = script(`${LIMITS}
local k = KEYS[1] .. ':' .. ARGV[1]
if redis.call('EXISTS', k) == 0 then return {'0', '0', '0', 0} end
local r = tonumber(redis.call('HINCRBYFLOAT', k, 'r', ARGV[2]))
local t = tonumber(redis.call('HINCRBYFLOAT', k, 't', ARGV[3]))
local c = tonumber(redis.call('HINCRBYFLOAT', k, 'c', ARGV[4]))
return {tostring(r), tostring(t), tostring(c), alert(k, r, t, c)}
`);
