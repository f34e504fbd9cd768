/**
 * Section 2 child: starts per second of one limiter, 64 concurrent no-op jobs,
 * all submitted at once, with a rate window far larger than the run.
 * Usage: node --expose-gc limiter.mjs <variant> <jobs> <concurrency>
 * Variants: bottleneck, rate-limiter-run, rate-limiter-node.
 */
import Bottleneck from "bottleneck";
import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { checkResults, collect, noop, report, runNoopBatch } from "./common.mjs";

const [variant = "bottleneck", jobsArg = "2000", concurrencyArg = "64"] = process.argv.slice(2);
const n = Number(jobsArg);
const concurrency = Number(concurrencyArg);

/** A rate limit that never binds during the run, so only the start machinery is measured. */
const neverBinding = () => new RateLimiter({ maxConcurrent: concurrency, maxPerWindow: 1e9, windowSeconds: 3600 });

const variants = {
  bottleneck: (items) => {
    const limiter = new Bottleneck({ maxConcurrent: concurrency });
    return Promise.all(items.map((item) => limiter.schedule(() => noop(item))));
  },
  "rate-limiter-run": (items) => {
    const limiter = neverBinding();
    return Promise.all(items.map((item) => limiter.run(() => noop(item))));
  },
  "rate-limiter-node": (items) => runNoopBatch(ThrottledParallelBatchNode, { limiter: neverBinding() }, items),
};

const run = variants[variant];
if (run === undefined) throw new Error(`unknown variant ${variant}; known: ${Object.keys(variants).join(", ")}`);
const items = Array.from({ length: n }, (_, index) => index);
collect();
const started = performance.now();
const results = await run(items);
const ms = performance.now() - started;
checkResults(items, results);
report({ variant, items: n, ms, startsPerSecond: (n / ms) * 1000 });
