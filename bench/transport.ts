/**
 * TcpTransport ping-pong between two OS processes: sequential and 64 outstanding,
 * small (16 B) and 1 KB frames, each beside a raw `node:net` ping-pong of the same
 * shape against the same far process, measured in the same run.
 */
import { Deferred, Effect, Exit } from "effect"
import { fileURLToPath } from "node:url"
import { TcpTransport } from "../src/node.js"
import { rawRemotePingPong, report } from "./internal/baseline.js"
import { startChild } from "./internal/child.js"

const DURATION_MS = 2000

const framePingPong = (port: number, bytes: number, outstanding: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const conn = yield* TcpTransport.make.dial({ host: "127.0.0.1", port, name: "echo" }, {
        maxFrameBytes: 16 * 1024 * 1024
      })
      const payload = new Uint8Array(bytes).fill(7)
      const done = yield* Deferred.make<number>()
      let completed = 0
      let inFlight = 0
      const started = performance.now()
      const deadline = started + DURATION_MS
      const send = () => {
        inFlight++
        conn.offer(payload)
      }
      yield* Effect.forkScoped(
        conn.run(() => {
          completed++
          inFlight--
          if (performance.now() < deadline) send()
          else if (inFlight === 0) {
            Deferred.unsafeDone(done, Exit.succeed(completed / ((performance.now() - started) / 1000)))
          }
        })
      )
      for (let i = 0; i < outstanding; i++) send()
      return yield* Deferred.await(done)
    })
  )

const main = async () => {
  const { child, info } = await startChild<{ rawPort: number; framePort: number }>(
    fileURLToPath(new URL("./internal/echo-server.ts", import.meta.url))
  )
  try {
    console.log("\n== TcpTransport frame ping-pong, two OS processes ==")
    for (const bytes of [16, 1024]) {
      for (const outstanding of [1, 64]) {
        await Effect.runPromise(framePingPong(info.framePort, bytes, outstanding)) // warm-up
        const raw = await rawRemotePingPong({ port: info.rawPort, bytes, outstanding, durationMs: DURATION_MS })
        const ours = await Effect.runPromise(framePingPong(info.framePort, bytes, outstanding))
        report(
          `${bytes} B frames, ${outstanding === 1 ? "sequential" : `${outstanding} outstanding`}`,
          ours,
          "raw net",
          raw.perSecond
        )
      }
    }
  } finally {
    child.kill("SIGKILL")
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
