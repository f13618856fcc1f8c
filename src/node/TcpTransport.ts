/**
 * TcpTransport: the {@link Transport} over TCP for Node.js. Listening uses
 * `@effect/platform-node`'s socket server; each connection's data path is the raw
 * socket (see `internal/socketConnection.ts` for why), with `setNoDelay(true)`, a
 * batching writer and a bounded outbox.
 */
import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import * as net from "node:net"
import { NodeId } from "../NodeId.js"
import { Transport, TransportError } from "../transport/Transport.js"
import type { Address, Connection, Listener, Service } from "../transport/Transport.js"
import * as SocketConnection from "./internal/socketConnection.js"

const show = (address: Address) => `${address.host}:${address.port}`

const listen: Service["listen"] = (address, options) =>
  Effect.gen(function* () {
    const server = yield* NodeSocketServer.make({ host: NodeId.dialHost(address.host), port: address.port }).pipe(
      Effect.mapError(
        (error) =>
          new TransportError({
            reason: "Listen",
            address: show(address),
            message: String((error.cause as { message?: unknown })?.message ?? error.message)
          })
      )
    )
    const bound = server.address
    const port = bound._tag === "TcpAddress" ? bound.port : address.port
    const listener: Listener = {
      address: { host: address.host, port, name: address.name },
      serve: (handler) =>
        server
          .run(() =>
            Effect.gen(function* () {
              const raw = yield* Effect.serviceOption(NodeSocket.NetSocket)
              if (Option.isNone(raw)) return yield* Effect.dieMessage("socket server did not provide the net.Socket")
              const connection = yield* SocketConnection.make(raw.value, options.maxFrameBytes)
              yield* handler(connection)
            }).pipe(Effect.scoped)
          )
          .pipe(Effect.orDie) as Effect.Effect<never, never, any>
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
  ).pipe(Effect.flatMap((socket): Effect.Effect<Connection, never, any> => SocketConnection.make(socket, options.maxFrameBytes)))

const isLoopback = (host: string) =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host)

/** The TCP transport service. */
export const make: Service = { listen, dial, exposes: (host) => !isLoopback(host) }

/** Provides {@link Transport} over TCP. */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport, make)
