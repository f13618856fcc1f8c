/**
 * noex-effect/promise: the guide's API with Promises, for code written against the
 * noex library. `Cluster.start`, `BehaviorRegistry.register`, `RemoteSpawn.spawn`,
 * `RemoteCall.call/cast`, `GlobalRegistry.*`, `GenServer._getRefById` and the error
 * classes behave as the guide describes; behind them runs the Effect implementation in
 * a `ManagedRuntime`. Errors are thrown as the library's error classes, so `instanceof`
 * works. `Supervisor`, `DistributedSupervisor`, `ProcessGroups` and
 * `GlobalRegistry.registerOrWhereis` are the Effect API's, with Promises: durations in
 * milliseconds, `undefined` for an absent ref, event streams as callbacks that return
 * an unsubscribe function (as `Cluster.onNodeUp`).
 *
 * Like noex, the module-level functions drive one node per process. `createNode()`
 * gives an independent instance for programs (and tests) that want several.
 */
import { Cause, Clock, Duration, Effect, Exit, Layer, ManagedRuntime, Option } from "effect"
import type { Schema } from "effect"
import * as BehaviorRegistryModule from "./BehaviorRegistry.js"
import * as ClusterModule from "./cluster/Cluster.js"
import type { ClusterConfig, NodeDownReason, NodeInfo } from "./cluster/Cluster.js"
import type {
  ChildEvent,
  ChildSpec as DistributedChildSpec,
  Options as DistributedSupervisorOptions,
  Restart as DistributedRestart
} from "./DistributedSupervisor.js"
import * as GenServerModule from "./GenServer.js"
import type { ExitReason, GenServerBehavior, StartOptions, TypedRequest } from "./GenServer.js"
import * as GlobalRegistryModule from "./GlobalRegistry.js"
import { asRef, makeDriver } from "./internal/promise/driver.js"
import { makeFailures } from "./internal/promise/failures.js"
import { makeProcessGroups } from "./internal/promise/groups.js"
import { stopOnSignals, upInfo } from "./internal/promise/lifecycle.js"
import { makeDistributedSupervisor, makeSupervisor } from "./internal/promise/supervision.js"
import * as RuntimeInternal from "./internal/runtime.js"
import * as TcpTransport from "./node/TcpTransport.js"
import type { NodeId } from "./NodeId.js"
import type { GroupEvent, ScopeOptions as ProcessGroupsScopeOptions } from "./ProcessGroups.js"
import * as RemoteCallModule from "./RemoteCall.js"
import * as RemoteSpawnModule from "./RemoteSpawn.js"
import type { SpawnOptions } from "./RemoteSpawn.js"
import type { SerializedRef, ServerRef, SpawnResult } from "./ServerRef.js"
import type {
  ChildCounts as SupervisorChildCounts,
  ChildStatus as SupervisorChildStatus,
  RestartType as SupervisorRestartType,
  Strategy as SupervisorStrategy,
  SupervisorSpec
} from "./Supervisor.js"

export { BehaviorRegistrationError } from "./BehaviorRegistry.js"
export type { AwaitNodesOptions as ClusterAwaitNodesOptions, NodeDownReason, NodeInfo } from "./cluster/Cluster.js"
export * from "./errors.js"
export type { ExitReason, GenServerBehavior } from "./GenServer.js"
export type { NodeId } from "./NodeId.js"
export type { SpawnOptions as RemoteSpawnOptions } from "./RemoteSpawn.js"
export type { SerializedRef, ServerRef, SpawnResult } from "./ServerRef.js"
export {
  BackoffExhaustedError,
  ChildAlreadyExistsError,
  ChildNotFoundError,
  ChildRunningError,
  MaxRestartIntensityError,
  SupervisorStartError
} from "./Supervisor.js"
export type { SupervisorChildCounts, SupervisorChildStatus, SupervisorRestartType, SupervisorSpec, SupervisorStrategy }
export {
  ChildAlreadyStartedError,
  /** The distributed supervisor's own `ChildNotFoundError` (the local supervisor's has the plain name). */
  ChildNotFoundError as DistributedChildNotFoundError,
  ChildStartError,
  DistributedSupervisorNotFoundError
} from "./DistributedSupervisor.js"
/** `DistributedSupervisor.start`'s options, as the Effect API takes them (a number is milliseconds). */
export type { ChildEvent, DistributedChildSpec, DistributedRestart, DistributedSupervisorOptions }
export type { GroupEvent, ProcessGroupsScopeOptions }

/** What a call resolves to: a typed request's declared reply, or the `T` the caller names. */
export type ReplyOf<M, T> = 0 extends 1 & M ? T : [M] extends [TypedRequest] ? Schema.WithResult.Success<M> : T
export { TransportError } from "./transport/Transport.js"

type Services = ClusterModule.ClusterServices

/** Thrown when the facade is used before `Cluster.start()` or after `Cluster.stop()`. */
export class ClusterNotStartedError extends Error {
  override readonly name = "ClusterNotStartedError"
  constructor() {
    super("the cluster is not started: call Cluster.start() first")
  }
}

/** Thrown by `Cluster.start()` on a node that is started or starting. */
export class ClusterAlreadyStartedError extends Error {
  override readonly name = "ClusterAlreadyStartedError"
  constructor() {
    super("the cluster is already started: call Cluster.stop() first")
  }
}

/** The facade's `Cluster.start` options: every `Cluster.layer` option, plus signal handling. */
export type PromiseStartOptions = ClusterConfig & {
  /**
   * On SIGINT or SIGTERM, stop the node gracefully (peers see `graceful_shutdown`), then
   * exit with code 0 unless another listener of that signal remains to handle it.
   * Default `true`; `false` leaves signals to the program.
   */
  readonly handleSignals?: boolean | undefined
}

/** What `Cluster.awaitNodes` waits for; `timeout` in milliseconds, as every facade timeout. */
export interface PromiseAwaitNodesOptions {
  readonly count?: number
  readonly ids?: ReadonlyArray<NodeId | string>
  /** Default 30 000 ms. */
  readonly timeout?: number
}

/** One node driven through Promises. */
export interface PromiseNode {
  readonly Cluster: {
    start(config: PromiseStartOptions): Promise<void>
    stop(): Promise<void>
    getConnectedNodes(): Array<NodeInfo>
    getLocalNodeId(): NodeId
    isNodeConnected(nodeId: NodeId): boolean
    /** Resolves with the connected nodes once `count` others and every one of `ids` are connected (default one). */
    awaitNodes(options?: PromiseAwaitNodesOptions): Promise<Array<NodeInfo>>
    /** Calls `handler` with the `NodeInfo` of each node that comes up, as noex does. */
    onNodeUp(handler: (node: NodeInfo) => void | Promise<void>): () => void
    onNodeDown(handler: (nodeId: NodeId, reason: NodeDownReason) => void | Promise<void>): () => void
  }
  readonly BehaviorRegistry: {
    register(name: string, behavior: GenServerBehavior<any, any, any, any, never>): void
    getNames(): Array<string>
    has(name: string): boolean
  }
  readonly RemoteSpawn: {
    spawn(behaviorName: string, nodeId: NodeId | string, options?: SpawnOptions): Promise<SpawnResult>
  }
  readonly RemoteCall: {
    /** A typed request (`Schema.TaggedRequest`) resolves to its declared reply and rejects with its declared errors. */
    call<T = unknown, const M = unknown>(
      ref: SerializedRef | { id: string; nodeId: string },
      msg: M,
      options?: { timeout?: number }
    ): Promise<ReplyOf<M, T>>
    cast(ref: SerializedRef | { id: string; nodeId: string }, msg: unknown): void
  }
  readonly GlobalRegistry: {
    whereis(name: string): ServerRef | undefined
    isRegistered(name: string): boolean
    register(name: string, ref: SerializedRef | { id: string; nodeId: string }): Promise<void>
    unregister(name: string): Promise<void>
    getNames(): Array<string>
    /**
     * The process registered under `name`, or, when there is none, the one `start` makes,
     * registered: a cluster lock lets one contender at a time run `start`, so while the
     * contenders see the same members exactly one starts it. What `start` rejects with is
     * what this rejects with.
     */
    registerOrWhereis(
      name: string,
      start: () => Promise<SerializedRef | { id: string; nodeId: string }>
    ): Promise<ServerRef>
  }
  /** OTP's `supervisor` (docs/supervision.md): a process that starts, watches and restarts its children. */
  readonly Supervisor: {
    start(options: PromiseSupervisorOptions): Promise<ServerRef>
    /** Starts a new child and keeps its spec; a supervisor on another node takes behavior names only. */
    startChild(supervisor: ServerRef, spec: PromiseChildSpec, options?: PromiseCallOptions): Promise<ServerRef>
    terminateChild(supervisor: ServerRef, id: string, options?: PromiseCallOptions): Promise<void>
    restartChild(supervisor: ServerRef, id: string, options?: PromiseCallOptions): Promise<ServerRef>
    deleteChild(supervisor: ServerRef, id: string, options?: PromiseCallOptions): Promise<void>
    whichChildren(supervisor: ServerRef, options?: PromiseCallOptions): Promise<Array<PromiseChildInfo>>
    countChildren(supervisor: ServerRef, options?: PromiseCallOptions): Promise<SupervisorChildCounts>
    /** A nested supervisor, as a child's `start`. */
    spec(options: PromiseSupervisorOptions): SupervisorSpec
    /** A child spec that starts a nested supervisor. */
    child(
      id: string,
      options: PromiseSupervisorOptions,
      extra?: Pick<PromiseChildSpec, "restart" | "shutdown" | "name">
    ): PromiseChildSpec
  }
  /** Children spread over the nodes that run the supervisor, each found by its id wherever it runs now. */
  readonly DistributedSupervisor: {
    /** Runs supervisor `name` on this node until the handle, or the node, stops it. */
    start(name: string, options?: DistributedSupervisorOptions): Promise<DistributedSupervisorHandle>
    startChild(name: string, spec: DistributedChildSpec): Promise<ServerRef>
    terminateChild(name: string, id: string): Promise<void>
    whereis(name: string, id: string): Promise<ServerRef | undefined>
    /** Calls child `id` wherever it runs; a child that is moving is waited for within the timeout. */
    call<T = unknown, const M = unknown>(
      name: string,
      id: string,
      msg: M,
      options?: { timeout?: number }
    ): Promise<ReplyOf<M, T>>
    whichChildren(name: string): Promise<Array<PromiseDistributedChildInfo>>
    countChildren(name: string): Promise<{ specs: number; active: number }>
    members(name: string): Promise<Array<NodeId>>
    /** Calls `handler` with each child event this node sees; throws `DistributedSupervisorNotFoundError` at once. */
    events(name: string, handler: (event: ChildEvent) => void | Promise<void>): () => void
  }
  /** Erlang's `pg`: named groups of processes across the cluster, in scopes (default `"default"`). */
  readonly ProcessGroups: {
    join(group: string, refs: ServerRef | ReadonlyArray<ServerRef>, options?: ProcessGroupsScopeOptions): Promise<void>
    leave(group: string, refs: ServerRef | ReadonlyArray<ServerRef>, options?: ProcessGroupsScopeOptions): Promise<void>
    members(group: string, options?: ProcessGroupsScopeOptions): Promise<Array<ServerRef>>
    localMembers(group: string, options?: ProcessGroupsScopeOptions): Promise<Array<ServerRef>>
    whichGroups(options?: ProcessGroupsScopeOptions): Promise<Array<string>>
    /** Calls `handler` with each `Joined` / `Left` of the scope from now on (the Effect API's `subscribe` / `changes`). */
    subscribe(handler: (event: GroupEvent) => void | Promise<void>, options?: ProcessGroupsScopeOptions): () => void
  }
  /**
   * noex's `RemoteMonitor` (docs/failures.md): `monitoringRef`, a process of this node,
   * receives the monitored process's `Down` in its `handleInfo`. A monitor needs no answer
   * from the other node, so it resolves at once (noex's `timeout` option has nothing to wait for).
   */
  readonly RemoteMonitor: {
    monitor(monitoringRef: ServerRef, monitoredRef: ServerRef, options?: { timeout?: number }): Promise<MonitorRef>
    demonitor(monitorRef: MonitorRef): Promise<void>
  }
  /** noex's `RemoteLink`: the two processes share a fate (docs/failures.md). */
  readonly RemoteLink: {
    link(localRef: ServerRef, remoteRef: ServerRef, options?: { timeout?: number }): Promise<LinkRef>
    unlink(linkRef: LinkRef): Promise<void>
  }
  readonly GenServer: {
    start<S, C, Ca, R>(behavior: GenServerBehavior<S, C, Ca, R, never>, options?: StartOptions): Promise<ServerRef>
    /** As {@link PromiseNode.RemoteMonitor}, for local and remote refs alike (noex's `GenServer.monitor`). */
    monitor(monitoringRef: ServerRef, monitoredRef: ServerRef): Promise<MonitorRef>
    demonitor(monitorRef: MonitorRef): Promise<void>
    /** As {@link PromiseNode.RemoteLink}, for local and remote refs alike. */
    link(ref1: ServerRef, ref2: ServerRef): Promise<LinkRef>
    unlink(linkRef: LinkRef): Promise<void>
    /** Sends an info message to a process's `handleInfo`. */
    send(ref: ServerRef, msg: unknown): void
    call<T = unknown, const M = unknown>(ref: ServerRef, msg: M, options?: { timeout?: number }): Promise<ReplyOf<M, T>>
    cast(ref: ServerRef, msg: unknown): void
    stop(ref: ServerRef, reason?: ExitReason): Promise<void>
    /** The ref of a process running on this node, by id or local name (the guide's smart-call helper uses it). */
    _getRefById(id: string): ServerRef | undefined
  }
}

/** A monitor, as noex names it: its id and the process it watches. */
export interface MonitorRef {
  readonly monitorId: number
  readonly monitoredRef: ServerRef
}

/** A link, as noex names it. */
export interface LinkRef {
  readonly linkId: string
  readonly ref1: ServerRef
  readonly ref2: ServerRef
}

/** The facade's management-call options: `timeout` in milliseconds (default: none, as OTP's). */
export interface PromiseCallOptions {
  readonly timeout?: number | undefined
}

/**
 * A supervisor's restart delays, in milliseconds: `initial`, then each `factor` (default 2)
 * times the one before, at most `max`. After `retries` delayed restarts of one child (its
 * delays start over once it stayed up for `period`), the supervisor gives up with
 * `BackoffExhaustedError`. The Effect API's `backoff: Schedule` built from numbers.
 */
export interface SupervisorBackoff {
  readonly initial: number
  readonly factor?: number | undefined
  readonly max?: number | undefined
  readonly retries?: number | undefined
}

/** What `Supervisor.start` builds a supervisor from (the Effect API's `SupervisorOptions`, durations in ms). */
export interface PromiseSupervisorOptions {
  readonly strategy: SupervisorStrategy
  /** Restarts allowed within `period` (default 3); one more and the supervisor exits. */
  readonly maxRestarts?: number | undefined
  /** The window restarts are counted in, in ms (default 5000). */
  readonly period?: number | undefined
  /** Started in order, stopped in reverse order. */
  readonly children?: ReadonlyArray<PromiseChildSpec> | undefined
  /** Registers the supervisor on this node under this name. */
  readonly name?: string | undefined
  readonly backoff?: SupervisorBackoff | undefined
}

/**
 * How a supervisor starts one child: a behavior, the name of a behavior in this node's
 * `BehaviorRegistry` (or in `node`'s: then it is spawned there), or a nested supervisor
 * (`Supervisor.spec(options)`).
 */
export interface PromiseChildSpec {
  /** Unique among the supervisor's children. */
  readonly id: string
  readonly start: GenServerBehavior<any, any, any, any, never> | string | SupervisorSpec
  readonly args?: ReadonlyArray<unknown> | undefined
  /** Default `permanent`. */
  readonly restart?: SupervisorRestartType | undefined
  /** How long its `terminate` may take when the supervisor stops it, in ms (default 5000; a supervisor: no bound). */
  readonly shutdown?: number | undefined
  /** The node it runs on (default this one); only for a behavior name. */
  readonly node?: NodeId | string | undefined
  readonly name?: string | undefined
}

/** One child as `Supervisor.whichChildren` reports it; `ref` is `undefined` while it does not run. */
export interface PromiseChildInfo {
  readonly id: string
  readonly ref: ServerRef | undefined
  readonly restart: SupervisorRestartType
  readonly status: SupervisorChildStatus
  readonly type: "worker" | "supervisor"
}

/**
 * This node's instance of a distributed supervisor. `stop()` hands the children it runs
 * over to the other members, then stops it here (the Effect API's closing of the scope);
 * `Cluster.stop()` does so for every instance still running.
 */
export interface DistributedSupervisorHandle {
  readonly name: string
  /** The instance's process on this node. */
  readonly ref: ServerRef
  stop(): Promise<void>
}

/** A distributed child as this node sees it; `ref` is `undefined` between its node's death and its restart. */
export interface PromiseDistributedChildInfo {
  readonly id: string
  readonly ref: ServerRef | undefined
  readonly behavior: string
  readonly restart: DistributedRestart
}

/** Creates an independent node with the guide's Promise API. */
export const createNode = (): PromiseNode => {
  const pending = new Map<string, GenServerBehavior<any, any, any, any, never>>()
  let runtime: ManagedRuntime.ManagedRuntime<Services, unknown> | undefined
  let starting: Promise<void> | undefined
  let offSignals: (() => void) | undefined
  let stopping: Promise<void> | undefined

  const live = () => {
    if (runtime === undefined) throw new ClusterNotStartedError()
    return runtime
  }
  const driver = makeDriver(live, () => runtime, () => new ClusterNotStartedError())
  const { fire, run, subscribe } = driver
  const runSync = <A>(effect: Effect.Effect<A, never, Services>): A => live().runSync(effect)
  const { demonitor, link, monitor, unlink } = makeFailures(driver)

  const self: PromiseNode = {
    Cluster: {
      async start({ handleSignals = true, ...config }) {
        if (runtime !== undefined || starting !== undefined) throw new ClusterAlreadyStartedError()
        const layer = ClusterModule.layer(config).pipe(
          Layer.provide(BehaviorRegistryModule.layer(Object.fromEntries(pending))),
          Layer.provide(TcpTransport.layer)
        )
        const candidate = ManagedRuntime.make(layer)
        // A `stop()` while the node is still starting waits for it, then stops it: no node is left running unseen.
        starting = Effect.runPromiseExit(candidate.runtimeEffect).then(async (built) => {
          if (Exit.isFailure(built)) {
            await candidate.dispose()
            throw Cause.squash(built.cause)
          }
          runtime = candidate as ManagedRuntime.ManagedRuntime<Services, unknown>
          if (handleSignals) offSignals = stopOnSignals(() => self.Cluster.stop())
        })
        try {
          await starting
        } finally {
          starting = undefined
        }
      },
      async stop() {
        if (starting !== undefined) await starting.catch(() => undefined)
        // Every stop() while one is under way waits for the same shutdown: a program's own
        // signal handler that awaits stop() and then exits does not cut the shutdown short.
        if (stopping !== undefined) return stopping
        const current = runtime
        if (current === undefined) return
        driver.unsubscribeAll()
        runtime = undefined
        // What was started through the facade in a scope of its own (a distributed supervisor)
        // is closed while the node still runs: its children are handed over before it goes.
        stopping = driver.closeAll().then(() => current.dispose()).finally(() => {
          stopping = undefined
          offSignals?.()
          offSignals = undefined
        })
        return stopping
      },
      getConnectedNodes: () => Array.from(runSync(ClusterModule.getConnectedNodes)),
      getLocalNodeId: () => runSync(ClusterModule.getLocalNodeId),
      isNodeConnected: (nodeId) => runSync(ClusterModule.isNodeConnected(nodeId)),
      awaitNodes: (options = {}) =>
        run(ClusterModule.awaitNodes({
          count: options.count,
          ids: options.ids,
          timeout: options.timeout === undefined ? undefined : Duration.millis(options.timeout)
        })).then((nodes) => Array.from(nodes)),
      onNodeUp: (handler) =>
        subscribe(
          Effect.flatMap(ClusterModule.Cluster, (cluster) =>
            cluster.onNodeUp((id) =>
              Effect.flatMap(Effect.zip(cluster.getConnectedNodes, Clock.currentTimeMillis), ([nodes, now]) =>
                // A node already gone again by now is reported as it was when it came up.
                Effect.promise(async () =>
                  handler(
                    nodes.find((n) =>
                      n.id === id
                    ) ?? upInfo(id, now)
                  )
                ))
            ))
        ),
      onNodeDown: (handler) => subscribe(ClusterModule.onNodeDown((id, reason) => handler(id, reason)))
    },
    BehaviorRegistry: {
      register(name, behavior) {
        if (runtime === undefined) {
          if (name.trim().length === 0 || pending.has(name)) {
            throw new BehaviorRegistryModule.BehaviorRegistrationError({
              behaviorName: name,
              reason: name.trim().length === 0 ? "the name is empty" : "the name is already registered"
            })
          }
          pending.set(name, behavior)
          return
        }
        driver.runSync(BehaviorRegistryModule.register(name, behavior))
      },
      getNames: () => (runtime === undefined
        ? Array.from(pending.keys())
        : Array.from(runSync(BehaviorRegistryModule.getNames))),
      has: (name) => (runtime === undefined ? pending.has(name) : runSync(BehaviorRegistryModule.has(name)))
    },
    RemoteSpawn: {
      spawn: (behaviorName, nodeId, options) => run(RemoteSpawnModule.spawn(behaviorName, nodeId as NodeId, options))
    },
    RemoteCall: {
      call: (ref: { id: string; nodeId: string }, msg: unknown, options?: { timeout?: number }) =>
        run(RemoteCallModule.call(asRef(ref), msg, options)) as Promise<any>,
      cast: (ref, msg) => fire(RemoteCallModule.cast(asRef(ref), msg))
    },
    GlobalRegistry: {
      whereis: (name) => Option.getOrUndefined(runSync(GlobalRegistryModule.whereis(name))),
      isRegistered: (name) => runSync(GlobalRegistryModule.isRegistered(name)),
      register: (name, ref) => run(GlobalRegistryModule.register(name, asRef(ref))),
      unregister: (name) => run(GlobalRegistryModule.unregister(name)),
      getNames: () => Array.from(runSync(GlobalRegistryModule.getNames)),
      registerOrWhereis: (name, start) =>
        run(GlobalRegistryModule.registerOrWhereis(
          name,
          Effect.map(Effect.tryPromise({ try: () => start(), catch: (error) => error }), asRef)
        ))
    },
    Supervisor: makeSupervisor(driver),
    DistributedSupervisor: makeDistributedSupervisor(driver),
    ProcessGroups: makeProcessGroups(driver),
    RemoteMonitor: {
      monitor: (owner, ref) => monitor(owner, ref),
      demonitor: (m) => demonitor(m)
    },
    RemoteLink: {
      link: (a, b) => link(a, b),
      unlink: (l) => unlink(l)
    },
    GenServer: {
      start: (behavior, options) => run(GenServerModule.start(behavior, options)),
      monitor: (owner, ref) => monitor(owner, ref),
      demonitor: (m) => demonitor(m),
      link: (a, b) => link(a, b),
      unlink: (l) => unlink(l),
      send: (ref, msg) => fire(GenServerModule.send(asRef(ref), msg)),
      call: (ref: ServerRef, msg: unknown, options?: { timeout?: number }) =>
        run(GenServerModule.call(ref, msg, options)) as Promise<any>,
      cast: (ref, msg) => fire(GenServerModule.cast(ref, msg)),
      stop: (ref, reason) => run(GenServerModule.stop(ref, reason)),
      _getRefById: (id) =>
        runSync(
          Effect.map(GenServerModule.GenServerRuntime, (rt) => {
            const proc = RuntimeInternal.tableOf(rt)?.resolve(id)
            return proc === undefined || !proc.alive ? undefined : { id: proc.id, nodeId: rt.nodeId }
          })
        )
    }
  }
  return self
}

/** The default node of this process, as in noex. */
const node = createNode()

/** The guide's `Cluster`. */
export const Cluster = node.Cluster
/** The guide's `BehaviorRegistry`. */
export const BehaviorRegistry = node.BehaviorRegistry
/** The guide's `RemoteSpawn`. */
export const RemoteSpawn = node.RemoteSpawn
/** The guide's `RemoteCall`. */
export const RemoteCall = node.RemoteCall
/** The guide's `GlobalRegistry`. */
export const GlobalRegistry = node.GlobalRegistry
/** The guide's `GenServer`, for local and remote refs alike. */
export const GenServer = node.GenServer
/** noex's `RemoteMonitor`. */
export const RemoteMonitor = node.RemoteMonitor
/** noex's `RemoteLink`. */
export const RemoteLink = node.RemoteLink
/** OTP's `supervisor`, as the Effect API's `Supervisor`. */
export const Supervisor = node.Supervisor
/** The Effect API's `DistributedSupervisor`. */
export const DistributedSupervisor = node.DistributedSupervisor
/** Erlang's `pg`, as the Effect API's `ProcessGroups`. */
export const ProcessGroups = node.ProcessGroups
