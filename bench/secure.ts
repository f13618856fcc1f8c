/**
 * What authentication costs: the same remote calls and casts between two OS processes
 * without a cookie, with one (every record MAC'd) and over TLS 1.3 with mutual
 * certificates (made with `openssl` for the run), in alternating rounds so drift on
 * a shared machine hits both alike, each beside a raw `node:net` ping-pong of the same
 * round. Prints the median of the rounds and the cost against no cookie.
 */
import { Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { fileURLToPath } from "node:url"
import { BehaviorRegistry, Cluster, RemoteCall, RemoteSpawn, TcpTransport, TlsTransport } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import type * as Transport from "../src/transport/Transport.js"
import { certDir, issue, makeCa } from "../test/support/certs.js"
import { fmt, rawRemotePingPong } from "./internal/baseline.js"
import { startChild } from "./internal/child.js"
import { timedLoop } from "./internal/loop.js"

const DURATION_MS = 1000
const ROUNDS = 7
const CASTS = 100_000
const COOKIE = "bench-cookie-0123456789abcdef"

interface Mode {
  readonly name: string
  readonly serverArgs: ReadonlyArray<string>
  readonly config: Partial<Cluster.ClusterConfig>
  readonly transport: Layer.Layer<Transport.Transport, unknown>
}
const scratch = certDir()
const ca = makeCa(scratch.dir, "ca")
const serverCert = issue(scratch.dir, ca, "server", ["server@127.0.0.1"])
const clientCert = issue(scratch.dir, ca, "client", ["client@127.0.0.1"])
const modes: ReadonlyArray<Mode> = [
  { name: "tcp, no cookie", serverArgs: [], config: {}, transport: TcpTransport.layer },
  {
    name: "tcp, cookie (MAC per record)",
    serverArgs: [`--cookie=${COOKIE}`],
    config: { cookie: COOKIE },
    transport: TcpTransport.layer
  },
  {
    name: "tls 1.3, mutual certificates",
    serverArgs: [`--tls=${serverCert.certFile},${serverCert.keyFile},${ca.certFile}`],
    config: {},
    transport: TlsTransport.layer({ cert: clientCert.cert, key: clientCert.key, ca: ca.cert })
  }
]

type Server = { nodeId: NodeId; rawPort: number; sinkPort: number }

/** A client node for `mode`, connected to its server, with an echo and a counter spawned there. */
const client = (server: Server) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    while (!(yield* cluster.isNodeConnected(server.nodeId))) yield* Effect.sleep("10 millis")
    const echo = yield* RemoteSpawn.spawn("echo", server.nodeId)
    const counter = yield* RemoteSpawn.spawn("counter", server.nodeId)
    return {
      echo: { id: echo.serverId, nodeId: echo.nodeId },
      counter: { id: counter.serverId, nodeId: counter.nodeId }
    }
  })

const clientLayer = (mode: Mode, server: Server) =>
  Cluster.layer({ nodeName: "client", port: 0, seeds: [server.nodeId], ...mode.config }).pipe(
    Layer.provide(BehaviorRegistry.layer({})),
    Layer.provide(mode.transport),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
  )

type Refs = Effect.Effect.Success<ReturnType<typeof client>>

/**
 * One round of one mode: sequential and 64-outstanding calls, each as a ratio to a raw
 * ping-pong run just before it, with this process's CPU per call; then casts.
 */
const round = (server: Server, refs: Refs) =>
  Effect.gen(function*() {
    const msg = { type: "ping", n: 1 }
    const figures: Record<string, number> = {}
    for (const outstanding of [1, 64]) {
      yield* timedLoop(RemoteCall.call(refs.echo, msg), outstanding, 300)
      const raw = yield* Effect.promise(() =>
        rawRemotePingPong({ port: server.rawPort, bytes: 16, outstanding, durationMs: DURATION_MS })
      )
      const cpu = process.cpuUsage()
      const started = performance.now()
      const ours = yield* timedLoop(RemoteCall.call(refs.echo, msg), outstanding, DURATION_MS)
      const used = process.cpuUsage(cpu)
      const calls = ours.perSecond * (performance.now() - started) / 1000
      figures[`call x${outstanding}`] = ours.perSecond
      figures[`call x${outstanding} ÷ raw`] = ours.perSecond / raw.perSecond
      figures[`call x${outstanding} cpu`] = (used.user + used.system) / calls
    }
    const t0 = performance.now()
    for (let i = 0; i < CASTS; i++) yield* RemoteCall.cast(refs.counter, 1)
    yield* RemoteCall.call(refs.counter, "get", { timeout: "60 seconds" })
    figures["cast"] = CASTS / ((performance.now() - t0) / 1000)
    return figures
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = async () => {
  const script = fileURLToPath(new URL("./internal/node-server.ts", import.meta.url))
  const results = new Map<string, Array<Record<string, number>>>(modes.map((m) => [m.name, []]))
  // Every mode's server and client run side by side, and the rounds alternate between
  // them, so the machine's drift hits all modes alike.
  const started = await Promise.all(modes.map(async (mode) => {
    const { child, info } = await startChild<Server>(script, mode.serverArgs)
    const runtime = ManagedRuntime.make(clientLayer(mode, info))
    const refs = await runtime.runPromise(client(info))
    return { mode, child, info, runtime, refs }
  }))
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const { info, mode, refs, runtime } of started) {
        results.get(mode.name)!.push(await runtime.runPromise(round(info, refs)))
      }
    }
  } finally {
    for (const { child, runtime } of started) {
      await runtime.dispose()
      child.kill("SIGKILL")
    }
  }
  console.log(`\n== authentication cost, two OS processes, median of ${ROUNDS} alternating rounds ==`)
  const base = results.get(modes[0]!.name)!
  for (const mode of modes) {
    const rows = results.get(mode.name)!
    const cell = (key: string) => median(rows.map((row) => row[key]!))
    const cost = (key: string) => {
      const ratio = cell(key) / median(base.map((row) => row[key]!))
      return `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(1)}%`
    }
    console.log(mode.name)
    for (const key of ["call x1", "call x64"]) {
      console.log(
        `  ${key.padEnd(12)} ${fmt(cell(key)).padStart(9)}/s   ratio to raw net ${cell(`${key} ÷ raw`).toFixed(2)}x (${
          cost(`${key} ÷ raw`)
        })   client CPU ${cell(`${key} cpu`).toFixed(1)} µs/call (${cost(`${key} cpu`)})`
      )
    }
    console.log(`  ${"cast".padEnd(12)} ${fmt(cell("cast")).padStart(9)}/s (${cost("cast")})`)
  }
  console.log("(in brackets: against tcp without a cookie)")
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
}).finally(() => scratch.cleanup())
