/**
 * Cluster: this node's place in a cluster. `Cluster.layer(config)` binds the node,
 * builds its local GenServer runtime, dials the seeds and keeps a full mesh with
 * every node it learns of; the service answers who is connected and streams node
 * events. Closing the layer's scope is a graceful shutdown: peers see
 * `graceful_shutdown`, local processes terminate with reason `shutdown`.
 */
import { Context, Effect, Layer, Option, Stream } from "effect"
import type { ConfigError, Duration, Scope } from "effect"
import * as BehaviorRegistryModule from "../BehaviorRegistry.js"
import type { AwaitNodesTimeoutError, ClusterConfigError } from "../errors.js"
import * as GenServer from "../GenServer.js"
import * as GlobalRegistryModule from "../GlobalRegistry.js"
import type { NodeId } from "../NodeId.js"
import * as ProcessGroupsModule from "../ProcessGroups.js"
import * as RemoteCallModule from "../RemoteCall.js"
import * as RemoteSpawnModule from "../RemoteSpawn.js"
import type { Transport, TransportError } from "../transport/Transport.js"
import * as ClusterConfigModule from "./ClusterConfig.js"
import type { ClusterConfig, ResolvedConfig } from "./ClusterConfig.js"
import type { AwaitNodesOptions } from "./internal/awaitNodes.js"
import type { Inspected, InspectError, InspectRequest } from "./internal/inspector.js"
import { MAX_INSPECT_PAGE } from "./internal/inspector.js"
import type { NodeMetrics } from "./internal/metrics.js"
import * as Node from "./internal/node.js"
import type { NodeDownReason, NodeEvent, NodeInfo } from "./NodeEvent.js"

export type { ClusterConfig, ResolvedConfig } from "./ClusterConfig.js"
export type { AwaitNodesOptions } from "./internal/awaitNodes.js"
export type { Inspected, InspectError, InspectRequest } from "./internal/inspector.js"
export { DEFAULT_INSPECT_TIMEOUT, MAX_INSPECT_PAGE } from "./internal/inspector.js"
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
  /**
   * Asks `nodeId` (this node included) for one section of its state, a bounded page at a
   * time; see {@link describeNode}, {@link listProcesses}, {@link listNames}, {@link lookupName}.
   */
  readonly inspect: (
    nodeId: NodeId,
    request: InspectRequest,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<Inspected, InspectError>
  /** Waits until at least `count` other nodes and every one of `ids` are connected; answers the connected nodes. */
  readonly awaitNodes: (options?: AwaitNodesOptions) => Effect.Effect<ReadonlyArray<NodeInfo>, AwaitNodesTimeoutError>
  /** Every `NodeUp` / `NodeDown` from the moment of subscription. */
  readonly nodeEvents: Stream.Stream<NodeEvent>
  /** Watches `nodeId` until it goes down (see {@link monitorNode}). */
  readonly monitorNode: (nodeId: NodeId) => Effect.Effect<NodeMonitor, never, Scope.Scope>
  /** Calls `f` for each node that comes up, for as long as the scope lives. */
  readonly onNodeUp: (f: (nodeId: NodeId) => CallbackResult) => Effect.Effect<void, never, Scope.Scope>
  /** Calls `f` for each node that goes down, with the reason, for as long as the scope lives. */
  readonly onNodeDown: (
    f: (nodeId: NodeId, reason: NodeDownReason) => CallbackResult
  ) => Effect.Effect<void, never, Scope.Scope>
}

/** Why a monitored node is gone: the link's down reason, or `noconnection` when it was not connected. */
export type NodeMonitorReason = NodeDownReason | "noconnection"

/** A watch on one node (Erlang's `monitor_node/2`); `down` completes once. */
export interface NodeMonitor {
  readonly nodeId: NodeId
  /** Completes with the reason once the node goes down, at once if it was not connected. */
  readonly down: Effect.Effect<NodeMonitorReason>
}

/** The Cluster service. */
export class Cluster extends Context.Tag("noex-effect/Cluster")<Cluster, Service>() {}

/** Everything a node provides. */
export type ClusterServices =
  | Cluster
  | GenServer.GenServerRuntime
  | BehaviorRegistryModule.BehaviorRegistry
  | RemoteCallModule.RemoteCall
  | RemoteSpawnModule.RemoteSpawn
  | GlobalRegistryModule.GlobalRegistry
  | ProcessGroupsModule.ProcessGroups

/**
 * Builds a node in the current scope and returns its services: closing the scope
 * shuts it down gracefully (peers are told `Goodbye`, then local processes stop).
 * Requires a `Transport` (TCP or in-memory) and a `BehaviorRegistry`.
 */
export const make = (
  config: ClusterConfig
): Effect.Effect<
  Context.Context<ClusterServices>,
  ClusterConfigError | TransportError,
  Transport | BehaviorRegistryModule.BehaviorRegistry | Scope.Scope
> =>
  Effect.gen(function*() {
    const registry = yield* BehaviorRegistryModule.BehaviorRegistry
    const contextOf = (
      { cluster, globalRegistry, processGroups, remoteCall, remoteSpawn, runtime }: Node.NodeServices
    ) =>
      Context.make(Cluster, cluster).pipe(
        Context.add(GenServer.GenServerRuntime, runtime),
        Context.add(BehaviorRegistryModule.BehaviorRegistry, registry),
        Context.add(RemoteCallModule.RemoteCall, remoteCall),
        Context.add(RemoteSpawnModule.RemoteSpawn, remoteSpawn),
        Context.add(GlobalRegistryModule.GlobalRegistry, globalRegistry),
        Context.add(ProcessGroupsModule.ProcessGroups, processGroups)
      )
    // Processes spawned here for other nodes get the node's own services, as a program on it does.
    return contextOf(yield* Node.make(config, contextOf as (s: Node.NodeServices) => Context.Context<never>))
  })

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
> => Layer.scopedContext(make(config))

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

/**
 * Waits until at least `count` other nodes and every one of `ids` are connected
 * (default: one node), failing with `AwaitNodesTimeoutError` after `timeout` (default
 * 30 s); answers the connected nodes. `Cluster.layer` returns before its seeds connect:
 * this is the step between starting a node and using the cluster.
 */
export const awaitNodes = (
  options?: AwaitNodesOptions
): Effect.Effect<ReadonlyArray<NodeInfo>, AwaitNodesTimeoutError, Cluster> =>
  Effect.flatMap(Cluster, (c) => c.awaitNodes(options))

/**
 * Watches a node (Erlang's `monitor_node/2`): the monitor's `down` completes once with
 * the reason its link went down (`connection_closed`, `heartbeat_timeout`,
 * `graceful_shutdown`, `slow_consumer`), or at once with `noconnection` when it is not
 * connected now. The watch lasts as long as the scope; a later reconnect does not undo a
 * `down` that already completed.
 */
export const monitorNode = (nodeId: NodeId): Effect.Effect<NodeMonitor, never, Cluster | Scope.Scope> =>
  Effect.flatMap(Cluster, (c) => c.monitorNode(nodeId))

/** A node as it describes itself: identity, uptime, process count, behaviors, the members it is connected to. */
export type NodeReport = NonNullable<Inspected["node"]>

/** One live process of a node. */
export type ProcessReport = Inspected["processes"][number]

/** One global name as a node's replica holds it. */
export type NameReport = Inspected["names"][number]

/** Which page of a list to read, and how long to wait for it. */
export interface PageOptions {
  /** Entries to skip. Default 0. */
  readonly offset?: number | undefined
  /** Entries to read, at most (and by default) `MAX_INSPECT_PAGE`; fewer come when the page would not fit a frame. */
  readonly limit?: number | undefined
  /** Default `DEFAULT_INSPECT_TIMEOUT` (5 s). */
  readonly timeout?: Duration.DurationInput | undefined
}

const page = (options: PageOptions | undefined) => ({
  offset: Math.max(0, Math.floor(options?.offset ?? 0)),
  limit: Math.max(0, Math.floor(options?.limit ?? MAX_INSPECT_PAGE))
})

/** Asks `nodeId` for one section and answers what `pick` takes of the answer. */
const ask = <A>(
  nodeId: NodeId | undefined,
  request: InspectRequest,
  timeout: Duration.DurationInput | undefined,
  pick: (answer: Inspected) => A
): Effect.Effect<A, InspectError, Cluster> =>
  Effect.flatMap(Cluster, (c) => Effect.map(c.inspect(nodeId ?? c.localNodeId, request, timeout), pick))

/**
 * How `nodeId` describes itself (this node when omitted): asked over its link, answered
 * from its own state. Fails with `NodeNotReachableError` or `InspectTimeoutError`.
 */
export const describeNode = (
  nodeId?: NodeId,
  options?: { readonly timeout?: Duration.DurationInput | undefined }
): Effect.Effect<NodeReport, InspectError, Cluster> =>
  // Every node answers the node section with its report (an answer without one fails in the inspector).
  ask(nodeId, { section: "node", offset: 0, limit: 0 }, options?.timeout, (answer) => answer.node!)

/** A page of the live processes of `nodeId`, in start order, and how many it runs. */
export const listProcesses = (
  nodeId: NodeId,
  options?: PageOptions
): Effect.Effect<{ readonly total: number; readonly processes: ReadonlyArray<ProcessReport> }, InspectError, Cluster> =>
  ask(nodeId, { section: "processes", ...page(options) }, options?.timeout, ({ processes, total }) => ({
    total,
    processes
  }))

/** A page of the global names `nodeId` knows, by name, and how many it knows. */
export const listNames = (
  nodeId: NodeId,
  options?: PageOptions
): Effect.Effect<{ readonly total: number; readonly names: ReadonlyArray<NameReport> }, InspectError, Cluster> =>
  ask(nodeId, { section: "names", ...page(options) }, options?.timeout, ({ names, total }) => ({ total, names }))

/** The holder of global name `name` as `nodeId`'s replica knows it, if it knows the name. */
export const lookupName = (
  nodeId: NodeId,
  name: string,
  options?: { readonly timeout?: Duration.DurationInput | undefined }
): Effect.Effect<Option.Option<NameReport>, InspectError, Cluster> =>
  ask(
    nodeId,
    { section: "name", name, offset: 0, limit: 1 },
    options?.timeout,
    ({ names }) => Option.fromNullable(names.find((n) => n.name === name))
  )

/** The stream of node events. */
export const nodeEvents: Stream.Stream<NodeEvent, never, Cluster> = Stream.unwrap(
  Effect.map(Cluster, (c) => c.nodeEvents)
)

/** Calls `f` for each node that comes up while the scope lives (the guide's `Cluster.onNodeUp`). */
export const onNodeUp = (f: (nodeId: NodeId) => CallbackResult): Effect.Effect<void, never, Cluster | Scope.Scope> =>
  Effect.flatMap(Cluster, (c) => c.onNodeUp(f))

/** Calls `f` for each node that goes down while the scope lives (the guide's `Cluster.onNodeDown`). */
export const onNodeDown = (
  f: (nodeId: NodeId, reason: NodeDownReason) => CallbackResult
): Effect.Effect<void, never, Cluster | Scope.Scope> => Effect.flatMap(Cluster, (c) => c.onNodeDown(f))

/** The configuration read from the environment. */
export const configFromEnv = ClusterConfigModule.fromEnv

/** The fields set in the environment, to merge with others (the CLI lays its flags over them). */
export const settingsFromEnv = ClusterConfigModule.settingsFromEnv

/** The environment variable of each configuration field. */
export const envNames = ClusterConfigModule.envNames

/** Validates a configuration against a transport's notion of exposure (see `Transport.exposes`). */
export const resolveConfig = ClusterConfigModule.resolve

/** Configuration defaults. */
export const defaults = ClusterConfigModule.defaults
