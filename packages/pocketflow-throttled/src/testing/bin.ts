#!/usr/bin/env node
/**
 * `pocketflow-simulated-provider`: runs the simulated provider until SIGINT
 * or SIGTERM and prints its base URL.
 */
import { parseArgs } from "node:util";
import { STYLES, type SimulatedProviderOptions } from "./options.js";
import { ROUTES } from "./requests.js";
import { startSimulatedProvider } from "./server.js";

const HELP = `Usage: pocketflow-simulated-provider [options]

A strict simulated LLM provider on 127.0.0.1 (no key needed), enforcing limits
the way OpenAI, Anthropic or Gemini document them.

Options:
  --style <name>        openai | anthropic | gemini (default openai)
  --rpm <n>             requests per minute
  --tpm <n>             tokens per minute (openai: prompt + max_tokens; gemini: input tokens)
  --itpm <n>            anthropic: input tokens per minute
  --otpm <n>            anthropic: output tokens per minute
  --rpd <n>             gemini: requests per day
  --max-concurrent <n>  at most n requests in flight
  --port <n>            port (default 0: a free one)
  --host <addr>         interface to bind (default 127.0.0.1)
  --latency <ms>        time per answer (default 20)
  --jitter <ms>         uniform extra latency in [0, ms) (default 0)
  --arrival-jitter <ms> uniform delay before an arrival is counted (default 0)
  --minute <ms>         length of a "minute" (default 60000)
  --day <ms>            length of a "day" (default 86400000)
  --no-quantize         openai: no per-second share of per-minute limits
  --quota-after <n>     openai: insufficient_quota after n accepted requests
  --overloaded <share>  anthropic: share of 529 overloaded answers, in [0, 1]
  --failure-rate <p>    share of 500 answers, in [0, 1]
  --seed <n>            seed of the random draws
  -h, --help            this help

Routes: openai ${ROUTES.openai.join(", ")}; anthropic ${ROUTES.anthropic.join(", ")};
gemini ${ROUTES.gemini.join(", ")}.
`;

const NUMBERS = {
  rpm: "rpm",
  tpm: "tpm",
  itpm: "itpm",
  otpm: "otpm",
  rpd: "rpd",
} as const;

function number(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === "" || !Number.isFinite(parsed)) throw new RangeError(`--${flag} must be a number, got ${JSON.stringify(value)}`);
  return parsed;
}

function optionsFrom(argv: string[]): SimulatedProviderOptions | undefined {
  const string = { type: "string" } as const;
  const { values } = parseArgs({
    args: argv,
    options: {
      style: string,
      rpm: string,
      tpm: string,
      itpm: string,
      otpm: string,
      rpd: string,
      "max-concurrent": string,
      port: string,
      host: string,
      latency: string,
      jitter: string,
      "arrival-jitter": string,
      minute: string,
      day: string,
      "no-quantize": { type: "boolean" },
      "quota-after": string,
      overloaded: string,
      "failure-rate": string,
      seed: string,
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  const style = values.style ?? "openai";
  if (!(STYLES as readonly string[]).includes(style)) {
    throw new TypeError(`--style must be one of ${STYLES.join(", ")}, got ${JSON.stringify(style)}`);
  }
  const limits: Record<string, number> = {};
  for (const [flag, key] of Object.entries(NUMBERS)) {
    const value = number(flag, values[flag as keyof typeof NUMBERS]);
    if (value !== undefined) limits[key] = value;
  }
  return {
    style: style as SimulatedProviderOptions["style"],
    limits,
    maxConcurrent: number("max-concurrent", values["max-concurrent"]),
    port: number("port", values.port),
    host: values.host,
    latencyMs: number("latency", values.latency),
    jitterMs: number("jitter", values.jitter),
    arrivalJitterMs: number("arrival-jitter", values["arrival-jitter"]),
    minuteMs: number("minute", values.minute),
    dayMs: number("day", values.day),
    quantize: values["no-quantize"] ? false : undefined,
    insufficientQuotaAfter: number("quota-after", values["quota-after"]),
    overloadedShare: number("overloaded", values.overloaded),
    failureRate: number("failure-rate", values["failure-rate"]),
    seed: number("seed", values.seed),
  };
}

async function main(): Promise<void> {
  let options: SimulatedProviderOptions | undefined;
  try {
    options = optionsFrom(process.argv.slice(2));
  } catch (error) {
    console.error(`pocketflow-simulated-provider: ${(error as Error).message}\n(see --help)`);
    process.exitCode = 2;
    return;
  }
  if (options === undefined) {
    process.stdout.write(HELP);
    return;
  }
  const provider = await startSimulatedProvider(options);
  const limits = Object.entries(options.limits ?? {})
    .map(([key, value]) => `${key} ${value}`)
    .join(", ");
  console.log(`Simulated ${provider.style} provider listening on ${provider.url} (${limits || "no limits"})`);
  console.log(`Base URL: ${provider.baseURL}`);
  const stop = (): void => {
    void provider.stop().then(() => {
      const { requests, accepted, refused } = provider.stats;
      console.log(`Stopped: ${requests} requests, ${accepted} accepted, ${refused} refused.`);
    });
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(`pocketflow-simulated-provider: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
