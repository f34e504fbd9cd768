/**
 * Property tests of the in-process limiters over random arrivals, job
 * durations, limits, aborts and live resizes, in real time with small windows.
 * Each run records what happened; the properties are checked on the record.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Limiter, RateLimiter, TokenBucket } from "../src/index.js";
import { delay } from "test-support";
import { maxWeightInAnySpan } from "./limiter-support.js";

/** Starts are observed a little after the limiter grants them; window checks allow this much. */
const SLACK_MS = 8;

interface Job {
  arrivalMs: number;
  durationMs: number;
  /** Abort the acquisition this long after the call, if set. */
  abortAfterMs: number | null;
  /** Call release() a second time after the first. */
  releaseTwice: boolean;
  tokens: number;
}

interface Resize {
  atMs: number;
  to: number;
}

interface Trace {
  calls: number[];
  grants: number[];
  startMs: number[];
  grantedTokens: number[];
  abortedWithOwnReason: number[];
  wrongRejections: unknown[];
  /** Starts that found more jobs running than the limit in force. */
  overLimitStarts: number;
  /** Times `active` was seen below zero after a release. */
  negativeActive: number;
}

const job = (maxTokens = 1): fc.Arbitrary<Job> =>
  fc.record({
    arrivalMs: fc.integer({ min: 0, max: 40 }),
    durationMs: fc.integer({ min: 0, max: 15 }),
    abortAfterMs: fc.option(fc.integer({ min: 0, max: 30 }), { freq: 4 }),
    releaseTwice: fc.boolean(),
    tokens: fc.integer({ min: 1, max: maxTokens }),
  });

const resize = fc.record({ atMs: fc.integer({ min: 0, max: 60 }), to: fc.integer({ min: 1, max: 4 }) });

/** Plays the jobs and resizes against `limiter` and records what happened. */
async function play(
  limiter: Limiter,
  maxConcurrent: number,
  jobs: Job[],
  resizes: Resize[],
  weightAs: false | true | "inputTokens" = false,
): Promise<Trace> {
  const record: Trace = {
    calls: [],
    grants: [],
    startMs: [],
    grantedTokens: [],
    abortedWithOwnReason: [],
    wrongRejections: [],
    overLimitStarts: 0,
    negativeActive: 0,
  };
  let limit = maxConcurrent;
  let running = 0;
  const t0 = performance.now();
  const resizing = resizes.map(async (r) => {
    await delay(r.atMs);
    limit = r.to;
    limiter.setConcurrency(r.to);
  });
  const playing = jobs.map(async (j, i) => {
    await delay(j.arrivalMs);
    const controller = new AbortController();
    const reason = new Error(`abort job ${i}`);
    const abortTimer = j.abortAfterMs === null ? undefined : setTimeout(() => controller.abort(reason), j.abortAfterMs);
    record.calls.push(i);
    let permit: Awaited<ReturnType<Limiter["acquire"]>>;
    try {
      const weight = weightAs === "inputTokens" ? { inputTokens: j.tokens } : weightAs ? { tokens: j.tokens } : {};
      permit = await limiter.acquire({ signal: controller.signal, ...weight });
    } catch (error) {
      if (error === reason) record.abortedWithOwnReason.push(i);
      else record.wrongRejections.push(error);
      return;
    } finally {
      clearTimeout(abortTimer);
    }
    record.grants.push(i);
    record.startMs.push(performance.now() - t0);
    record.grantedTokens.push(j.tokens);
    running++;
    if (running > limit) record.overLimitStarts++;
    await delay(j.durationMs);
    running--;
    permit.release();
    if (j.releaseTwice) permit.release();
    if (limiter.active < 0) record.negativeActive++;
  });
  await Promise.all([...resizing, ...playing]);
  return record;
}

/** The properties every run must have, whatever the algorithm. */
function expectCommonProperties(limiter: Limiter, record: Trace, jobs: Job[]): void {
  // Never more than the concurrency limit in force running at once.
  expect(record.overLimitStarts).toBe(0);
  // First come, first served: grants happen in call order.
  const granted = new Set(record.grants);
  expect(record.grants).toEqual(record.calls.filter((i) => granted.has(i)));
  // An aborted waiter never runs and rejects with exactly its own reason.
  expect(record.wrongRejections).toEqual([]);
  expect(record.grants.length + record.abortedWithOwnReason.length).toBe(jobs.length);
  expect(record.abortedWithOwnReason.filter((i) => granted.has(i))).toEqual([]);
  // Every permit released exactly once: the books balance, never below zero.
  expect(record.negativeActive).toBe(0);
  expect(limiter.active).toBe(0);
  expect(limiter.pending).toBe(0);
  expect(limiter.stats.acquired).toBe(record.grants.length);
  expect(limiter.stats.aborted).toBe(record.abortedWithOwnReason.length);
}

describe("RateLimiter properties", () => {
  it("keeps both gates, FIFO order and exact books under random load, aborts and live resizes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 30, max: 80 }),
        fc.array(job(), { minLength: 2, maxLength: 8 }),
        fc.array(resize, { maxLength: 3 }),
        async (maxConcurrent, maxPerWindow, windowMs, jobs, resizes) => {
          const limiter = new RateLimiter({ maxConcurrent, maxPerWindow, windowSeconds: windowMs / 1000 });

          const record = await play(limiter, maxConcurrent, jobs, resizes);

          expectCommonProperties(limiter, record, jobs);
          // Never more than maxPerWindow starts in any interval of windowSeconds.
          expect(maxWeightInAnySpan(record.startMs, windowMs - SLACK_MS)).toBeLessThanOrEqual(maxPerWindow);
        },
      ),
      { numRuns: 20 },
    );
  });

  it("keeps the concurrency gate under many jobs and resizes with no window", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(job(), { minLength: 5, maxLength: 25 }),
        fc.array(resize, { maxLength: 5 }),
        async (maxConcurrent, jobs, resizes) => {
          const limiter = new RateLimiter({ maxConcurrent });

          const record = await play(limiter, maxConcurrent, jobs, resizes);

          expectCommonProperties(limiter, record, jobs);
        },
      ),
      { numRuns: 20 },
    );
  });

  it("never starts more than maxTokensPerWindow tokens in any window", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 50, max: 100 }),
        fc.integer({ min: 30, max: 50 }),
        fc.array(job(50), { minLength: 2, maxLength: 8 }),
        async (maxConcurrent, maxTokensPerWindow, windowMs, jobs) => {
          const limiter = new RateLimiter({ maxConcurrent, maxTokensPerWindow, windowSeconds: windowMs / 1000 });

          const record = await play(limiter, maxConcurrent, jobs, [], true);

          expectCommonProperties(limiter, record, jobs);
          expect(maxWeightInAnySpan(record.startMs, windowMs - SLACK_MS, record.grantedTokens)).toBeLessThanOrEqual(
            maxTokensPerWindow,
          );
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe("RateLimiter several-window properties", () => {
  it("on the real clock, keeps a request window and an input-token window over seconds plus the margin, with FIFO and exact books", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 2, max: 4 }),
        fc.integer({ min: 30, max: 60 }),
        fc.integer({ min: 50, max: 100 }),
        fc.integer({ min: 0, max: 15 }),
        fc.array(job(50), { minLength: 2, maxLength: 8 }),
        async (maxConcurrent, maxRequests, windowMs, maxInputTokens, marginMs, jobs) => {
          const limiter = new RateLimiter({
            maxConcurrent,
            windows: [
              { seconds: windowMs / 1000, maxRequests },
              { seconds: (windowMs * 2) / 1000, maxInputTokens },
            ],
            arrivalMarginSeconds: marginMs / 1000,
          });

          const record = await play(limiter, maxConcurrent, jobs, [], "inputTokens");

          expectCommonProperties(limiter, record, jobs);
          expect(maxWeightInAnySpan(record.startMs, windowMs + marginMs - SLACK_MS)).toBeLessThanOrEqual(maxRequests);
          expect(maxWeightInAnySpan(record.startMs, 2 * windowMs + marginMs - SLACK_MS, record.grantedTokens)).toBeLessThanOrEqual(
            maxInputTokens,
          );
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe("TokenBucket properties", () => {
  it("keeps the concurrency gate, FIFO order and exact books, and never starts more than burst + rate x time", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 50, max: 200 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(job(), { minLength: 2, maxLength: 10 }),
        fc.array(resize, { maxLength: 3 }),
        async (maxConcurrent, ratePerSecond, burst, jobs, resizes) => {
          const bucket = new TokenBucket({ ratePerSecond, burst, maxConcurrent });

          const record = await play(bucket, maxConcurrent, jobs, resizes);

          expectCommonProperties(bucket, record, jobs);
          // In any span of s ms the bucket admits at most burst + rate * s starts.
          const spanMs = 40;
          expect(maxWeightInAnySpan(record.startMs, spanMs)).toBeLessThanOrEqual(
            burst + Math.ceil((ratePerSecond * (spanMs + SLACK_MS)) / 1000),
          );
        },
      ),
      { numRuns: 15 },
    );
  });
});
