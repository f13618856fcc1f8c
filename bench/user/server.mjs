// The far end of the user-shaped benchmarks: a node of the *built* package (dist/),
// started as a user starts one. Prints {"nodeId"} once listening, serves until killed.
//   node bench/user/server.mjs [--cookie=<secret>]
import { Effect, Layer, Logger, LogLevel } from "effect"
import { BehaviorRegistry, Cluster, GenServer, TcpTransport } from "../../dist/node.js"

/** This process's CPU time so far, µs: the clients read it around a window for the server's CPU per call. */
const cpuMicros = () => {
  const used = process.cpuUsage()
  return used.user + used.system
}

// The anchors' counter: inc / get / echo by call, inc by cast; and "cpu" for the bench.
const counter = GenServer.behavior({
  init: () => 0,
  handleCall: (msg, n) =>
    msg.type === "inc"
      ? [n + 1, n + 1]
      : msg.type === "echo"
      ? [msg.data, n]
      : msg.type === "cpu"
      ? [cpuMicros(), n]
      : [n, n],
  handleCast: (msg, n) => (msg.type === "inc" ? n + 1 : n)
})
const idle = GenServer.behavior({ init: () => null, handleCall: (_, s) => [s, s], handleCast: (_, s) => s })

const cookie = process.argv.find((a) => a.startsWith("--cookie="))?.slice("--cookie=".length)
const node = Cluster.layer({ nodeName: "server", port: 0, cookie, maxProcessesPerPeer: Number.MAX_SAFE_INTEGER }).pipe(
  Layer.provide(BehaviorRegistry.layer({ counter, idle })),
  Layer.provide(TcpTransport.layer),
  Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
)
// SIGINT ends the process normally, so `node --cpu-prof` writes the server's profile too.
process.once("SIGINT", () => process.exit(0))
Effect.runFork(
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    console.log(JSON.stringify({ nodeId: cluster.localNodeId }))
    return yield* Effect.never
  }).pipe(Effect.provide(node))
)
