/** Starting providers that every test stops, and small helpers for the provider suites. */
import { afterEach } from "vitest";
import { type SimulatedProvider, type SimulatedProviderOptions, startSimulatedProvider } from "../../src/testing/index.js";

const started: SimulatedProvider[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((provider) => provider.stop()));
});

/** A provider stopped after the test; 2 ms latency unless told otherwise. */
export async function start(options: SimulatedProviderOptions = {}): Promise<SimulatedProvider> {
  const provider = await startSimulatedProvider({ latencyMs: 2, ...options });
  started.push(provider);
  return provider;
}

export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function post(provider: SimulatedProvider, path: string, body: unknown): Promise<Response> {
  return fetch(`${provider.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}
