/**
 * Helpers shared by the child-process runners. Children are plain ESM
 * JavaScript importing the packages' built `dist`: running them through tsx
 * would add about 30 MB to every process's RSS and dilute the memory ratios.
 */

/** A bare pull-based pool: `concurrency` workers pulling indexes, state O(concurrency). */
export async function barePool(items, concurrency, work) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** The no-op job every variant runs. */
/** Runs `items` through a no-op subclass of the batch node class `Base`; returns the node's results. */
export async function runNoopBatch(Base, options, items) {
  class Noop extends Base {
    async prepAsync(shared) {
      return shared.items;
    }
    async execAsync(item) {
      return item;
    }
    async postAsync(shared, _prepRes, results) {
      shared.results = results;
      return undefined;
    }
  }
  const shared = { items, results: [] };
  await new Noop(options).runAsync(shared);
  return shared.results;
}

export async function noop(item) {
  return item;
}

/** Runs the collector once so timing starts from a clean heap (needs `--expose-gc`). */
export function collect() {
  globalThis.gc?.();
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb() {
  return process.resourceUsage().maxRSS / 1024;
}

/** Prints the result line the parent parses (the last stdout line, JSON). */
export function report(result) {
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMb: peakRssMb() })}\n`);
}

/** Throws unless `results` holds `items` in order (nothing dropped or misplaced). */
export function checkResults(items, results) {
  if (results.length !== items.length) throw new Error(`expected ${items.length} results, got ${results.length}`);
  for (let index = 0; index < items.length; index += 9973) {
    if (results[index] !== items[index]) throw new Error(`result ${index} is ${results[index]}, expected ${items[index]}`);
  }
  if (results[items.length - 1] !== items[items.length - 1]) throw new Error("last result out of place");
}
