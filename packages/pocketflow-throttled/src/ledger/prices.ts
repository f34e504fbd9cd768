/**
 * What tokens cost: US dollars per million input, cached-input and output
 * tokens, keyed by model, and how a result's `model` finds its price.
 */

/** The price of one model, in US dollars per million tokens. */
export interface ModelPrice {
  /** Dollars per million input (prompt) tokens that were not read from a cache. */
  input: number;
  /** Dollars per million input tokens read from the provider's prompt cache. @default the `input` price */
  cachedInput?: number;
  /** Dollars per million output (completion) tokens, reasoning tokens included. */
  output: number;
}

/** Prices keyed by model name (a name also prices its dated versions: `gpt-4o` prices `gpt-4o-2024-08-06`). */
export type PriceTable = Readonly<Record<string, ModelPrice>>;

/**
 * A few current models' list prices (standard tier, no batch discount, the
 * lowest context tier), from openai.com/api/pricing,
 * docs.anthropic.com/en/docs/about-claude/pricing and
 * ai.google.dev/gemini-api/docs/pricing. Taken in two steps: the 2025
 * models in 2025; the 2026 ones on 2026-12-02, from copies of those pages
 * dated up to July 2026 (kept only where the copies agree). Older models
 * stay so that recorded answers of theirs are still priced. Prices change:
 * check the providers' pages and pass your own `prices` for what you pay.
 */
export const DEFAULT_PRICES: PriceTable = Object.freeze({
  // OpenAI
  "gpt-5.1": { input: 1.25, cachedInput: 0.125, output: 10 },
  "gpt-5": { input: 1.25, cachedInput: 0.125, output: 10 },
  "gpt-5-mini": { input: 0.25, cachedInput: 0.025, output: 2 },
  "gpt-5-nano": { input: 0.05, cachedInput: 0.005, output: 0.4 },
  "gpt-4.1": { input: 2, cachedInput: 0.5, output: 8 },
  "gpt-4.1-mini": { input: 0.4, cachedInput: 0.1, output: 1.6 },
  "gpt-4.1-nano": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "gpt-4o": { input: 2.5, cachedInput: 1.25, output: 10 },
  "gpt-4o-mini": { input: 0.15, cachedInput: 0.075, output: 0.6 },
  o3: { input: 2, cachedInput: 0.5, output: 8 },
  "o3-mini": { input: 1.1, cachedInput: 0.55, output: 4.4 },
  "o4-mini": { input: 1.1, cachedInput: 0.275, output: 4.4 },
  // Anthropic (cachedInput: cache reads, a tenth of input)
  "claude-opus-4-6": { input: 5, cachedInput: 0.5, output: 25 },
  "claude-opus-4-5": { input: 5, cachedInput: 0.5, output: 25 },
  "claude-opus-4-1": { input: 15, cachedInput: 1.5, output: 75 },
  "claude-sonnet-4-6": { input: 3, cachedInput: 0.3, output: 15 },
  "claude-sonnet-4-5": { input: 3, cachedInput: 0.3, output: 15 },
  "claude-sonnet-4": { input: 3, cachedInput: 0.3, output: 15 },
  "claude-haiku-4-5": { input: 1, cachedInput: 0.1, output: 5 },
  "claude-3-5-haiku": { input: 0.8, cachedInput: 0.08, output: 4 },
  // Google (prompts up to 200k tokens)
  "gemini-3.1-pro-preview": { input: 2, output: 12 },
  "gemini-3-flash-preview": { input: 0.5, cachedInput: 0.05, output: 3 },
  "gemini-2.5-pro": { input: 1.25, cachedInput: 0.31, output: 10 },
  "gemini-2.5-flash": { input: 0.3, cachedInput: 0.075, output: 2.5 },
  "gemini-2.5-flash-lite": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "gemini-2.0-flash": { input: 0.1, cachedInput: 0.025, output: 0.4 },
});

function checkPrice(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number >= 0 (dollars per million tokens), got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
  }
  return value;
}

/** Validates a price table: every price a finite number >= 0; the error names `prices["model"].field`. */
export function checkPrices(prices: unknown): PriceTable {
  if (prices === null || typeof prices !== "object") throw new TypeError(`prices must be an object keyed by model, got ${String(prices)}`);
  const out: Record<string, ModelPrice> = {};
  for (const [model, price] of Object.entries(prices as Record<string, unknown>)) {
    const name = `prices[${JSON.stringify(model)}]`;
    if (price === null || typeof price !== "object") throw new TypeError(`${name} must be { input, cachedInput?, output }, got ${String(price)}`);
    const p = price as Record<string, unknown>;
    const checked: ModelPrice = { input: checkPrice(`${name}.input`, p.input), output: checkPrice(`${name}.output`, p.output) };
    if (p.cachedInput !== undefined) checked.cachedInput = checkPrice(`${name}.cachedInput`, p.cachedInput);
    out[model] = checked;
  }
  return Object.freeze(out);
}

/**
 * The price of `model`: its own entry, else the longest table name it starts
 * with at a `-`, `@` or `:` boundary (dated versions); a `models/` prefix
 * (Gemini) is ignored. `undefined` when the table has none.
 */
export function priceOf(prices: PriceTable, model: string): ModelPrice | undefined {
  const name = model.startsWith("models/") ? model.slice(7) : model;
  const exact = prices[name];
  if (exact !== undefined) return exact;
  let best: string | undefined;
  for (const key of Object.keys(prices)) {
    if (!name.startsWith(key) || "-@:".indexOf(name.charAt(key.length)) < 0) continue;
    if (best === undefined || key.length > best.length) best = key;
  }
  return best === undefined ? undefined : prices[best];
}

/** Dollars for a usage at `price`: uncached input, cached input (part of `inputTokens`) and output. */
export function costOf(price: ModelPrice, inputTokens: number, cachedInputTokens: number, outputTokens: number): number {
  const cached = Math.min(cachedInputTokens, inputTokens);
  return ((inputTokens - cached) * price.input + cached * (price.cachedInput ?? price.input) + outputTokens * price.output) / 1_000_000;
}
