import { describe, expect, it } from "vitest";
import { readUsage } from "../src/usage.js";

describe("readUsage", () => {
  it("reads an OpenAI chat completion", () => {
    const result = { choices: [], usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 } };

    expect(readUsage(result)).toEqual({ inputTokens: 12, outputTokens: 30, tokens: 42 });
  });

  it("reads an Anthropic message, counting cache writes as input", () => {
    const result = { content: [], usage: { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 50, cache_read_input_tokens: 900 } };

    expect(readUsage(result)).toEqual({ inputTokens: 150, outputTokens: 20, tokens: 170 });
  });

  it("reads an OpenAI Responses result", () => {
    expect(readUsage({ usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 } })).toEqual({ inputTokens: 5, outputTokens: 7, tokens: 12 });
  });

  it("reads a Gemini response, thoughts counted as output, the provider's total kept", () => {
    const result = { usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 20, thoughtsTokenCount: 10, totalTokenCount: 38 } };

    expect(readUsage(result)).toEqual({ inputTokens: 8, outputTokens: 30, tokens: 38 });
  });

  it("reads a Vercel AI SDK result", () => {
    expect(readUsage({ text: "hi", usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 } })).toEqual({ inputTokens: 3, outputTokens: 4, tokens: 7 });
  });

  it("reads an AI SDK 4 result", () => {
    expect(readUsage({ usage: { promptTokens: 3, completionTokens: 4 } })).toEqual({ inputTokens: 3, outputTokens: 4, tokens: 7 });
  });

  it("reads a LangChain message's usage_metadata", () => {
    expect(readUsage({ usage_metadata: { input_tokens: 2, output_tokens: 9, total_tokens: 11 } })).toEqual({ inputTokens: 2, outputTokens: 9, tokens: 11 });
  });

  it("sums input and output when no total is given", () => {
    expect(readUsage({ usage: { input_tokens: 10, output_tokens: 5 } })).toEqual({ inputTokens: 10, outputTokens: 5, tokens: 15 });
  });

  it("leaves a missing side out, so settling keeps the estimate's for it", () => {
    expect(readUsage({ usage: { inputTokens: 10, outputTokens: undefined } })).toEqual({ inputTokens: 10 });
  });

  it("reads a total alone as the total", () => {
    expect(readUsage({ usage: { total_tokens: 15 } })).toEqual({ tokens: 15 });
  });

  it.each([
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["a negative count", -5],
    ["a string", "12"],
  ])("ignores %s", (_label, bad) => {
    expect(readUsage({ usage: { prompt_tokens: bad, completion_tokens: 4 } })).toEqual({ outputTokens: 4 });
  });

  it.each([
    ["undefined", undefined],
    ["a string", "hello"],
    ["a result without usage", { choices: [] }],
    ["a usage with no valid count", { usage: { prompt_tokens: -1, completion_tokens: "x" } }],
    ["an empty Gemini usageMetadata", { usageMetadata: {} }],
  ])("is undefined for %s", (_label, result) => {
    expect(readUsage(result)).toBeUndefined();
  });

  it("does not throw for a result whose getters throw", () => {
    const result = {
      get usage(): unknown {
        throw new Error("boom");
      },
      get usageMetadata(): unknown {
        throw new Error("boom");
      },
    };

    expect(readUsage(result)).toBeUndefined();
  });
});
