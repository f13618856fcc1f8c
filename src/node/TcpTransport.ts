/**
 * TcpTransport: the {@link Transport} over TCP for Node.js, with `setNoDelay(true)`,
 * a batching writer and a bounded outbox per connection.
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
import { Effect, FiberSet, Layer } from "effect"
import * as net from "node:net"
import { NodeId } from "../NodeId.js"
import { Transport, TransportError } from "../transport/Transport.js"
import type { Address, Connection, Listener, Service } from "../transport/Transport.js"
import * as SocketConnection from "./internal/socketConnection.js"

const show = (address: Address) => `${address.host}:${address.port}`

const listen: Service["listen"] = (address, options) =>
  Effect.gen(function*() {
    const server = net.createServer()
    const sockets = new Set<net.Socket>()
    const parked: Array<net.Socket> = []
    let accept: ((socket: net.Socket) => void) | undefined
    let closing = false
    server.on("connection", (socket) => {
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
            run(Effect.scoped(Effect.flatMap(SocketConnection.make(socket, options.maxFrameBytes), handler)))
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

const dial: Service["dial"] = (address, options) =>
  Effect.acquireRelease(
    Effect.async<net.Socket, TransportError>((resume) => {
      const socket = net.createConnection({ host: NodeId.dialHost(address.host), port: address.port })
      const onError = (error: Error) => {
        socket.destroy()
        resume(Effect.fail(new TransportError({ reason: "Dial", address: show(address), message: error.message })))
      }
      socket.once("error", onError)
      socket.once("connect", () => {
        socket.off("error", onError)
        // Errors after connect are reported through the connection's close reason.
        socket.on("error", () => {})
        resume(Effect.succeed(socket))
      })
      return Effect.sync(() => socket.destroy())
    }),
    (socket) => Effect.sync(() => socket.destroySoon())
  ).pipe(Effect.flatMap((socket): Effect.Effect<Connection, never, any> =>
    SocketConnection.make(socket, options.maxFrameBytes)
  ))

const isLoopback = (host: string) =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host)

/** The TCP transport service. */
export const make: Service = { listen, dial, exposes: (host) => !isLoopback(host) }

/** Provides {@link Transport} over TCP. */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport, make)
