/** Lease renewal: a live process extends the leases of the permits it holds. */
import { NOW, script } from "./layout.js";

// KEYS: leases. ARGV: leaseUs, channel, ids... Extends live leases; returns the ids that had lapsed
// (a lapsed slot may already be someone else's, so it is not taken back).
export const RENEW = script(`${NOW}
local leaseUs = tonumber(ARGV[1])
local lost = {}
for i = 3, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) > now then
    redis.call('ZADD', KEYS[1], now + leaseUs, ARGV[i])
  else
    if s then redis.call('ZREM', KEYS[1], ARGV[i]) end
    lost[#lost + 1] = ARGV[i]
  end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(leaseUs / 1000) + 1000)
if #lost > 0 then redis.call('PUBLISH', ARGV[2], 'r') end
return lost
`);
