/**
 * Section 1 child: one overhead variant over N no-op items at concurrency C,
 * no rate limit. Usage: node --expose-gc overhead.mjs <variant> <items> <concurrency>
 * Variants: bare, p-limit, parallel-node, throttled-node, and the throttled
 * node observed: throttled-node-subscriber (a no-op subscriber on the three
 * diagnostics channels), throttled-node-otel (instrument(), spans recorded).
 */
import { subscribe } from "node:diagnostics_channel";
import { createRequire } from "node:module";
import pLimit from "p-limit";
import { AsyncParallelBatchNode } from "pocketflow-ts";
import { ThrottledParallelBatchNode } from "pocketflow-throttled";
import { barePool, checkResults, collect, noop, report, runNoopBatch } from "./common.mjs";

const [variant = "bare", itemsArg = "1000000", concurrencyArg = "64"] = process.argv.slice(2);
const n = Number(itemsArg);
const concurrency = Number(concurrencyArg);

const variants = {
  bare: (items) => barePool(items, concurrency, noop),
  "p-limit": (items) => {
    const limit = pLimit(concurrency);
    return Promise.all(items.map((item) => limit(() => noop(item))));
  },
  "parallel-node": (items) => runNoopBatch(AsyncParallelBatchNode, undefined, items),
  "throttled-node": (items) => runNoopBatch(ThrottledParallelBatchNode, { maxConcurrent: concurrency }, items),
  "throttled-node-subscriber": (items) => {
    for (const name of ["pocketflow:run", "pocketflow-throttled:attempt", "pocketflow-throttled:limiter"]) subscribe(name, () => {});
    return runNoopBatch(ThrottledParallelBatchNode, { maxConcurrent: concurrency }, items);
  },
  "throttled-node-otel": async (items) => {
    const { instrument } = await import("pocketflow-throttled/otel");
    // The SDK's CommonJS build: its ESM build has extensionless imports Node does not resolve.
    const { BasicTracerProvider } = createRequire(import.meta.url)("@opentelemetry/sdk-trace-base");
    const uninstrument = instrument({ tracerProvider: new BasicTracerProvider() }); // spans recorded, exported nowhere
    try {
      return await runNoopBatch(ThrottledParallelBatchNode, { maxConcurrent: concurrency }, items);
    } finally {
      uninstrument();
    }
  },
};

const run = variants[variant];
if (run === undefined) throw new Error(`unknown variant ${variant}; known: ${Object.keys(variants).join(", ")}`);
const items = Array.from({ length: n }, (_, index) => index);
collect();
const started = performance.now();
const results = await run(items);
const ms = performance.now() - started;
checkResults(items, results);
report({ variant, items: n, ms, itemsPerSecond: (n / ms) * 1000 });
