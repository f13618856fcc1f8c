import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber } from "effect"
import * as net from "node:net"
import { TcpTransport } from "../src/node.js"
import { OUTBOX_HIGH_WATER_BYTES } from "../src/transport/Transport.js"
import type { Connection } from "../src/transport/Transport.js"

const MAX = 16 * 1024 * 1024
const opts = { maxFrameBytes: MAX }
const local = (port: number) => ({ host: "127.0.0.1", port, name: "n" })
/** Sends as a producer does: waits for room, then queues. */
const send = (conn: Connection, frame: Uint8Array) =>
  Effect.zipRight(conn.writable, Effect.sync(() => conn.offer(frame)))

describe("TcpTransport", () => {
  it.scopedLive("carries frames both ways, in order, and reports the peer's close", () =>
    Effect.gen(function*() {
      const listener = yield* TcpTransport.make.listen(local(0), opts)
      const serverClosed = yield* Deferred.make<string>()
      yield* Effect.forkScoped(
        listener.serve((conn) =>
          conn.run((frame) => conn.offer(frame.map((b) => b + 1))).pipe(
            Effect.flatMap((i) => Deferred.succeed(serverClosed, i.by))
          )
        )
      )
      const conn = yield* TcpTransport.make.dial(local(listener.address.port), opts)
      const got: Array<number> = []
      const done = yield* Deferred.make<void>()
      yield* Effect.forkScoped(
        conn.run((f) => {
          got.push(f[0]!)
          if (got.length === 1000) Deferred.unsafeDone(done, Exit.void)
        })
      )
      for (let i = 0; i < 1000; i++) yield* send(conn, new Uint8Array([i % 200]))
      yield* Deferred.await(done)
      expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => (i % 200) + 1))
      yield* conn.close("test done")
      expect(yield* Deferred.await(serverClosed)).toBe("Remote")
      const refused = yield* Effect.either(conn.writable)
      expect(Either.isLeft(refused) && refused.left._tag).toBe("ConnectionClosedError")
      expect(conn.offer(new Uint8Array([1]))).toBe(false)
    }))

  it.scopedLive("fails a dial to a closed port with a TransportError", () =>
    Effect.gen(function*() {
      const probe = net.createServer()
      yield* Effect.promise(() => new Promise<void>((r) => probe.listen(0, "127.0.0.1", r)))
      const port = (probe.address() as net.AddressInfo).port
      yield* Effect.promise(() => new Promise<void>((r) => probe.close(() => r())))
      const error = yield* Effect.flip(TcpTransport.make.dial(local(port), opts))
      expect(error._tag).toBe("TransportError")
      expect(error.reason).toBe("Dial")
    }))

  it.scopedLive("suspends senders while a peer that does not read holds the outbox full (memory stays bounded)", () =>
    Effect.gen(function*() {
      // A peer that accepts and never reads: the kernel buffers fill, then our outbox.
      const sink = net.createServer((socket) => socket.pause())
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((r) => sink.listen(0, "127.0.0.1", r))),
        () => Effect.sync(() => sink.close())
      )
      const conn = yield* TcpTransport.make.dial(local((sink.address() as net.AddressInfo).port), opts)
      const frame = new Uint8Array(1024 * 1024)
      let sent = 0
      const sender = yield* Effect.fork(
        Effect.forever(Effect.zipRight(send(conn, frame), Effect.sync(() => sent++)))
      )
      yield* Effect.sleep("1 second")
      const stalledAt = sent
      yield* Effect.sleep("300 millis")
      expect(sent).toBe(stalledAt) // the sender is suspended, not spinning or buffering
      expect(conn.queuedBytes()).toBeLessThanOrEqual(OUTBOX_HIGH_WATER_BYTES + frame.length)
      expect(sender.unsafePoll()).toBeNull()
      yield* Fiber.interrupt(sender)
    }))
})
