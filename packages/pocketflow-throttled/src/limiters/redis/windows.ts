/**
 * The windows of a `RedisLimiter` on the process's side: the configured rules
 * as rule text (see `scripts/layout.ts`) for the scripts and the agreement
 * check, the learned rules Redis last reported, and the windows in force.
 */
import type { Weight } from "../limiter.js";
import { replaceRules, type WindowKind, type WindowLimit, type WindowRule, weightIn, windowsOf } from "../windows.js";

const CODES: Record<WindowKind, string> = { maxRequests: "r", maxTokens: "t", maxInputTokens: "i", maxOutputTokens: "o", maxCostUsd: "c" };
const KINDS: Record<string, WindowKind> = { r: "maxRequests", t: "maxTokens", i: "maxInputTokens", o: "maxOutputTokens", c: "maxCostUsd" };
const SHORTHAND: Record<string, string> = { R: "maxPerWindow", T: "maxTokensPerWindow" };

function code(rule: WindowRule): string {
  if (rule.option === "maxPerWindow") return "R";
  if (rule.option === "maxTokensPerWindow") return "T";
  return CODES[rule.kind];
}

/**
 * Rules as rule text: `seconds:kind:limit:share[:f],…` (`f`: a budget). A
 * number prints as the shortest text that reads back as the same double, so
 * the text is the same in every process with the same options.
 */
export function encodeRules(rules: readonly WindowRule[]): string {
  return rules.map((r) => `${r.seconds}:${code(r)}:${r.limit}:${r.share ? 1 : 0}${r.fail ? ":f" : ""}`).join(",");
}

/** Rule text back to rules (`learned`: they came from the provider). */
export function decodeRules(text: string, learned: boolean): WindowRule[] {
  const rules: WindowRule[] = [];
  for (const part of text.split(",")) {
    const [seconds, c, limit, share, fail] = part.split(":");
    const kind = KINDS[(c ?? "").toLowerCase()];
    if (kind === undefined) continue;
    const option = learned ? `${kind} (learned)` : (SHORTHAND[c as string] ?? kind);
    rules.push({ seconds: Number(seconds), kind, limit: Number(limit), option, learned, share: share === "1", fail: fail === "f" });
  }
  return rules;
}

/** Configured rule text as the options that made it, for messages: `maxPerWindow: 10, windowSeconds: 1, windows: [...]`. */
export function describeRules(text: string): string {
  const parts: string[] = [];
  const windows: string[] = [];
  for (const r of decodeRules(text, false)) {
    if (r.option === "maxPerWindow") parts.push(`maxPerWindow: ${r.limit}, windowSeconds: ${r.seconds}`);
    else if (r.option === "maxTokensPerWindow") parts.push(`maxTokensPerWindow: ${r.limit}`);
    else windows.push(`{ seconds: ${r.seconds}, ${r.kind}: ${r.limit}${r.fail ? ', onExceed: "fail"' : ""} }`);
  }
  if (windows.length > 0) parts.push(`windows: [${windows.join(", ")}]`);
  return parts.length === 0 ? "no windows" : parts.join(", ");
}

/** The configured rules, the learned ones Redis last reported, and what is in force. */
export class RedisWindows {
  /** The configured rules as rule text (what every process sharing the key must agree on). */
  readonly configuredText: string;
  private _learnedText = "";
  private _learned: WindowRule[] = [];
  private _inForce: WindowRule[];
  private _windows: readonly WindowLimit[];

  constructor(
    readonly configured: readonly WindowRule[],
    /** The rules in force changed (the local view follows them). */
    private readonly _onChange: (rules: readonly WindowRule[]) => void,
  ) {
    this.configuredText = encodeRules(configured);
    this._inForce = [...configured];
    this._windows = windowsOf(this._inForce);
  }

  get inForce(): readonly WindowRule[] {
    return this._inForce;
  }

  get windows(): readonly WindowLimit[] {
    return this._windows;
  }

  /** The learned rules Redis last reported. */
  get learned(): readonly WindowRule[] {
    return this._learned;
  }

  /** Adopts the learned rule text Redis holds (or this process just sent). */
  setLearned(text: string): void {
    if (text === this._learnedText) return;
    this._learnedText = text;
    this._learned = text === "" ? [] : decodeRules(text, true);
    this._inForce = replaceRules(this.configured, this._learned);
    this._windows = windowsOf(this._inForce);
    this._onChange(this._inForce);
  }

  /** The stricter limit of `kind` in force over `seconds`, if `option` was configured. */
  shorthand(option: string, kind: WindowKind, seconds: number): number | undefined {
    if (!this.configured.some((r) => r.option === option)) return undefined;
    let limit: number | undefined;
    for (const r of this._inForce) if (r.seconds === seconds && r.kind === kind && (limit === undefined || r.limit < limit)) limit = r.limit;
    return limit;
  }

  /** The first waiting rule in force that a start of `w` could never fit (a share admits anything alone; a budget refuses instead, in Redis). */
  neverFits(w: Weight): WindowRule | undefined {
    return this._inForce.find((r) => !r.fail && !r.share && weightIn(r.kind, w) > r.limit);
  }
}
