/** Option checks shared by every constructor: a wrong value names the option and the value. */

function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** A wrong type is a TypeError; NaN is a number with a bad value, so the range checks below reject it as a RangeError. */
function checkNumber(name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`${name} must be a number, got ${typeof value} ${shown(value)}`);
  }
  return value;
}

/**
 * An options object (or `undefined`, meaning all defaults) whose keys are all
 * `known`: anything else is a TypeError, and a misspelt key names itself.
 */
export function checkOptions(owner: string, options: unknown, known: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${owner} options must be an object, got ${shown(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new TypeError(`${owner} has no option "${key}"; known options: ${known.join(", ")}`);
  }
  return options as Record<string, unknown>;
}

/** An integer >= `min` (default 1), e.g. `maxConcurrent`. */
export function checkCount(name: string, value: unknown, min = 1): number {
  const n = checkNumber(name, value);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${shown(value)}`);
  return n;
}

/** A finite number > 0 (or >= 0 with `allowZero`), e.g. `windowSeconds`. */
export function checkPositive(name: string, value: unknown, allowZero = false): number {
  const n = checkNumber(name, value);
  if (!Number.isFinite(n) || (allowZero ? n < 0 : n <= 0)) {
    throw new RangeError(`${name} must be a finite number ${allowZero ? ">= 0" : "> 0"}, got ${shown(value)}`);
  }
  return n;
}

/** Like `checkCount`, but `undefined` (unlimited) passes through. */
export function checkOptionalCount(name: string, value: unknown): number | undefined {
  return value === undefined || value === null ? undefined : checkCount(name, value);
}

/** A number strictly between `low` and `high`, e.g. `backoffFactor` in (0, 1). */
export function checkBetween(name: string, value: unknown, low: number, high: number): number {
  const n = checkNumber(name, value);
  if (!(n > low && n < high)) throw new RangeError(`${name} must be between ${low} and ${high} (exclusive), got ${shown(value)}`);
  return n;
}

/** A number strictly above `low`, e.g. `recoveryFactor` > 1. */
export function checkAbove(name: string, value: unknown, low: number): number {
  const n = checkNumber(name, value);
  if (!(n > low) || !Number.isFinite(n)) throw new RangeError(`${name} must be a finite number > ${low}, got ${shown(value)}`);
  return n;
}

/** A boolean option. */
export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${typeof value} ${shown(value)}`);
  return value;
}

/** A token count (an estimate, a request, a settled usage): a number (else a TypeError), finite and >= 0. `what` names where it came from. */
export function checkTokenCount(what: string, value: unknown): number {
  const n = checkNumber(what, value);
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${what} must be a finite number >= 0, got ${shown(value)}`);
  return n;
}

/** An `AbortSignal` or `undefined`; anything else is a TypeError naming `name`. */
export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new TypeError(`${name} must be an AbortSignal, got ${typeof value} ${shown(value)}`);
}

/** A wait bound in seconds: `undefined` passes, `Infinity` means unbounded, else a finite number >= 0. */
export function checkWaitSeconds(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = checkNumber(name, value);
  if (Number.isNaN(n) || n < 0) throw new RangeError(`${name} must be a number >= 0 (Infinity: no bound), got ${shown(value)}`);
  return n;
}

/** A request's tokens (0 when unset), which must fit `maxTokensPerWindow` or it could never start. */
export function checkRequestTokens(tokens: number | undefined, maxTokensPerWindow: number | undefined): number {
  if (tokens === undefined) return 0;
  checkTokenCount("tokens", tokens);
  if (maxTokensPerWindow !== undefined && tokens > maxTokensPerWindow) {
    throw new RangeError(
      `a request of ${tokens} tokens can never start under maxTokensPerWindow ${maxTokensPerWindow}: split it or raise the limit`,
    );
  }
  return tokens;
}
