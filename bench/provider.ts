/**
 * The strict simulated provider (`pocketflow-throttled/testing`), in a child
 * process, with one sliding window the bench's limiters mirror: the bench's
 * own option and counter names, with async accessors.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The provider of a bench section: one sliding window of requests and tokens per `windowMs`, counted by arrival. */
export interface SimulatedProviderOptions {
  requestsPerWindow?: number;
  tokensPerWindow?: number;
  /** Default 60_000. */
  windowMs?: number;
  maxConcurrent?: number;
  /** Ms per answer, or a `[min, max]` range (default 20). */
  latencyMs?: number | readonly [number, number];
  failureRate?: number;
  seed?: number;
}

/** The provider's counters under the bench's names. */
export interface SimulatedProviderStats {
  served: number;
  rejected: number;
  rejectedRequests: number;
  rejectedTokens: number;
  rejectedConcurrency: number;
  peakConcurrency: number;
  inFlight: number;
  failures: number;
}

export interface RemoteProvider {
  readonly url: string;
  readonly baseURL: string;
  stats(): Promise<SimulatedProviderStats>;
  resetStats(): Promise<void>;
  /** When each admitted request arrived, as epoch milliseconds (`performance.timeOrigin + performance.now()`). */
  admittedTimestamps(): Promise<number[]>;
  maxInAnyWindow(windowMs?: number): Promise<number>;
  maxTokensInAnyWindow(windowMs?: number): Promise<number>;
  close(): Promise<void>;
}

const HOST = fileURLToPath(new URL("./children/provider-host.ts", import.meta.url));

export async function startRemoteProvider(options: SimulatedProviderOptions): Promise<RemoteProvider> {
  const child: ChildProcess = fork(HOST, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  child.on("message", (message: { id: number; result?: unknown; error?: string }) => {
    const entry = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) entry?.reject(new Error(`simulated provider: ${message.error}`));
    else entry?.resolve(message.result);
  });
  child.on("exit", (code) => {
    for (const entry of waiting.values()) entry.reject(new Error(`simulated provider exited (${code})`));
    waiting.clear();
  });
  const ask = <T>(request: Record<string, unknown>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ ...request, id });
    });
  const { url, baseURL } = await ask<{ url: string; baseURL: string }>({ op: "start", options });
  return {
    url,
    baseURL,
    stats: () => ask<SimulatedProviderStats>({ op: "stats" }),
    resetStats: () => ask<void>({ op: "resetStats" }),
    admittedTimestamps: () => ask<number[]>({ op: "admittedTimestamps" }),
    maxInAnyWindow: (windowMs) => ask<number>({ op: "maxInAnyWindow", windowMs }),
    maxTokensInAnyWindow: (windowMs) => ask<number>({ op: "maxTokensInAnyWindow", windowMs }),
    async close() {
      await ask<void>({ op: "close" });
      child.disconnect();
      await new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve(undefined)));
    },
  };
}
