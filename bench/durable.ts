/**
 * Section 8, durable batches: 100,000 no-op items through
 * `ThrottledParallelBatchNode` with a `FileCheckpointStore` (default flush)
 * against the same node without a checkpoint, then the time to resume the
 * same 100,000 items from the journal (none of them runs).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileCheckpointStore, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { compact, type Row, row, type SectionResult, seconds, times } from "./lib.js";

export interface DurableConfig {
  items: number;
  concurrency: number;
}

export const DURABLE: DurableConfig = { items: 100_000, concurrency: 32 };

interface Shared {
  items: number[];
  results?: number[];
}

class NoOp extends ThrottledParallelBatchNode<Shared, number, number> {
  override async prepAsync(shared: Shared) {
    return shared.items;
  }
  override async execAsync(item: number) {
    return item;
  }
  override async postAsync(shared: Shared, _p: unknown, results: number[]) {
    shared.results = results;
    return undefined;
  }
}

async function timed(node: NoOp, items: number[]): Promise<{ ms: number; complete: boolean }> {
  const shared: Shared = { items };
  const started = performance.now();
  await node.runAsync(shared);
  const ms = performance.now() - started;
  return { ms, complete: shared.results?.length === items.length && shared.results[items.length - 1] === items.length - 1 };
}

export async function benchDurable(config: DurableConfig = DURABLE): Promise<SectionResult> {
  const dir = await mkdtemp(join(tmpdir(), "pf-bench-durable-"));
  try {
    const items = Array.from({ length: config.items }, (_, i) => i);
    const itemKey = (item: number) => String(item);
    await timed(new NoOp({ maxConcurrent: config.concurrency }), items); // warm-up
    const none = await timed(new NoOp({ maxConcurrent: config.concurrency }), items);
    const path = join(dir, "journal.jsonl");
    const checkpoint = { store: new FileCheckpointStore(path), runKey: "bench", itemKey };
    const saving = await timed(new NoOp({ maxConcurrent: config.concurrency, checkpoint }), items);
    const resumer = new NoOp({ maxConcurrent: config.concurrency, checkpoint: { ...checkpoint, store: new FileCheckpointStore(path) } });
    const resuming = await timed(resumer, items);
    const resumed = resumer.stats.resumed;
    const label = `${compact(config.items)} no-op items at ${config.concurrency} concurrent`;
    const rows: Row[] = [
      row("8 durable", `${label}, no checkpoint`, seconds(none.ms), none.ms, "baseline"),
      row(
        "8 durable",
        `${label}, FileCheckpointStore (flushMs 100)${saving.complete ? "" : " (INCOMPLETE)"}`,
        seconds(saving.ms),
        saving.ms,
        `${times(saving.ms / none.ms)} no checkpoint (+${((saving.ms - none.ms) / config.items * 1000).toFixed(2)} µs/item)`,
      ),
      row(
        "8 durable",
        `resume ${compact(config.items)} saved items (${compact(resumed)} resumed)${resuming.complete ? "" : " (INCOMPLETE)"}`,
        seconds(resuming.ms),
        resuming.ms,
      ),
    ];
    return { rows, data: { config, noneMs: none.ms, checkpointMs: saving.ms, resumeMs: resuming.ms, resumed } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
