/**
 * `fromOfficialNode`: a node or flow of the official PocketFlow TypeScript
 * package (npm `pocketflow`) as an `AsyncNode` of this runtime, so an
 * `AsyncFlow` (throttled or not) runs it. Typed structurally: the official
 * package is not a dependency.
 */
import { type Action, AsyncNode } from "pocketflow-ts";

/** The part of an official node (`BaseNode` and every subclass, flows included) the adapter calls. */
export interface OfficialNodeLike<S = unknown> {
  clone(): OfficialNodeLike<S>;
  setParams(params: never): unknown;
  _run(shared: S): Promise<string | undefined>;
}

/**
 * An official node inside this runtime: each run clones it (as the official
 * `Flow` does), gives the clone this node's params, and runs its
 * `prep`/`exec`/`post` with its own retries (`maxRetries`, `wait`,
 * `execFallback`); its `post` action picks this node's successor.
 */
export class OfficialNode<S = unknown> extends AsyncNode<S, unknown, Action | undefined> {
  /** The official node each run clones. */
  readonly official: OfficialNodeLike<S>;

  constructor(official: OfficialNodeLike<S>) {
    super();
    this.official = official;
  }

  override async _runAsync(shared: S, signal?: AbortSignal): Promise<Action | undefined> {
    signal?.throwIfAborted();
    const copy = this.official.clone();
    copy.setParams({ ...this.params } as never);
    // The official API cannot be cancelled: an abort rejects the run at once, the official steps finish in the background.
    const action = await copy._run(shared);
    signal?.throwIfAborted();
    return action;
  }
}

/**
 * Wraps an official node (`Node`, `BatchNode`, `ParallelBatchNode`, `Flow`,
 * `BatchFlow`, `ParallelBatchFlow`) for this runtime's flows. Wire its
 * successors on the returned node; the official node's own successors are
 * not followed (wrap an official `Flow` to bring a whole official graph).
 *
 * @example
 * import { Node } from "pocketflow"; // the official package
 * const check = fromOfficialNode(new CheckNode(3, 0.5));
 * check.on("ok", translate).on("retry", fixup);
 * await new AsyncFlow(check).runAsync(shared);
 */
export function fromOfficialNode<S>(official: OfficialNodeLike<S>): OfficialNode<S> {
  if (
    official === null ||
    typeof official !== "object" ||
    typeof official.clone !== "function" ||
    typeof official._run !== "function" ||
    typeof official.setParams !== "function"
  ) {
    throw new TypeError(`fromOfficialNode needs a node of the official pocketflow package, got ${String(official)}`);
  }
  const successors = (official as { _successors?: Map<string, unknown> })._successors;
  if (successors instanceof Map && successors.size > 0) {
    console.warn(
      "pocketflow: fromOfficialNode: the official node's successors are not followed; wire them on the returned node, or wrap an official Flow",
    );
  }
  return new OfficialNode(official);
}
