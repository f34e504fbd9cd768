/** Window checks for the limiter and node tests (general helpers live in `test-support`). */

/**
 * The largest sum of `weights` over starts that lie within any half-open
 * interval `[t, t + spanMs)` that begins at a recorded start. Starts are
 * observed a little after the limiter grants them, so callers pass a span a
 * few milliseconds shorter than the window.
 */
export function maxWeightInAnySpan(times: readonly number[], spanMs: number, weights?: readonly number[]): number {
  const order = times.map((_, i) => i).sort((a, b) => (times[a] as number) - (times[b] as number));
  let max = 0;
  for (let i = 0; i < order.length; i++) {
    const from = times[order[i] as number] as number;
    let sum = 0;
    for (let j = i; j < order.length && (times[order[j] as number] as number) < from + spanMs; j++) {
      sum += weights ? (weights[order[j] as number] as number) : 1;
    }
    max = Math.max(max, sum);
  }
  return max;
}
