/**
 * Progress of a long batch: a progress bar (when stdout is a terminal) and,
 * every few seconds, a one-line summary of the last seconds:
 *
 *   Node throttled | last 2 s: 60 requests, 10 throttled (14%), 0 × 429 | queue: 0 running, 10 waiting | 60/100 done
 *
 * The counts come from the `pocketflow-throttled:attempt` diagnostics
 * channel, not from counters kept by hand: "requests" are the attempts that
 * reached the provider, "throttled" those that waited at one of our gates
 * first (plus the starts waiting now), "429" the attempts refused as rate
 * limits, "queue" the limiter's `active` and `pending` right now. When stdout
 * is not a terminal (CI, a pipe), only the summary lines are printed.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import cliProgress from "cli-progress";
import { ATTEMPT_CHANNEL, type AttemptMessage, type Limiter } from "pocketflow-throttled";

export interface ProgressOptions {
  /** Name shown at the start of each line. */
  label: string;
  /** Items in the batch. */
  total: number;
  /** The limiter the batch runs under: its counters give "throttled" and the queue. */
  limiter?: Limiter;
  /** Requests sent so far (default: attempts seen on the attempt channel). */
  requests?: () => number;
  /** Rate-limit refusals (429) so far (default: rate-limit refusals seen on the attempt channel). */
  rejected?: () => number;
  /** How often a summary line is printed (default 2000 ms). */
  intervalMs?: number;
  /** The span the summary looks back over (default 10 000 ms). */
  windowMs?: number;
  /** Draw a progress bar (default: when stdout is a terminal and the batch has 20 items or more). */
  bar?: boolean;
  /** Where summary lines go when there is no bar (default `console.log`). */
  log?: (line: string) => void;
}

interface Sample {
  at: number;
  requests: number;
  throttled: number;
  rejected: number;
}

/** What the attempt channel has told so far. */
interface Seen {
  attempts: number;
  waited: number;
  rateLimited: number;
}

/**
 * Tracks one batch; call `tick()` per finished item and `stop()` at the end
 * (it clears its timer, so the process can exit).
 *
 * @example
 * const progress = new BatchProgress({ label: "translate", total: items.length, limiter });
 * try { await flow.runAsync(shared); } finally { progress.stop(); }
 */
export class BatchProgress {
  private done = 0;
  private readonly samples: Sample[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly multibar: cliProgress.MultiBar | undefined;
  private readonly bar: cliProgress.SingleBar | undefined;
  private readonly windowMs: number;
  private readonly log: (line: string) => void;
  private readonly seen: Seen = { attempts: 0, waited: 0, rateLimited: 0 };
  private readonly onAttempt = (raw: unknown): void => {
    const m = raw as AttemptMessage;
    this.seen.attempts++;
    if (m.gate !== "none") this.seen.waited++;
    if (m.refusal === "rate-limit") this.seen.rateLimited++;
  };

  constructor(private readonly options: ProgressOptions) {
    subscribe(ATTEMPT_CHANNEL, this.onAttempt);
    this.windowMs = options.windowMs ?? 10_000;
    this.log = options.log ?? ((line) => console.log(line));
    const drawBar = options.bar ?? (process.stdout.isTTY === true && options.total >= 20);
    if (drawBar) {
      this.multibar = new cliProgress.MultiBar(
        {
          format: `${options.label} [{bar}] {percentage}% | {value}/{total} | {duration}s`,
          stream: process.stdout,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multibar.create(options.total, 0);
    }
    this.samples.push(this.sample());
    this.timer = setInterval(() => this.report(), options.intervalMs ?? 2000);
    this.timer.unref();
  }

  /** One more item finished (successfully or not). */
  tick(count = 1): void {
    this.done += count;
    this.bar?.update(this.done);
  }

  /** Items finished so far. */
  get completed(): number {
    return this.done;
  }

  /** The summary line for the last `windowMs`. */
  summary(): string {
    const now = this.sample();
    const since = this.samples.find((s) => s.at >= now.at - this.windowMs - 1) ?? now;
    const seconds = Math.max(1, Math.round((now.at - since.at) / 1000));
    const requests = now.requests - since.requests;
    const parts = [`last ${seconds} s: ${requests} requests`];
    const limiter = this.options.limiter;
    // Held back: attempts that had to wait at a gate, and the starts waiting now.
    const pending = limiter?.pending ?? 0;
    const throttled = now.throttled - since.throttled + pending;
    const starts = now.requests - since.requests + pending;
    const share = starts === 0 ? 0 : Math.round((100 * throttled) / starts);
    parts.push(`${throttled} throttled (${share}%)`);
    parts.push(`${now.rejected - since.rejected} × 429`);
    let line = `${this.options.label} | ${parts.join(", ")}`;
    if (limiter !== undefined) line += ` | queue: ${limiter.active} running, ${limiter.pending} waiting`;
    return `${line} | ${this.done}/${this.options.total} done`;
  }

  /** Stops the timer and removes the bar. */
  stop(): void {
    unsubscribe(ATTEMPT_CHANNEL, this.onAttempt);
    clearInterval(this.timer);
    this.multibar?.stop();
  }

  private report(): void {
    const line = this.summary();
    this.samples.push(this.sample());
    // Keep only what the window can still need.
    const cutoff = performance.now() - this.windowMs - 1;
    while (this.samples.length > 1 && (this.samples[1] as Sample).at < cutoff) this.samples.shift();
    if (this.multibar !== undefined) this.multibar.log(`${line}\n`);
    else this.log(line);
  }

  private sample(): Sample {
    return {
      at: performance.now(),
      requests: this.options.requests?.() ?? this.seen.attempts,
      throttled: this.seen.waited,
      rejected: this.options.rejected?.() ?? this.seen.rateLimited,
    };
  }
}
