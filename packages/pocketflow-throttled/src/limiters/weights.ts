/** The weights of `acquire` / `run` options and of `permit.settle(actual)`, validated. */
import { checkOptions, checkSignal, checkTokenCount, checkWaitSeconds } from "../validate.js";
import type { Weight } from "./windows.js";

const ACQUIRE_KEYS = ["signal", "tokens", "inputTokens", "outputTokens", "costUsd", "maxWaitSeconds"];
const USAGE_KEYS = ["tokens", "inputTokens", "outputTokens", "costUsd"];

/**
 * Checks the options of `acquire` / `run` (a wrong type is a TypeError quoting
 * the value) and returns the weight they reserve: `tokens` defaults to
 * `inputTokens + outputTokens`; no weight at all is `zero` (no allocation).
 */
export function acquireWeight(owner: string, options: unknown, zero: Weight): Weight {
  if (options === undefined) return zero;
  const o = checkOptions(owner, options, ACQUIRE_KEYS);
  checkSignal("signal", o.signal);
  checkWaitSeconds("maxWaitSeconds", o.maxWaitSeconds);
  if (o.tokens === undefined && o.inputTokens === undefined && o.outputTokens === undefined && o.costUsd === undefined) return zero;
  const inputTokens = o.inputTokens === undefined ? 0 : checkTokenCount("inputTokens", o.inputTokens);
  const outputTokens = o.outputTokens === undefined ? 0 : checkTokenCount("outputTokens", o.outputTokens);
  const tokens = o.tokens === undefined ? inputTokens + outputTokens : checkTokenCount("tokens", o.tokens);
  const costUsd = o.costUsd === undefined ? 0 : checkTokenCount("costUsd", o.costUsd);
  return { tokens, inputTokens, outputTokens, costUsd };
}

/** `maxWaitSeconds` of already checked options, in milliseconds (undefined: the limiter's default). */
export function maxWaitMsOf(options: { maxWaitSeconds?: number } | undefined): number | undefined {
  const seconds = options?.maxWaitSeconds;
  return seconds === undefined ? undefined : seconds * 1000;
}

/**
 * The weight a settled usage stands for. A number is the total (the split
 * keeps the estimate's); an object's missing parts keep the estimate's, and
 * a missing `tokens` is the sum of the parts given.
 */
export function settledWeight(actual: unknown, estimate: Weight): Weight {
  if (typeof actual !== "object" || actual === null) {
    const tokens = checkTokenCount("settle(actualTokens)", actual);
    return { tokens, inputTokens: estimate.inputTokens, outputTokens: estimate.outputTokens, costUsd: estimate.costUsd };
  }
  const u = checkOptions("settle", actual, USAGE_KEYS);
  const input = u.inputTokens === undefined ? undefined : checkTokenCount("settle inputTokens", u.inputTokens);
  const output = u.outputTokens === undefined ? undefined : checkTokenCount("settle outputTokens", u.outputTokens);
  const inputTokens = input ?? estimate.inputTokens;
  const outputTokens = output ?? estimate.outputTokens;
  let tokens: number;
  if (u.tokens !== undefined) tokens = checkTokenCount("settle tokens", u.tokens);
  else tokens = input === undefined && output === undefined ? estimate.tokens : inputTokens + outputTokens;
  const costUsd = u.costUsd === undefined ? estimate.costUsd : checkTokenCount("settle costUsd", u.costUsd);
  return { tokens, inputTokens, outputTokens, costUsd };
}

/** A weight handed to the gate directly: each part finite and >= 0. */
export function checkWeight(what: string, w: Weight): Weight {
  checkTokenCount(`${what} tokens`, w.tokens);
  checkTokenCount(`${what} inputTokens`, w.inputTokens);
  checkTokenCount(`${what} outputTokens`, w.outputTokens);
  checkTokenCount(`${what} costUsd`, w.costUsd);
  return w;
}
