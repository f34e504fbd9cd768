/**
 * The weights user hooks report (`estimateTokens`, `usageOf`): a total or
 * `{ inputTokens, outputTokens }`, checked where they are read so a bad
 * value fails its unit with an error naming the hook and quoting the value.
 */
import type { TokenUsage } from "../limiters/limiter.js";
import { ZERO_WEIGHT } from "../limiters/limiter.js";
import type { Weight } from "../limiters/windows.js";
import { checkTokenCount } from "../validate.js";

/** True for a usage or estimate that gives input or output tokens, not just a total. */
export function hasParts(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  const parts = value as TokenUsage;
  return parts.inputTokens !== undefined || parts.outputTokens !== undefined;
}

function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** One token count from user code: a finite number >= 0; the error names the hook and quotes the value. */
function hookCount(hook: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`${hook} must return a finite number >= 0 (or undefined), got ${typeof value} ${shown(value)}`);
  }
  return checkTokenCount(hook, value);
}

/**
 * The weight an estimate hook returned. A bare number is the prompt's size:
 * it counts as the total and as input tokens (output unknown, 0).
 */
export function estimateWeight(hook: string, value: unknown): Weight {
  if (typeof value === "number" || value === null || typeof value !== "object") {
    const n = hookCount(hook, value);
    return n === 0 ? ZERO_WEIGHT : { tokens: n, inputTokens: n, outputTokens: 0, costUsd: 0 };
  }
  const parts = value as TokenUsage;
  const inputTokens = parts.inputTokens === undefined ? 0 : hookCount(`${hook} inputTokens`, parts.inputTokens);
  const outputTokens = parts.outputTokens === undefined ? 0 : hookCount(`${hook} outputTokens`, parts.outputTokens);
  const tokens = parts.tokens === undefined ? inputTokens + outputTokens : hookCount(`${hook} tokens`, parts.tokens);
  const costUsd = parts.costUsd === undefined ? 0 : hookCount(`${hook} costUsd`, parts.costUsd);
  return { tokens, inputTokens, outputTokens, costUsd };
}

/**
 * The weight a usage hook reported, against the estimate it replaces: a
 * number is the total (the split keeps the estimate's); parts not given keep
 * the estimate's, and a missing total is the sum of the parts.
 */
export function usageWeight(hook: string, value: unknown, estimate: Weight): Weight {
  if (typeof value === "number" || value === null || typeof value !== "object") {
    return { tokens: hookCount(hook, value), inputTokens: estimate.inputTokens, outputTokens: estimate.outputTokens, costUsd: estimate.costUsd };
  }
  const parts = value as TokenUsage;
  const input = parts.inputTokens === undefined ? undefined : hookCount(`${hook} inputTokens`, parts.inputTokens);
  const output = parts.outputTokens === undefined ? undefined : hookCount(`${hook} outputTokens`, parts.outputTokens);
  const inputTokens = input ?? estimate.inputTokens;
  const outputTokens = output ?? estimate.outputTokens;
  let tokens: number;
  if (parts.tokens !== undefined) tokens = hookCount(`${hook} tokens`, parts.tokens);
  else tokens = input === undefined && output === undefined ? estimate.tokens : inputTokens + outputTokens;
  const costUsd = parts.costUsd === undefined ? estimate.costUsd : hookCount(`${hook} costUsd`, parts.costUsd);
  return { tokens, inputTokens, outputTokens, costUsd };
}
