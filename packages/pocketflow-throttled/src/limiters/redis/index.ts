/** The Redis limiter, split by role: limiter (API, queue), options, store, scripts, leases, wake-ups, fallback. */
export { RedisLimiter, type RedisLimiterState, type RedisLimiterStats } from "./limiter.js";
export type { RedisPermit } from "./leases.js";
export type { RedisLimiterOptions } from "./options.js";
export { type RedisClientLike, RedisStoreError } from "./store.js";
