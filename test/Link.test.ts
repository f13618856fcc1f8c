import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber, Option, Redacted, TestClock } from "effect"
import { Packr } from "msgpackr"
import * as Link from "../src/cluster/Link.js"
import { MemoryNetwork, MemoryTransport, NodeId, Transport } from "../src/index.js"
import type { WireMessage } from "../src/wire/Protocol.js"

const MAX = 16 * 1024 * 1024
const a = NodeId.make("a", "sim", 1)
const b = NodeId.make("b", "sim", 1)
const addr = (id: NodeId) => ({ ...NodeId.components(id), name: NodeId.components(id).name })

const config = (self: NodeId, cookie?: string, extra: Partial<Link.HandshakeConfig> = {}): Link.HandshakeConfig => ({
  self: { nodeId: self, incarnation: `${self}-1` },
  cookie: cookie === undefined ? Option.none() : Option.some(Redacted.make(cookie)),
  handshakeTimeout: "5 seconds",
  role: extra.expected === undefined ? "acceptor" : "dialer",
  ...extra
})

/**
 * Two simulated nodes on `net`: `b` listens (with `serverMax` as its frame limit), `a`
 * dials from its own transport; `a` listens too when `aListens`, so the network knows it.
 */
const ends = (net: MemoryNetwork, options: { readonly aListens?: boolean; readonly serverMax?: number } = {}) =>
  Effect.gen(function*() {
    const ta = MemoryTransport.makeTransport(net)
    const tb = MemoryTransport.makeTransport(net)
    if (options.aListens !== false) yield* ta.listen(addr(a), { maxFrameBytes: MAX })
    const listener = yield* tb.listen(addr(b), { maxFrameBytes: options.serverMax ?? MAX })
    return { ta, listener }
  })

/** Listens as `b` with `serverConfig`, dials from `a` with `clientConfig`; returns both handshake outcomes. */
const pair = (serverConfig: Link.HandshakeConfig, clientConfig: Link.HandshakeConfig) =>
  Effect.gen(function*() {
    const net = yield* MemoryNetwork.make
    const { listener, ta } = yield* ends(net)
    const server = yield* Deferred.make<Either.Either<Link.Link, Link.HandshakeFailed>>()
    yield* Effect.forkScoped(
      listener.serve((conn) =>
        Effect.gen(function*() {
          const result = yield* Effect.either(Link.establish(conn, { ...serverConfig, role: "acceptor" }))
          yield* Deferred.succeed(server, result)
          if (Either.isRight(result)) yield* result.right.closed
        })
      )
    )
    const conn = yield* ta.dial(addr(b), { maxFrameBytes: MAX })
    const client = yield* Effect.either(Link.establish(conn, { ...clientConfig, role: "dialer" }))
    return { client, server: yield* Deferred.await(server) }
  })

describe("Link handshake", () => {
  it.scoped("binds each side to the other's identity and incarnation, without a cookie", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair(config(b), config(a, undefined, { expected: b }))
      expect(Either.getOrThrow(client).peer).toEqual({ nodeId: b, incarnation: `${b}-1` })
      expect(Either.getOrThrow(server).peer).toEqual({ nodeId: a, incarnation: `${a}-1` })
    }))

  it.scoped("exchanges messages in order once established", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair(config(b), config(a))
      const c = Either.getOrThrow(client)
      const s = Either.getOrThrow(server)
      const got: Array<WireMessage> = []
      const done = yield* Deferred.make<void>()
      s.receive((m) => {
        got.push(m)
        if (got.length === 100) Deferred.unsafeDone(done, Exit.void)
      })
      for (let i = 0; i < 100; i++) c.send({ _tag: "Cast", serverId: `s${i}`, payload: new Uint8Array([i]) })
      yield* Deferred.await(done)
      expect(got.map((m) => (m._tag === "Cast" ? m.serverId : "?"))).toEqual(
        Array.from({ length: 100 }, (_, i) => `s${i}`)
      )
    }))

  it.scoped("an authenticated peer's malformed message costs that message, an unreadable frame the link", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair(config(b), config(a))
      const c = Either.getOrThrow(client)
      const s = Either.getOrThrow(server)
      const got: Array<string> = []
      s.receive((m) => void got.push(m._tag === "Cast" ? m.serverId : m._tag))
      const pack = (value: unknown) => new Packr({ useRecords: false }).pack(value)
      // Readable msgpack that is not a message: an unknown tag, a field of the wrong type.
      c.connection.offer(pack({ _tag: "FromTheFuture", x: 1 }))
      c.connection.offer(pack({ _tag: "Cast", serverId: 7, payload: new Uint8Array() }))
      c.send({ _tag: "Cast", serverId: "after", payload: new Uint8Array([1]) })
      yield* TestClock.adjust(10)
      expect(got).toEqual(["after"])
      expect(Option.isNone(yield* Effect.timeout(s.closed, 0).pipe(Effect.option))).toBe(true)
      // Bytes that are not msgpack: the stream cannot be trusted any more.
      c.connection.offer(new Uint8Array([0xc1, 0xc1, 0xc1]))
      const info = yield* s.closed
      expect(info.reason).toContain("malformed message")
    }))

  it.scoped("an answer that does not decode closes the link: the request it answers would otherwise wait forever", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair(config(b), config(a))
      const c = Either.getOrThrow(client)
      const s = Either.getOrThrow(server)
      s.receive(() => {})
      c.connection.offer(new Packr({ useRecords: false }).pack({ _tag: "Stopped", callId: "not a number" }))
      const info = yield* s.closed
      expect(info.reason).toContain("malformed message")
    }))

  it.scoped("succeeds when both sides prove the same cookie", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair(config(b, "secret"), config(a, "secret"))
      expect(Either.isRight(client) && Either.isRight(server)).toBe(true)
    }))

  it.scoped("refuses a wrong cookie on both sides", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair(config(b, "secret"), config(a, "guess"))
      expect(Either.isLeft(client)).toBe(true)
      expect(Either.isLeft(server)).toBe(true)
      const reasons = [client, server].map((r) => (Either.isLeft(r) ? r.left.reason : ""))
      expect(reasons.some((r) => r.includes("cookie mismatch"))).toBe(true)
    }))

  it.scoped("refuses a peer without a cookie when one is required, and the reverse", () =>
    Effect.gen(function*() {
      const one = yield* pair(config(b, "secret"), config(a))
      expect(Either.isLeft(one.server) && one.server.left.reason).toContain("peer has none")
      const two = yield* pair(config(b), config(a, "secret"))
      expect(Either.isLeft(two.server) && two.server.left.reason).toContain("this node has none")
    }))

  it.scoped("refuses when the dialed node answers with another id", () =>
    Effect.gen(function*() {
      const other = NodeId.make("c", "sim", 1)
      const { client } = yield* pair(config(b), config(a, undefined, { expected: other }))
      expect(Either.isLeft(client) && client.left.reason).toContain(`dialed ${other} but reached ${b}`)
    }))

  it.scoped("closes a connection that stays silent past the handshake deadline", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { listener, ta } = yield* ends(net, { aListens: false })
      const outcome = yield* Deferred.make<Either.Either<Link.Link, Link.HandshakeFailed>>()
      yield* Effect.forkScoped(
        listener.serve((conn) =>
          Effect.either(Link.establish(conn, config(b))).pipe(Effect.flatMap((r) => Deferred.succeed(outcome, r)))
        )
      )
      const silent = yield* ta.dial(addr(b), { maxFrameBytes: MAX })
      const closed = yield* Effect.fork(silent.run(() => {}))
      yield* TestClock.adjust("4999 millis")
      expect(yield* Deferred.isDone(outcome)).toBe(false)
      yield* TestClock.adjust("1 millis")
      const result = yield* Deferred.await(outcome)
      expect(Either.isLeft(result) && result.left.reason).toContain("handshake not completed within 5s")
      expect((yield* Fiber.join(closed)).by).toBe("Remote")
    }))
})

describe("MemoryTransport", () => {
  it.scoped("applies latency through the Clock and keeps order", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { listener, ta } = yield* ends(net)
      const got: Array<number> = []
      yield* Effect.forkScoped(listener.serve((conn) => conn.run((f) => got.push(f[0]!))))
      yield* net.setLatency("100 millis")
      const conn = yield* ta.dial(addr(b), { maxFrameBytes: MAX })
      for (let i = 0; i < 5; i++) conn.offer(new Uint8Array([i]))
      yield* TestClock.adjust(99)
      expect(got).toEqual([])
      yield* TestClock.adjust(1)
      expect(got).toEqual([0, 1, 2, 3, 4])
    }))

  it.scoped("partitions hold frames and refuse dials; heal delivers them in order; kill closes the peer's side at once", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { listener, ta } = yield* ends(net)
      const got: Array<number> = []
      const serverClosed = yield* Deferred.make<Transport.CloseInfo>()
      yield* Effect.forkScoped(
        listener.serve((conn) =>
          conn.run((f) => got.push(f[0]!)).pipe(Effect.flatMap((i) => Deferred.succeed(serverClosed, i)))
        )
      )
      const conn = yield* ta.dial(addr(b), { maxFrameBytes: MAX })
      const clientClosed = yield* Effect.fork(conn.run(() => {}))
      conn.offer(new Uint8Array([1]))
      yield* TestClock.adjust(1)
      yield* net.partition([a], [b])
      conn.offer(new Uint8Array([2]))
      yield* TestClock.adjust(1)
      const refused = yield* Effect.either(ta.dial(addr(b), { maxFrameBytes: MAX }))
      expect(Either.isLeft(refused)).toBe(true)
      expect(got).toEqual([1])
      yield* net.heal
      conn.offer(new Uint8Array([3]))
      yield* TestClock.adjust(1)
      expect(got).toEqual([1, 2, 3])
      yield* net.kill(b)
      expect((yield* Fiber.join(clientClosed)).by).toBe("Remote")
      expect(yield* Deferred.isDone(serverClosed)).toBe(true)
    }))

  it.scoped("closes the receiving side on a frame over the limit", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { listener, ta } = yield* ends(net, { aListens: false, serverMax: 10 })
      const info = yield* Deferred.make<Transport.CloseInfo>()
      yield* Effect.forkScoped(
        listener.serve((conn) => conn.run(() => {}).pipe(Effect.flatMap((i) => Deferred.succeed(info, i))))
      )
      const conn = yield* ta.dial(addr(b), { maxFrameBytes: MAX })
      conn.offer(new Uint8Array(11))
      yield* TestClock.adjust(1)
      expect((yield* Deferred.await(info)).reason).toContain("over the 10-byte limit")
    }))
})

describe("MemoryNetwork loss", () => {
  it.scoped("drops frames with the configured probability, deterministically", () =>
    Effect.gen(function*() {
      const run = (loss: number) =>
        Effect.gen(function*() {
          const net = yield* MemoryNetwork.make
          const { listener, ta } = yield* ends(net, { aListens: false })
          let got = 0
          yield* Effect.forkScoped(listener.serve((conn) => conn.run(() => void got++)))
          yield* net.setLoss(loss)
          const conn = yield* ta.dial(addr(b), { maxFrameBytes: MAX })
          for (let i = 0; i < 1000; i++) {
            conn.offer(new Uint8Array([i & 255]))
            if (i % 10 === 9) yield* TestClock.adjust(1)
          }
          yield* TestClock.adjust(1)
          return got
        })
      expect(yield* run(0)).toBe(1000)
      expect(yield* run(1)).toBe(0)
      const half = yield* run(0.5)
      expect(half).toBeGreaterThan(400)
      expect(half).toBeLessThan(600)
      expect(yield* run(0.5)).toBe(half)
    }))
})
