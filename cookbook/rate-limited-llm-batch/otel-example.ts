/**
 * OpenTelemetry spans of a throttled batch: `instrument()` from
 * `pocketflow-throttled/otel` subscribes to the diagnostics channels and
 * emits a span per flow and node run and per item attempt (how long it
 * waited, at which gate, its attempt number, refusal kind and token usage).
 * The SDK's ConsoleSpanExporter prints them; the provider is the embedded
 * simulated one, with a tight window so some attempts wait.
 *
 *   npx tsx otel-example.ts
 */
import { BasicTracerProvider, ConsoleSpanExporter, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { AsyncFlow } from "pocketflow-ts";
import { RateLimiter, ThrottledParallelBatchNode } from "pocketflow-throttled";
import { instrument } from "pocketflow-throttled/otel";
import { callLlm, isMain, type LlmResult, type SimulatedProvider, startDemoProvider } from "./utils.js";

interface Shared {
  questions: string[];
  answers?: string[];
}

/** Answers each question under 6 in flight and 4 starts per second: the window binds. */
class AnswerNode extends ThrottledParallelBatchNode<Shared, string, LlmResult> {
  constructor(readonly server: SimulatedProvider) {
    super({ limiter: new RateLimiter({ maxConcurrent: 6, windows: [{ seconds: 1, maxRequests: 4 }] }) });
  }
  override async prepAsync(shared: Shared) {
    return shared.questions;
  }
  override async execAsync(question: string) {
    return callLlm(question, { server: this.server, maxTokens: 16 });
  }
  override async postAsync(shared: Shared, _questions: string[], results: LlmResult[]) {
    shared.answers = results.map((r) => r.text);
    return undefined;
  }
}

/** Runs a small batch under `instrument()`; returns the spans it emitted (printed too unless `print` is false). */
export async function runOtelExample(options: { print?: boolean; items?: number } = {}): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const processors = [new SimpleSpanProcessor(memory)];
  if (options.print !== false) processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
  const tracerProvider = new BasicTracerProvider({ spanProcessors: processors });
  const server = await startDemoProvider({ latencyMs: 20, maxConcurrent: 8 });
  const uninstrument = instrument({ tracerProvider });
  try {
    const node = new AnswerNode(server);
    const shared: Shared = { questions: Array.from({ length: options.items ?? 6 }, (_, i) => `Question ${i + 1}?`) };
    await new AsyncFlow(node).runAsync(shared);
    return memory.getFinishedSpans();
  } finally {
    uninstrument();
    await tracerProvider.shutdown();
    await server.stop();
  }
}

if (isMain(import.meta.url)) {
  const spans = await runOtelExample();
  console.log(`${spans.length} spans`);
}
