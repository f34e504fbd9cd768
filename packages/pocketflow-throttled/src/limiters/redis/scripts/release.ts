/** Giving a slot back, and the wake-up every waiting process hears after it. */
import { NOW, script } from "./layout.js";

// KEYS: leases. ARGV: id, channel. Frees a slot and publishes 'r' on the wake-up channel;
// 1 if the lease was still live, 0 if it had lapsed.
export const RELEASE = script(`${NOW}
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'r')
if s and tonumber(s) > now then return 1 end
return 0
`);
