import { afterEach, describe, expect, it, vi } from "vitest";
import {
  AsyncBatchFlow,
  AsyncBatchNode,
  AsyncFlow,
  AsyncNode,
  AsyncParallelBatchFlow,
  AsyncParallelBatchNode,
  type Params,
} from "../src/index.js";
import { deferred, flush, never, trackTimers } from "test-support";
import { abortListeners, activeTimeouts, spyAbortListeners } from "./helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

/** An async node stuck in user code until `gate` settles; `entered` resolves once it is stuck. */
class Stuck extends AsyncNode {
  readonly entered = deferred();
  constructor(readonly gate: Promise<unknown> = never()) {
    super();
  }
  override async execAsync(): Promise<void> {
    this.entered.resolve();
    await this.gate;
  }
}

/** An async node that records that it ran. */
class Records extends AsyncNode {
  constructor(readonly ran: string[]) {
    super();
  }
  override async prepAsync(): Promise<void> {
    this.ran.push(this.constructor.name);
  }
}

describe("a signal aborted before the run", () => {
  it("rejects with exactly signal.reason without running prepAsync", async () => {
    const prep = vi.fn();
    class Node1 extends AsyncNode {
      override async prepAsync(): Promise<void> {
        prep();
      }
    }
    const reason = { why: "user cancelled" };
    const controller = new AbortController();
    controller.abort(reason);

    await expect(new Node1().runAsync({}, { signal: controller.signal })).rejects.toBe(reason);
    expect(prep).not.toHaveBeenCalled();
  });

  it("rejects an AsyncFlow without running any node", async () => {
    const ran: string[] = [];
    const controller = new AbortController();
    controller.abort();

    await expect(new AsyncFlow(new Records(ran)).runAsync({}, { signal: controller.signal })).rejects.toBe(
      controller.signal.reason,
    );
    expect(ran).toEqual([]);
  });
});

describe("aborting during a run", () => {
  it("rejects promptly with exactly signal.reason while a node is stuck on a promise that never settles", async () => {
    const reason = new Error("stop now");
    const controller = new AbortController();
    const node = new Stuck();

    const outcome = expect(node.runAsync({}, { signal: controller.signal })).rejects.toBe(reason);
    await node.entered.promise;
    controller.abort(reason);

    await outcome;
  });

  it("rejects with a non-Error reason object as is", async () => {
    const reason = { code: "CANCELLED" };
    const controller = new AbortController();
    const node = new Stuck();

    const outcome = expect(node.runAsync({}, { signal: controller.signal })).rejects.toBe(reason);
    await node.entered.promise;
    controller.abort(reason);

    await outcome;
  });

  it("rejects with the DOMException of controller.abort() when no reason is given", async () => {
    const controller = new AbortController();
    const node = new Stuck();

    const run = node.runAsync({}, { signal: controller.signal });
    await node.entered.promise;
    controller.abort();

    await expect(run).rejects.toBe(controller.signal.reason);
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
  });

  it("rejects with the TimeoutError of AbortSignal.timeout", async () => {
    const signal = AbortSignal.timeout(20);

    const error = await new AsyncFlow(new Stuck()).runAsync({}, { signal }).catch((e: unknown) => e);

    expect(error).toBe(signal.reason);
    expect(error).toMatchObject({ name: "TimeoutError" });
  });

  it("rejects while the flow's own prepAsync is stuck", async () => {
    const entered = deferred();
    class SlowPrep extends AsyncFlow {
      override async prepAsync(): Promise<void> {
        entered.resolve();
        await never();
      }
    }
    const reason = new Error("cancel");
    const controller = new AbortController();

    const outcome = expect(new SlowPrep(new AsyncNode()).runAsync({}, { signal: controller.signal })).rejects.toBe(reason);
    await entered.promise;
    controller.abort(reason);

    await outcome;
  });

  it("starts no further node, even when the stuck node finishes later", async () => {
    const ran: string[] = [];
    const gate = deferred();
    const first = new Stuck(gate.promise);
    class Second extends Records {}
    class Third extends Records {}
    first.next(new Second(ran)).next(new Third(ran));
    const reason = new Error("abort");
    const controller = new AbortController();

    const outcome = expect(new AsyncFlow(first).runAsync({}, { signal: controller.signal })).rejects.toBe(reason);
    await first.entered.promise;
    controller.abort(reason);
    await outcome;
    gate.resolve();
    await flush();

    expect(ran).toEqual([]);
  });

  it("does not run postAsync of the node that was running when the abort came", async () => {
    const post = vi.fn();
    const gate = deferred();
    class StuckThenPost extends Stuck {
      override async postAsync(): Promise<undefined> {
        post();
        return undefined;
      }
    }
    const node = new StuckThenPost(gate.promise);
    const controller = new AbortController();

    const outcome = expect(node.runAsync({}, { signal: controller.signal })).rejects.toBe("reason");
    await node.entered.promise;
    controller.abort("reason");
    await outcome;
    gate.resolve();
    await flush();

    expect(post).not.toHaveBeenCalled();
  });

  it("starts no further node inside a nested flow", async () => {
    const ran: string[] = [];
    const gate = deferred();
    const stuck = new Stuck(gate.promise);
    class InnerNext extends Records {}
    class OuterNext extends Records {}
    stuck.next(new InnerNext(ran));
    const inner = new AsyncFlow(stuck);
    inner.next(new OuterNext(ran));
    const controller = new AbortController();

    const outcome = expect(new AsyncFlow(inner).runAsync({}, { signal: controller.signal })).rejects.toBe("stop");
    await stuck.entered.promise;
    controller.abort("stop");
    await outcome;
    gate.resolve();
    await flush();

    expect(ran).toEqual([]);
  });

  it("starts no further item of an AsyncBatchNode", async () => {
    const started: number[] = [];
    const gate = deferred();
    const entered = deferred();
    class Items extends AsyncBatchNode<unknown, number, number> {
      override async prepAsync(): Promise<number[]> {
        return [1, 2, 3];
      }
      override async execAsync(item: number): Promise<number> {
        started.push(item);
        entered.resolve();
        await gate.promise;
        return item;
      }
    }
    const controller = new AbortController();

    const outcome = expect(new Items().runAsync({}, { signal: controller.signal })).rejects.toBe("stop");
    await entered.promise;
    controller.abort("stop");
    await outcome;
    gate.resolve();
    await flush();

    expect(started).toEqual([1]);
  });

  it("starts no further params run of an AsyncBatchFlow", async () => {
    const started: unknown[] = [];
    const gate = deferred();
    const entered = deferred();
    class Work extends AsyncNode {
      override async execAsync(): Promise<void> {
        started.push(this.params.id);
        entered.resolve();
        await gate.promise;
      }
    }
    class Batch extends AsyncBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ id: 1 }, { id: 2 }];
      }
    }
    const controller = new AbortController();

    const outcome = expect(new Batch(new Work()).runAsync({}, { signal: controller.signal })).rejects.toBe("stop");
    await entered.promise;
    controller.abort("stop");
    await outcome;
    gate.resolve();
    await flush();

    expect(started).toEqual([1]);
  });

  it("starts no further node in any branch of an AsyncParallelBatchFlow", async () => {
    const ran: string[] = [];
    const gate = deferred();
    const stuck = new Stuck(gate.promise);
    class After extends Records {}
    stuck.next(new After(ran));
    class Branches extends AsyncParallelBatchFlow {
      override async prepAsync(): Promise<Params[]> {
        return [{ id: 1 }, { id: 2 }, { id: 3 }];
      }
    }
    const controller = new AbortController();

    const outcome = expect(new Branches(stuck).runAsync({}, { signal: controller.signal })).rejects.toBe("stop");
    await flush();
    controller.abort("stop");
    await outcome;
    gate.resolve();
    await flush();

    expect(ran).toEqual([]);
  });

  it("rejects an AsyncParallelBatchNode whose items are stuck", async () => {
    class AllStuck extends AsyncParallelBatchNode<unknown, number, number> {
      override async prepAsync(): Promise<number[]> {
        return [1, 2, 3];
      }
      override async execAsync(): Promise<number> {
        return never();
      }
    }
    const controller = new AbortController();

    const outcome = expect(new AllStuck({ maxRetries: 2 }).runAsync({}, { signal: controller.signal })).rejects.toBe("stop");
    await flush();
    controller.abort("stop");

    await outcome;
  });

  it("ends a retry wait promptly, leaving no timer behind", async () => {
    const failed = deferred();
    class FailsThenWaitsLong extends AsyncNode {
      override async execAsync(): Promise<never> {
        failed.resolve();
        throw new Error("retry me");
      }
    }
    const timers = trackTimers();
    const timersBefore = activeTimeouts();
    const controller = new AbortController();
    const reason = new Error("stop waiting");
    const started = performance.now();

    const outcome = expect(
      new FailsThenWaitsLong({ maxRetries: 2, wait: 60 }).runAsync({}, { signal: controller.signal }),
    ).rejects.toBe(reason);
    await failed.promise;
    await flush();
    const pendingWhileWaiting = timers.pending();
    controller.abort(reason);
    await outcome;

    expect(pendingWhileWaiting).toBe(1);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(timers.pending()).toBe(0);
    expect(activeTimeouts()).toBeLessThanOrEqual(timersBefore);
  });

  it("starts no further attempt once the signal is aborted", async () => {
    const exec = vi.fn();
    const controller = new AbortController();
    class AbortsWhileFailing extends AsyncNode {
      override async execAsync(): Promise<never> {
        exec();
        controller.abort("stop");
        throw new Error("fails");
      }
    }

    await expect(new AbortsWhileFailing({ maxRetries: 3 }).runAsync({}, { signal: controller.signal })).rejects.toBe(
      "stop",
    );
    expect(exec).toHaveBeenCalledTimes(1);
  });

  it("does not start the retry wait when the abort came during the failed attempt", async () => {
    const controller = new AbortController();
    const timers = trackTimers();
    const timersBefore = activeTimeouts();
    class AbortsWhileFailing extends AsyncNode {
      override async execAsync(): Promise<never> {
        controller.abort("stop");
        throw new Error("fails");
      }
    }

    await expect(
      new AbortsWhileFailing({ maxRetries: 2, wait: 30 }).runAsync({}, { signal: controller.signal }),
    ).rejects.toBe("stop");
    await flush();

    expect(timers.created()).toBe(0);
    expect(activeTimeouts()).toBeLessThanOrEqual(timersBefore);
  });

  it("turns a late failure of the abandoned node into no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    const gate = deferred();
    const node = new Stuck(gate.promise);
    const controller = new AbortController();

    try {
      const outcome = expect(node.runAsync({}, { signal: controller.signal })).rejects.toBe("stop");
      await node.entered.promise;
      controller.abort("stop");
      await outcome;
      gate.reject(new Error("late failure"));
      await flush();
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }

    expect(unhandled).toEqual([]);
  });
});

describe("a signal that is never aborted", () => {
  it("does not change the result of the run", async () => {
    class Answer extends AsyncNode<unknown, void, number> {
      override async execAsync(): Promise<number> {
        return 42;
      }
      override async postAsync(_s: unknown, _p: unknown, answer: number): Promise<string> {
        return `answer ${answer}`;
      }
    }

    await expect(new Answer().runAsync({}, { signal: new AbortController().signal })).resolves.toBe("answer 42");
  });
});

describe("nothing is left behind on the signal or the timer list", () => {
  class FailsOnceWithWait extends AsyncNode {
    override async execAsync(): Promise<string> {
      if (this.curRetry === 0) throw new Error("first try");
      return "ok";
    }
  }

  it("after a run that ends normally (with a retry wait)", async () => {
    const controller = new AbortController();
    const listeners = spyAbortListeners(controller.signal);
    const timers = trackTimers();
    const timersBefore = activeTimeouts();
    const start = new FailsOnceWithWait({ maxRetries: 2, wait: 0.01 });
    start.next(new FailsOnceWithWait({ maxRetries: 2, wait: 0.01 }));

    await new AsyncFlow(start).runAsync({}, { signal: controller.signal });

    expect(timers.created()).toBe(2);
    expect(listeners.added()).toBeGreaterThan(0);
    expect(listeners.removed()).toBe(listeners.added());
    expect(abortListeners(controller.signal)).toBe(0);
    expect(timers.pending()).toBe(0);
    expect(activeTimeouts()).toBeLessThanOrEqual(timersBefore);
  });

  it("after a parallel batch that ends normally (with retry waits)", async () => {
    class Items extends AsyncParallelBatchNode<unknown, number, number> {
      override async prepAsync(): Promise<number[]> {
        return [1, 2, 3];
      }
      override async execAsync(item: number): Promise<number> {
        if (this.curRetry === 0) throw new Error("first try");
        return item;
      }
    }
    const controller = new AbortController();
    const listeners = spyAbortListeners(controller.signal);
    const timers = trackTimers();
    const timersBefore = activeTimeouts();

    await new Items({ maxRetries: 2, wait: 0.01 }).runAsync({}, { signal: controller.signal });

    expect(timers.created()).toBe(3);
    expect(listeners.removed()).toBe(listeners.added());
    expect(abortListeners(controller.signal)).toBe(0);
    expect(timers.pending()).toBe(0);
    expect(activeTimeouts()).toBeLessThanOrEqual(timersBefore);
  });

  it("after a run that fails", async () => {
    const boom = new Error("boom");
    class Broken extends AsyncNode {
      override async execAsync(): Promise<never> {
        throw boom;
      }
    }
    const controller = new AbortController();
    const listeners = spyAbortListeners(controller.signal);
    const timers = trackTimers();
    const timersBefore = activeTimeouts();

    await expect(new Broken({ maxRetries: 2, wait: 0.01 }).runAsync({}, { signal: controller.signal })).rejects.toBe(boom);

    expect(timers.created()).toBe(1);
    expect(listeners.added()).toBeGreaterThan(0);
    expect(listeners.removed()).toBe(listeners.added());
    expect(abortListeners(controller.signal)).toBe(0);
    expect(timers.pending()).toBe(0);
    expect(activeTimeouts()).toBeLessThanOrEqual(timersBefore);
  });

  it("after a run that is aborted", async () => {
    const controller = new AbortController();
    const listeners = spyAbortListeners(controller.signal);
    const timers = trackTimers();
    const timersBefore = activeTimeouts();
    const node = new Stuck();

    const outcome = expect(new AsyncFlow(node).runAsync({}, { signal: controller.signal })).rejects.toBe("stop");
    await node.entered.promise;
    controller.abort("stop");
    await outcome;

    expect(listeners.added()).toBeGreaterThan(0);
    expect(abortListeners(controller.signal)).toBe(0);
    expect(timers.pending()).toBe(0);
    expect(activeTimeouts()).toBeLessThanOrEqual(timersBefore);
  });

  it("after a run aborted during a retry wait", async () => {
    const failed = deferred();
    class FailsThenWaits extends AsyncNode {
      override async execAsync(): Promise<never> {
        failed.resolve();
        throw new Error("retry me");
      }
    }
    const controller = new AbortController();
    const timers = trackTimers();
    const timersBefore = activeTimeouts();

    const outcome = expect(
      new FailsThenWaits({ maxRetries: 2, wait: 30 }).runAsync({}, { signal: controller.signal }),
    ).rejects.toBe("stop");
    await failed.promise;
    await flush();
    controller.abort("stop");
    await outcome;

    expect(timers.created()).toBe(1);
    expect(abortListeners(controller.signal)).toBe(0);
    expect(timers.pending()).toBe(0);
    expect(activeTimeouts()).toBeLessThanOrEqual(timersBefore);
  });
});
