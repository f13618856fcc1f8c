/**
 * The part of TcpTransport and TlsTransport that is the same: a listener that serves
 * each accepted socket in its own fiber and closes them all with its scope, and a dial
 * that owns its socket. They differ in how a socket is made and when it is ready
 * (`connect` vs the end of the TLS handshake), and in what the transport proved about
 * the peer (`verify`).
 *
 * Both listening and the data path use `node:net` directly, where the platform API
 * cannot do what the cluster needs: `@effect/platform-node`'s socket server parks
 * connections that arrive after its `run` is interrupted in a list it never closes,
 * so closing the listener's scope can wait forever on a peer that dialed during
 * shutdown; and its `Socket` forks a fiber per chunk unless the handler is
 * synchronous, awaits a callback per write (no batching), and hides `setNoDelay`
 * and the buffered byte count backpressure is measured by. Everything around the
 * sockets (scopes, fibers, errors) stays in Effect.
 */
import { Effect, FiberSet } from "effect"
import type * as net from "node:net"
import { NodeId } from "../../NodeId.js"
import { TransportError } from "../../transport/Transport.js"
import type { Address, Connection, Listener, Secured, Service } from "../../transport/Transport.js"
import * as SocketConnection from "./socketConnection.js"

/** How one kind of socket is made and checked. */
export interface SocketKind {
  /** A server emitting `readyEvent` with each socket ready for frames. */
  readonly createServer: () => net.Server
  readonly readyEvent: "connection" | "secureConnection"
  /** A socket to `host:port`, emitting `connectedEvent` when ready for frames. */
  readonly connect: (host: string, port: number) => net.Socket
  readonly connectedEvent: "connect" | "secureConnect"
  /** What the transport proved about a ready socket's peer, or why it refuses the peer (the socket is then destroyed). */
  readonly verify?: ((socket: net.Socket) => Secured | string) | undefined
  readonly exposes: (host: string) => boolean
  readonly authenticatesPeers: boolean
}

const show = (address: Address) => `${address.host}:${address.port}`

/** Same refusal rule on both ends: a verified socket is wrapped, a refused one destroyed. */
const checked = (kind: SocketKind, socket: net.Socket): Secured | string | undefined =>
  kind.verify === undefined ? undefined : kind.verify(socket)

const listenWith = (kind: SocketKind): Service["listen"] => (address, options) =>
  Effect.gen(function*() {
    const server = kind.createServer()
    const sockets = new Set<net.Socket>()
    const parked: Array<net.Socket> = []
    let accept: ((socket: net.Socket) => void) | undefined
    let closing = false
    // A TLS handshake that fails (no certificate, another CA) is the peer's problem: it is
    // closed by node, and without a listener the error would crash the process.
    server.on("tlsClientError", () => {})
    server.on(kind.readyEvent, (socket: net.Socket) => {
      // Errors are reported through the connection's close reason; without a listener they would crash the process.
      socket.on("error", () => {})
      if (closing) return void socket.destroy()
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
      if (accept === undefined) parked.push(socket)
      else accept(socket)
    })
    yield* Effect.acquireRelease(
      Effect.async<void, TransportError>((resume) => {
        const onError = (error: Error) =>
          resume(Effect.fail(new TransportError({ reason: "Listen", address: show(address), message: error.message })))
        server.once("error", onError)
        server.listen({ host: NodeId.dialHost(address.host), port: address.port }, () => {
          server.off("error", onError)
          server.on("error", () => {})
          resume(Effect.void)
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          closing = true
          for (const socket of sockets) socket.destroy()
          for (const socket of parked.splice(0)) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const bound = server.address()
    const port = typeof bound === "object" && bound !== null ? bound.port : address.port
    const listener: Listener = {
      address: { host: address.host, port, name: address.name },
      serve: (handler) =>
        Effect.gen(function*() {
          const run = yield* FiberSet.makeRuntime<any, void, never>()
          accept = (socket) => {
            const secured = checked(kind, socket)
            if (typeof secured === "string") return void socket.destroy()
            run(
              Effect.scoped(
                Effect.flatMap(
                  SocketConnection.make(socket, options.maxFrameBytes, secured, options.readPause),
                  handler
                )
              )
            )
          }
          for (const socket of parked.splice(0)) accept(socket)
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              // No longer served: connections arriving from now on are refused, not parked.
              accept = undefined
              closing = true
            })
          )
          return yield* Effect.never
        }).pipe(Effect.scoped) as Effect.Effect<never, never, any>
    }
    return listener
  })

const dialWith = (kind: SocketKind): Service["dial"] => (address, options) => {
  const connect = Effect.async<{ socket: net.Socket; secured: Secured | undefined }, TransportError>((resume) => {
    const socket = kind.connect(NodeId.dialHost(address.host), address.port)
    // Past the TCP connect, a failure is the TLS handshake's: the peer is there, the trust is not.
    let reached = false
    if (kind.connectedEvent !== "connect") socket.once("connect", () => void (reached = true))
    const failed = (message: string) => {
      socket.destroy()
      resume(
        Effect.fail(
          new TransportError({ reason: reached ? "Authenticate" : "Dial", address: show(address), message })
        )
      )
    }
    const onError = (error: Error) => failed(error.message)
    socket.once("error", onError)
    socket.once(kind.connectedEvent, () => {
      socket.off("error", onError)
      // Errors after connect are reported through the connection's close reason.
      socket.on("error", () => {})
      const secured = checked(kind, socket)
      reached = true
      if (typeof secured === "string") return failed(secured)
      resume(Effect.succeed({ socket, secured }))
    })
    // Interrupted (the caller's deadline, the node closing) before it is ready: the socket goes.
    return Effect.sync(() => socket.destroy())
  })
  // The wait is interruptible (a peer that accepts TCP and never finishes TLS must not hold
  // the dial, nor the node's shutdown); once connected, the socket belongs to the scope.
  return Effect.uninterruptibleMask((restore) =>
    Effect.tap(restore(connect), ({ socket }) => Effect.addFinalizer(() => Effect.sync(() => socket.destroySoon())))
  ).pipe(
    Effect.flatMap(({ secured, socket }): Effect.Effect<Connection, never, any> =>
      SocketConnection.make(socket, options.maxFrameBytes, secured, options.readPause)
    )
  )
}

/** A transport service over sockets of `kind`. */
export const make = (kind: SocketKind): Service => ({
  listen: listenWith(kind),
  dial: dialWith(kind),
  exposes: kind.exposes,
  authenticatesPeers: kind.authenticatesPeers,
  resolvesNames: true
})

/** Whether binding `host` keeps a node on this machine. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host)
