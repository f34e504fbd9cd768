import { AsyncFlow, AsyncNode, type Params } from "pocketflow-ts";
import { describe, expect, it } from "vitest";
import { ThrottledAsyncParallelBatchFlow } from "../src/flows.js";
import { ThrottledParallelBatchNode } from "../src/nodes.js";
import { delay, Gauge } from "test-support";

// Nested throttling: a flow limits how many instances run, a node inside each
// instance limits how many calls that instance makes, so at most
// maxConcurrentFlows x maxConcurrent calls run at once (Python cookbook:
// "5 users x 3 calls = 15").

interface Shared {
  userIds: number[];
  fetched: string[];
}

/** Per user: 6 endpoints fetched, at most 3 at once (node level). */
class FetchUserData extends ThrottledParallelBatchNode<Shared, string, string> {
  override maxConcurrent = 3;
  constructor(
    readonly total: Gauge,
    readonly perUser: Map<unknown, Gauge>,
  ) {
    super();
  }
  override async prepAsync(): Promise<string[]> {
    const user = this.params.userId as number;
    return ["profile", "orders", "reviews", "cart", "wishlist", "settings"].map((endpoint) => `/users/${user}/${endpoint}`);
  }
  override async execAsync(path: string): Promise<string> {
    const mine = this.perUser.get(this.params.userId) ?? new Gauge();
    this.perUser.set(this.params.userId, mine);
    this.total.enter();
    mine.enter();
    await delay(15);
    mine.leave();
    this.total.leave();
    return path;
  }
  override async postAsync(shared: Shared, _prep: string[], results: string[]): Promise<undefined> {
    shared.fetched.push(...results);
    return undefined;
  }
}

/** At most 5 users at once (flow level). */
class ProcessUsers extends ThrottledAsyncParallelBatchFlow<Shared> {
  override maxConcurrentFlows = 5;
  override async prepAsync(shared: Shared): Promise<Params[]> {
    return shared.userIds.map((userId) => ({ userId }));
  }
}

describe("nested throttling: 5 flow instances x 3 calls per node", () => {
  it("never runs more than 15 calls at once, and reaches 15", async () => {
    const total = new Gauge();
    const perUser = new Map<unknown, Gauge>();
    const flow = new ProcessUsers(new FetchUserData(total, perUser));
    const shared: Shared = { userIds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], fetched: [] };

    await flow.runAsync(shared);

    console.log(`nested throttling: observed maximum concurrent execAsync calls = ${total.peak} (limit 5 x 3 = 15)`);
    expect(total.peak).toBe(15);
    expect(shared.fetched).toHaveLength(60);
    expect(flow.stats.completedFlows).toBe(10);
  });

  it("gives every flow instance its own node limit of 3", async () => {
    const perUser = new Map<unknown, Gauge>();
    const flow = new ProcessUsers(new FetchUserData(new Gauge(), perUser));

    await flow.runAsync({ userIds: [0, 1, 2, 3, 4, 5, 6, 7], fetched: [] });

    expect([...perUser.values()].map((gauge) => gauge.peak)).toEqual([3, 3, 3, 3, 3, 3, 3, 3]);
  });

  it("multiplies the same way when the node sits deeper, inside an AsyncFlow with another node", async () => {
    const total = new Gauge();
    class Authenticate extends AsyncNode {
      override async execAsync(): Promise<void> {
        await delay(1);
      }
    }
    const login = new Authenticate();
    login.next(new FetchUserData(total, new Map()));
    const flow = new ProcessUsers(new AsyncFlow(login), { maxConcurrentFlows: 2 });

    await flow.runAsync({ userIds: [0, 1, 2, 3, 4], fetched: [] });

    expect(total.peak).toBe(6);
  });
});
