/**
 * Runs a provider-style simulated provider (`pocketflow-throttled/testing`,
 * any option) in a process of its own, so its clock and event loop are not
 * the client's, and answers the parent's questions over IPC. One provider at
 * a time; `start` after `close` begins afresh (empty limits).
 * Started by `../styled.ts` as `node --import tsx styled-host.ts`.
 */
import { type SimulatedProvider, type SimulatedProviderOptions, startSimulatedProvider } from "pocketflow-throttled/testing";

export type StyledRequest =
  | { id: number; op: "start"; options: SimulatedProviderOptions }
  | { id: number; op: "stats" | "resetStats" | "close" }
  | { id: number; op: "maxInAnyWindow"; windowMs: number };

let provider: SimulatedProvider | undefined;

async function answer(request: StyledRequest): Promise<unknown> {
  if (request.op === "start") {
    await provider?.stop();
    provider = await startSimulatedProvider(request.options);
    return { url: provider.url, baseURL: provider.baseURL };
  }
  if (provider === undefined) throw new Error("no provider started");
  switch (request.op) {
    case "stats":
      return provider.stats;
    case "resetStats":
      provider.resetStats();
      return null;
    case "maxInAnyWindow":
      return provider.maxInAnyWindow(request.windowMs);
    case "close":
      await provider.stop();
      provider = undefined;
      return null;
  }
}

process.on("message", (request: StyledRequest) => {
  answer(request).then(
    (result) => process.send?.({ id: request.id, result }),
    (error: unknown) => process.send?.({ id: request.id, error: String(error) }),
  );
});
process.on("disconnect", () => process.exit(0));
