/**
 * The composition root: the one place where a node's components are built and
 * wired together, in this order —
 *
 *   process table → membership (owns the links) → registry replica → serving →
 *   remoting → the local runtime (routing other nodes' refs through remoting) →
 *   the dispatch table (each sub-protocol's handlers) → membership starts.
 *
 * Each component takes one object of named dependencies; none reaches into another
 * after construction. `docs/architecture.md` draws the result.
 */
import { Context, Effect, FiberSet, Option, PubSub, Runtime, Stream } from "effect"
import type { Scope } from "effect"
import { BehaviorRegistry } from "../../BehaviorRegistry.js"
import { Codec } from "../../Codec.js"
import type { ClusterConfigError } from "../../errors.js"
import type * as GenServer from "../../GenServer.js"
import type * as GlobalRegistry from "../../GlobalRegistry.js"
import type { RegistryEvent } from "../../GlobalRegistry.js"
import { isThenable } from "../../internal/handler.js"
import { withNodeLogging } from "../../internal/logging.js"
import type { ProcessTable } from "../../internal/process.js"
import * as RuntimeInternal from "../../internal/runtime.js"
import { NodeId } from "../../NodeId.js"
import * as ProcessGroups from "../../ProcessGroups.js"
import type * as RemoteCall from "../../RemoteCall.js"
import type * as RemoteSpawn from "../../RemoteSpawn.js"
import { Transport } from "../../transport/Transport.js"
import type { TransportError } from "../../transport/Transport.js"
import { makeCodec } from "../../wire/Codec.js"
import type { CallbackResult, Service as ClusterService } from "../Cluster.js"
import type { ClusterConfig } from "../ClusterConfig.js"
import * as ClusterConfigModule from "../ClusterConfig.js"
import { Membership } from "../Membership.js"
import type { NodeEvent } from "../NodeEvent.js"
import { awaitNodes } from "./awaitNodes.js"
import * as Dispatch from "./dispatch.js"
import { GlobalLock, LOCK_PROCESS, lockBehavior } from "./globalLock.js"
import { Inspector } from "./inspector.js"
import * as Metrics from "./metrics.js"
import { monitorNode } from "./monitorNode.js"
import { Replica } from "./registry.js"
import { Remoting } from "./remoting.js"
import * as Services from "./services.js"
import { Serving } from "./serving.js"
import { Signals } from "./signals.js"

/** The machinery behind a node's public services, for tests and diagnostics. */
export interface NodeInternals {
  readonly membership: Membership
  readonly remoting: Remoting
  readonly signals: Signals
  readonly replica: Replica
  readonly table: ProcessTable
}

/** Everything a node provides. */
export interface NodeServices {
  readonly cluster: ClusterService
  readonly runtime: GenServer.Service
  readonly remoteCall: RemoteCall.Service
  readonly remoteSpawn: RemoteSpawn.Service
  readonly globalRegistry: GlobalRegistry.Service
  readonly processGroups: ProcessGroups.Service
}

const internals = new WeakMap<ClusterService, NodeInternals>()

/** The internals of a node built by {@link make}. */
export const internalsOf = (cluster: ClusterService): NodeInternals => {
  const found = internals.get(cluster)
  if (found === undefined) throw new Error("not a node built by Cluster.layer")
  return found
}

const randomHex = (bytes: number) =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")

/** Builds a node: validates the config, listens, wires every component, starts membership. */
export const make = (
  config: ClusterConfig,
  /** The node's services as a Context: every process spawned here for another node is given them. */
  contextOf: (services: NodeServices) => Context.Context<never>
): Effect.Effect<NodeServices, ClusterConfigError | TransportError, Transport | BehaviorRegistry | Scope.Scope> =>
  // Behaviors spawned here for others run with the program's runtime: their logs are the program's, not the node's.
  Effect.flatMap(
    Effect.runtime<never>(),
    (program) => withNodeLogging(config.logLevel)(build(config, program, contextOf))
  )

const build = (
  config: ClusterConfig,
  program: Runtime.Runtime<never>,
  contextOf: (services: NodeServices) => Context.Context<never>
): Effect.Effect<NodeServices, ClusterConfigError | TransportError, Transport | BehaviorRegistry | Scope.Scope> =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const behaviors = yield* BehaviorRegistry
    const codec = Option.getOrElse(yield* Effect.serviceOption(Codec), makeCodec)
    const resolved = yield* ClusterConfigModule.resolve(
      config,
      (host) => transport.exposes(host) && transport.authenticatesPeers !== true
    )
    const listener = yield* transport.listen(
      { host: resolved.host, port: resolved.port, name: resolved.nodeName },
      ClusterConfigModule.connectionOptions(resolved)
    )
    const nodeId = NodeId.make(resolved.nodeName, resolved.advertiseHost, listener.address.port)
    const incarnation = randomHex(8)
    // Built first, so its finalizer (stop every process) runs last, after peers heard Goodbye.
    const table = yield* RuntimeInternal.makeTable(nodeId, incarnation, resolved.mailboxLimit)
    const nodeEvents = yield* PubSub.unbounded<NodeEvent>()
    const registryEvents = yield* PubSub.unbounded<RegistryEvent>()
    // Work started by callbacks (socket data, timers, observers) is owned here: closing the node interrupts it.
    const fibers = yield* FiberSet.make<any, any>()
    const runtime = yield* Effect.runtime<never>()
    const fork = (effect: Effect.Effect<unknown, unknown>) =>
      FiberSet.unsafeAdd(fibers, Runtime.runFork(runtime, effect))
    const clock = yield* Effect.clock
    const metrics = Metrics.make(nodeId)

    const membership = new Membership({
      self: { nodeId, incarnation, ...(resolved.hidden ? { hidden: true } : {}) },
      config: resolved,
      transport,
      events: nodeEvents,
      metrics,
      fibers,
      runtime,
      processCount: () => table.count,
      now: () => clock.unsafeCurrentTimeMillis()
    })
    const replica = new Replica({
      self: nodeId,
      incarnation,
      links: membership,
      table,
      events: registryEvents,
      strategy: resolved.onNameConflict,
      fork
    })
    // The program's runtime, then (once the services exist) with them: a spawned behavior may call other processes.
    let processRuntime = program
    const serving = new Serving({
      self: nodeId,
      table,
      behaviors,
      codec,
      metrics,
      globalNames: replica.globalNames,
      fork,
      maxProcessesPerPeer: resolved.maxProcessesPerPeer,
      processRuntime: () => processRuntime
    })
    const remoting = new Remoting({ self: nodeId, links: membership, table, serving, codec, metrics })
    const signals = new Signals({ self: nodeId, links: membership, table, codec, metrics, fork })
    table.attachRemote(signals)
    const startedAt = clock.unsafeCurrentTimeMillis()
    const inspector = new Inspector({
      self: nodeId,
      incarnation,
      links: membership,
      connectedNodes: () => membership.connectedNodes(),
      table,
      behaviors,
      names: {
        page: (offset, limit) => replica.page(offset, limit),
        get size() {
          return replica.size
        },
        namesOf: (serverId) => replica.namesOf(serverId),
        whereis: (name) => Option.getOrUndefined(replica.whereis(name))
      },
      uptimeMs: () => clock.unsafeCurrentTimeMillis() - startedAt,
      fork
    })
    // A hidden node (a tool) takes no part in the replicated state: registry and groups.
    const isMember = (peer: NodeId) => membership.linkTo(peer)?.peer.hidden !== true
    const local = RuntimeInternal.register(
      RuntimeInternal.makeService(table, {
        call: (ref, msg, timeoutMs) => remoting.call(ref, msg, timeoutMs),
        // GenServer.cast never fails: an oversized or unencodable cast to another node is dropped and logged.
        cast: (ref, msg) =>
          Effect.catchAll(
            remoting.cast(ref, msg),
            (error) =>
              Effect.logWarning("dropped a cast").pipe(
                Effect.annotateLogs({ node: nodeId, serverId: ref.id, reason: error.message })
              )
          ),
        stop: (ref, reason) => remoting.stop(ref, reason),
        send: (ref, msg) => signals.send(ref, msg)
      }),
      table
    )
    const groups = yield* ProcessGroups.make(local, {
      connected: () => membership.connectedIds().filter(isMember),
      isMember,
      // A quarter of the link's limit: the estimate over-counts, and the envelope needs room.
      frameBudget: (peer) => (membership.linkTo(peer)?.maxFrameBytes ?? 0) / 4
    })
    const lock = new GlobalLock({
      runtime: local,
      table,
      connectedMembers: () => membership.connectedIds().filter(isMember),
      whereis: (name) => Option.getOrUndefined(replica.whereis(name))
    })
    yield* Effect.orDie(RuntimeInternal.startSystem(local, lockBehavior(lock), { name: LOCK_PROCESS }))
    const handlers = {
      ...membership.handlers,
      ...remoting.handlers,
      ...Dispatch.membersOnly(replica.handlers, ["RegistryRegister", "RegistrySync", "RegistryUnregister"]),
      ...inspector.handlers,
      ...signals.handlers
    } satisfies Dispatch.Table
    table.onExit((ref) => {
      replica.processEnded(ref.id)
      serving.processEnded(ref.id)
    })
    yield* membership.start(listener, {
      dispatch: Dispatch.make(handlers),
      // A hidden node is not sent the registry: it takes no part in it.
      onUp: [
        (peer) => membership.linkTo(peer)?.peer.hidden === true || replica.nodeUp(peer),
        (peer) => fork(groups.nodeUp(peer))
      ],
      onDown: [
        (peer) => remoting.nodeDown(peer),
        (peer) => signals.nodeDown(peer),
        (peer) => replica.nodeDown(peer),
        (peer) => inspector.nodeDown(peer),
        (peer) => fork(lock.nodeDown(peer)),
        (peer) => groups.nodeDown(peer)
      ]
    })
    // Added after the table and the listener: finalizers run in reverse, so every peer
    // (those we dialed and those that dialed us) hears Goodbye before connections close
    // and before local processes stop.
    yield* Effect.addFinalizer(() => membership.shutdown())
    yield* Effect.logInfo("node started").pipe(Effect.annotateLogs({ node: nodeId, incarnation }))

    const cluster: ClusterService = {
      localNodeId: nodeId,
      incarnation,
      config: resolved,
      metrics,
      getLocalNodeId: Effect.succeed(nodeId),
      getConnectedNodes: Effect.sync(() => membership.connectedNodes()),
      isNodeConnected: (id) => Effect.sync(() => membership.isConnected(id)),
      inspect: (id, request, timeout) => inspector.inspect(id, request, timeout),
      awaitNodes: (options) => awaitNodes(nodeId, nodeEvents, () => membership.connectedNodes(), options),
      nodeEvents: Stream.fromPubSub(nodeEvents),
      monitorNode: (id) => monitorNode(id, nodeEvents, () => membership.isConnected(id)),
      onNodeUp: (f) => subscribe(nodeEvents, "NodeUp", (e) => runCallback(nodeId, "onNodeUp", () => f(e.nodeId))),
      onNodeDown: (f) =>
        subscribe(
          nodeEvents,
          "NodeDown",
          (e: NodeEvent & { _tag: "NodeDown" }) => runCallback(nodeId, "onNodeDown", () => f(e.nodeId, e.reason))
        )
    }
    internals.set(cluster, { membership, remoting, signals, replica, table })
    const services: NodeServices = {
      cluster,
      runtime: local,
      remoteCall: Services.remoteCall(local, remoting),
      remoteSpawn: Services.remoteSpawn(remoting, nodeId),
      globalRegistry: Services.globalRegistry(replica, local, lock),
      processGroups: groups.service
    }
    processRuntime = Runtime.make({
      context: Context.merge(program.context, contextOf(services)),
      runtimeFlags: program.runtimeFlags,
      fiberRefs: program.fiberRefs
    })
    return services
  })

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
  Effect.gen(function*() {
    // Subscribe before returning, so no event published after this call is missed.
    const queue = yield* PubSub.subscribe(events)
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(queue.take, (event) => (event._tag === tag ? handle(event as E) : Effect.void)))
    )
  })
