/**
 * Section 5 child: N instances of a two-node flow (no-op async nodes) at
 * concurrency C. Usage: node --expose-gc flow.mjs <variant> <instances> <concurrency> <repeats>
 * Variants: throttled-flow (ThrottledAsyncParallelBatchFlow), bare-pool
 * (a pull pool of C workers, each running `new AsyncFlow(start).runAsync`
 * with the instance's params). Reports the best of `repeats` timed runs.
 */
import { AsyncFlow, AsyncNode } from "pocketflow-ts";
import { ThrottledAsyncParallelBatchFlow } from "pocketflow-throttled";
import { barePool, collect, report } from "./common.mjs";

const [variant = "bare-pool", instancesArg = "10000", concurrencyArg = "64", repeatsArg = "5"] = process.argv.slice(2);
const n = Number(instancesArg);
const concurrency = Number(concurrencyArg);
const repeats = Number(repeatsArg);

class Load extends AsyncNode {
  async prepAsync() {
    return this.params.id;
  }
  async execAsync(id) {
    return id;
  }
  async postAsync(shared, _prepRes, id) {
    shared.loaded++;
    return id % 2 === 0 ? "even" : undefined;
  }
}

class Save extends AsyncNode {
  async postAsync(shared) {
    shared.saved++;
    return undefined;
  }
}

function build() {
  const load = new Load();
  const save = new Save();
  load.next(save);
  load.on("even", save);
  return load;
}

class PerInstance extends ThrottledAsyncParallelBatchFlow {
  async prepAsync(shared) {
    return shared.params;
  }
}

const variants = {
  "throttled-flow": async (shared) => {
    await new PerInstance(build(), { maxConcurrentFlows: concurrency }).runAsync(shared);
  },
  "bare-pool": async (shared) => {
    const start = build();
    await barePool(shared.params, concurrency, (params) => {
      const flow = new AsyncFlow(start);
      flow.setParams(params);
      return flow.runAsync(shared);
    });
  },
};

const run = variants[variant];
if (run === undefined) throw new Error(`unknown variant ${variant}; known: ${Object.keys(variants).join(", ")}`);
const params = Array.from({ length: n }, (_, id) => ({ id }));
let bestMs = Number.POSITIVE_INFINITY;
for (let r = 0; r < repeats; r++) {
  const shared = { params, loaded: 0, saved: 0 };
  collect();
  const started = performance.now();
  await run(shared);
  const ms = performance.now() - started;
  if (shared.loaded !== n || shared.saved !== n) throw new Error(`ran ${shared.loaded} loads and ${shared.saved} saves of ${n}`);
  bestMs = Math.min(bestMs, ms);
}
report({ variant, items: n, ms: bestMs, flowsPerSecond: (n / bestMs) * 1000 });
