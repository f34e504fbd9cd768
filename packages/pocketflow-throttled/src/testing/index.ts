/**
 * `pocketflow-throttled/testing`: a strict simulated LLM provider for tests,
 * enforcing limits the way OpenAI, Anthropic and Gemini document them.
 * See docs/testing.md.
 */
export { formatDuration, simulatedReply, tokensOf } from "./answers.js";
export type { ProviderLimits, ProviderStyle, ProviderWindow, SimulatedProviderOptions } from "./options.js";
export type { RefusalCounts, SimulatedProvider, SimulatedProviderStats } from "./server.js";
export { startSimulatedProvider } from "./server.js";
