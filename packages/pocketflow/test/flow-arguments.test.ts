/**
 * A flow that takes only a start node, constructed from plain JavaScript with
 * a second argument (options it would drop without a word): a TypeError naming
 * the class, as TypeScript rejects the call at compile time.
 */
import { describe, expect, it } from "vitest";
import { AsyncBatchFlow, AsyncFlow, AsyncNode, AsyncParallelBatchFlow, BatchFlow, Flow, Node } from "../src/index.js";

/** A flow class as plain JavaScript sees it: any arguments. */
type Loose = new (...args: unknown[]) => { startNode: unknown };
const loose = (flow: unknown): Loose => flow as Loose;

const FLOWS = [
  { name: "Flow", flow: loose(Flow), node: () => new Node() },
  { name: "BatchFlow", flow: loose(BatchFlow), node: () => new Node() },
  { name: "AsyncFlow", flow: loose(AsyncFlow), node: () => new AsyncNode() },
  { name: "AsyncBatchFlow", flow: loose(AsyncBatchFlow), node: () => new AsyncNode() },
  { name: "AsyncParallelBatchFlow", flow: loose(AsyncParallelBatchFlow), node: () => new AsyncNode() },
];

describe.each(FLOWS)("new $name(...)", ({ name, flow, node }) => {
  it("with a second argument (options) is a TypeError naming the class and quoting the argument", () => {
    expect(() => new flow(node(), { maxConcurrent: 5 })).toThrow(TypeError);
    expect(() => new flow(node(), { maxConcurrent: 5 })).toThrow(
      new RegExp(`^new ${name}\\(start\\) takes one argument, the start node; got 2, the second being \\{"maxConcurrent":5\\}`),
    );
  });

  it("with a second argument that is undefined is still a TypeError (TypeScript rejects it too)", () => {
    expect(() => new flow(node(), undefined)).toThrow(new RegExp(`^new ${name}\\(start\\).*got 2, the second being undefined`));
  });

  it("with one argument or none builds the flow, with that start node", () => {
    const start = node();
    expect(new flow(start).startNode).toBe(start);
    expect(new flow().startNode).toBeUndefined();
  });
});

describe("a subclass", () => {
  it("named in the error when its inherited constructor gets a second argument", () => {
    class Pipeline extends AsyncFlow {}
    expect(() => new (loose(Pipeline))(new AsyncNode(), { maxConcurrent: 5 })).toThrow(/^new Pipeline\(start\) takes one argument/);
  });

  it("whose own constructor takes options and passes only the start node up still builds", () => {
    class Configured extends AsyncFlow {
      constructor(
        start: AsyncNode,
        readonly label: string,
      ) {
        super(start);
      }
    }
    expect(new Configured(new AsyncNode(), "x").label).toBe("x");
  });
});
