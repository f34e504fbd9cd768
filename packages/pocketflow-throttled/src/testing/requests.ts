/**
 * The routes of each style: what a request body means (its charge at
 * arrival) and the answer in the provider's own shape, with its usage.
 */
import { embeddingOf, simulatedReply, tokensOf } from "./answers.js";
import type { Charge } from "./enforcement.js";
import type { ProviderStyle } from "./options.js";

/** A body that is not a request this route understands: a 400. */
export class BadRequest extends Error {}

/** A request understood: its charge at arrival, and how to answer it. */
export interface Parsed {
  charge: Charge;
  /**
   * The answer's body, what the style counts as used (`used`: OpenAI keeps `max_tokens`), and what the
   * usage reports (`reported`: input and produced output).
   */
  answer(id: number): { body: unknown; used: Charge; reported: Charge };
}

type Body = Record<string, unknown>;
type Route = (body: Body, model: string | undefined) => Parsed;

interface Message {
  role: string;
  text: string;
}

function textOf(content: unknown, name: string): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((block: unknown) => {
        const text = typeof block === "object" && block !== null ? (block as { text?: unknown }).text : undefined;
        return typeof text === "string" ? text : "";
      })
      .join("");
  }
  throw new BadRequest(`${name} must be a string or an array of content blocks.`);
}

function messageList(value: unknown): Message[] {
  if (!Array.isArray(value) || value.length === 0) throw new BadRequest("messages must be a non-empty array.");
  return value.map((message: unknown, index) => {
    if (typeof message !== "object" || message === null) throw new BadRequest(`messages[${index}] must be an object.`);
    const { role, content } = message as { role?: unknown; content?: unknown };
    if (typeof role !== "string") throw new BadRequest(`messages[${index}].role must be a string.`);
    return { role, text: content === null || content === undefined ? "" : textOf(content, `messages[${index}].content`) };
  });
}

function lastUserText(messages: readonly Message[]): string {
  for (let index = messages.length - 1; index >= 0; index--) {
    if (messages[index]!.role === "user") return messages[index]!.text;
  }
  return messages.at(-1)!.text;
}

function optionalCount(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw new BadRequest(`${name} must be a non-negative integer.`);
  return value;
}

/** The reply, cut to `max` tokens when a maximum is given (as a model stops at its limit). */
function replyWithin(prompt: string, max: number | undefined): { text: string; tokens: number; cut: boolean } {
  const text = simulatedReply(prompt);
  if (max === undefined || tokensOf(text) <= max) return { text, tokens: tokensOf(text), cut: false };
  const cut = text.slice(0, max * 4);
  return { text: cut, tokens: tokensOf(cut), cut: true };
}

function modelOf(body: Body, fallback: string): string {
  return typeof body.model === "string" ? body.model : fallback;
}

// OpenAI counts max_tokens toward TPM at arrival and does not give it back; with no max_tokens, the completion.
const chatCompletion: Route = (body) => {
  const messages = messageList(body.messages);
  const input = tokensOf(messages.map((message) => message.text).join(""));
  const max = optionalCount(body.max_completion_tokens ?? body.max_tokens, "max_tokens");
  return {
    charge: { input, output: max ?? 0 },
    answer(id) {
      const reply = replyWithin(lastUserText(messages), max);
      const usage = { prompt_tokens: input, completion_tokens: reply.tokens, total_tokens: input + reply.tokens };
      const body_ = {
        id: `chatcmpl-sim-${id}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: modelOf(body, "gpt-sim"),
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: reply.text, refusal: null },
            logprobs: null,
            finish_reason: reply.cut ? "length" : "stop",
          },
        ],
        usage,
      };
      return { body: body_, used: { input, output: max ?? reply.tokens }, reported: { input, output: reply.tokens } };
    },
  };
};

const embeddings: Route = (body) => {
  const inputs = typeof body.input === "string" ? [body.input] : body.input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((input) => typeof input === "string")) {
    throw new BadRequest("input must be a string or a non-empty array of strings.");
  }
  const strings = inputs as string[];
  const input = strings.reduce((sum, text) => sum + tokensOf(text), 0);
  const base64 = body.encoding_format === "base64";
  return {
    charge: { input, output: 0 },
    answer() {
      const data = strings.map((text, index) => {
        const vector = embeddingOf(text);
        // The openai SDK asks for base64 (little-endian float32) unless told otherwise, and decodes it.
        const embedding = base64 ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
        return { object: "embedding", index, embedding };
      });
      const usage = { prompt_tokens: input, total_tokens: input };
      return { body: { object: "list", data, model: modelOf(body, "embedding-sim"), usage }, used: { input, output: 0 }, reported: { input, output: 0 } };
    },
  };
};

// Anthropic estimates output from max_tokens at arrival and settles it to the produced amount at the end.
const message: Route = (body) => {
  const messages = messageList(body.messages);
  const system = body.system === undefined ? "" : textOf(body.system, "system");
  const input = tokensOf(system + messages.map((entry) => entry.text).join(""));
  const max = optionalCount(body.max_tokens, "max_tokens");
  if (max === undefined) throw new BadRequest("max_tokens: Field required");
  return {
    charge: { input, output: max },
    answer(id) {
      const reply = replyWithin(lastUserText(messages), max);
      const answer = {
        id: `msg_sim_${id}`,
        type: "message",
        role: "assistant",
        model: modelOf(body, "claude-sim"),
        content: [{ type: "text", text: reply.text }],
        stop_reason: reply.cut ? "max_tokens" : "end_turn",
        stop_sequence: null,
        usage: { input_tokens: input, output_tokens: reply.tokens },
      };
      return { body: answer, used: { input, output: reply.tokens }, reported: { input, output: reply.tokens } };
    },
  };
};

function geminiText(value: unknown, name: string): string {
  if (typeof value !== "object" || value === null) throw new BadRequest(`${name} must be an object with parts.`);
  const parts = (value as { parts?: unknown }).parts;
  if (!Array.isArray(parts)) throw new BadRequest(`${name}.parts must be an array.`);
  return textOf(parts, `${name}.parts`);
}

const generateContent: Route = (body, model) => {
  const contents = body.contents;
  if (!Array.isArray(contents) || contents.length === 0) throw new BadRequest("contents must be a non-empty array.");
  const texts = contents.map((content: unknown, index) => geminiText(content, `contents[${index}]`));
  const system = body.systemInstruction === undefined ? "" : geminiText(body.systemInstruction, "systemInstruction");
  const input = tokensOf(system + texts.join(""));
  const config = (body.generationConfig ?? {}) as { maxOutputTokens?: unknown };
  const max = optionalCount(config.maxOutputTokens, "generationConfig.maxOutputTokens");
  return {
    charge: { input, output: 0 },
    answer(id) {
      const reply = replyWithin(texts.at(-1)!, max);
      const answer = {
        candidates: [{ content: { role: "model", parts: [{ text: reply.text }] }, finishReason: reply.cut ? "MAX_TOKENS" : "STOP", index: 0 }],
        usageMetadata: { promptTokenCount: input, candidatesTokenCount: reply.tokens, totalTokenCount: input + reply.tokens },
        modelVersion: model ?? "gemini-sim",
        responseId: `resp-sim-${id}`,
      };
      return { body: answer, used: { input, output: reply.tokens }, reported: { input, output: reply.tokens } };
    },
  };
};

const GEMINI_PATH = /^\/v1beta\/models\/([^/:]+):generateContent$/;

/** The route of `path` in `style`, with the model named in the path (Gemini), or undefined (a 404). */
export function routeOf(style: ProviderStyle, path: string): { route: Route; model: string | undefined } | undefined {
  if (style === "openai") {
    if (path === "/v1/chat/completions") return { route: chatCompletion, model: undefined };
    if (path === "/v1/embeddings") return { route: embeddings, model: undefined };
  } else if (style === "anthropic") {
    if (path === "/v1/messages") return { route: message, model: undefined };
  } else {
    const match = GEMINI_PATH.exec(path);
    if (match !== null) return { route: generateContent, model: decodeURIComponent(match[1]!) };
  }
  return undefined;
}

/** The routes a style serves, for the 404 message and `--help`. */
export const ROUTES: Record<ProviderStyle, readonly string[]> = {
  openai: ["POST /v1/chat/completions", "POST /v1/embeddings"],
  anthropic: ["POST /v1/messages"],
  gemini: ["POST /v1beta/models/{model}:generateContent"],
};
