export type { CheckpointOptions } from "./run.js";
export { CheckpointJournalError, FileCheckpointStore, type FileCheckpointStoreOptions } from "./file.js";
export { type CheckpointRedisClient, RedisCheckpointStore, type RedisCheckpointStoreOptions } from "./redis.js";
export type { CheckpointEntry, CheckpointStore } from "./store.js";
