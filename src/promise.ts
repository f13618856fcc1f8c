/**
 * noex-effect/promise: the guide's API with Promises, for code written against the
 * noex library. `Cluster.start`, `BehaviorRegistry.register`, `RemoteSpawn.spawn`,
 * `RemoteCall.call/cast`, `GlobalRegistry.*`, `GenServer._getRefById` and the error
 * classes behave as the guide describes; behind them runs the Effect implementation in
 * a `ManagedRuntime`. Errors are thrown as the library's error classes, so `instanceof`
 * works.
 *
 * Like noex, the module-level functions drive one node per process. `createNode()`
 * gives an independent instance for programs (and tests) that want several.
 */
import { Cause, Clock, Duration, Effect, Exit, Layer, ManagedRuntime, Option } from "effect"
import type { Schema } from "effect"
import * as BehaviorRegistryModule from "./BehaviorRegistry.js"
import * as ClusterModule from "./cluster/Cluster.js"
import type { ClusterConfig, NodeDownReason, NodeInfo } from "./cluster/Cluster.js"
import * as GenServerModule from "./GenServer.js"
import type { ExitReason, GenServerBehavior, StartOptions, TypedRequest } from "./GenServer.js"
import * as GlobalRegistryModule from "./GlobalRegistry.js"
import * as RuntimeInternal from "./internal/runtime.js"
import * as TcpTransport from "./node/TcpTransport.js"
import { NodeId as NodeIds } from "./NodeId.js"
import type { NodeId } from "./NodeId.js"
import * as RemoteCallModule from "./RemoteCall.js"
import * as RemoteSpawnModule from "./RemoteSpawn.js"
import type { SpawnOptions } from "./RemoteSpawn.js"
import type { SerializedRef, ServerRef, SpawnResult } from "./ServerRef.js"

export { BehaviorRegistrationError } from "./BehaviorRegistry.js"
export type { AwaitNodesOptions as ClusterAwaitNodesOptions, NodeDownReason, NodeInfo } from "./cluster/Cluster.js"
export * from "./errors.js"
export type { ExitReason, GenServerBehavior } from "./GenServer.js"
export type { NodeId } from "./NodeId.js"
export type { SpawnOptions as RemoteSpawnOptions } from "./RemoteSpawn.js"
export type { SerializedRef, ServerRef, SpawnResult } from "./ServerRef.js"

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

/** The signals a started facade node stops on. */
const SIGNALS = ["SIGINT", "SIGTERM"] as const

/** Moves the process's listener limit by `by`, unless the program made it unlimited (0 or Infinity). */
const growListenerLimit = (by: number): void => {
  const limit = process.getMaxListeners()
  if (limit !== 0 && Number.isFinite(limit)) process.setMaxListeners(Math.max(1, limit + by))
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

/** The `NodeInfo` of a node that came up and left before its handler ran: no heartbeat heard yet. */
const upInfo = (id: NodeId, now: number): NodeInfo => {
  const { host, port } = NodeIds.components(id)
  return { id, host, port, status: "connected", processCount: 0, lastHeartbeatAt: now, uptimeMs: 0 }
}

/** Creates an independent node with the guide's Promise API. */
export const createNode = (): PromiseNode => {
  const pending = new Map<string, GenServerBehavior<any, any, any, any, never>>()
  let runtime: ManagedRuntime.ManagedRuntime<Services, unknown> | undefined
  let starting: Promise<void> | undefined
  const unsubscribers = new Set<() => void>()
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined
  let stopping: Promise<void> | undefined

  const live = () => {
    if (runtime === undefined) throw new ClusterNotStartedError()
    return runtime
  }
  /** Runs an effect; a typed failure is thrown as the error instance itself. */
  const run = async <A, E>(effect: Effect.Effect<A, E, Services>): Promise<A> => {
    const exit = await live().runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  }
  const runSync = <A>(effect: Effect.Effect<A, never, Services>): A => live().runSync(effect)
  const fire = (effect: Effect.Effect<unknown, unknown, Services>) => void live().runFork(Effect.ignoreLogged(effect))
  const asRef = (ref: { id: string; nodeId: string }): ServerRef => ({ id: ref.id, nodeId: ref.nodeId as NodeId })
  const monitor = (owner: ServerRef, ref: ServerRef): Promise<MonitorRef> =>
    run(
      Effect.map(GenServerModule.monitor(asRef(owner), asRef(ref)), (m) => ({ monitorId: m.id, monitoredRef: m.ref }))
    )
  const demonitor = (m: MonitorRef): Promise<void> =>
    run(Effect.map(GenServerModule.GenServerRuntime, (rt) => void rt.unwatch(m.monitorId)))
  let links = 0
  const link = (ref1: ServerRef, ref2: ServerRef): Promise<LinkRef> =>
    run(Effect.as(GenServerModule.link(asRef(ref1), asRef(ref2)), { linkId: `link-${++links}`, ref1, ref2 }))
  const unlink = (l: LinkRef): Promise<void> => run(GenServerModule.unlink(asRef(l.ref1), asRef(l.ref2)))

  const subscribe = (effect: Effect.Effect<void, never, Services | import("effect").Scope.Scope>): () => void => {
    const fiber = live().runFork(Effect.scoped(Effect.zipRight(effect, Effect.never)))
    const off = () => {
      unsubscribers.delete(off)
      void live().runPromise(fiber.interruptAsFork(fiber.id())).catch(() => {})
    }
    unsubscribers.add(off)
    return off
  }

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
          if (handleSignals) {
            const handler = (signal: NodeJS.Signals) => {
              // The listener stays until the node has stopped: a second signal meanwhile is
              // absorbed, and of several nodes only the last to stop finds no listener and exits.
              self.Cluster.stop().then(
                () => {
                  if (process.listenerCount(signal) === 0) process.exit(0)
                },
                (error: unknown) => {
                  process.stderr.write(`noex-effect: the node did not stop cleanly: ${String(error)}\n`)
                  if (process.listenerCount(signal) === 0) process.exit(1)
                }
              )
            }
            // One listener per node on a process-wide emitter: the limit grows with the nodes (and shrinks
            // as they stop), so a program running many nodes is not warned of a leak it does not have.
            growListenerLimit(1)
            for (const signal of SIGNALS) process.on(signal, handler)
            onSignal = handler
          }
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
        for (const off of Array.from(unsubscribers)) off()
        runtime = undefined
        stopping = current.dispose().finally(() => {
          stopping = undefined
          const handler = onSignal
          onSignal = undefined
          if (handler !== undefined) {
            for (const signal of SIGNALS) process.off(signal, handler)
            growListenerLimit(-1)
          }
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
        const exit = live().runSyncExit(BehaviorRegistryModule.register(name, behavior))
        if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
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
      getNames: () => Array.from(runSync(GlobalRegistryModule.getNames))
    },
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
