/**
 * The places one error object (or error body) keeps its signals, in the
 * shapes the common clients throw. Each reader looks at one node; the walk
 * over wrapped errors is in `chain.ts`.
 */
import { parseDuration } from "../limiters/headers.js";
import { type Bag, entries, isObjectLike, prop, stringProp } from "./chain.js";

function httpStatus(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 100 && value <= 599 ? value : undefined;
}

/**
 * HTTP statuses of a node: `status`, `statusCode` (AI SDK), `response.status`
 * (axios, fetch wrappers), `$metadata.httpStatusCode` (AWS SDK), a numeric
 * `code` (Gemini bodies).
 */
export function statusesOf(node: Bag): number[] {
  const out: number[] = [];
  for (const value of [
    prop(node, "status"),
    prop(node, "statusCode"),
    prop(prop(node, "response"), "status"),
    prop(prop(node, "$metadata"), "httpStatusCode"),
    prop(node, "code"),
  ]) {
    const status = httpStatus(value);
    if (status !== undefined) out.push(status);
  }
  return out;
}

/** The error's `name` and its class name (openai's `RateLimitError` keeps `name` "Error"). */
export function namesOf(node: Bag): string[] {
  const out: string[] = [];
  const name = stringProp(node, "name");
  if (name !== undefined) out.push(name);
  const className = stringProp(prop(node, "constructor"), "name");
  if (className !== undefined && className !== name && className !== "Object") out.push(className);
  return out;
}

/**
 * Machine-readable codes, lower-cased: a string `code` (openai, Node system
 * errors, axios), `type` (openai, Anthropic bodies), a string `status` (Gemini
 * bodies: `RESOURCE_EXHAUSTED`), and the `reason` of a Google `ErrorInfo`.
 */
export function codesOf(node: Bag): string[] {
  const out: string[] = [];
  for (const key of ["code", "type", "status", "reason"]) {
    const value = stringProp(node, key);
    if (value !== undefined) out.push(value.toLowerCase());
  }
  return out;
}

/** Places a node keeps response headers: `headers`, `response.headers`, `responseHeaders` (AI SDK), `$response.headers` (AWS SDK). */
export function headerPlaces(node: unknown): unknown[] {
  return [
    prop(node, "headers"),
    prop(prop(node, "response"), "headers"),
    prop(node, "responseHeaders"),
    prop(prop(node, "$response"), "headers"),
  ];
}

/** The first of {@link headerPlaces} that holds an object. Allocation-free: it runs on every observed result. */
export function headersAt(node: unknown): unknown {
  const own = prop(node, "headers");
  if (isObjectLike(own)) return own;
  const response = prop(prop(node, "response"), "headers");
  if (isObjectLike(response)) return response;
  const aiSdk = prop(node, "responseHeaders");
  if (isObjectLike(aiSdk)) return aiSdk;
  const aws = prop(prop(node, "$response"), "headers");
  return isObjectLike(aws) ? aws : undefined;
}

/** A Google `details` entry of the given `@type` suffix (`google.rpc.RetryInfo`, `google.rpc.QuotaFailure`). */
function detailsOfType(node: Bag, type: string): unknown[] {
  return entries(prop(node, "details")).filter((detail) => stringProp(detail, "@type")?.endsWith(type) === true);
}

/** Seconds of a protobuf Duration: `"31s"`, `"0.4s"`, or `{ seconds, nanos }`. */
function protoSeconds(value: unknown): number | undefined {
  if (typeof value === "string") return parseDuration(value);
  const seconds = prop(value, "seconds");
  const nanos = prop(value, "nanos");
  if (seconds === undefined && nanos === undefined) return undefined;
  const total = Number(seconds ?? 0) + Number(nanos ?? 0) / 1e9;
  return Number.isFinite(total) && total >= 0 ? total : undefined;
}

/** Gemini's `RetryInfo.retryDelay` in a node's `details`, in seconds. */
export function retryInfoOf(node: Bag): number | undefined {
  for (const detail of detailsOfType(node, "google.rpc.RetryInfo")) {
    const seconds = protoSeconds(prop(detail, "retryDelay"));
    if (seconds !== undefined) return seconds;
  }
  return undefined;
}

/** One violated quota of a Gemini (Google API) `QuotaFailure`. */
export interface QuotaViolation {
  /** e.g. `"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"`. */
  quotaId?: string;
  /** e.g. `"generativelanguage.googleapis.com/generate_content_free_tier_requests"`. */
  quotaMetric?: string;
  /** The limit itself (Google sends it as a string, e.g. `"15"`). */
  quotaValue?: number;
  /** What the quota counts, read from `quotaId` / `quotaMetric`. */
  kind?: "requests" | "tokens" | "inputTokens" | "outputTokens";
  /** A per-day quota (`PerDay` in the id): it will not come back soon. */
  perDay: boolean;
  /** A per-minute quota (`PerMinute` in the id). */
  perMinute: boolean;
}

function kindOf(text: string): QuotaViolation["kind"] {
  if (/input_?tokens?/i.test(text)) return "inputTokens";
  if (/output_?tokens?/i.test(text)) return "outputTokens";
  if (/tokens?/i.test(text)) return "tokens";
  if (/requests?/i.test(text)) return "requests";
  return undefined;
}

/** The `QuotaFailure.violations[]` of a node's `details`. */
export function violationsOf(node: Bag): QuotaViolation[] {
  const out: QuotaViolation[] = [];
  for (const detail of detailsOfType(node, "google.rpc.QuotaFailure")) {
    for (const violation of entries(prop(detail, "violations"))) {
      if (!isObjectLike(violation)) continue;
      const quotaId = stringProp(violation, "quotaId");
      const quotaMetric = stringProp(violation, "quotaMetric");
      const rawValue = prop(violation, "quotaValue");
      const value = typeof rawValue === "string" || typeof rawValue === "number" ? Number(rawValue) : Number.NaN;
      const id = quotaId ?? "";
      out.push({
        quotaId,
        quotaMetric,
        quotaValue: Number.isFinite(value) && value >= 0 ? value : undefined,
        kind: kindOf(`${id} ${quotaMetric ?? ""}`),
        perDay: /perday/i.test(id),
        perMinute: /perminute/i.test(id),
      });
    }
  }
  return out;
}

// "Please try again in 1.5s", "in 634ms", "in 6m0s" (OpenAI); "Please retry in 31.5s" (Gemini).
const COMPACT_HINT = /\b(?:try again|retry) in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)(?![a-z])/i;
// "Please retry after 6 seconds" (Azure OpenAI).
const WORDY_HINT = /\b(?:try again|retry) (?:in|after) (\d+(?:\.\d+)?) ?(milliseconds?|seconds?|secs?)\b/i;

/** A retry hint written in a message, in seconds. */
export function messageHintOf(message: string | undefined): number | undefined {
  if (message === undefined) return undefined;
  const compact = COMPACT_HINT.exec(message);
  if (compact?.[1] !== undefined) return parseDuration(compact[1]);
  const wordy = WORDY_HINT.exec(message);
  if (wordy?.[1] === undefined) return undefined;
  const value = Number(wordy[1]);
  return wordy[2]?.toLowerCase().startsWith("milli") ? value / 1000 : value;
}
