/**
 * Nodes in the test process on the real `TcpTransport` (or TLS) on 127.0.0.1, for tests that put a
 * raw-socket peer or a relay next to them: each node records the NodeUp and NodeDown it saw.
 */
import { Context, Effect, Layer, Redacted } from "effect"
import { BehaviorRegistry, Cluster, GenServer, TcpTransport } from "../../src/node.js"
import type { NodeId } from "../../src/node.js"
import type { Transport } from "../../src/transport/Transport.js"

/** The cookie these nodes share unless told otherwise. */
export const cookie = Redacted.make("the-cookie")

/** Starts a node named `name` on a free port, with `cookie` unless `options` says otherwise. */
export const startNode = (
  name: string,
  { behaviors = {}, transport = TcpTransport.layer, ...options }: Partial<Cluster.ClusterConfig> & {
    readonly behaviors?: Record<string, BehaviorRegistry.RegisteredBehavior>
    /** Default TCP. */
    readonly transport?: Layer.Layer<Transport, unknown> | undefined
  } = {}
) =>
  Effect.gen(function*() {
    const context = yield* Cluster.make({ nodeName: name, port: 0, cookie, ...options }).pipe(
      Effect.provide(Layer.merge(transport, BehaviorRegistry.layer(behaviors)))
    )
    const cluster = Context.get(context, Cluster.Cluster)
    const up: Array<NodeId> = []
    const down: Array<{ nodeId: NodeId; reason: string }> = []
    yield* cluster.onNodeUp((id) => void up.push(id))
    yield* cluster.onNodeDown((nodeId, reason) => void down.push({ nodeId, reason }))
    type Services = typeof context extends Context.Context<infer R> ? R : never
    const run = <A, E>(effect: Effect.Effect<A, E, Services>) => Effect.provide(effect, context)
    return {
      cluster,
      context,
      run,
      id: cluster.localNodeId,
      port: Number(cluster.localNodeId.split(":").pop()),
      up,
      down
    }
  })

/** Polls `check` every 20 ms until it holds or `withinMs` passed; returns whether it held. */
export const eventually = (check: () => boolean, withinMs = 10_000) =>
  Effect.promise(async () => {
    const end = Date.now() + withinMs
    while (Date.now() < end) {
      if (check()) return true
      await new Promise((r) => setTimeout(r, 20))
    }
    return check()
  })

/** Answers a call with its message. */
export const echo = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: unknown, s: number) => [msg, s] as const,
  handleCast: (_: unknown, s: number) => s
})
