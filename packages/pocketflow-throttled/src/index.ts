/**
 * pocketflow-throttled: throttled and adaptive parallel batch nodes and flows
 * for PocketFlow, shared limiters and provider presets.
 */
export type { AimdStats } from "./adaptive.js";
export {
  classifyError,
  type ErrorKind,
  headersOf,
  isRateLimitError,
  type QuotaViolation,
  quotaViolationsOf,
  retryAfterOf,
} from "./detect.js";
export {
  BudgetExceeded,
  type BudgetExceededOptions,
  LimiterTimeout,
  type LimiterTimeoutOptions,
  QuotaExhausted,
  type QuotaExhaustedOptions,
  RateLimitHit,
  type RateLimitHitOptions,
} from "./errors.js";
export { parseDuration, parseRateLimitHeaders, type RateLimitHeaderInfo } from "./limiters/headers.js";
export type {
  AcquireOptions,
  LearnedLimits,
  Limiter,
  LimiterStats,
  Permit,
  TokenUsage,
  WindowLimit,
} from "./limiters/limiter.js";
export { DEFAULT_ARRIVAL_MARGIN_SECONDS, RateLimiter, type RateLimiterOptions } from "./limiters/sliding-window.js";
export { TokenBucket, type TokenBucketOptions } from "./limiters/token-bucket.js";
export { readUsage } from "./usage.js";
export type { BudgetAlert, BudgetOptions } from "./ledger/budget.js";
export { type LedgerTotals, type LedgerUsage, type RecordOptions, UsageLedger, type UsageLedgerOptions } from "./ledger/ledger.js";
export type { LedgerOptions } from "./ledger/options.js";
export { DEFAULT_PRICES, type ModelPrice, type PriceTable, priceOf } from "./ledger/prices.js";

export type { LimiterMetrics, WindowUse } from "./limiters/metrics.js";
export {
  ATTEMPT_CHANNEL,
  type AttemptMessage,
  type AttemptUsage,
  type ChangeReason,
  LIMITER_CHANNEL,
  type LimiterMessage,
  type WaitGate,
} from "./observe/channels.js";
export { type LogSummaryOptions, logSummary, type SummaryTarget } from "./observe/summary.js";
export { RUN_CHANNEL, type RunEndMessage, type RunInfo, type RunMessage, type RunStartMessage } from "pocketflow-ts";
export { type MicroBatchOptions, type MicroBatchStats, ThrottledMicroBatchNode } from "./micro-batch.js";
export { type ThrottleOptions, type ThrottleStats, ThrottledParallelBatchNode } from "./nodes.js";
export { type AdaptiveNodeStats, type AdaptiveThrottleOptions, AdaptiveThrottledNode } from "./adaptive-node.js";
export {
  type AdaptiveFlowStats,
  type AdaptiveFlowThrottleOptions,
  AdaptiveThrottledBatchFlow,
} from "./adaptive-flow.js";
export {
  type FlowResult,
  type FlowThrottleOptions,
  type FlowThrottleStats,
  ThrottledAsyncParallelBatchFlow,
} from "./flows.js";
export * from "./presets.js";
export {
  LimiterRegistry,
  type RegisteredLimiterInfo,
  type RegisteredLimiterStats,
  type RegisterLimiterOptions,
  type RegisterOptions,
  type RegisterStoreOptions,
} from "./registry.js";
export {
  type RedisClientLike,
  RedisLimiter,
  type RedisLimiterOptions,
  type RedisLimiterState,
  type RedisLimiterStats,
  type RedisPermit,
  RedisStoreError,
} from "./limiters/redis/index.js";
export { type BottleneckLike, type FromBottleneckOptions, fromBottleneck } from "./adapters/bottleneck.js";
export { type FromPLimitOptions, fromPLimit, type PLimitLike } from "./adapters/p-limit.js";
export {
  type AsOfficialNodeOptions,
  asOfficialNode,
  type OfficialBaseNodeClass,
  type OfficialBaseNodeLike,
  type OfficialNodeOf,
} from "./interop/to-official.js";
export { fromOfficialNode, OfficialNode, type OfficialNodeLike } from "./interop/from-official.js";

export {
  type CheckpointEntry,
  CheckpointJournalError,
  type CheckpointOptions,
  type CheckpointRedisClient,
  type CheckpointStore,
  FileCheckpointStore,
  type FileCheckpointStoreOptions,
  RedisCheckpointStore,
  type RedisCheckpointStoreOptions,
} from "./checkpoints/index.js";
