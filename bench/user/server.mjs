// The far end of the user-shaped benchmarks: a node of the *built* package (dist/),
// started as a user starts one. Prints {"nodeId"} once listening, serves until killed.
//   node bench/user/server.mjs [--cookie=<secret>]
import { Effect, Layer, Logger, LogLevel } from "effect"
import { BehaviorRegistry, Cluster, GenServer, TcpTransport } from "../../dist/node.js"

// The anchors' counter: inc / get / echo by call, inc by cast.
const counter = GenServer.behavior({
  init: () => 0,
  handleCall: (msg, n) =>
    msg.type === "inc" ? [n + 1, n + 1] : msg.type === "echo" ? [msg.data, n] : [n, n],
  handleCast: (msg, n) => (msg.type === "inc" ? n + 1 : n)
})
const idle = GenServer.behavior({ init: () => null, handleCall: (_, s) => [s, s], handleCast: (_, s) => s })

const cookie = process.argv.find((a) => a.startsWith("--cookie="))?.slice("--cookie=".length)
const node = Cluster.layer({ nodeName: "server", port: 0, cookie, maxProcessesPerPeer: Number.MAX_SAFE_INTEGER }).pipe(
  Layer.provide(BehaviorRegistry.layer({ counter, idle })),
  Layer.provide(TcpTransport.layer),
  Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
)
Effect.runFork(
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    console.log(JSON.stringify({ nodeId: cluster.localNodeId }))
    return yield* Effect.never
  }).pipe(Effect.provide(node))
)
