/**
 * Remote calls, casts and spawns between two OS processes over TcpTransport, each
 * beside a raw `node:net` baseline of the same shape measured in the same run.
 */
import { Effect } from "effect"
import * as net from "node:net"
import { Cluster, RemoteCall, RemoteSpawn } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import { runAgainstNodeServer } from "./internal/against-node-server.js"
import { fmt, percentile, rawRemotePingPong, report } from "./internal/baseline.js"
import { timedLoop as loop } from "./internal/loop.js"

const DURATION_MS = 2000
const CASTS = 200_000

/** Raw one-way stream: N small writes, then one byte back when the sink has them all. */
const rawOneWay = (port: number, count: number, bytes: number) =>
  new Promise<number>((resolve) => {
    const socket = net.createConnection({ port, host: "127.0.0.1" }, () => {
      socket.setNoDelay(true)
      const started = performance.now()
      socket.once("data", () => {
        resolve(count / ((performance.now() - started) / 1000))
        socket.destroy()
      })
      const header = Buffer.alloc(4)
      header.writeUInt32BE(count * bytes, 0)
      socket.write(header)
      const message = Buffer.alloc(bytes, 1)
      for (let i = 0; i < count; i++) socket.write(message)
    })
  })

const timedLoop = <E, R>(body: Effect.Effect<unknown, E, R>, outstanding: number, durationMs = DURATION_MS) =>
  loop(body, outstanding, durationMs)

const program = (server: { nodeId: NodeId; rawPort: number; sinkPort: number }) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    while (!(yield* cluster.isNodeConnected(server.nodeId))) yield* Effect.sleep("10 millis")
    const echo = yield* RemoteSpawn.spawn("echo", server.nodeId)
    const echoRef = { id: echo.serverId, nodeId: echo.nodeId }
    const counter = yield* RemoteSpawn.spawn("counter", server.nodeId)
    const counterRef = { id: counter.serverId, nodeId: counter.nodeId }
    const small = { type: "ping", n: 1 }
    const kb = { type: "data", body: "x".repeat(1000) }

    console.log("\n== remote processes, two OS processes over TcpTransport ==")
    const calls = [
      { label: "call, small, sequential", msg: small, outstanding: 1, bytes: 16 },
      { label: "call, small, 64 outstanding", msg: small, outstanding: 64, bytes: 16 },
      { label: "call, 1 KB, sequential", msg: kb, outstanding: 1, bytes: 1024 },
      { label: "call, 1 KB, 64 outstanding", msg: kb, outstanding: 64, bytes: 1024 }
    ]
    for (const { bytes, label, msg, outstanding } of calls) {
      yield* timedLoop(RemoteCall.call(echoRef, msg), outstanding, 1000) // warm-up: let the JIT settle
      const raw = yield* Effect.promise(() =>
        rawRemotePingPong({ port: server.rawPort, bytes, outstanding, durationMs: DURATION_MS })
      )
      const ours = yield* timedLoop(RemoteCall.call(echoRef, msg), outstanding)
      report(label, ours.perSecond, "raw net", raw.perSecond)
      if (outstanding === 1) {
        const p50 = percentile(ours.latencies, 50)
        const p99 = percentile(ours.latencies, 99)
        const r50 = percentile(raw.latenciesUs, 50)
        const r99 = percentile(raw.latenciesUs, 99)
        console.log(
          `${"  latency p50 / p99".padEnd(44)} ${p50.toFixed(0).padStart(6)} / ${p99.toFixed(0)} µs   raw net ${
            r50.toFixed(0)
          } / ${r99.toFixed(0)} µs   p99 ratio ${(p99 / r99).toFixed(2)}x`
        )
      }
    }

    const rawCasts = yield* Effect.promise(() => rawOneWay(server.sinkPort, CASTS, 16))
    const t0 = performance.now()
    for (let i = 0; i < CASTS; i++) yield* RemoteCall.cast(counterRef, 1)
    const total = yield* RemoteCall.call<number>(counterRef, "get", { timeout: "60 seconds" })
    const castRate = CASTS / ((performance.now() - t0) / 1000)
    if (total !== CASTS) console.log(`  !! counter saw ${total} of ${CASTS} casts`)
    report(`cast, small (${fmt(CASTS)} casts + 1 call)`, castRate, "raw net 1-way", rawCasts)

    const rawSeq = yield* Effect.promise(() =>
      rawRemotePingPong({ port: server.rawPort, bytes: 64, outstanding: 1, durationMs: DURATION_MS })
    )
    const spawnSeq = yield* timedLoop(RemoteSpawn.spawn("idle", server.nodeId), 1)
    report("spawn, sequential (target >= 7,000/s)", spawnSeq.perSecond, "raw net seq", rawSeq.perSecond)
    const raw64 = yield* Effect.promise(() =>
      rawRemotePingPong({ port: server.rawPort, bytes: 64, outstanding: 64, durationMs: DURATION_MS })
    )
    const spawn64 = yield* timedLoop(RemoteSpawn.spawn("idle", server.nodeId), 64)
    report("spawn, 64 outstanding (target >= 17,000/s)", spawn64.perSecond, "raw net x64", raw64.perSecond)
  })

runAgainstNodeServer(program)
