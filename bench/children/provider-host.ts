/**
 * Runs the simulated provider of `pocketflow-throttled/testing` in a process of its own, so the
 * server's clock and event loop are not the client's (as with a real
 * provider), and answers the parent's questions over IPC.
 * Started by `../provider.ts` as `node --import tsx provider-host.ts`.
 */
import { type SimulatedProvider, startSimulatedProvider } from "pocketflow-throttled/testing";
import type { SimulatedProviderOptions, SimulatedProviderStats } from "../provider.js";

/** A question from the parent; every one is answered with `{ id, result }` or `{ id, error }`. */
export type HostRequest =
  | { id: number; op: "start"; options: SimulatedProviderOptions }
  | { id: number; op: "stats" | "resetStats" | "close" | "admittedTimestamps" }
  | { id: number; op: "maxInAnyWindow" | "maxTokensInAnyWindow"; windowMs?: number };

let provider: SimulatedProvider | undefined;
let windowMs = 60_000;

function start(options: SimulatedProviderOptions): Promise<SimulatedProvider> {
  windowMs = options.windowMs ?? 60_000;
  const [min, max] = typeof options.latencyMs === "object" ? options.latencyMs : [options.latencyMs ?? 20, options.latencyMs ?? 20];
  const limited = options.requestsPerWindow !== undefined || options.tokensPerWindow !== undefined;
  const window = { seconds: windowMs / 1000, maxRequests: options.requestsPerWindow, maxTokens: options.tokensPerWindow };
  return startSimulatedProvider({
    limits: limited ? { windows: [window] } : {},
    maxConcurrent: options.maxConcurrent,
    latencyMs: min,
    jitterMs: max - min,
    failureRate: options.failureRate,
    seed: options.seed,
  });
}

function statsOf(running: SimulatedProvider): SimulatedProviderStats {
  const { answered, refused, refusedBy, maxConcurrentSeen, inFlight, failures } = running.stats;
  return {
    served: answered,
    rejected: refused,
    rejectedRequests: refusedBy.requests,
    rejectedTokens: refusedBy.tokens,
    rejectedConcurrency: refusedBy.concurrency,
    peakConcurrency: maxConcurrentSeen,
    inFlight,
    failures,
  };
}

async function answer(request: HostRequest): Promise<unknown> {
  if (request.op === "start") {
    provider = await start(request.options);
    return { url: provider.url, baseURL: provider.baseURL };
  }
  if (provider === undefined) throw new Error("no provider started");
  switch (request.op) {
    case "stats":
      return statsOf(provider);
    case "resetStats":
      provider.resetStats();
      return null;
    case "admittedTimestamps":
      // As epoch milliseconds (sub-millisecond precision), comparable with the parent's clock.
      return provider.arrivals().map((t) => performance.timeOrigin + t);
    case "maxInAnyWindow":
      return provider.maxInAnyWindow(request.windowMs ?? windowMs);
    case "maxTokensInAnyWindow":
      return provider.maxTokensInAnyWindow(request.windowMs ?? windowMs);
    case "close":
      await provider.stop();
      provider = undefined;
      return null;
  }
}

process.on("message", (request: HostRequest) => {
  answer(request).then(
    (result) => process.send?.({ id: request.id, result }),
    (error: unknown) => process.send?.({ id: request.id, error: String(error) }),
  );
});
process.on("disconnect", () => process.exit(0));
