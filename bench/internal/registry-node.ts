/**
 * A far node of the registry benchmark, run as its own OS process: it joins the
 * cluster through the seed given as argv[2] and, for every name it sees registered,
 * casts `{ name, node }` to the process registered globally as "bench:collector".
 * Prints `{ nodeId }` as one JSON line, then serves until killed.
 */
import { Effect, Layer, Logger, LogLevel, Option, Stream } from "effect"
import { BehaviorRegistry, Cluster, GlobalRegistry, RemoteCall, TcpTransport } from "../../src/node.js"

const seed = process.argv[2]!
const name = process.argv[3]!

const main = Effect.gen(function*() {
  const cluster = yield* Cluster.Cluster
  const registry = yield* GlobalRegistry.GlobalRegistry
  console.log(JSON.stringify({ nodeId: cluster.localNodeId }))
  yield* registry.events.pipe(
    Stream.runForEach((event) =>
      Effect.gen(function*() {
        if (event._tag !== "Registered" || event.name === "bench:collector") return
        const collector = yield* registry.whereis("bench:collector")
        if (Option.isSome(collector)) {
          yield* Effect.ignore(RemoteCall.cast(collector.value, { name: event.name, node: cluster.localNodeId }))
        }
      })
    )
  )
})

process.on("SIGINT", () => process.exit(0))
Effect.runFork(
  main.pipe(
    Effect.provide(
      Cluster.layer({ nodeName: name, port: 0, seeds: [seed] }).pipe(
        Layer.provide(BehaviorRegistry.layer({})),
        Layer.provide(TcpTransport.layer)
      )
    ),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
