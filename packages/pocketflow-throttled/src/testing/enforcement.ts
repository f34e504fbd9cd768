/**
 * The limits of one provider style as meters, and the admission decision:
 * a request is accepted only if every meter admits its charge at its arrival;
 * otherwise the refusal names the limit that holds it back longest.
 */
import type { ResolvedOptions } from "./options.js";
import { FixedPeriod, type Meter, SlidingWindow, TokenBucket } from "./windows.js";

/** What a limit counts. `tokens` is input + output. */
export type LimitKind = "requests" | "tokens" | "input-tokens" | "output-tokens";

/** One enforced limit. */
export interface Limit {
  readonly kind: LimitKind;
  /** `minute`, `second` (a quantized share), `day`, or `window` (a custom window). */
  readonly scope: "minute" | "second" | "day" | "window";
  /** How the provider names it in a refusal, e.g. `requests per min (RPM)`. */
  readonly label: string;
  readonly meter: Meter;
  /** The limit the rate-limit headers describe for its kind. */
  readonly primary: boolean;
}

/** A request's charge at arrival: input tokens, and the output tokens reserved for it (e.g. `max_tokens`). */
export interface Charge {
  input: number;
  output: number;
}

/** The charges an accepted request holds, to be settled when it ends. */
export interface Admission {
  charge: Charge;
  handles: number[];
}

/** Why a request is refused. */
export interface Refusal {
  limit: Limit;
  /** Ms until the request would fit everywhere; `Infinity` when it never can (larger than a limit). */
  waitMs: number;
}

function amountOf(kind: LimitKind, charge: Charge): number {
  if (kind === "requests") return 1;
  if (kind === "input-tokens") return charge.input;
  if (kind === "output-tokens") return charge.output;
  return charge.input + charge.output;
}

/** The meters of a style, built from the options (custom windows last, primary only when the style has no limit of that kind). */
export function limitsOf(options: ResolvedOptions, now: number): Limit[] {
  const { style, limits, minuteMs, dayMs } = options;
  const out: Limit[] = [];
  const add = (kind: LimitKind, scope: Limit["scope"], label: string, meter: Meter, primary: boolean) =>
    out.push({ kind, scope, label, meter, primary });
  if (style === "openai") {
    const quantized = (kind: LimitKind, limit: number, what: string, oversizeAlone: boolean) => {
      if (options.quantize) {
        const share = Math.ceil(limit / 60);
        add(kind, "second", `${what} per second (${share}, the per-second share of ${limit}/min)`, new SlidingWindow(share, minuteMs / 60, oversizeAlone), false);
      }
    };
    if (limits.rpm !== undefined) {
      add("requests", "minute", "requests per min (RPM)", new SlidingWindow(limits.rpm, minuteMs), true);
      quantized("requests", limits.rpm, "requests", false);
    }
    if (limits.tpm !== undefined) {
      add("tokens", "minute", "tokens per min (TPM)", new SlidingWindow(limits.tpm, minuteMs), true);
      // A request larger than the per-second share still passes into an empty second (else it never could).
      quantized("tokens", limits.tpm, "tokens", true);
    }
  } else if (style === "anthropic") {
    if (limits.rpm !== undefined) add("requests", "minute", "requests per minute", new TokenBucket(limits.rpm, minuteMs, now), true);
    if (limits.itpm !== undefined) {
      add("input-tokens", "minute", "input tokens per minute", new TokenBucket(limits.itpm, minuteMs, now), true);
    }
    if (limits.otpm !== undefined) {
      add("output-tokens", "minute", "output tokens per minute", new TokenBucket(limits.otpm, minuteMs, now), true);
    }
  } else {
    if (limits.rpm !== undefined) add("requests", "minute", "requests per minute", new SlidingWindow(limits.rpm, minuteMs), true);
    // Gemini's token quota counts input tokens (GenerateContentInputTokensPerModelPerMinute).
    if (limits.tpm !== undefined) add("input-tokens", "minute", "input tokens per minute", new SlidingWindow(limits.tpm, minuteMs), true);
    if (limits.rpd !== undefined) add("requests", "day", "requests per day", new FixedPeriod(limits.rpd, dayMs, now), false);
  }
  for (const window of limits.windows ?? []) {
    const ms = window.seconds * 1000;
    const span = `${window.seconds} s`;
    if (window.maxRequests !== undefined) {
      const primary = !out.some((limit) => limit.primary && limit.kind === "requests");
      add("requests", "window", `requests per ${span}`, new SlidingWindow(window.maxRequests, ms), primary);
    }
    if (window.maxTokens !== undefined) {
      const primary = !out.some((limit) => limit.primary && limit.kind === "tokens");
      add("tokens", "window", `tokens per ${span}`, new SlidingWindow(window.maxTokens, ms), primary);
    }
  }
  return out;
}

/** Admits `charge` at `now` against every limit, or says why not (charging nothing then). */
export function admit(limits: readonly Limit[], charge: Charge, now: number): Admission | Refusal {
  let worst: Refusal | undefined;
  for (const limit of limits) {
    const waitMs = limit.meter.waitFor(amountOf(limit.kind, charge), now);
    if (waitMs > 0 && (worst === undefined || waitMs > worst.waitMs)) worst = { limit, waitMs };
  }
  if (worst !== undefined) return worst;
  return { charge, handles: limits.map((limit) => limit.meter.take(amountOf(limit.kind, charge), now)) };
}

/**
 * Replaces an admission's charge by what the request used: as the style counts it (`used`) for the style's
 * limits, as its usage reports it (`reported`) for custom windows.
 */
export function settle(limits: readonly Limit[], admission: Admission, used: Charge, reported: Charge, now: number): void {
  limits.forEach((limit, index) => {
    const charged = amountOf(limit.kind, admission.charge);
    const actual = amountOf(limit.kind, limit.scope === "window" ? reported : used);
    if (actual !== charged) limit.meter.settle(admission.handles[index]!, charged, actual, now);
  });
}

/** Where a kind stands, for the headers: its primary limit, what remains, and ms until it is full again. */
export interface LimitState {
  limit: number;
  remaining: number;
  resetMs: number;
}

export function stateOf(limits: readonly Limit[], kind: LimitKind, now: number): LimitState | undefined {
  const limit = limits.find((candidate) => candidate.primary && candidate.kind === kind);
  if (limit === undefined) return undefined;
  return { limit: limit.meter.limit, remaining: limit.meter.remaining(now), resetMs: limit.meter.resetMs(now) };
}
