/**
 * Cluster: this node's place in a cluster. `Cluster.layer(config)` binds the node,
 * builds its local GenServer runtime, dials the seeds and keeps a full mesh with
 * every node it learns of; the service answers who is connected and streams node
 * events. Closing the layer's scope is a graceful shutdown: peers see
 * `graceful_shutdown`, local processes terminate with reason `shutdown`.
 */
import { Context, Effect, FiberSet, Layer, PubSub, Stream } from "effect"
import type { ConfigError, Scope } from "effect"
import * as BehaviorRegistryModule from "../BehaviorRegistry.js"
import type { ClusterConfigError } from "../errors.js"
import * as GenServer from "../GenServer.js"
import { NodeId } from "../NodeId.js"
import { Transport } from "../transport/Transport.js"
import type { TransportError } from "../transport/Transport.js"
import * as ClusterConfigModule from "./ClusterConfig.js"
import type { ClusterConfig, ResolvedConfig } from "./ClusterConfig.js"
import { isThenable } from "../internal/handler.js"
import * as Metrics from "./internal/metrics.js"
import type { NodeMetrics } from "./internal/metrics.js"
import { Membership } from "./Membership.js"
import { Remoting } from "./internal/remoting.js"
import { Replica } from "./internal/registry.js"
import type { RegistryEvent } from "./internal/registry.js"
import * as GlobalRegistryModule from "../GlobalRegistry.js"
import * as RemoteCallModule from "../RemoteCall.js"
import * as RemoteSpawnModule from "../RemoteSpawn.js"
import { makeCodec } from "../wire/Codec.js"
import type { NodeDownReason, NodeEvent, NodeInfo } from "./NodeEvent.js"

export type { ClusterConfig, ResolvedConfig } from "./ClusterConfig.js"
export type { NodeDown, NodeDownReason, NodeEvent, NodeInfo, NodeUp } from "./NodeEvent.js"

/** A callback's answer: nothing, a Promise, or an Effect. Failures are logged, never propagated. */
export type CallbackResult = void | Promise<void> | Effect.Effect<void, unknown>

/** The Cluster service of one node. */
export interface Service {
  readonly localNodeId: NodeId
  readonly incarnation: string
  readonly config: ResolvedConfig
  readonly metrics: NodeMetrics
  /** This node's id. */
  readonly getLocalNodeId: Effect.Effect<NodeId>
  /** The nodes connected to this one (not this one itself). */
  readonly getConnectedNodes: Effect.Effect<ReadonlyArray<NodeInfo>>
  /** Whether `nodeId` is connected. */
  readonly isNodeConnected: (nodeId: NodeId) => Effect.Effect<boolean>
  /** Every `NodeUp` / `NodeDown` from the moment of subscription. */
  readonly nodeEvents: Stream.Stream<NodeEvent>
  /** Calls `f` for each node that comes up, for as long as the scope lives. */
  readonly onNodeUp: (f: (nodeId: NodeId) => CallbackResult) => Effect.Effect<void, never, Scope.Scope>
  /** Calls `f` for each node that goes down, with the reason, for as long as the scope lives. */
  readonly onNodeDown: (f: (nodeId: NodeId, reason: NodeDownReason) => CallbackResult) => Effect.Effect<void, never, Scope.Scope>
  /** The membership machinery, for the other cluster services. */
  readonly membership: Membership
  /** Calls, casts, spawns and stops between nodes, for the other cluster services. */
  readonly remoting: Remoting
}

/** The Cluster service. */
export class Cluster extends Context.Tag("noex-effect/Cluster")<Cluster, Service>() {}

const randomHex = (bytes: number) =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")

/** Runs a user callback; a failure or defect is logged and swallowed so it cannot break the cluster. */
const runCallback = (nodeId: NodeId, event: string, f: () => CallbackResult): Effect.Effect<void> =>
  Effect.suspend(() => {
    const result = f()
    if (Effect.isEffect(result)) return result
    if (isThenable(result)) return Effect.tryPromise(() => Promise.resolve(result))
    return Effect.void
  }).pipe(
    Effect.catchAllCause((cause) =>
      Effect.logWarning(`${event} callback failed`, cause).pipe(Effect.annotateLogs({ node: nodeId }))
    )
  )

const subscribe = <E extends NodeEvent>(
  events: PubSub.PubSub<NodeEvent>,
  tag: E["_tag"],
  handle: (event: E) => Effect.Effect<void>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    // Subscribe before returning, so no event published after this call is missed.
    const queue = yield* PubSub.subscribe(events)
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(queue.take, (event) => (event._tag === tag ? handle(event as E) : Effect.void))
      )
    )
  })

/** Builds a node: validates the config, listens, starts membership, and provides every cluster service. */
export const make = (
  config: ClusterConfig
): Effect.Effect<
  {
    readonly cluster: Service
    readonly runtime: GenServer.Service
    readonly remoteCall: RemoteCallModule.Service
    readonly remoteSpawn: RemoteSpawnModule.Service
    readonly globalRegistry: GlobalRegistryModule.Service
    readonly remoting: Remoting
  },
  ClusterConfigError | TransportError,
  Transport | BehaviorRegistryModule.BehaviorRegistry | Scope.Scope
> =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const resolved = yield* ClusterConfigModule.resolve(config, transport.exposes)
    const listener = yield* transport.listen(
      { host: resolved.host, port: resolved.port, name: resolved.nodeName },
      { maxFrameBytes: resolved.maxFrameBytes }
    )
    const nodeId = NodeId.make(resolved.nodeName, resolved.advertiseHost, listener.address.port)
    const incarnation = randomHex(8)
    const runtime = yield* GenServer.make({ nodeId, incarnation })
    const events = yield* PubSub.unbounded<NodeEvent>()
    const fibers = yield* FiberSet.make<any, any>()
    const clock = yield* Effect.clock
    const metrics = Metrics.make(nodeId)
    const membership = new Membership(
      { nodeId, incarnation },
      resolved,
      transport,
      events,
      metrics,
      fibers,
      yield* Effect.runtime<never>(),
      () => runtime.processCount(),
      () => clock.unsafeCurrentTimeMillis()
    )
    const remoting = new Remoting(
      nodeId,
      membership,
      runtime.table,
      yield* BehaviorRegistryModule.BehaviorRegistry,
      makeCodec(),
      metrics,
      yield* Effect.runtime<never>()
    )
    runtime.setRouter({
      call: (ref, msg, timeoutMs) => remoting.call(ref, msg, timeoutMs),
      // GenServer.cast never fails: an oversized or unencodable cast to another node is dropped and logged.
      cast: (ref, msg) =>
        Effect.catchAll(remoting.cast(ref, msg), (error) =>
          Effect.logWarning("dropped a cast").pipe(Effect.annotateLogs({ node: nodeId, serverId: ref.id, reason: error.message }))
        ),
      stop: (ref, reason) => remoting.stop(ref, reason)
    })
    const replica = new Replica(
      nodeId,
      incarnation,
      membership,
      remoting,
      runtime.table,
      yield* PubSub.unbounded<RegistryEvent>(),
      resolved.onNameConflict,
      yield* Effect.runtime<never>()
    )
    yield* membership.start(listener)
    // Added after the runtime and the listener: finalizers run in reverse, so every peer
    // (those we dialed and those that dialed us) hears Goodbye before connections close
    // and before local processes stop.
    yield* Effect.addFinalizer(() => membership.shutdown())
    yield* Effect.logInfo("node started").pipe(Effect.annotateLogs({ node: nodeId, incarnation }))
    const cluster: Service = {
      localNodeId: nodeId,
      incarnation,
      config: resolved,
      metrics,
      membership,
      remoting,
      getLocalNodeId: Effect.succeed(nodeId),
      getConnectedNodes: Effect.sync(() => membership.connectedNodes()),
      isNodeConnected: (id) => Effect.sync(() => membership.isConnected(id)),
      nodeEvents: Stream.fromPubSub(events),
      onNodeUp: (f) => subscribe(events, "NodeUp", (e) => runCallback(nodeId, "onNodeUp", () => f(e.nodeId))),
      onNodeDown: (f) =>
        subscribe(events, "NodeDown", (e: NodeEvent & { _tag: "NodeDown" }) =>
          runCallback(nodeId, "onNodeDown", () => f(e.nodeId, e.reason))
        )
    }
    return {
      cluster,
      runtime,
      remoteCall: RemoteCallModule.make(runtime, remoting),
      remoteSpawn: RemoteSpawnModule.make(remoting),
      globalRegistry: GlobalRegistryModule.make(replica),
      remoting
    }
  })

/** Everything a node provides. */
export type ClusterServices =
  | Cluster
  | GenServer.GenServerRuntime
  | BehaviorRegistryModule.BehaviorRegistry
  | RemoteCallModule.RemoteCall
  | RemoteSpawnModule.RemoteSpawn
  | GlobalRegistryModule.GlobalRegistry

/**
 * A node in a cluster. Requires a `Transport` (TCP or in-memory) and a
 * `BehaviorRegistry`; provides `Cluster`, the local `GenServerRuntime` and the registry.
 */
export const layer = (
  config: ClusterConfig
): Layer.Layer<
  ClusterServices,
  ClusterConfigError | TransportError,
  Transport | BehaviorRegistryModule.BehaviorRegistry
> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const { cluster, globalRegistry, remoteCall, remoteSpawn, runtime } = yield* make(config)
      const registry = yield* BehaviorRegistryModule.BehaviorRegistry
      return Context.make(Cluster, cluster).pipe(
        Context.add(GenServer.GenServerRuntime, runtime),
        Context.add(BehaviorRegistryModule.BehaviorRegistry, registry),
        Context.add(RemoteCallModule.RemoteCall, remoteCall),
        Context.add(RemoteSpawnModule.RemoteSpawn, remoteSpawn),
        Context.add(GlobalRegistryModule.GlobalRegistry, globalRegistry)
      )
    })
  )

/** A node configured from the environment (`NOEX_*`, see `ClusterConfig.fromEnv`). */
export const layerFromEnv: Layer.Layer<
  ClusterServices,
  ClusterConfigError | TransportError | ConfigError.ConfigError,
  Transport | BehaviorRegistryModule.BehaviorRegistry
> = Layer.unwrapEffect(Effect.map(ClusterConfigModule.fromEnv, layer))

/** This node's id. */
export const getLocalNodeId: Effect.Effect<NodeId, never, Cluster> = Effect.map(Cluster, (c) => c.localNodeId)

/** The connected nodes with their live process counts. */
export const getConnectedNodes: Effect.Effect<ReadonlyArray<NodeInfo>, never, Cluster> = Effect.flatMap(
  Cluster,
  (c) => c.getConnectedNodes
)

/** Whether `nodeId` is connected to this node. */
export const isNodeConnected = (nodeId: NodeId): Effect.Effect<boolean, never, Cluster> =>
  Effect.flatMap(Cluster, (c) => c.isNodeConnected(nodeId))

/** The stream of node events. */
export const nodeEvents: Stream.Stream<NodeEvent, never, Cluster> = Stream.unwrap(Effect.map(Cluster, (c) => c.nodeEvents))

/** Calls `f` for each node that comes up while the scope lives (the guide's `Cluster.onNodeUp`). */
export const onNodeUp = (f: (nodeId: NodeId) => CallbackResult): Effect.Effect<void, never, Cluster | Scope.Scope> =>
  Effect.flatMap(Cluster, (c) => c.onNodeUp(f))

/** Calls `f` for each node that goes down while the scope lives (the guide's `Cluster.onNodeDown`). */
export const onNodeDown = (
  f: (nodeId: NodeId, reason: NodeDownReason) => CallbackResult
): Effect.Effect<void, never, Cluster | Scope.Scope> => Effect.flatMap(Cluster, (c) => c.onNodeDown(f))

/** The configuration read from the environment. */
export const configFromEnv = ClusterConfigModule.fromEnv

/** Validates a configuration against a transport's notion of exposure (see `Transport.exposes`). */
export const resolveConfig = ClusterConfigModule.resolve

/** Configuration defaults. */
export const defaults = ClusterConfigModule.defaults
