/**
 * `asOfficialNode`: a node or flow of this runtime (throttled or not) as a
 * node of the official PocketFlow TypeScript package (npm `pocketflow`).
 * The official package is not a dependency: you pass its `BaseNode` class,
 * and the adapter is a real subclass of it, so `next`, `on`, `clone` and the
 * official `Flow` treat it like any official node.
 */
import type { Action, AnyNode, Params } from "pocketflow-ts";

/** The part of an official `BaseNode` the adapter builds on. */
export interface OfficialBaseNodeLike {
  setParams(params: never): unknown;
  clone(): unknown;
  getNextNode(action?: string): unknown;
  _run(shared: never): Promise<string | undefined>;
}

/** The official `BaseNode` class (`import { BaseNode } from "pocketflow"`, the official package). */
export type OfficialBaseNodeClass = abstract new () => OfficialBaseNodeLike;

/** Options of `asOfficialNode`. */
export interface AsOfficialNodeOptions {
  /**
   * Aborts every run of the wrapped node (the official API has no
   * cancellation): the official flow's run rejects with `signal.reason`.
   * @default undefined
   */
  signal?: AbortSignal;
}

/** What `asOfficialNode` returns: an official node, with the wrapped node readable. */
export type OfficialNodeOf<C extends OfficialBaseNodeClass, S> = InstanceType<C> & {
  /** The node of this runtime that each official run copies and runs. */
  readonly node: AnyNode<S>;
};

interface RunnableNode {
  _copy(): RunnableNode;
  setParams(params: Params): void;
  runAsync?(shared: unknown, options?: { signal?: AbortSignal }): Promise<Action | undefined>;
  run(shared: unknown): Action | undefined;
}

const subclasses = new WeakMap<OfficialBaseNodeClass, OfficialBaseNodeClass>();

/** The subclass of the official `BaseNode` whose `_run` runs a copy of one of our nodes (one per official class). */
function adapterClass(Base: OfficialBaseNodeClass): OfficialBaseNodeClass {
  let Adapter = subclasses.get(Base);
  if (Adapter === undefined) {
    const Concrete = Base as unknown as new () => OfficialBaseNodeLike & { _params: Params };
    class OfficialAdapter extends Concrete {
      declare readonly node: RunnableNode;
      declare readonly signal: AbortSignal | undefined;
      // A fresh shallow copy per run, as both runtimes do: params and per-run state never leak.
      override async _run(shared: never): Promise<string | undefined> {
        const copy = this.node._copy();
        copy.setParams({ ...this._params });
        if (typeof copy.runAsync === "function") return copy.runAsync(shared, { signal: this.signal });
        this.signal?.throwIfAborted();
        return copy.run(shared);
      }
    }
    Adapter = OfficialAdapter;
    subclasses.set(Base, Adapter);
  }
  return Adapter;
}

/**
 * Wraps a node or flow of this runtime so the official package's `Flow`,
 * `BatchFlow` and `ParallelBatchFlow` run it: each run copies the node, gives
 * it the official flow's params, and runs it with the shared store; the
 * action its `post`/`postAsync` returns picks the official successor. Wire
 * successors on the returned node (official API); the wrapped node's own
 * successors are not followed (wrap a flow of ours instead).
 *
 * @example
 * import { BaseNode, Flow } from "pocketflow"; // the official package
 * const translate = asOfficialNode(new Translate({ maxConcurrent: 3, maxPerMinute: 60 }), BaseNode);
 * load.next(translate).next(save);
 * await new Flow(load).run(shared);
 */
export function asOfficialNode<C extends OfficialBaseNodeClass, S = unknown>(
  node: AnyNode<S>,
  OfficialBaseNode: C,
  options: AsOfficialNodeOptions = {},
): OfficialNodeOf<C, S> {
  const candidate = node as unknown as Partial<RunnableNode> | null;
  if (candidate === null || typeof candidate !== "object" || typeof candidate._copy !== "function") {
    throw new TypeError(`asOfficialNode needs a node or flow of this runtime (pocketflow-ts), got ${String(node)}`);
  }
  const proto = (OfficialBaseNode as { prototype?: Partial<OfficialBaseNodeLike> } | undefined)?.prototype;
  if (typeof OfficialBaseNode !== "function" || typeof proto?.clone !== "function" || typeof proto.getNextNode !== "function") {
    throw new TypeError(
      `asOfficialNode needs the official BaseNode class (import { BaseNode } from "pocketflow"), got ${String(OfficialBaseNode)}`,
    );
  }
  const Adapter = adapterClass(OfficialBaseNode) as unknown as new () => object;
  const adapter = new Adapter();
  Object.assign(adapter, { node, signal: options.signal });
  return adapter as OfficialNodeOf<C, S>;
}
