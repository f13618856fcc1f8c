/**
 * What authentication costs: the same remote calls and casts between two OS processes
 * without a cookie and with one (every record MAC'd), in alternating rounds so drift on
 * a shared machine hits both alike, each beside a raw `node:net` ping-pong of the same
 * round. Prints the median of the rounds and the cost against no cookie.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import { fileURLToPath } from "node:url"
import { BehaviorRegistry, Cluster, RemoteCall, RemoteSpawn, TcpTransport } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import { fmt, rawRemotePingPong } from "./internal/baseline.js"
import { startChild } from "./internal/child.js"
import { timedLoop } from "./internal/loop.js"

const DURATION_MS = 1000
const ROUNDS = 5
const CASTS = 100_000
const COOKIE = "bench-cookie-0123456789abcdef"

interface Mode {
  readonly name: string
  readonly serverArgs: ReadonlyArray<string>
  readonly config: Partial<Cluster.ClusterConfig>
}
const modes: ReadonlyArray<Mode> = [
  { name: "tcp, no cookie", serverArgs: [], config: {} },
  { name: "tcp, cookie (MAC per record)", serverArgs: [`--cookie=${COOKIE}`], config: { cookie: COOKIE } }
]

type Server = { nodeId: NodeId; rawPort: number; sinkPort: number }

/** One round of one mode: seq calls, 64 outstanding calls, casts, each as a ratio to raw. */
const round = (mode: Mode, server: Server) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    while (!(yield* cluster.isNodeConnected(server.nodeId))) yield* Effect.sleep("10 millis")
    const echo = yield* RemoteSpawn.spawn("echo", server.nodeId)
    const ref = { id: echo.serverId, nodeId: echo.nodeId }
    const counter = yield* RemoteSpawn.spawn("counter", server.nodeId)
    const counterRef = { id: counter.serverId, nodeId: counter.nodeId }
    const msg = { type: "ping", n: 1 }
    const figures: Record<string, number> = {}
    for (const outstanding of [1, 64]) {
      yield* timedLoop(RemoteCall.call(ref, msg), outstanding, 500)
      const raw = yield* Effect.promise(() =>
        rawRemotePingPong({ port: server.rawPort, bytes: 16, outstanding, durationMs: DURATION_MS })
      )
      const ours = yield* timedLoop(RemoteCall.call(ref, msg), outstanding, DURATION_MS)
      figures[`call x${outstanding}`] = ours.perSecond
      figures[`call x${outstanding} ÷ raw`] = ours.perSecond / raw.perSecond
    }
    const t0 = performance.now()
    for (let i = 0; i < CASTS; i++) yield* RemoteCall.cast(counterRef, 1)
    yield* RemoteCall.call(counterRef, "get", { timeout: "60 seconds" })
    figures["cast"] = CASTS / ((performance.now() - t0) / 1000)
    return figures
  }).pipe(
    Effect.provide(
      Cluster.layer({ nodeName: "client", port: 0, seeds: [server.nodeId], ...mode.config }).pipe(
        Layer.provide(BehaviorRegistry.layer({})),
        Layer.provide(TcpTransport.layer)
      )
    ),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = async () => {
  const script = fileURLToPath(new URL("./internal/node-server.ts", import.meta.url))
  const results = new Map<string, Array<Record<string, number>>>(modes.map((m) => [m.name, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of modes) {
      const { child, info } = await startChild<Server>(script, mode.serverArgs)
      try {
        results.get(mode.name)!.push(await Effect.runPromise(round(mode, info)))
      } finally {
        child.kill("SIGKILL")
      }
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
        `  ${key.padEnd(12)} ${fmt(cell(key)).padStart(9)}/s   ratio to raw net ${
          cell(`${key} ÷ raw`).toFixed(2)
        }x   vs no cookie ${cost(`${key} ÷ raw`)}`
      )
    }
    console.log(`  ${"cast".padEnd(12)} ${fmt(cell("cast")).padStart(9)}/s   vs no cookie ${cost("cast")}`)
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
