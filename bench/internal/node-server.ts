/**
 * The far end of the remote benchmarks, run as its own OS process: a cluster node
 * with an echo, a counter and an idle behavior, a raw `node:net` echo server and a
 * raw sink server (counts bytes, answers one byte when the announced total arrived).
 * Prints `{ nodeId, rawPort, sinkPort }` as one JSON line, then serves until killed.
 * `--cookie=<secret>` makes the node require that cookie (authenticated records);
 * `--tls=<cert>,<key>,<ca>` (PEM files) makes it speak TLS.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { BehaviorRegistry, Cluster, GenServer, TcpTransport, TlsTransport } from "../../src/node.js"

const echo = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: unknown, s: number) => [msg, s] as const,
  handleCast: (_: unknown, s: number) => s
})
const counter = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", s: number) => [s, s] as const,
  handleCast: (_: unknown, s: number) => s + 1
})
const idle = GenServer.behavior({
  init: () => null,
  handleCall: (_: unknown, s: null) => [s, s] as const,
  handleCast: (_: unknown, s: null) => s
})

const listen = (server: net.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))
  )

const rawEcho = net.createServer((socket) => {
  socket.setNoDelay(true)
  socket.on("data", (chunk) => socket.write(chunk))
})
const rawSink = net.createServer((socket) => {
  socket.setNoDelay(true)
  let expected = -1
  let received = 0
  socket.on("data", (chunk: Buffer) => {
    let data = chunk
    if (expected < 0) {
      expected = data.readUInt32BE(0)
      data = data.subarray(4)
    }
    received += data.length
    if (received >= expected) {
      socket.write(Buffer.from([1]))
      expected = -1
      received = 0
    }
  })
})

const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const cookie = flag("cookie")
const tls = flag("tls")?.split(",").map((file) => fs.readFileSync(file, "utf8"))
const transport = tls === undefined
  ? TcpTransport.layer
  : Layer.orDie(TlsTransport.layer({ cert: tls[0]!, key: tls[1]!, ca: tls[2]! }))

const main = Effect.gen(function*() {
  const rawPort = yield* Effect.promise(() => listen(rawEcho))
  const sinkPort = yield* Effect.promise(() => listen(rawSink))
  const cluster = yield* Cluster.Cluster
  console.log(JSON.stringify({ nodeId: cluster.localNodeId, rawPort, sinkPort }))
  return yield* Effect.never
})

process.on("SIGINT", () => process.exit(0))

Effect.runFork(
  main.pipe(
    Effect.provide(
      // The spawn figures spawn far more processes from one peer than the default quota allows.
      Cluster.layer({ nodeName: "server", port: 0, cookie, maxProcessesPerPeer: Number.MAX_SAFE_INTEGER }).pipe(
        Layer.provide(BehaviorRegistry.layer({ echo, counter, idle })),
        Layer.provide(transport)
      )
    ),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
