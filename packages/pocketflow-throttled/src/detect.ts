/**
 * Detection: what a thrown error means and what it says (DESIGN section 10).
 * The walk over wrapped errors is in `detect/chain.ts`, the places each client
 * keeps its signals in `detect/signals.ts`, the meaning in `detect/classify.ts`
 * and the hints in `detect/hints.ts`.
 */
export { classifyError, type ErrorKind, isRateLimitError } from "./detect/classify.js";
export { headersOf, quotaViolationsOf, retryAfterOf } from "./detect/hints.js";
export type { QuotaViolation } from "./detect/signals.js";
