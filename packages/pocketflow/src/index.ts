/**
 * PocketFlow for TypeScript: a tiny node-and-flow runtime.
 *
 * A faithful port of Python PocketFlow. Read it top to bottom:
 *   1. helpers (warnings, sleeping, abort handling, per-item retry scope)
 *   2. BaseNode -> Node -> BatchNode              (sync nodes)
 *   3. Flow -> BatchFlow                          (sync flows)
 *   4. AsyncNode -> AsyncBatchNode / AsyncParallelBatchNode
 *   5. AsyncFlow -> AsyncBatchFlow / AsyncParallelBatchFlow
 *
 * Each class adds one idea and overrides one or two internal steps
 * (`_exec`, `_run`, `_orch` and their async twins), as in the Python original.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { channel } from "node:diagnostics_channel";
import { setMaxListeners } from "node:events";

// ---------------------------------------------------------------------------
// 1. Types and helpers
// ---------------------------------------------------------------------------

/** The name of a transition; `undefined` from `post` means `"default"`. */
export type Action = string;

/** Parameters handed to a node by its flow (`setParams`). */
export type Params = Record<string, unknown>;

/** Options accepted by `runAsync`. */
export interface RunOptions {
  /** Aborting rejects the run with exactly `signal.reason` and starts no further step. */
  signal?: AbortSignal;
}

/** Options of a `Node`: `maxRetries` attempts in all, `wait` seconds between them. */
export interface NodeOptions {
  maxRetries?: number;
  wait?: number;
}

/** A node of any shape, as flows and successor maps hold them. */
export type AnyNode<S = unknown> = BaseNode<S, unknown, unknown, unknown, unknown>;

const DEFAULT_ACTION = "default";

function warn(message: string): void {
  console.warn(`pocketflow: ${message}`);
}

function nodeName(node: object): string {
  return node.constructor?.name || "node";
}

/** Blocks the thread for `ms` without spinning (Python's `time.sleep`). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, ms));
}

/** setTimeout's longest delay; a longer sleep re-arms, so no TimeoutOverflowWarning ever fires. */
const MAX_TIMER_MS = 2_147_483_647;

/** Resolves after `ms`; rejects with exactly `signal.reason` on abort and leaves no timer or listener behind. For extension packages. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const until = performance.now() + ms;
    let timer: ReturnType<typeof setTimeout>;
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const arm = (delay: number) => {
      timer = setTimeout(() => {
        const left = until - performance.now();
        if (left > 1) return arm(left);
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.min(MAX_TIMER_MS, Math.max(0, delay)));
    };
    arm(ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `work` so that aborting `signal` rejects at once with `signal.reason`,
 * even if `work` is stuck in user code. `work` gets an inner signal that
 * follows the caller's: batches add a listener per waiting item to it, so it
 * takes any number of listeners, and the caller's signal only ever gets one,
 * removed when the run ends.
 */
function raceAbort<T>(signal: AbortSignal | undefined, work: (inner?: AbortSignal) => Promise<T>): Promise<T> {
  if (!signal) return work(undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  const inner = new AbortController();
  setMaxListeners(0, inner.signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      inner.abort(signal.reason);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    // A late rejection of `work` after the abort lands on a settled promise: handled, not unhandled.
    work(inner.signal)
      .then(resolve, reject)
      .finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Starts `start(item)` for every item. If the iterable throws part-way, the
 * work already started is marked handled (its outcome no longer has a caller)
 * before the error propagates.
 */
function startAll<T, R>(items: Iterable<T>, start: (item: T) => Promise<R>): Promise<R>[] {
  const running: Promise<R>[] = [];
  try {
    for (const item of items) running.push(start(item));
  } catch (error) {
    for (const p of running) p.catch(() => {});
    throw error;
  }
  return running;
}

/**
 * A second constructor argument to a flow that takes only a start node, from
 * plain JavaScript (TypeScript rejects it): options such as `maxConcurrent`
 * would be dropped without a word, so it is a TypeError.
 */
function rejectExtraArguments(flow: object, count: number, extra: unknown): void {
  if (count <= 1) return;
  let shown: string;
  try {
    shown = typeof extra === "function" ? `a function` : (JSON.stringify(extra) ?? String(extra));
  } catch {
    shown = Object.prototype.toString.call(extra);
  }
  throw new TypeError(
    `new ${nodeName(flow)}(start) takes one argument, the start node; got ${count}, the second being ${shown}. ` +
      "Options such as maxConcurrent belong to the throttled flows of pocketflow-throttled " +
      "(e.g. ThrottledAsyncParallelBatchFlow)",
  );
}

/**
 * The items of a batch: `undefined`/`null` is an empty batch, any iterable is
 * taken as is, anything else is a clear error. For extension packages.
 */
export function batchItems<T>(value: Iterable<T> | null | undefined, owner: object, step = "prep"): Iterable<T> {
  if (value === undefined || value === null) return [];
  if (typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function") return value;
  const shown = typeof value === "object" ? Object.prototype.toString.call(value) : JSON.stringify(value);
  throw new TypeError(
    `${nodeName(owner)}.${step} returned ${shown}, which is not iterable: ` +
      "return an array (or any iterable) of items, or undefined for an empty batch",
  );
}

/**
 * Per-item retry state for parallel batches. `AsyncLocalStorage` slows every
 * promise in the process while enabled, so it is only enabled while a
 * parallel batch whose items can retry (`maxRetries > 1`) is running.
 */
interface RetryScope {
  readonly node: object;
  attempt: number;
}
let retryStore: AsyncLocalStorage<RetryScope> | undefined;
let retryScopeUsers = 0;

function openRetryScopes(): () => void {
  retryStore ??= new AsyncLocalStorage<RetryScope>();
  retryScopeUsers++;
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    if (--retryScopeUsers === 0) retryStore?.disable();
  };
}

// ---------------------------------------------------------------------------
// Run tracing: the `pocketflow:run` channel
// ---------------------------------------------------------------------------

/** What every `pocketflow:run` message says about the run. */
export interface RunInfo {
  /** Unique in this process, increasing. */
  readonly runId: number;
  /** The run of the flow this node runs in (`undefined`: a top-level run). */
  readonly parentRunId: number | undefined;
  /** The node's class name. */
  readonly node: string;
  /** A flow (it runs other nodes) or a node. */
  readonly kind: "node" | "flow";
}

/** A node or flow run starts. */
export interface RunStartMessage extends RunInfo {
  readonly event: "start";
}

/** A node or flow run ends. Carries no shared-store content and no error text. */
export interface RunEndMessage extends RunInfo {
  readonly event: "end";
  /** `aborted`: the run's signal aborted (or timed out); `error`: anything else it threw. */
  readonly outcome: "success" | "error" | "aborted";
  /** The action `post` returned (`undefined`: "default", or the run failed). */
  readonly action: Action | undefined;
  /** Wall time of the run, prep to post. */
  readonly durationMs: number;
  /** Items the run went through, when it is a batch (`undefined` otherwise). */
  readonly items: number | undefined;
  /** The thrown error's `name` (`undefined` on success). */
  readonly errorName: string | undefined;
}

/** One message of the `pocketflow:run` channel. */
export type RunMessage = RunStartMessage | RunEndMessage;

/** The `node:diagnostics_channel` name of node and flow runs. */
export const RUN_CHANNEL = "pocketflow:run";
const runChannel = channel(RUN_CHANNEL);
let lastRunId = 0;

/**
 * The run a node is in while a `pocketflow:run` subscriber listens (set on
 * the node, or the copy a flow made, as the run starts). Runtime hook, for
 * extension packages: they tag their own messages with `runId` and count `items`.
 */
export interface RunTrace {
  readonly runId: number;
  items: number | undefined;
}

interface Started {
  readonly node: TracedNode;
  readonly info: RunInfo;
  readonly trace: RunTrace;
  readonly at: number;
}

function startTrace(node: TracedNode, parent: TracedNode | undefined): Started {
  const trace: RunTrace = { runId: ++lastRunId, items: undefined };
  node._trace = trace;
  const info: RunInfo = {
    runId: trace.runId,
    parentRunId: parent?._trace?.runId,
    node: nodeName(node),
    kind: "startNode" in node ? "flow" : "node",
  };
  runChannel.publish({ event: "start", ...info } satisfies RunStartMessage);
  return { node, info, trace, at: performance.now() };
}

function endTrace(started: Started, action: Action | undefined, failure?: { error: unknown }): void {
  if (started.node._trace === started.trace) started.node._trace = undefined; // a later untraced run must not reuse it
  const error = failure?.error;
  const name = failure === undefined ? undefined : error instanceof Error ? error.name : typeof error;
  const message: RunEndMessage = {
    event: "end",
    ...started.info,
    outcome: name === undefined ? "success" : name === "AbortError" || name === "TimeoutError" ? "aborted" : "error",
    action,
    durationMs: performance.now() - started.at,
    items: started.trace.items,
    errorName: name,
  };
  runChannel.publish(message);
}

interface TracedNode {
  _trace?: RunTrace | undefined;
}

/** Runs `work` as a traced run of `node` (called only while someone subscribes). */
function tracedSync(node: TracedNode, parent: TracedNode | undefined, work: () => Action | undefined): Action | undefined {
  const started = startTrace(node, parent);
  let action: Action | undefined;
  try {
    action = work();
  } catch (error) {
    endTrace(started, undefined, { error });
    throw error;
  }
  endTrace(started, action);
  return action;
}

async function tracedAsync(node: TracedNode, parent: TracedNode | undefined, work: () => Promise<Action | undefined>): Promise<Action | undefined> {
  const started = startTrace(node, parent);
  let action: Action | undefined;
  try {
    action = await work();
  } catch (error) {
    endTrace(started, undefined, { error });
    throw error;
  }
  endTrace(started, action);
  return action;
}

// ---------------------------------------------------------------------------
// 2. Sync nodes
// ---------------------------------------------------------------------------

/**
 * The smallest unit of a flow: `prep` reads the shared store, `exec` computes,
 * `post` writes back and returns the action that picks the next node.
 *
 * Type parameters: `S` shared store, `P` what `prep` returns, `E` what the
 * node's exec step produces; `I`/`R` are what `exec` itself takes and returns
 * (the same as `P`/`E` except in batch nodes, where `exec` sees one item).
 *
 * @example
 * type Shared = { name: string; out?: string };
 * class Greet extends Node<Shared, string, string> {
 *   prep(shared: Shared) { return shared.name; }
 *   exec(name: string) { return `hello ${name}`; }
 *   post(shared: Shared, _p: string, out: string) { shared.out = out; return undefined; }
 * }
 */
export class BaseNode<S = unknown, P = unknown, E = unknown, I = P, R = E> {
  /** Parameters set by the flow running this node. */
  params: Params = {};
  /** Action name -> next node. */
  successors: Map<Action, AnyNode<S>> = new Map();
  /** The run this node is in, while runs are traced (see `RunTrace`). Runtime hook, for extension packages. */
  declare _trace?: RunTrace | undefined;

  /** Replaces this node's params. */
  setParams(params: Params): void {
    this.params = params;
  }

  /** Sets the successor for `action` (default `"default"`) and returns it, so chains read left to right. */
  next<T extends AnyNode<S>>(node: T, action: Action = DEFAULT_ACTION): T {
    if (this.successors.has(action)) warn(`overwriting successor for action '${action}'`);
    this.successors.set(action, node);
    return node;
  }

  /** Sets the successor for `action` and returns this node, so branches chain: `a.on("yes", b).on("no", c)`. */
  on(action: Action, node: AnyNode<S>): this {
    this.next(node, action);
    return this;
  }

  /** Reads what the node needs from the shared store. */
  prep(_shared: S): P {
    return undefined as P;
  }

  /** Does the work; must not touch the shared store. */
  exec(_prepRes: I): R {
    return undefined as R;
  }

  /** Writes results back and returns the next action (`undefined` means `"default"`). */
  post(_shared: S, _prepRes: P, _execRes: E): Action | undefined {
    return undefined;
  }

  /** Runtime hook, for node and flow classes of extension packages (not application code). */
  _exec(prepRes: P): E {
    return this.exec(prepRes as unknown as I) as unknown as E;
  }

  /** Runtime hook, for node and flow classes of extension packages (not application code). */
  _run(shared: S): Action | undefined {
    const p = this.prep(shared);
    const e = this._exec(p);
    return this.post(shared, p, e);
  }

  /** Runs this node alone (successors need a flow). */
  run(shared: S): Action | undefined {
    if (this.successors.size > 0) warn(`${nodeName(this)} won't run its successors: use a Flow`);
    return runChannel.hasSubscribers ? tracedSync(this, undefined, () => this._run(shared)) : this._run(shared);
  }

  /** A shallow copy, as a flow makes before running a node (Python's `copy.copy`). Runtime hook, for node and flow classes of extension packages (not application code). */
  _copy(): this {
    return Object.assign(Object.create(Object.getPrototypeOf(this)) as this, this);
  }
}

/**
 * A node with retries: `exec` runs up to `maxRetries` times, `wait` seconds
 * apart, then `execFallback` decides (the default rethrows).
 */
export class Node<S = unknown, P = unknown, E = unknown, I = P, R = E> extends BaseNode<S, P, E, I, R> {
  maxRetries: number;
  wait: number;
  /** @internal */
  _curRetry = 0;

  constructor(options: NodeOptions = {}) {
    super();
    const { maxRetries = 1, wait = 0 } = options;
    if (!Number.isInteger(maxRetries) || maxRetries < 1) {
      throw new RangeError(`maxRetries must be an integer >= 1, got ${String(maxRetries)}`);
    }
    if (typeof wait !== "number" || !(wait >= 0)) {
      throw new RangeError(`wait must be a number of seconds >= 0, got ${String(wait)}`);
    }
    this.maxRetries = maxRetries;
    this.wait = wait;
  }

  /** The attempt (0-based) of the item whose `exec` is running; per item even in parallel batches. */
  get curRetry(): number {
    const scope = retryStore?.getStore();
    return scope !== undefined && scope.node === this ? scope.attempt : this._curRetry;
  }
  set curRetry(attempt: number) {
    const scope = retryStore?.getStore();
    if (scope !== undefined && scope.node === this) scope.attempt = attempt;
    else this._curRetry = attempt;
  }

  /** Called with the last error once every attempt failed; the default rethrows it. */
  execFallback(_prepRes: I, error: unknown): R {
    throw error;
  }

  /** One item through the retry loop. Runtime hook, for node and flow classes of extension packages (not application code). */
  _execOne(item: I): R {
    for (let attempt = 0; ; attempt++) {
      this.curRetry = attempt;
      try {
        return this.exec(item);
      } catch (error) {
        if (attempt >= this.maxRetries - 1) return this.execFallback(item, error);
        if (this.wait > 0) sleepSync(this.wait * 1000);
      }
    }
  }

  override _exec(prepRes: P): E {
    return this._execOne(prepRes as unknown as I) as unknown as E;
  }
}

/** `exec` runs once per item of what `prep` returns; `post` gets the results in order. */
export class BatchNode<S = unknown, Item = unknown, Result = unknown> extends Node<
  S,
  Iterable<Item> | null | undefined,
  Result[],
  Item,
  Result
> {
  override _exec(items: Iterable<Item> | null | undefined): Result[] {
    const results: Result[] = [];
    for (const item of batchItems(items, this)) results.push(this._execOne(item));
    return results;
  }
}

// ---------------------------------------------------------------------------
// 3. Sync flows
// ---------------------------------------------------------------------------

/** The successor of `node` for `action`, warning when the flow ends on an unknown action. */
function nextNode<S>(node: AnyNode<S>, action: Action | undefined): AnyNode<S> | undefined {
  const found = node.successors.get(action ?? DEFAULT_ACTION);
  if (!found && node.successors.size > 0) {
    warn(`flow ends: action '${String(action ?? DEFAULT_ACTION)}' not found in [${[...node.successors.keys()].join(", ")}]`);
  }
  return found;
}

function missingStart(flow: object): Error {
  return new Error(`${nodeName(flow)} has no start node: pass one to the constructor or call flow.start(node)`);
}

/**
 * Runs nodes from `start`, following the action each `post` returns. A flow
 * is a node itself, so flows nest. Each node is shallow-copied before it runs.
 *
 * @example
 * const flow = new Flow(load);
 * load.next(summarize).next(save);
 * flow.run(shared);
 */
export class Flow<S = unknown, P = unknown> extends BaseNode<S, P, Action | undefined> {
  startNode: AnyNode<S> | undefined;

  constructor(start?: AnyNode<S>) {
    super();
    // biome-ignore lint/complexity/noArguments: the count of what plain JavaScript passed, beyond the signature
    rejectExtraArguments(this, arguments.length, arguments[1]);
    this.startNode = start;
  }

  /** Sets the start node and returns it. */
  start<T extends AnyNode<S>>(node: T): T {
    this.startNode = node;
    return node;
  }

  /** Runtime hook, for node and flow classes of extension packages (not application code). */
  _orch(shared: S, params?: Params): Action | undefined {
    if (!this.startNode) throw missingStart(this);
    const p = params ?? { ...this.params };
    let current: AnyNode<S> | undefined = this.startNode._copy();
    let lastAction: Action | undefined;
    while (current) {
      if (current instanceof AsyncNode) {
        throw new TypeError(
          `${nodeName(this)} is a sync Flow and cannot run the async node ${nodeName(current)}: use AsyncFlow and runAsync`,
        );
      }
      current.setParams(p);
      const node: AnyNode<S> = current;
      lastAction = runChannel.hasSubscribers ? tracedSync(node, this, () => node._run(shared)) : node._run(shared);
      current = nextNode(current, lastAction)?._copy();
    }
    return lastAction;
  }

  override _run(shared: S): Action | undefined {
    const p = this.prep(shared);
    const o = this._orch(shared);
    return this.post(shared, p, o);
  }

  /** Returns the last action, so a flow nested in another flow transitions on it. */
  override post(_shared: S, _prepRes: P, execRes: Action | undefined): Action | undefined {
    return execRes;
  }
}

/** Runs the whole flow once per params object that `prep` returns, merged over the flow's params. */
export class BatchFlow<S = unknown> extends Flow<S, Iterable<Params> | null | undefined> {
  override _run(shared: S): Action | undefined {
    const batch = this.prep(shared);
    for (const bp of batchItems(batch, this)) this._orch(shared, { ...this.params, ...bp });
    return this.post(shared, batch, undefined);
  }
}

// ---------------------------------------------------------------------------
// 4. Async nodes
// ---------------------------------------------------------------------------

/**
 * A node whose steps are async: `prepAsync`, `execAsync`, `postAsync`,
 * `execFallbackAsync`, run with `runAsync(shared, { signal })`.
 *
 * @example
 * type Shared = { text: string; summary?: string };
 * class Summarize extends AsyncNode<Shared, string, string> {
 *   async prepAsync(shared: Shared) { return shared.text; }
 *   async execAsync(text: string) { return callLlm(`Summarize: ${text}`); }
 *   async postAsync(shared: Shared, _p: string, summary: string) { shared.summary = summary; return undefined; }
 * }
 */
export class AsyncNode<S = unknown, P = unknown, E = unknown, I = P, R = E> extends Node<S, P, E, I, R> {
  async prepAsync(_shared: S): Promise<P> {
    return undefined as P;
  }

  async execAsync(_prepRes: I): Promise<R> {
    return undefined as R;
  }

  async execFallbackAsync(_prepRes: I, error: unknown): Promise<R> {
    throw error;
  }

  async postAsync(_shared: S, _prepRes: P, _execRes: E): Promise<Action | undefined> {
    return undefined;
  }

  /** One item through the async retry loop; waits are abortable. Runtime hook, for node and flow classes of extension packages (not application code). */
  async _execOneAsync(item: I, signal?: AbortSignal): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      this.curRetry = attempt;
      try {
        return await this.execAsync(item);
      } catch (error) {
        if (attempt >= this.maxRetries - 1) return await this.execFallbackAsync(item, error);
        if (this.wait > 0) await sleep(this.wait * 1000, signal);
        signal?.throwIfAborted();
      }
    }
  }

  /** Opens per-item retry scopes for a parallel batch; call the returned function when it settles. Runtime hook, for node and flow classes of extension packages (not application code). */
  _openRetryScopes(): (() => void) | undefined {
    return this.maxRetries > 1 ? openRetryScopes() : undefined;
  }

  /** Runs `work` with its own `curRetry` counter, for items that run side by side. Runtime hook, for node and flow classes of extension packages (not application code). */
  _scoped<T>(work: () => Promise<T>): Promise<T> {
    if (this.maxRetries > 1 && retryStore) return retryStore.run({ node: this, attempt: 0 }, work);
    return work();
  }

  /** Runtime hook, for node and flow classes of extension packages (not application code). */
  async _execAsync(prepRes: P, signal?: AbortSignal): Promise<E> {
    return (await this._execOneAsync(prepRes as unknown as I, signal)) as unknown as E;
  }

  /** Runtime hook, for node and flow classes of extension packages (not application code). */
  async _runAsync(shared: S, signal?: AbortSignal): Promise<Action | undefined> {
    const p = await this.prepAsync(shared);
    signal?.throwIfAborted();
    const e = await this._execAsync(p, signal);
    signal?.throwIfAborted();
    return await this.postAsync(shared, p, e);
  }

  /** Runs this node alone; aborting `signal` rejects promptly with `signal.reason`. */
  async runAsync(shared: S, options: RunOptions = {}): Promise<Action | undefined> {
    if (this.successors.size > 0) warn(`${nodeName(this)} won't run its successors: use an AsyncFlow`);
    if (runChannel.hasSubscribers) return tracedAsync(this, undefined, () => raceAbort(options.signal, (inner) => this._runAsync(shared, inner)));
    return raceAbort(options.signal, (inner) => this._runAsync(shared, inner));
  }

  override _run(_shared: S): Action | undefined {
    throw new TypeError(`${nodeName(this)} is async: use runAsync (and AsyncFlow to run it in a flow)`);
  }
}

/** `execAsync` runs once per item, one after another. */
export class AsyncBatchNode<S = unknown, Item = unknown, Result = unknown> extends AsyncNode<
  S,
  Iterable<Item> | null | undefined,
  Result[],
  Item,
  Result
> {
  override async _execAsync(items: Iterable<Item> | null | undefined, signal?: AbortSignal): Promise<Result[]> {
    const results: Result[] = [];
    for (const item of batchItems(items, this, "prepAsync")) {
      signal?.throwIfAborted();
      results.push(await this._execOneAsync(item, signal));
    }
    return results;
  }
}

/**
 * `execAsync` runs for every item at once, on this same node object; results
 * come back in input order and the first error rejects with that error.
 */
export class AsyncParallelBatchNode<S = unknown, Item = unknown, Result = unknown> extends AsyncNode<
  S,
  Iterable<Item> | null | undefined,
  Result[],
  Item,
  Result
> {
  override async _execAsync(items: Iterable<Item> | null | undefined, signal?: AbortSignal): Promise<Result[]> {
    const list = batchItems(items, this, "prepAsync");
    const close = this._openRetryScopes();
    let running: Promise<Result>[];
    try {
      running = startAll(list, (item) => this._scoped(() => this._execOneAsync(item, signal)));
    } catch (error) {
      close?.();
      throw error;
    }
    if (close) Promise.allSettled(running).then(close);
    return Promise.all(running);
  }
}

// ---------------------------------------------------------------------------
// 5. Async flows
// ---------------------------------------------------------------------------

/**
 * A flow that runs async and sync nodes; run it with `runAsync(shared, { signal })`.
 *
 * @example
 * const flow = new AsyncFlow(fetchPage);
 * fetchPage.next(summarize).on("retry", fetchPage);
 * await flow.runAsync(shared, { signal: AbortSignal.timeout(30_000) });
 */
export class AsyncFlow<S = unknown, P = unknown, E = Action | undefined> extends AsyncNode<S, P, E> {
  startNode: AnyNode<S> | undefined;

  constructor(start?: AnyNode<S>) {
    super();
    // biome-ignore lint/complexity/noArguments: the count of what plain JavaScript passed, beyond the signature
    rejectExtraArguments(this, arguments.length, arguments[1]);
    this.startNode = start;
  }

  /** Sets the start node and returns it. */
  start<T extends AnyNode<S>>(node: T): T {
    this.startNode = node;
    return node;
  }

  /** Runtime hook, for node and flow classes of extension packages (not application code). */
  async _orchAsync(shared: S, params?: Params, signal?: AbortSignal): Promise<Action | undefined> {
    if (!this.startNode) throw missingStart(this);
    const p = params ?? { ...this.params };
    let current: AnyNode<S> | undefined = this.startNode._copy();
    let lastAction: Action | undefined;
    while (current) {
      signal?.throwIfAborted();
      current.setParams(p);
      if (runChannel.hasSubscribers) {
        const node: AnyNode<S> = current;
        const work = node instanceof AsyncNode ? () => node._runAsync(shared, signal) : async () => node._run(shared);
        lastAction = await tracedAsync(node, this, work);
      } else {
        lastAction = current instanceof AsyncNode ? await current._runAsync(shared, signal) : current._run(shared);
      }
      current = nextNode(current, lastAction)?._copy();
    }
    return lastAction;
  }

  override async _runAsync(shared: S, signal?: AbortSignal): Promise<Action | undefined> {
    const p = await this.prepAsync(shared);
    signal?.throwIfAborted();
    const o = await this._orchAsync(shared, undefined, signal);
    signal?.throwIfAborted();
    return await this.postAsync(shared, p, o as E);
  }

  /** Returns the last action, so flows nest. */
  override async postAsync(_shared: S, _prepRes: P, execRes: E): Promise<Action | undefined> {
    return execRes as Action | undefined;
  }
}

/** Runs the flow once per params object from `prepAsync`, one after another. */
export class AsyncBatchFlow<S = unknown> extends AsyncFlow<S, Iterable<Params> | null | undefined> {
  override async _runAsync(shared: S, signal?: AbortSignal): Promise<Action | undefined> {
    const batch = await this.prepAsync(shared);
    for (const bp of batchItems(batch, this, "prepAsync")) {
      signal?.throwIfAborted();
      await this._orchAsync(shared, { ...this.params, ...bp }, signal);
    }
    signal?.throwIfAborted();
    return await this.postAsync(shared, batch, undefined);
  }
}

/** Runs the flow once per params object from `prepAsync`, all at once. */
export class AsyncParallelBatchFlow<S = unknown, E = Action | undefined> extends AsyncFlow<
  S,
  Iterable<Params> | null | undefined,
  E
> {
  override async _runAsync(shared: S, signal?: AbortSignal): Promise<Action | undefined> {
    const batch = await this.prepAsync(shared);
    const runs = startAll(batchItems(batch, this, "prepAsync"), (bp) =>
      this._orchAsync(shared, { ...this.params, ...bp }, signal),
    );
    await Promise.all(runs);
    signal?.throwIfAborted();
    return await this.postAsync(shared, batch, undefined as E);
  }
}
