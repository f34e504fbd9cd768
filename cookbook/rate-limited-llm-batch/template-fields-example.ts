/**
 * Filling a document template: 12 fields with 2 LLM calls.
 *
 * Asking for one field per call costs 12 calls (and 12 starts of the rate
 * limit); asking for 6 fields per call costs 2. `ThrottledMicroBatchNode`
 * with `batchSize: 6` packs the fields, makes one call per pack, and gives
 * each field its value back in order. If a call fails for good, the pack is
 * split in halves down to the field that fails, so one bad field costs only itself.
 *
 *   npx tsx template-fields-example.ts                      # the simulated provider (placeholder values)
 *   OPENAI_API_KEY=... npx tsx template-fields-example.ts --provider openai
 */
import { parseArgs } from "node:util";
import { ThrottledMicroBatchNode } from "pocketflow-throttled";
import { callLlm, checkApiKey, isMain, MissingApiKeyError, type ProviderName, secondsSince, type SimulatedProvider, startDemoProvider } from "./utils.js";

export const TEMPLATE = `PROJECT KICKOFF — {{project_name}}

Dear {{client_name}},

We start on {{start_date}} and plan to finish by {{end_date}}, within a budget of {{budget}}.
Your project manager is {{project_manager}}.

Scope: {{scope_summary}}
Deliverables: {{deliverables}}
Milestones: {{milestones}}
Main risks: {{risks}}
How we will keep you informed: {{communication_plan}}

{{closing_note}}`;

export const NOTES = `Meeting notes, 3 March: Acme Corp wants its customer-support chatbot rebuilt ("Helpdesk 2.0").
Work starts 1 April, must be live by 30 June. Budget agreed: 48,000 EUR. Dana Whitfield leads on our side.
Scope: replace the rule-based bot with an LLM assistant over the help-center articles; hand-off to humans.
Deliverables: assistant, admin dashboard, evaluation report. Milestones: prototype in April, pilot in May, launch in June.
Risks: article quality, rate limits of the LLM provider. Weekly status call on Thursdays, shared progress board.`;

/** The template's fields, in order of appearance. */
export function fieldsOf(template: string): string[] {
  return [...new Set([...template.matchAll(/\{\{(\w+)\}\}/g)].map((match) => match[1] as string))];
}

interface Shared {
  template: string;
  notes: string;
  document?: string;
  values?: Record<string, string>;
}

/** Fills `batchSize` fields per LLM call. */
export class FillFieldsNode extends ThrottledMicroBatchNode<Shared, string, string> {
  override maxConcurrent = 2;

  constructor(
    readonly notes: string,
    readonly provider: ProviderName,
    readonly server: SimulatedProvider | undefined,
    batchSize: number,
  ) {
    super({ batchSize, maxRetries: 2 });
  }

  override async prepAsync(shared: Shared) {
    return fieldsOf(shared.template);
  }

  override async execBatchAsync(fields: string[]) {
    const prompt = [
      "Fill in these fields of a project kickoff letter from the notes below.",
      "Answer with exactly one line per field, in the form `field: value`, and nothing else.",
      `Fields: ${fields.join(", ")}`,
      "",
      `Notes:\n${this.notes}`,
    ].join("\n");
    const reply = await callLlm(prompt, { provider: this.provider, server: this.server, maxTokens: 60 * fields.length });
    const values = parseFields(reply.text);
    // The simulated provider does not write field values: show which call a field came from instead.
    return fields.map((field) => values.get(field) ?? `[${field}]`);
  }

  override async postAsync(shared: Shared, fields: Iterable<string> | null | undefined, values: string[]) {
    const names = [...(fields ?? [])];
    shared.values = Object.fromEntries(names.map((name, i) => [name, values[i] ?? ""]));
    shared.document = shared.template.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => shared.values?.[name] ?? whole);
    return "default";
  }
}

/** `field: value` lines of a reply. */
export function parseFields(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\s*[-*]?\s*`?(\w+)`?\s*:\s*(.+?)\s*$/.exec(line);
    if (match) values.set(match[1] as string, match[2] as string);
  }
  return values;
}

export interface TemplateRun {
  batchSize: number;
  fields: number;
  filled: number;
  /** Calls of `execBatchAsync` (the node's stats). */
  calls: number;
  seconds: number;
  document: string;
}

export interface TemplateOptions {
  provider?: ProviderName;
  batchSizes?: number[];
  latencyMs?: number | readonly [number, number];
  log?: (line: string) => void;
}

export async function runTemplateFieldsExample(options: TemplateOptions = {}): Promise<TemplateRun[]> {
  const provider = options.provider ?? "mock";
  const log = options.log ?? ((line: string) => console.log(line));
  checkApiKey(provider);
  const simulated = provider === "mock" || provider === "mock-anthropic";
  // A call that writes several fields takes longer: 300–600 ms, like a short real completion.
  const server = simulated ? await startDemoProvider({
        latencyMs: options.latencyMs ?? [300, 600],
        style: provider === "mock-anthropic" ? "anthropic" : "openai",
      }) : undefined;
  const fields = fieldsOf(TEMPLATE);
  log("=".repeat(64));
  log(`Filling a template of ${fields.length} fields (provider: ${provider})`);
  log("=".repeat(64));
  const runs: TemplateRun[] = [];
  try {
    for (const batchSize of options.batchSizes ?? [6, 1]) {
      const node = new FillFieldsNode(NOTES, provider, server, batchSize);
      const shared: Shared = { template: TEMPLATE, notes: NOTES };
      const start = performance.now();
      await node.runAsync(shared);
      const values = Object.values(shared.values ?? {});
      const run: TemplateRun = {
        batchSize,
        fields: fields.length,
        filled: values.filter((value) => value.trim() !== "").length,
        calls: node.stats.apiCalls,
        seconds: secondsSince(start),
        document: shared.document ?? "",
      };
      runs.push(run);
      log(`\nbatchSize ${batchSize}: ${run.filled}/${run.fields} fields answered with ${run.calls} calls in ${run.seconds.toFixed(2)} s`);
    }
  } finally {
    await server?.stop();
  }
  const first = runs[0];
  if (first !== undefined) {
    log(`\nThe document (batchSize ${first.batchSize}):\n${"-".repeat(64)}\n${first.document}\n${"-".repeat(64)}`);
    if (simulated) log("(The simulated provider does not write values, so each field shows its name; use --provider openai for real ones.)");
  }
  return runs;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { provider: { type: "string", default: "mock" } } });
  try {
    await runTemplateFieldsExample({ provider: values.provider as ProviderName });
  } catch (error) {
    if (!(error instanceof MissingApiKeyError)) throw error;
    console.error(`Error: ${error.message}`);
    process.exitCode = 1;
  }
}

if (isMain(import.meta.url)) await main();
