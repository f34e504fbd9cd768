import { describe, expect, expectTypeOf, it } from "vitest";
import {
  type Action,
  AsyncFlow,
  AsyncNode,
  AsyncParallelBatchNode,
  BatchNode,
  Flow,
  Node,
  type Params,
} from "../src/index.js";

interface Shared {
  text: string;
  words?: string[];
  lengths?: number[];
  summary?: string;
}

/** Typed async node: prepAsync returns a string, execAsync turns it into words. */
class SplitWords extends AsyncNode<Shared, string, string[]> {
  override async prepAsync(shared: Shared): Promise<string> {
    return shared.text;
  }
  override async execAsync(text: string): Promise<string[]> {
    return text.split(" ");
  }
  override async postAsync(shared: Shared, _text: string, words: string[]): Promise<Action | undefined> {
    shared.words = words;
    return words.length > 0 ? "measure" : undefined;
  }
}

/** Typed parallel batch node: items are strings, results numbers. */
class MeasureWords extends AsyncParallelBatchNode<Shared, string, number> {
  override async prepAsync(shared: Shared): Promise<string[]> {
    return shared.words ?? [];
  }
  override async execAsync(word: string): Promise<number> {
    return word.length;
  }
  override async postAsync(shared: Shared, _words: Iterable<string> | null | undefined, lengths: number[]): Promise<undefined> {
    shared.lengths = lengths;
    return undefined;
  }
}

/** Typed sync node with a typed fallback. */
class Summarize extends Node<Shared, string[], string> {
  override prep(shared: Shared): string[] {
    return shared.words ?? [];
  }
  override exec(words: string[]): string {
    return words.join("+");
  }
  override execFallback(words: string[], _error: unknown): string {
    return `fallback for ${words.length} words`;
  }
  override post(shared: Shared, _words: string[], summary: string): undefined {
    shared.summary = summary;
    return undefined;
  }
}

/** Typed sync batch node. */
class Upper extends BatchNode<Shared, string, string> {
  override exec(word: string): string {
    return word.toUpperCase();
  }
}

describe("generic types", () => {
  it("types each step's parameters from the node's type arguments", () => {
    expectTypeOf<Parameters<SplitWords["prepAsync"]>>().toEqualTypeOf<[Shared]>();
    expectTypeOf<Parameters<SplitWords["execAsync"]>>().toEqualTypeOf<[string]>();
    expectTypeOf<Parameters<SplitWords["postAsync"]>>().toEqualTypeOf<[Shared, string, string[]]>();
    expectTypeOf<Parameters<SplitWords["execFallbackAsync"]>>().toEqualTypeOf<[string, unknown]>();
    expectTypeOf<ReturnType<SplitWords["execFallbackAsync"]>>().toEqualTypeOf<Promise<string[]>>();
    expectTypeOf<Parameters<SplitWords["runAsync"]>[0]>().toEqualTypeOf<Shared>();
  });

  it("types a batch node's execAsync with one item and its postAsync with the array of results", () => {
    expectTypeOf<Parameters<MeasureWords["execAsync"]>>().toEqualTypeOf<[string]>();
    expectTypeOf<ReturnType<MeasureWords["execAsync"]>>().toEqualTypeOf<Promise<number>>();
    expectTypeOf<Parameters<MeasureWords["postAsync"]>[2]>().toEqualTypeOf<number[]>();
    expectTypeOf<Parameters<MeasureWords["execFallbackAsync"]>[0]>().toEqualTypeOf<string>();
    expectTypeOf<Parameters<Upper["exec"]>>().toEqualTypeOf<[string]>();
    expectTypeOf<Parameters<Upper["post"]>[2]>().toEqualTypeOf<string[]>();
  });

  it("types execFallback(prepRes, error: unknown) on sync nodes", () => {
    expectTypeOf<Parameters<Summarize["execFallback"]>>().toEqualTypeOf<[string[], unknown]>();
    expectTypeOf<Summarize["curRetry"]>().toEqualTypeOf<number>();
    expectTypeOf<Summarize["params"]>().toEqualTypeOf<Params>();
  });

  it("keeps the target's type through next() and the source's type through on()", () => {
    const split = new SplitWords();
    const measure = new MeasureWords();
    const flow = new AsyncFlow<Shared>();

    expectTypeOf(flow.start(split)).toEqualTypeOf<SplitWords>();
    expectTypeOf(split.next(measure)).toEqualTypeOf<MeasureWords>();
    expectTypeOf(split.on("measure", measure)).toEqualTypeOf<SplitWords>();
    expectTypeOf(split.runAsync).returns.toEqualTypeOf<Promise<Action | undefined>>();
  });

  it("refuses ill-typed overrides and shared stores at compile time", () => {
    class WrongItem extends AsyncParallelBatchNode<Shared, string, number> {
      // @ts-expect-error execAsync receives one string item, not a number
      override async execAsync(word: number): Promise<number> {
        return word;
      }
    }
    class WrongResult extends AsyncNode<Shared, string, string[]> {
      // @ts-expect-error execAsync must resolve to string[]
      override async execAsync(text: string): Promise<number> {
        return text.length;
      }
    }
    const split = new SplitWords();

    // @ts-expect-error the shared store must be a Shared
    const wrongShared = () => split.runAsync({ nope: true });

    expect([WrongItem, WrongResult, wrongShared]).toHaveLength(3);
  });

  it("runs a flow of typed nodes", async () => {
    const split = new SplitWords();
    const measure = new MeasureWords();
    split.on("measure", measure);
    measure.next(new AsyncFlow<Shared>(new Flow<Shared>(new Summarize())));
    const shared: Shared = { text: "to be or not" };

    await new AsyncFlow<Shared>(split).runAsync(shared);

    expect(shared).toEqual({
      text: "to be or not",
      words: ["to", "be", "or", "not"],
      lengths: [2, 2, 2, 3],
      summary: "to+be+or+not",
    });
  });

  it("runs a typed sync batch node", () => {
    class UpperWords extends Upper {
      override prep(shared: Shared): string[] {
        return shared.text.split(" ");
      }
      override post(shared: Shared, _p: Iterable<string> | null | undefined, words: string[]): undefined {
        shared.words = words;
        return undefined;
      }
    }
    const shared: Shared = { text: "a b" };

    new UpperWords().run(shared);

    expect(shared.words).toEqual(["A", "B"]);
  });
});
