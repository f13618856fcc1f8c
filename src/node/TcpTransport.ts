/**
 * TcpTransport: the {@link Transport} over TCP for Node.js, with `setNoDelay(true)`,
 * a batching writer and a bounded outbox per connection. Without a cookie it trusts the
 * network; with one, every record after the handshake is authenticated (docs/security.md).
 */
import { Layer } from "effect"
import * as net from "node:net"
import { Transport } from "../transport/Transport.js"
import type { Service } from "../transport/Transport.js"
import * as SocketTransport from "./internal/socketTransport.js"

/** The TCP transport service. */
export const make: Service = SocketTransport.make({
  createServer: () => net.createServer(),
  readyEvent: "connection",
  connect: (host, port) => net.createConnection({ host, port }),
  connectedEvent: "connect",
  exposes: (host) => !SocketTransport.isLoopback(host),
  authenticatesPeers: false
})

/** Provides {@link Transport} over TCP. */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport, make)
