/** The permit `acquire()` of an in-process limiter resolves to: a slot to release and a start to settle. */
import type { LocalGate, Permit, TokenUsage, Weight } from "./types.js";
import { settledWeight } from "./weights.js";

export class LocalPermit implements Permit {
  private released = false;
  constructor(
    private readonly limiter: LocalGate,
    private readonly seq: number,
    private readonly weight: Weight,
  ) {}

  get tokens(): number {
    return this.weight.tokens;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.limiter.finishStart();
  }

  settle(actual: number | TokenUsage): void {
    this.limiter.settleStart(this.seq, this.weight, settledWeight(actual, this.weight));
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}
