/**
 * The windows of a `RedisLimiter` on the process's side: the configured rules
 * as rule text (see `scripts/layout.ts`) for the scripts and the agreement
 * check, the learned rules Redis last reported, and the windows in force.
 */
import type { Weight } from "../limiter.js";
import { replaceRules, type WindowKind, type WindowLimit, type WindowRule, windowsOf } from "../windows.js";

const CODES: Record<WindowKind, string> = { maxRequests: "r", maxTokens: "t", maxInputTokens: "i", maxOutputTokens: "o", maxCostUsd: "c" };
const KINDS: Record<string, WindowKind> = { r: "maxRequests", t: "maxTokens", i: "maxInputTokens", o: "maxOutputTokens", c: "maxCostUsd" };
const SHORTHAND: Record<string, string> = { R: "maxPerWindow", T: "maxTokensPerWindow" };

/** What `w` weighs in a window of `kind`. */
export function weightIn(kind: WindowKind, w: Weight): number {
  if (kind === "maxTokens") return w.tokens;
  if (kind === "maxInputTokens") return w.inputTokens;
  if (kind === "maxOutputTokens") return w.outputTokens;
  return 1;
}

function code(rule: WindowRule): string {
  if (rule.option === "maxPerWindow") return "R";
  if (rule.option === "maxTokensPerWindow") return "T";
  return CODES[rule.kind];
}

/** Rules as rule text: `seconds:kind:limit:share,…`. */
export function encodeRules(rules: readonly WindowRule[]): string {
  return rules.map((r) => `${r.seconds}:${code(r)}:${r.limit}:${r.share ? 1 : 0}`).join(",");
}

/** Rule text back to rules (`learned`: they came from the provider). */
export function decodeRules(text: string, learned: boolean): WindowRule[] {
  const rules: WindowRule[] = [];
  for (const part of text.split(",")) {
    const [seconds, c, limit, share] = part.split(":");
    const kind = KINDS[(c ?? "").toLowerCase()];
    if (kind === undefined) continue;
    const option = learned ? `${kind} (learned)` : (SHORTHAND[c as string] ?? kind);
    rules.push({ seconds: Number(seconds), kind, limit: Number(limit), option, learned, share: share === "1", fail: false });
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
    else windows.push(`{ seconds: ${r.seconds}, ${r.kind}: ${r.limit} }`);
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

  /** The first rule in force that a start of `w` could never fit (a share admits anything alone). */
  neverFits(w: Weight): WindowRule | undefined {
    return this._inForce.find((r) => !r.share && weightIn(r.kind, w) > r.limit);
  }
}
