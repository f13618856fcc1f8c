/**
 * Bad input never hurts the node: hostile raw `node:net` clients against a real TCP
 * listener, while a healthy authenticated peer keeps exchanging frames.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber, HashMap, Logger, ManagedRuntime, Option, Redacted, Scope } from "effect"
import { Packr } from "msgpackr"
import * as net from "node:net"
import * as Link from "../src/cluster/Link.js"
import { NodeId, TcpTransport } from "../src/node.js"
import * as Protocol from "../src/wire/Protocol.js"

const MAX = 16 * 1024 * 1024
const HANDSHAKE_MS = 1500
const serverId = NodeId.make("server", "127.0.0.1", 1)
const clientId = NodeId.make("client", "127.0.0.1", 2)
const cookie = Option.some(Redacted.make("the-cookie"))

interface LogLine {
  readonly message: string
  readonly remote: string | undefined
  readonly reason: string | undefined
}
const logs: Array<LogLine> = []
const unhandled: Array<unknown> = []
const onUnhandled = (e: unknown) => unhandled.push(e)

const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ annotations, message }) => {
    const get = (k: string) => Option.getOrUndefined(HashMap.get(annotations, k)) as string | undefined
    logs.push({
      message: String(Array.isArray(message) ? message.join(" ") : message),
      remote: get("remote"),
      reason: get("reason")
    })
  })
)

const runtime = ManagedRuntime.make(capture)
let port = 0
let scope: Scope.CloseableScope
let healthy: { calls: number; failures: number; fiber: Fiber.RuntimeFiber<void, unknown> }

/** A server node: handshake with the cookie, then answer every Call with a Reply of the same payload. */
const startServer = Effect.gen(function*() {
  const listener = yield* TcpTransport.make.listen({ host: "127.0.0.1", port: 0, name: "server" }, {
    maxFrameBytes: MAX
  })
  yield* Effect.forkScoped(
    listener.serve((conn) =>
      Effect.gen(function*() {
        const link = yield* Link.establish(conn, {
          self: { nodeId: serverId, incarnation: "s1" },
          cookie,
          handshakeTimeout: HANDSHAKE_MS,
          role: "acceptor"
        })
        link.receive((m) => {
          if (m._tag === "Call") link.send({ _tag: "Reply", callId: m.callId, payload: m.payload })
        })
        yield* link.closed
      }).pipe(Effect.ignore)
    )
  )
  return listener.address.port
})

/** A healthy authenticated peer making calls back to back until interrupted. */
const startHealthy = Effect.gen(function*() {
  const conn = yield* TcpTransport.make.dial({ host: "127.0.0.1", port, name: "server" }, { maxFrameBytes: MAX })
  const link = yield* Link.establish(conn, {
    self: { nodeId: clientId, incarnation: "c1" },
    cookie,
    handshakeTimeout: HANDSHAKE_MS,
    role: "dialer",
    expected: serverId
  })
  const state = { calls: 0, failures: 0, fiber: undefined as unknown as Fiber.RuntimeFiber<void, unknown> }
  let waiting: Deferred.Deferred<number> | undefined
  link.receive((m) => {
    if (m._tag === "Reply" && waiting !== undefined) Deferred.unsafeDone(waiting, Exit.succeed(m.callId))
  })
  state.fiber = yield* Effect.forkScoped(
    Effect.forever(
      Effect.gen(function*() {
        waiting = yield* Deferred.make<number>()
        const id = state.calls
        link.send({ _tag: "Call", callId: id, serverId: "echo", timeoutMs: 1000, payload: new Uint8Array([id & 255]) })
        const got = yield* Deferred.await(waiting).pipe(Effect.timeout("2 seconds"), Effect.either)
        if (Either.isRight(got) && got.right === id) state.calls++
        else state.failures++
      })
    )
  )
  return state
})

beforeAll(async () => {
  process.on("uncaughtException", onUnhandled)
  process.on("unhandledRejection", onUnhandled)
  scope = await runtime.runPromise(Scope.make())
  port = await runtime.runPromise(Scope.extend(startServer, scope))
  healthy = await runtime.runPromise(Scope.extend(startHealthy, scope))
})

afterAll(async () => {
  await runtime.runPromise(Scope.close(scope, Exit.void))
  await runtime.dispose()
  process.off("uncaughtException", onUnhandled)
  process.off("unhandledRejection", onUnhandled)
})

/** Opens a raw socket, lets `act` write to it, and resolves when the server closes it. */
const hostile = (act: (socket: net.Socket) => void) =>
  new Promise<{ local: string; closedAfterMs: number }>((resolve, reject) => {
    const socket = net.createConnection({ host: "127.0.0.1", port })
    const started = performance.now()
    socket.on("error", () => {})
    socket.on("data", () => {})
    socket.once("connect", () => {
      const local = `${socket.localAddress}:${socket.localPort}`
      socket.once("close", () => resolve({ local, closedAfterMs: performance.now() - started }))
      act(socket)
    })
    setTimeout(() => reject(new Error("server did not close the hostile socket")), HANDSHAKE_MS * 4).unref()
  })

const frame = (payload: Uint8Array) => {
  const out = Buffer.alloc(4 + payload.length)
  out.writeUInt32BE(payload.length, 0)
  out.set(payload, 4)
  return out
}

const loggedFor = (local: string) => logs.filter((l) => l.remote === local)

const expectHealthyProgress = async () => {
  const before = healthy.calls
  await new Promise((r) => setTimeout(r, 100))
  expect(healthy.calls).toBeGreaterThan(before)
  expect(healthy.failures).toBe(0)
}

describe("TCP listener under hostile input", () => {
  it("closes a connection sending garbage bytes, with a logged reason", async () => {
    // An HTTP request: its first four bytes read as a 1.1 GB length prefix.
    const http = await hostile((s) => s.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")))
    // Random bytes inside a well-sized frame: not a message.
    const noise = await hostile((s) => s.write(frame(Uint8Array.from({ length: 64 }, (_, i) => (i * 151 + 7) & 255))))
    await new Promise((r) => setTimeout(r, 50))
    expect(loggedFor(http.local).some((l) => l.reason?.includes("over the 16777216-byte limit"))).toBe(true)
    expect(loggedFor(noise.local).some((l) => l.reason?.includes("malformed"))).toBe(true)
    await expectHealthyProgress()
  })

  it("closes a connection announcing a 2^31-byte frame before allocating it", async () => {
    const before = process.memoryUsage().arrayBuffers
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(2 ** 31, 0)
    const { local } = await hostile((s) => s.write(prefix))
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024)
    await new Promise((r) => setTimeout(r, 50))
    expect(loggedFor(local).some((l) => l.reason?.includes("over the 16777216-byte limit"))).toBe(true)
    await expectHealthyProgress()
  })

  it("closes a connection that sends half a frame and goes silent, at the handshake deadline", async () => {
    const { closedAfterMs, local } = await hostile((s) => s.write(frame(new Uint8Array(100)).subarray(0, 50)))
    expect(closedAfterMs).toBeGreaterThanOrEqual(HANDSHAKE_MS - 50)
    expect(loggedFor(local).some((l) => l.reason?.includes("handshake not completed"))).toBe(true)
    await expectHealthyProgress()
  })

  it("refuses a peer with the wrong cookie", async () => {
    const result = await runtime.runPromise(
      Effect.scoped(
        Effect.gen(function*() {
          const conn = yield* TcpTransport.make.dial({ host: "127.0.0.1", port, name: "server" }, {
            maxFrameBytes: MAX
          })
          return yield* Effect.either(
            Link.establish(conn, {
              self: { nodeId: NodeId.make("intruder", "127.0.0.1", 3), incarnation: "x" },
              cookie: Option.some(Redacted.make("wrong")),
              handshakeTimeout: HANDSHAKE_MS,
              role: "dialer"
            })
          )
        })
      )
    )
    expect(Either.isLeft(result)).toBe(true)
    await new Promise((r) => setTimeout(r, 50))
    expect(logs.some((l) => l.reason === "cookie mismatch")).toBe(true)
    await expectHealthyProgress()
  })

  it("refuses a peer speaking another protocol version", async () => {
    const hello = Protocol.encode({
      _tag: "Hello",
      protocol: "noex-effect",
      version: 99,
      nodeId: NodeId.make("future", "127.0.0.1", 4),
      incarnation: "f",
      auth: "hmac-sha256",
      challenge: new Uint8Array(32)
    })
    const { local } = await hostile((s) => s.write(frame(hello)))
    await new Promise((r) => setTimeout(r, 50))
    expect(loggedFor(local).some((l) => l.reason?.includes("protocol version 99 is not supported"))).toBe(true)
    await expectHealthyProgress()
  })

  it("closes a connection sending a well-formed frame with an unknown tag", async () => {
    const bogus = new Packr({ useRecords: false }).pack({ _tag: "TakeOver", everything: true })
    const { local } = await hostile((s) => s.write(frame(bogus)))
    await new Promise((r) => setTimeout(r, 50))
    expect(loggedFor(local).some((l) => l.reason?.includes("malformed"))).toBe(true)
    await expectHealthyProgress()
  })

  it("closes 200 idle sockets at the handshake deadline and keeps serving the healthy peer", async () => {
    const closes = Array.from({ length: 200 }, () => hostile(() => {}))
    await new Promise((r) => setTimeout(r, HANDSHAKE_MS / 2))
    await expectHealthyProgress()
    const results = await Promise.all(closes)
    expect(results).toHaveLength(200)
    for (const r of results) expect(r.closedAfterMs).toBeGreaterThanOrEqual(HANDSHAKE_MS - 50)
    await expectHealthyProgress()
  })

  it("raised no unhandled error through all of it", () => {
    expect(unhandled).toEqual([])
    expect(healthy.failures).toBe(0)
    expect(healthy.calls).toBeGreaterThan(100)
  })
})
