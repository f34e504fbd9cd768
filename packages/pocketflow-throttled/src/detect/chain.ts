/**
 * Safe reading of thrown values and a walk over the errors they wrap. Every
 * read goes through `prop`, so a throwing getter, a revoked proxy or a cycle
 * never makes detection itself throw.
 */

/** Any object-like value, read by key. */
export type Bag = Record<PropertyKey, unknown>;

/** How deep below the thrown value the walk goes (DESIGN section 10). */
export const MAX_DEPTH = 8;
// Bounds the work on a pathological graph (a huge `errors` array, a wide body).
const MAX_NODES = 64;
const MAX_ERRORS = 16;
// Messages longer than this are not scanned for embedded JSON.
const MAX_JSON_TEXT = 65_536;

export function isObjectLike(value: unknown): value is Bag {
  return (typeof value === "object" && value !== null) || typeof value === "function";
}

/** Reads `value[key]`, or `undefined` when that is impossible or a getter throws. */
export function prop(value: unknown, key: string): unknown {
  if (!isObjectLike(value)) return undefined;
  try {
    return value[key];
  } catch {
    return undefined;
  }
}

/** `value[key]` when it is a string. */
export function stringProp(value: unknown, key: string): string | undefined {
  const found = prop(value, key);
  return typeof found === "string" ? found : undefined;
}

/** The entries of an array, at most `limit`; `[]` for anything else (a revoked proxy included). */
export function entries(value: unknown, limit = MAX_ERRORS): unknown[] {
  try {
    if (!Array.isArray(value)) return [];
    const out: unknown[] = [];
    const length = Math.min(value.length, limit);
    for (let i = 0; i < length; i++) out.push(prop(value, String(i)));
    return out;
  } catch {
    return [];
  }
}

/** The JSON object embedded in a text (from its first `{` to its last `}`), if it parses. */
export function embeddedJson(text: string | undefined): Bag | undefined {
  if (text === undefined || text.length > MAX_JSON_TEXT) return undefined;
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start < 0 || end <= start) return undefined;
  try {
    const parsed: unknown = JSON.parse(text.slice(start, end + 1));
    return isObjectLike(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Links from an error to the errors it wraps: `cause`, AI SDK `lastError`, `AggregateError`/`RetryError` `errors`. */
function pushWrapped(node: Bag, out: unknown[]): void {
  out.push(prop(node, "cause"), prop(node, "lastError"));
  for (const inner of entries(prop(node, "errors"))) out.push(inner);
}

/**
 * Links from an error to the provider's error body: `error` (openai,
 * Anthropic, Gemini bodies), `data` (AI SDK), `response.data` (axios), and the
 * JSON in `responseBody` (AI SDK) or in `message` (`@google/genai`).
 */
function pushBodies(node: Bag, out: unknown[]): void {
  out.push(prop(node, "error"), prop(node, "data"), prop(prop(node, "response"), "data"));
  out.push(embeddedJson(stringProp(node, "responseBody")), embeddedJson(stringProp(node, "message")));
}

/**
 * Calls `visit` on `root` and on everything it wraps, breadth-first (outer
 * errors first), at most {@link MAX_DEPTH} levels below `root`, each object
 * once. A string (thrown, or a string `cause`) is visited as `{ message }`.
 * Stops at, and returns, the first answer that is not `undefined`.
 * With `bodies`, provider error bodies are walked as well as wrapped errors.
 */
export function searchChain<T>(root: unknown, bodies: boolean, visit: (node: Bag) => T | undefined): T | undefined {
  const seen = new Set<unknown>();
  let level: unknown[] = [root];
  for (let depth = 0; depth <= MAX_DEPTH && level.length > 0; depth++) {
    const next: unknown[] = [];
    for (const item of level) {
      const node = typeof item === "string" ? { message: item } : item;
      if (!isObjectLike(node) || seen.has(node) || seen.size >= MAX_NODES) continue;
      seen.add(node);
      const answer = visit(node);
      if (answer !== undefined) return answer;
      pushWrapped(node, next);
      if (bodies) pushBodies(node, next);
    }
    level = next;
  }
  return undefined;
}

/** Whether `node` wraps another error (so a walk could find more than the node itself). */
export function wrapsErrors(node: unknown): boolean {
  return prop(node, "cause") !== undefined || prop(node, "lastError") !== undefined || prop(node, "errors") !== undefined;
}
