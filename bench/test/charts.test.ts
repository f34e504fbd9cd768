import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { chartsOf, sampler, startsInWindow, writeCharts } from "../charts.js";

/** Tags of an XML text balance (every opened element closed, in order); returns the root's name. */
function checkWellFormed(xml: string): string {
  const stack: string[] = [];
  let root = "";
  for (const [tag, closing, name, selfClosing] of xml.matchAll(/<(\/?)([A-Za-z][\w:.-]*)[^>]*?(\/?)>/g)) {
    if (closing) {
      expect(stack.pop(), `closing ${tag}`).toBe(name);
    } else if (!selfClosing) {
      if (stack.length === 0) root ||= name as string;
      stack.push(name as string);
    }
  }
  expect(stack).toEqual([]);
  return root;
}

const points = (values: number[]) => values.map((value, i) => ({ t: i * 0.1, value }));

/** Section data shaped as the bench sections record it. */
const SAMPLE = {
  compliance: { config: { limit: 4, windowMs: 1000 }, startsMs: [0, 1, 2, 3, 1050, 1051, 1052, 1053, 2100] },
  adaptive: {
    config: { serverConcurrent: 8 },
    adaptive: { defaults: { concurrencyOverTime: points([5, 6, 7, 8, 9, 4, 5, 6]) } },
  },
  "adaptive (per-window limit)": { concurrencyOverTime: points([5, 6, 3, 4]) },
  "token budgets": {
    config: { tokensPerWindow: 4000 },
    exact: { tokenWindowOverTime: points([0, 1200, 3900, 3950, 2000]) },
    overestimatedSettled: { tokenWindowOverTime: points([0, 1500, 3800, 3990]) },
  },
};

describe("bench charts", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("writes one well-formed SVG per chart from sample section data, with the limit's label drawn", async () => {
    dir = mkdtempSync(join(tmpdir(), "bench-charts-"));

    const paths = await writeCharts(dir, chartsOf(SAMPLE));

    expect(paths.map((p) => basename(p))).toEqual(["compliance-starts-in-window.svg", "adaptive-concurrency.svg", "token-window-use.svg"]);
    for (const path of paths) {
      const svg = readFileSync(path, "utf8");
      expect(svg.startsWith("<svg")).toBe(true);
      expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
      expect(checkWellFormed(svg)).toBe("svg");
      expect(svg).toMatch(/<path [^>]*d="M[^"]+"/); // a drawn line, not an empty frame
    }
    expect(readFileSync(paths[0] as string, "utf8")).toContain("provider limit 4");
    expect(readFileSync(paths[2] as string, "utf8")).toContain("budget 4000 tokens");
  });

  it("draws no chart for a section that did not run or failed", () => {
    expect(chartsOf({ compliance: { error: "Error: boom" } })).toEqual([]);
    expect(chartsOf({}).map((c) => c.name)).toEqual([]);
  });

  it("counts the starts a sliding window holds: up at each start, down when it leaves the window", () => {
    const series = startsInWindow([0, 100, 1050], 1000);

    expect(Math.max(...series.map((p) => p.value))).toBe(2);
    expect(series.at(-1)?.value).toBe(0);
    expect(series.find((p) => p.t === 1)?.value).toBe(1); // the start at 0 has left, the one at 100 ms has not
    expect(series.find((p) => p.t === 1.05)?.value).toBe(2);
  });

  it("samples a value until stopped, first and last reading included", () => {
    let value = 1;
    const s = sampler(() => value, 1000);
    value = 7;

    const series = s.stop();

    expect(series.map((p) => p.value)).toEqual([1, 7]);
  });
});
