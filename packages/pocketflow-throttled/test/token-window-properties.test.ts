import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { delay as sleep, settledSoon as settledNow } from "test-support";
import type { Permit, Weight } from "../src/limiters/limiter.js";
import { RateLimiter } from "../src/limiters/sliding-window.js";

/**
 * The weighted sliding window: no half-open interval [t, t + windowSeconds)
 * holds starts whose tokens sum above maxTokensPerWindow.
 *
 * The properties run on vitest's fake clock (which also drives
 * `performance.now()`), so every start time is exact and a run of many
 * windows takes no real time; one more property runs on the real clock and
 * reads the times the limiter itself admitted each start at.
 */

afterEach(() => {
  vi.useRealTimers();
});

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/**
 * The largest token sum of starts that fit in one half-open interval of
 * `windowMs`: the busiest such interval ends at some start `j` and holds the
 * starts in (start_j - windowMs, start_j].
 */
function busiestWindow(starts: ReadonlyArray<{ at: number; tokens: number }>, windowMs: number): number {
  let busiest = 0;
  for (const last of starts) {
    let sum = 0;
    for (const s of starts) if (s.at > last.at - windowMs && s.at <= last.at) sum += s.tokens;
    busiest = Math.max(busiest, sum);
  }
  return busiest;
}

interface Job {
  /** Milliseconds after the previous job's arrival. */
  gapMs: number;
  /** The estimate it reserves. */
  tokens: number;
  /** How long it runs once started. */
  holdMs: number;
  /** Settled usage, reported `settleAfterMs` into the run; undefined keeps the estimate. */
  actual: number | undefined;
  settleAfterMs: number;
}

/** A budget, a window, a concurrency and jobs whose estimates never exceed the budget. */
function scenario(options: { maxJobs: number; charges: boolean; settles: boolean }) {
  return fc.integer({ min: 5, max: 20 }).chain((maxTokens) =>
    fc.record({
      maxTokens: fc.constant(maxTokens),
      windowMs: fc.integer({ min: 40, max: 80 }),
      maxConcurrent: fc.integer({ min: 1, max: 4 }),
      jobs: fc.array(
        fc.record({
          gapMs: fc.integer({ min: 0, max: 30 }),
          tokens: fc.integer({ min: 1, max: maxTokens }),
          holdMs: fc.integer({ min: 0, max: 30 }),
          actual: options.settles
            ? fc.option(fc.integer({ min: 0, max: options.charges ? 2 * maxTokens : 0 }), { nil: undefined })
            : fc.constant(undefined),
          settleAfterMs: fc.integer({ min: 0, max: 30 }),
        }),
        { minLength: 1, maxLength: options.maxJobs },
      ),
    }),
  );
}

type Event = { kind: "start"; job: number; at: number } | { kind: "settle"; job: number; tokens: number };

/**
 * Plays the jobs against `limiter` on the clock in use and returns what
 * happened, in the order it happened.
 */
function play(limiter: RateLimiter, jobs: readonly Job[]): { events: Event[]; done: Promise<unknown> } {
  const events: Event[] = [];
  let arrival = 0;
  const runs = jobs.map((job, index) => {
    arrival += job.gapMs;
    const at = arrival;
    return sleep(at)
      .then(() => limiter.acquire({ tokens: job.tokens }))
      .then(async (permit: Permit) => {
        events.push({ kind: "start", job: index, at: performance.now() });
        const settleAfter = Math.min(job.settleAfterMs, job.holdMs);
        await sleep(settleAfter);
        if (job.actual !== undefined) {
          events.push({ kind: "settle", job: index, tokens: job.actual });
          permit.settle(job.actual);
        }
        await sleep(job.holdMs - settleAfter);
        permit.release();
      });
  });
  return { events, done: Promise.all(runs) };
}

function startsOf(events: readonly Event[], jobs: readonly Job[]): Array<{ at: number; tokens: number }> {
  return events.flatMap((e) => (e.kind === "start" ? [{ at: e.at, tokens: jobs[e.job]?.tokens as number }] : []));
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

describe("weighted sliding window properties", () => {
  it("never holds starts whose tokens sum above maxTokensPerWindow in any interval of windowSeconds", async () => {
    await fc.assert(
      fc.asyncProperty(scenario({ maxJobs: 30, charges: false, settles: false }), async (s) => {
        vi.useFakeTimers();
        const limiter = new RateLimiter({
          maxConcurrent: s.maxConcurrent,
          maxTokensPerWindow: s.maxTokens,
          windowSeconds: s.windowMs / 1000,
        });

        const { events, done } = play(limiter, s.jobs);
        await vi.runAllTimersAsync();
        await done;
        vi.useRealTimers();

        const starts = startsOf(events, s.jobs);
        expect(starts).toHaveLength(s.jobs.length);
        expect(busiestWindow(starts, s.windowMs)).toBeLessThanOrEqual(s.maxTokens);
      }),
      { numRuns: 60 },
    );
  });

  it("after refunds, no interval holds starts whose settled tokens sum above maxTokensPerWindow", async () => {
    await fc.assert(
      fc.asyncProperty(scenario({ maxJobs: 30, charges: false, settles: true }), async (s) => {
        vi.useFakeTimers();
        const limiter = new RateLimiter({
          maxConcurrent: s.maxConcurrent,
          maxTokensPerWindow: s.maxTokens,
          windowSeconds: s.windowMs / 1000,
        });

        const { events, done } = play(limiter, s.jobs);
        await vi.runAllTimersAsync();
        await done;
        vi.useRealTimers();

        // Refunds only lower a start's weight, so the settled weights must fit every interval too.
        const settled = events.flatMap((e) =>
          e.kind === "start" ? [{ at: e.at, tokens: s.jobs[e.job]?.actual ?? (s.jobs[e.job]?.tokens as number) }] : [],
        );
        expect(settled).toHaveLength(s.jobs.length);
        expect(busiestWindow(settled, s.windowMs)).toBeLessThanOrEqual(s.maxTokens);
      }),
      { numRuns: 60 },
    );
  });

  it("starts a job only when its estimate fits beside what the window holds then, charges included", async () => {
    await fc.assert(
      fc.asyncProperty(scenario({ maxJobs: 30, charges: true, settles: true }), async (s) => {
        vi.useFakeTimers();
        const limiter = new RateLimiter({
          maxConcurrent: s.maxConcurrent,
          maxTokensPerWindow: s.maxTokens,
          windowSeconds: s.windowMs / 1000,
        });

        const { events, done } = play(limiter, s.jobs);
        await vi.runAllTimersAsync();
        await done;
        vi.useRealTimers();

        // Replay the log: at each start, the window (the starts of the last windowMs) holds each
        // earlier start's estimate, or its settled usage once settled.
        const weight = new Map<number, { at: number; tokens: number }>();
        const heldAtStart: number[] = [];
        for (const e of events) {
          if (e.kind === "settle") {
            const started = weight.get(e.job) as { at: number; tokens: number };
            weight.set(e.job, { at: started.at, tokens: e.tokens });
            continue;
          }
          let held = 0;
          for (const w of weight.values()) if (w.at > e.at - s.windowMs) held += w.tokens;
          heldAtStart.push(held + (s.jobs[e.job]?.tokens as number));
          weight.set(e.job, { at: e.at, tokens: s.jobs[e.job]?.tokens as number });
        }
        expect(heldAtStart).toHaveLength(s.jobs.length);
        for (const held of heldAtStart) expect(held).toBeLessThanOrEqual(s.maxTokens);
      }),
      { numRuns: 60 },
    );
  });

  it("keeps the bound on the real clock, at the times the limiter admitted each start", async () => {
    class LoggedLimiter extends RateLimiter {
      readonly admitted: Array<{ at: number; tokens: number }> = [];
      protected override _record(now: number, weight: Weight): number {
        this.admitted.push({ at: now, tokens: weight.tokens });
        return super._record(now, weight);
      }
    }
    await fc.assert(
      fc.asyncProperty(scenario({ maxJobs: 8, charges: false, settles: false }), async (s) => {
        const limiter = new LoggedLimiter({
          maxConcurrent: s.maxConcurrent,
          maxTokensPerWindow: s.maxTokens,
          windowSeconds: s.windowMs / 1000,
        });

        const { done } = play(limiter, s.jobs);
        await done;

        expect(limiter.admitted).toHaveLength(s.jobs.length);
        expect(busiestWindow(limiter.admitted, s.windowMs)).toBeLessThanOrEqual(s.maxTokens);
      }),
      { numRuns: 12 },
    );
  });
});

describe("several windows properties", () => {
  type Kind = "maxRequests" | "maxTokens" | "maxInputTokens" | "maxOutputTokens";
  const kinds: Kind[] = ["maxRequests", "maxTokens", "maxInputTokens", "maxOutputTokens"];
  const weightIn = (kind: Kind, j: { inputTokens: number; outputTokens: number }): number =>
    kind === "maxRequests"
      ? 1
      : kind === "maxInputTokens"
        ? j.inputTokens
        : kind === "maxOutputTokens"
          ? j.outputTokens
          : j.inputTokens + j.outputTokens;

  const severalWindows = fc.record({
    // Limits of at least 20 so that any job (at most 10 input + 10 output tokens) fits every window.
    windows: fc.array(
      fc.record({
        ms: fc.integer({ min: 20, max: 80 }),
        kind: fc.constantFrom(...kinds),
        limit: fc.integer({ min: 1, max: 40 }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    marginMs: fc.integer({ min: 0, max: 20 }),
    maxConcurrent: fc.integer({ min: 1, max: 4 }),
    jobs: fc.array(
      fc.record({
        gapMs: fc.integer({ min: 0, max: 20 }),
        inputTokens: fc.integer({ min: 0, max: 10 }),
        outputTokens: fc.integer({ min: 0, max: 10 }),
        holdMs: fc.integer({ min: 0, max: 20 }),
      }),
      { minLength: 1, maxLength: 25 },
    ),
  });

  it("never exceeds any window of any kind over seconds plus the arrival margin", async () => {
    await fc.assert(
      fc.asyncProperty(severalWindows, async (s) => {
        const windows = s.windows.map((w) => ({
          seconds: w.ms / 1000,
          [w.kind]: w.kind === "maxRequests" ? Math.max(1, Math.ceil(w.limit / 10)) : w.limit + 20,
        }));
        vi.useFakeTimers();
        const limiter = new RateLimiter({ maxConcurrent: s.maxConcurrent, windows, arrivalMarginSeconds: s.marginMs / 1000 });
        const starts: Array<{ at: number; job: number }> = [];
        let arrival = 0;
        const runs = s.jobs.map((job, index) => {
          arrival += job.gapMs;
          return sleep(arrival)
            .then(() => limiter.acquire({ inputTokens: job.inputTokens, outputTokens: job.outputTokens }))
            .then(async (permit) => {
              starts.push({ at: performance.now(), job: index });
              await sleep(job.holdMs);
              permit.release();
            });
        });
        await vi.runAllTimersAsync();
        await Promise.all(runs);
        vi.useRealTimers();

        expect(starts).toHaveLength(s.jobs.length);
        for (const w of windows) {
          const kind = kinds.find((k) => k in w) as Kind;
          const weighted = starts.map((st) => ({ at: st.at, tokens: weightIn(kind, s.jobs[st.job] as never) }));
          const limit = w[kind] as number;
          expect(busiestWindow(weighted, w.seconds * 1000 + s.marginMs)).toBeLessThanOrEqual(limit);
        }
      }),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------------------
// Examples the properties rest on
// ---------------------------------------------------------------------------

describe("weighted sliding window examples", () => {
  it("allows a window whose tokens sum exactly to the limit", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 60 });

    const first = await limiter.acquire({ tokens: 60 });
    const second = await limiter.acquire({ tokens: 40 });

    expect(limiter.currentWindowTokens).toBe(100);
    expect(limiter.stats.throttled).toBe(0);
    first.release();
    second.release();
  });

  it("holds a start that would take the window one token over the limit", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 60 });
    await limiter.acquire({ tokens: 60 });

    const over = limiter.acquire({ tokens: 41 });

    expect(await settledNow(over)).toBe(false);
    limiter.reset();
    await over;
  });

  it("starts a waiter that now fits at once after a refund, without waiting for the window to move", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 60 });
    const first = await limiter.acquire({ tokens: 80 });
    const waiter = limiter.acquire({ tokens: 50 });
    const waitingBefore = !(await settledNow(waiter));

    first.settle(30);

    expect(waitingBefore).toBe(true);
    expect(await settledNow(waiter)).toBe(true);
    expect(limiter.currentWindowTokens).toBe(80);
  });

  it("keeps a waiter waiting after a refund that still leaves no room for it", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 60 });
    const first = await limiter.acquire({ tokens: 80 });
    const waiter = limiter.acquire({ tokens: 50 });

    first.settle(60);

    expect(await settledNow(waiter)).toBe(false);
    limiter.reset();
    await waiter;
  });

  it("lets a charge take the window over the limit without touching running work, and holds later starts", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 60 });
    const first = await limiter.acquire({ tokens: 50 });

    first.settle(150);
    const later = limiter.acquire({ tokens: 1 });

    expect(limiter.currentWindowTokens).toBe(150);
    expect(limiter.active).toBe(1);
    expect(await settledNow(later)).toBe(false);
    limiter.reset();
    await later;
  });

  it("starts the waiter once the charged start leaves the window", async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ maxConcurrent: 5, maxTokensPerWindow: 100, windowSeconds: 0.05, arrivalMarginSeconds: 0 });
    const first = await limiter.acquire({ tokens: 50 });
    first.settle(150);
    const later = limiter.acquire({ tokens: 100 });

    await vi.advanceTimersByTimeAsync(49);
    const startedEarly = limiter.pending === 0;
    await vi.advanceTimersByTimeAsync(1);

    expect(startedEarly).toBe(false);
    expect(limiter.pending).toBe(0);
    await later;
  });
});
