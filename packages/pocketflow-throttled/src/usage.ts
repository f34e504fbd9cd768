/**
 * Token usage as the common clients report it, for settling a token budget
 * with what a call really used.
 */

import type { TokenUsage } from "./limiters/types.js";

type Bag = Record<PropertyKey, unknown>;

function get(value: unknown, key: string): unknown {
  if ((typeof value !== "object" || value === null) && typeof value !== "function") return undefined;
  try {
    return (value as Bag)[key];
  } catch {
    return undefined;
  }
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function sum(...parts: Array<number | undefined>): number | undefined {
  let total: number | undefined;
  for (const part of parts) if (part !== undefined) total = (total ?? 0) + part;
  return total;
}

/**
 * A usage record, chosen only by its input or output count (a total alone
 * says nothing of the shape). A side the result leaves out is left out here
 * too, so settling keeps the estimate's for it.
 */
function make(input: number | undefined, output: number | undefined, total: number | undefined): TokenUsage | undefined {
  if (input === undefined && output === undefined) return undefined;
  const usage: TokenUsage = {};
  if (input !== undefined) usage.inputTokens = input;
  if (output !== undefined) usage.outputTokens = output;
  if (total !== undefined) usage.tokens = total;
  else if (input !== undefined && output !== undefined) usage.tokens = input + output;
  return usage;
}

/** A total with no parts (`{ usage: { total_tokens } }`): the total alone. */
function totalOnly(total: number | undefined): TokenUsage | undefined {
  return total === undefined ? undefined : { tokens: total };
}

function fromUsage(usage: unknown): TokenUsage | undefined {
  if (usage === undefined || usage === null) return undefined;
  const total = count(get(usage, "total_tokens"));
  const camelTotal = count(get(usage, "totalTokens"));
  return (
    // OpenAI Chat Completions.
    make(count(get(usage, "prompt_tokens")), count(get(usage, "completion_tokens")), total) ??
    // Anthropic, OpenAI Responses, LangChain. Anthropic's cache writes count
    // toward its input-token limit, cache reads do not.
    make(sum(count(get(usage, "input_tokens")), count(get(usage, "cache_creation_input_tokens"))), count(get(usage, "output_tokens")), total) ??
    // Vercel AI SDK 5+, then AI SDK 4.
    make(count(get(usage, "inputTokens")), count(get(usage, "outputTokens")), camelTotal) ??
    make(count(get(usage, "promptTokens")), count(get(usage, "completionTokens")), camelTotal) ??
    totalOnly(total ?? camelTotal)
  );
}

/**
 * The tokens a call used, read from the result of a common client, or
 * `undefined` when the result says nothing usable. Reads:
 * - OpenAI: `usage.prompt_tokens`, `completion_tokens`, `total_tokens`
 *   (Responses API: `usage.input_tokens`, `output_tokens`, `total_tokens`);
 * - Anthropic: `usage.input_tokens` (plus `cache_creation_input_tokens`),
 *   `output_tokens`;
 * - Gemini (`@google/genai`): `usageMetadata.promptTokenCount`,
 *   `candidatesTokenCount` (plus `thoughtsTokenCount`), `totalTokenCount`;
 * - Vercel AI SDK: `usage.inputTokens`, `outputTokens`, `totalTokens` (and
 *   AI SDK 4's `promptTokens`, `completionTokens`);
 * - LangChain messages: `usage_metadata.input_tokens`, `output_tokens`.
 *
 * A count that is not a finite number ≥ 0 is ignored; a side the result
 * leaves out is left out (settling keeps the estimate's), and a total alone
 * is `{ tokens }`. Never throws.
 *
 * @example
 * ```ts
 * readUsage({ usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 } });
 * // { inputTokens: 12, outputTokens: 30, tokens: 42 }
 * ```
 */
export function readUsage(result: unknown): TokenUsage | undefined {
  const gemini = get(result, "usageMetadata");
  if (gemini !== undefined) {
    const usage = make(
      count(get(gemini, "promptTokenCount")),
      sum(count(get(gemini, "candidatesTokenCount")), count(get(gemini, "thoughtsTokenCount"))),
      count(get(gemini, "totalTokenCount")),
    );
    if (usage) return usage;
  }
  return fromUsage(get(result, "usage")) ?? fromUsage(get(result, "usage_metadata"));
}
