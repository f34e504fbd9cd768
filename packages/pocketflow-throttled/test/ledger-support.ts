import { ThrottledParallelBatchNode } from "../src/nodes.js";

/** The shared store of {@link Calls}: the items in, the results out. */
export interface CallsShared {
  items: number[];
  results?: unknown[];
}

/** An OpenAI-style chat result of `model` that used `input` prompt and `output` completion tokens. */
export const answer = (input: number, output: number, model = "gpt-4o-mini") => ({
  model,
  usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
});

/** A node whose execAsync is `body`, over `shared.items`, leaving its results in `shared.results`. */
export class Calls extends ThrottledParallelBatchNode<CallsShared, number, unknown> {
  constructor(
    options: ConstructorParameters<typeof ThrottledParallelBatchNode>[0],
    private readonly body: (item: number, node: Calls) => Promise<unknown>,
  ) {
    super(options);
  }
  override async prepAsync(shared: CallsShared) {
    return shared.items;
  }
  override async execAsync(item: number) {
    return this.body(item, this);
  }
  override async postAsync(shared: CallsShared, _p: unknown, results: unknown[]) {
    shared.results = results;
    return undefined;
  }
}
