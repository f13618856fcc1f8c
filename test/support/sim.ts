/**
 * Simulated nodes for deterministic cluster tests: each node is a `Cluster.layer`
 * over one shared `MemoryNetwork`, built in its own scope so a test can shut one
 * down gracefully (close its scope) or kill it (`net.kill`).
 */
import { Clock, Context, Effect, Exit, Layer, PubSub, Scope, TestClock } from "effect"
import { internalsOf } from "../../src/cluster/internal/node.js"
import { BehaviorRegistry, Cluster, MemoryTransport, NodeId } from "../../src/index.js"
import type { ClusterConfig, MemoryNetwork, NodeEvent } from "../../src/index.js"

export type SimContext = Context.Context<Cluster.ClusterServices>

export interface SimNode {
  readonly id: NodeId
  readonly context: SimContext
  readonly cluster: Cluster.Service
  readonly events: Array<NodeEvent>
  /** Clock time (ms) of each recorded event, by index. */
  readonly eventTimes: Array<number>
  readonly scope: Scope.CloseableScope
  /** Runs an effect as this node. */
  readonly run: <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, Exclude<R, Cluster.ClusterServices>>
  /** Graceful shutdown. */
  readonly stop: Effect.Effect<void>
}

/** The NodeId a simulated node named `name` gets. */
export const simId = (name: string) => NodeId.make(name, "sim", 1)

/** Starts a simulated node; its events are recorded from the first one. */
export const startNode = (
  net: MemoryNetwork,
  name: string,
  options: Partial<ClusterConfig> & {
    readonly behaviors?: Record<string, BehaviorRegistry.RegisteredBehavior>
    /** The node's registry layer, when its behaviors need services (overrides `behaviors`). */
    readonly registry?: Layer.Layer<BehaviorRegistry.BehaviorRegistry, BehaviorRegistry.BehaviorRegistrationError>
  } = {}
): Effect.Effect<SimNode> =>
  Effect.gen(function*() {
    const { behaviors, registry, ...config } = options
    const scope = yield* Scope.make()
    const layer = Cluster.layer({ nodeName: name, host: "sim", port: 1, ...config }).pipe(
      Layer.provide(registry ?? BehaviorRegistry.layer(behaviors ?? {})),
      Layer.provide(MemoryTransport.layer(net))
    )
    const context = yield* Layer.buildWithScope(layer, scope).pipe(Effect.orDie)
    const cluster = Context.get(context, Cluster.Cluster)
    const events: Array<NodeEvent> = []
    const eventTimes: Array<number> = []
    // Subscribe before the first event can be published, then consume in the background.
    const subscription = yield* Scope.extend(PubSub.subscribe(internalsOf(cluster).membership.events), scope)
    yield* Effect.forkIn(
      Effect.forever(
        Effect.flatMap(subscription.take, (e) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => {
              events.push(e)
              eventTimes.push(now)
            })))
      ),
      scope
    )
    return {
      id: cluster.localNodeId,
      context,
      cluster,
      events,
      eventTimes,
      scope,
      run: (effect) => Effect.provide(effect, context) as any,
      stop: Scope.close(scope, Exit.void)
    }
  })

/** Advances the test clock in small steps so chains of timers (handshake, gossip, redial) all run. */
export const settle = (totalMs = 1000, stepMs = 10) =>
  Effect.gen(function*() {
    for (let t = 0; t < totalMs; t += stepMs) {
      yield* TestClock.adjust(stepMs)
      yield* Effect.yieldNow()
    }
  })

/** The connected node ids of a node, sorted. */
export const connected = (node: SimNode) =>
  Effect.map(node.cluster.getConnectedNodes, (nodes) => nodes.map((n) => n.id).sort())

/** The events of a node as compact strings: "up b", "down b connection_closed". */
export const story = (node: SimNode) =>
  node.events.map((
    e
  ) => (e._tag === "NodeUp" ? `up ${e.nodeId.split("@")[0]}` : `down ${e.nodeId.split("@")[0]} ${e.reason}`))

/** Lets every ready fiber run without moving the clock: what happens "at once". */
export const flush = Effect.repeatN(Effect.yieldNow(), 50)
