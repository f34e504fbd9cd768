/**
 * Runs the cookbook's simulated provider in a process of its own, so the
 * server's clock and event loop are not the client's (as with a real
 * provider), and answers the parent's questions over IPC.
 * Started by `../provider.ts` as `node --import tsx provider-host.ts`.
 */
import {
  type SimulatedProvider,
  type SimulatedProviderOptions,
  startSimulatedProvider,
} from "../../cookbook/rate-limited-llm-batch/simulated-provider.js";

/** A question from the parent; every one is answered with `{ id, result }` or `{ id, error }`. */
export type HostRequest =
  | { id: number; op: "start"; options: SimulatedProviderOptions }
  | { id: number; op: "stats" | "resetStats" | "close" | "admittedTimestamps" }
  | { id: number; op: "maxInAnyWindow" | "maxTokensInAnyWindow"; windowMs?: number };

let provider: SimulatedProvider | undefined;

async function answer(request: HostRequest): Promise<unknown> {
  if (request.op === "start") {
    provider = await startSimulatedProvider(request.options);
    return { url: provider.url, baseURL: provider.baseURL };
  }
  if (provider === undefined) throw new Error("no provider started");
  switch (request.op) {
    case "stats":
      return { ...provider.stats };
    case "resetStats":
      provider.resetStats();
      return null;
    case "admittedTimestamps":
      // As epoch milliseconds (sub-millisecond precision), comparable with the parent's clock.
      return provider.admittedTimestamps().map((t) => performance.timeOrigin + t);
    case "maxInAnyWindow":
      return provider.maxInAnyWindow(request.windowMs);
    case "maxTokensInAnyWindow":
      return provider.maxTokensInAnyWindow(request.windowMs);
    case "close":
      await provider.close();
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
