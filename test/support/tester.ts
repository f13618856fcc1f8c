/**
 * The test process itself as one more node over TCP, beside node processes started
 * with `startNodeProcess`: `asNode(seeds, body)` runs `body` as that node once it is
 * connected to every seed, and shuts the node down gracefully afterwards.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import { BehaviorRegistry, Cluster } from "../../src/index.js"
import type { NodeId, ServerRef } from "../../src/index.js"
import { TcpTransport } from "../../src/node.js"

/** Runs `body` as an in-process node that seeds `seeds`, once it is connected to all of them. */
export const asNode = <A, E>(seeds: ReadonlyArray<string>, body: Effect.Effect<A, E, Cluster.ClusterServices>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const context = yield* Layer.buildWithScope(
          Cluster.layer({ nodeName: "tester", port: 0, seeds, heartbeatInterval: "200 millis" }).pipe(
            Layer.provide(BehaviorRegistry.layer({})),
            Layer.provide(TcpTransport.layer)
          ),
          scope
        )
        const cluster = yield* Effect.provide(Cluster.Cluster, context)
        while ((yield* cluster.getConnectedNodes).length < seeds.length) yield* Effect.sleep("10 millis")
        return yield* Effect.provide(body, context)
      })
    ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
  )

/** The ref of a spawn result. */
export const refOf = (r: { serverId: string; nodeId: NodeId }): ServerRef => ({ id: r.serverId, nodeId: r.nodeId })
