/**
 * The far end of the transport benchmarks, run as its own OS process: a raw
 * `node:net` echo server and a TcpTransport frame echo server. Prints their ports
 * as one JSON line, then serves until killed.
 */
import { Effect } from "effect"
import * as net from "node:net"
import { TcpTransport } from "../../src/node.js"

const raw = net.createServer((socket) => {
  socket.setNoDelay(true)
  socket.on("data", (chunk) => socket.write(chunk))
})
raw.listen(0, "127.0.0.1", () => {
  const rawPort = (raw.address() as net.AddressInfo).port
  Effect.runFork(
    Effect.scoped(
      Effect.gen(function*() {
        const listener = yield* TcpTransport.make.listen(
          { host: "127.0.0.1", port: 0, name: "echo" },
          { maxFrameBytes: 16 * 1024 * 1024 }
        )
        console.log(JSON.stringify({ rawPort, framePort: listener.address.port }))
        return yield* listener.serve((conn) => Effect.asVoid(conn.run((frame) => conn.offer(frame))))
      })
    )
  )
})
