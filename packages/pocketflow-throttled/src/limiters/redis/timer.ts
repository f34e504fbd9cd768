/** One timer for any delay: setTimeout's limit is ~24.8 days, and a longer delay would fire at once (with a warning). */

/** setTimeout's longest delay in ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Calls `fn` once `ms` have passed (measured on `performance.now()`); a delay
 * beyond setTimeout's limit arms one clamped timer that re-arms for the rest.
 * Returns a cancel function. The timer does not keep the process alive when
 * `unref` is set.
 */
export function longTimeout(fn: () => void, ms: number, unref = false): () => void {
  const at = performance.now() + ms;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (delay: number): void => {
    timer = setTimeout(
      () => {
        const rest = at - performance.now();
        if (rest > 1) arm(rest);
        else fn();
      },
      Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(delay))),
    );
    if (unref) timer.unref?.();
  };
  arm(ms);
  return () => clearTimeout(timer);
}
