/**
 * A peer written on raw `node:net`, speaking the wire protocol frame by frame as
 * `docs/wire.md` describes it, for tests of what a hostile peer can do: it sends what
 * it likes, and reads every frame the node sends back.
 */
import { Either } from "effect"
import * as crypto from "node:crypto"
import * as net from "node:net"
import * as tls from "node:tls"
import type { NodeId } from "../../src/NodeId.js"
import { encodeFrame, FrameDecoder } from "../../src/wire/Frame.js"
import * as Protocol from "../../src/wire/Protocol.js"
import type { WireMessage } from "../../src/wire/Protocol.js"
import { RecordOpener, RecordSealer, sessionKeys, transcriptMac } from "../../src/wire/Record.js"
import type { SessionKeys } from "../../src/wire/Record.js"

/** One raw connection to a node. */
export interface RawPeer {
  /** Sends a message; returns its frame's payload bytes (what the receiver's transcript holds). */
  readonly send: (message: WireMessage) => Uint8Array
  /** The next message the node sent, or `undefined` once the connection closed. */
  readonly next: (timeoutMs?: number) => Promise<WireMessage | undefined>
  /** The bytes of the frame of the message `next` returned last (a transcript holds them). */
  readonly lastFrame: () => Uint8Array | undefined
  /** Stops reading (the kernel buffers fill, then the node's outbox): a peer that does not read. */
  readonly stopReading: () => void
  /**
   * Sends and reads authenticated records from now on (docs/wire.md, "Records"), as a
   * cookie holder does after the Welcomes; `role` is this peer's end of the handshake.
   */
  readonly secure: (keys: SessionKeys, role: "dialer" | "acceptor") => void
  /** Bytes this peer wrote that the node has not taken yet (beyond the kernel's buffers): backpressure. */
  readonly queuedBytes: () => number
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
    const inbox: Array<{ message: WireMessage; frame: Uint8Array }> = []
    let lastFrame: Uint8Array | undefined
    const waiters: Array<() => void> = []
    let ended = false
    const wake = () => {
      for (const w of waiters.splice(0)) w()
    }
    let sealer: RecordSealer | undefined
    let opener: RecordOpener | undefined
    const take = (frame: Uint8Array) => {
      const decoded = Protocol.decode(frame)
      if (Either.isRight(decoded)) inbox.push({ message: decoded.right, frame: Uint8Array.from(frame) })
    }
    socket.on("data", (chunk) => {
      decoder.push(chunk, (frame) => {
        if (opener === undefined) take(frame)
        else if (opener.open(frame, take) !== undefined) socket.destroy()
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
          const frames = sealer === undefined ? [payload] : sealer.seal([payload])
          if (!socket.destroyed) { for (const frame of frames) socket.write(encodeFrame(frame)) }
          return payload
        },
        secure: (keys, role) => {
          const [out, inbound] = role === "dialer"
            ? [keys.dialerToAcceptor, keys.acceptorToDialer]
            : [keys.acceptorToDialer, keys.dialerToAcceptor]
          sealer = new RecordSealer(out, 16 * 1024 * 1024)
          opener = new RecordOpener(inbound)
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
              if (inbox.length > 0) {
                const { frame, message } = inbox.shift()!
                lastFrame = frame
                return (clearTimeout(timer), done(message))
              }
              if (ended) return (clearTimeout(timer), done(undefined))
              waiters.push(take)
            }
            take()
          }),
        lastFrame: () => lastFrame,
        queuedBytes: () => socket.writableLength,
        stopReading: () => void socket.pause(),
        closed: () => ended,
        close: () => socket.destroy()
      }))
    socket.once("error", reject)
  })

/** Who a raw peer says it is when it joins. */
export interface Claim {
  readonly nodeId: NodeId
  readonly incarnation: string
  /** The cookie, when the node has one: the peer then proves it, as a cookie holder. */
  readonly cookie?: string | undefined
}

/**
 * Dials as `claim` through the whole handshake of docs/wire.md: Hello, the dialer's
 * Proof and the acceptor's, Welcome, then records. Resolves with the node's last
 * handshake message (`Welcome`, or a `Reject` with its reason, or `undefined` on close).
 */
export const join = async (peer: RawPeer, claim: Claim): Promise<WireMessage | undefined> => {
  const theirs = await peer.next()
  if (theirs?._tag !== "Hello") return theirs
  const theirHello = peer.lastFrame()!
  const mine = peer.send({
    ...theirs,
    nodeId: claim.nodeId,
    incarnation: claim.incarnation,
    challenge: claim.cookie === undefined ? new Uint8Array(0) : crypto.randomBytes(32)
  })
  if (claim.cookie !== undefined) {
    const mac = transcriptMac(claim.cookie, "noex-effect/handshake/v3/dialer", mine, theirHello)
    peer.send({ _tag: "Proof", mac })
    const proof = await peer.next()
    if (proof?._tag !== "Proof") return proof
  }
  peer.send({ _tag: "Welcome" })
  const answer = await peer.next()
  if (answer?._tag === "Welcome" && claim.cookie !== undefined) {
    peer.secure(sessionKeys(claim.cookie, mine, theirHello), "dialer")
  }
  return answer
}

/** The message a raw peer read, which must be the node's Hello. */
export const hello = (m: WireMessage | undefined) => {
  if (m?._tag !== "Hello") throw new Error(`expected Hello, got ${m?._tag}`)
  return m
}
