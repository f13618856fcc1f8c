/**
 * A peer written on raw `node:net`, speaking the wire protocol frame by frame as
 * `docs/wire.md` describes it, for tests of what a hostile peer can do: it sends what
 * it likes, and reads every frame the node sends back.
 */
import { Either } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import { encodeFrame, FrameDecoder } from "../../src/wire/Frame.js"
import * as Protocol from "../../src/wire/Protocol.js"
import type { WireMessage } from "../../src/wire/Protocol.js"

/** One raw connection to a node. */
export interface RawPeer {
  /** Sends a message; returns its frame's payload bytes (what the receiver's transcript holds). */
  readonly send: (message: WireMessage) => Uint8Array
  /** The next message the node sent, or `undefined` once the connection closed. */
  readonly next: (timeoutMs?: number) => Promise<WireMessage | undefined>
  /** Stops reading (the kernel buffers fill, then the node's outbox): a peer that does not read. */
  readonly stopReading: () => void
  /** Whether the node closed the connection. */
  readonly closed: () => boolean
  readonly close: () => void
}

/**
 * Connects to a node's listener on 127.0.0.1, over TLS when `tlsOptions` are given
 * (the node's Hello is then read after the TLS handshake).
 */
export const connectRaw = (port: number, tlsOptions?: tls.ConnectionOptions): Promise<RawPeer> =>
  new Promise((resolve, reject) => {
    const socket: net.Socket = tlsOptions === undefined
      ? net.connect(port, "127.0.0.1")
      : tls.connect({ ...tlsOptions, port, host: "127.0.0.1", checkServerIdentity: () => undefined })
    const decoder = new FrameDecoder(16 * 1024 * 1024)
    const inbox: Array<WireMessage> = []
    const waiters: Array<() => void> = []
    let ended = false
    const wake = () => {
      for (const w of waiters.splice(0)) w()
    }
    socket.on("data", (chunk) => {
      decoder.push(chunk, (frame) => {
        const decoded = Protocol.decode(frame)
        if (Either.isRight(decoded)) inbox.push(decoded.right)
      })
      wake()
    })
    socket.on("close", () => {
      ended = true
      wake()
    })
    socket.on("error", () => {})
    socket.once(tlsOptions === undefined ? "connect" : "secureConnect", () =>
      resolve({
        send: (message) => {
          const payload = Protocol.encode(message)
          if (!socket.destroyed) socket.write(encodeFrame(payload))
          return payload
        },
        next: (timeoutMs = 10_000) =>
          new Promise((done) => {
            // A safety net only: a node that neither answers nor hangs up.
            const timer = setTimeout(() => {
              const i = waiters.indexOf(take)
              if (i >= 0) waiters.splice(i, 1)
              done(undefined)
            }, timeoutMs)
            timer.unref()
            function take(): void {
              if (inbox.length > 0) return (clearTimeout(timer), done(inbox.shift()))
              if (ended) return (clearTimeout(timer), done(undefined))
              waiters.push(take)
            }
            take()
          }),
        stopReading: () => void socket.pause(),
        closed: () => ended,
        close: () => socket.destroy()
      }))
    socket.once("error", reject)
  })
