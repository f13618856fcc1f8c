/**
 * A `Connection` over a raw `net.Socket`. The data path uses `node:net` directly
 * because the platform `Socket` cannot do what the wire needs: it forks a fiber per
 * chunk unless the handler is synchronous, awaits a callback per write (no
 * batching), and hides `setNoDelay` and the socket's buffered byte count that
 * backpressure is measured by. Listening and error handling stay on the platform.
 */
import { Deferred, Effect } from "effect"
import type { Scope } from "effect"
import type * as net from "node:net"
import { Outbox } from "../../internal/outbox.js"
import type { CloseInfo, Connection, Secured } from "../../transport/Transport.js"
import { OUTBOX_HIGH_WATER_BYTES, outboxHardCap, SLOW_CONSUMER } from "../../transport/Transport.js"
import { encodeFrames, FrameDecoder } from "../../wire/Frame.js"

/** Wraps a connected socket; the socket is destroyed when the scope closes. */
export const make = (
  socket: net.Socket,
  maxFrameBytes: number,
  secured?: Secured | undefined
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    socket.setNoDelay(true)
    const remoteAddress = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`
    const closed = yield* Deferred.make<CloseInfo>()
    let lastError: string | undefined
    let ended: CloseInfo | undefined
    /** Records how the connection ended, once; `false` when it had already ended. */
    const end = (info: CloseInfo): boolean => {
      if (ended !== undefined) return false
      ended = info
      Deferred.unsafeDone(closed, Effect.succeed(info))
      return true
    }
    const finish = (info: CloseInfo) => {
      if (end(info)) outbox.close(info.reason)
    }
    const hardCap = outboxHardCap(maxFrameBytes)
    const outbox = new Outbox(
      {
        write: (frames) => socket.write(encodeFrames(frames)),
        pending: () => socket.writableLength
      },
      OUTBOX_HIGH_WATER_BYTES,
      hardCap,
      { onOverflow: (bytes) => abort(`${SLOW_CONSUMER}: ${bytes} bytes queued, over ${hardCap}`) }
    )
    socket.on("drain", () => outbox.resume())
    socket.on("error", (error) => {
      lastError = error.message
    })
    socket.on(
      "close",
      () =>
        finish({
          by: "Remote",
          reason: lastError === undefined ? "socket closed by peer" : `socket error: ${lastError}`
        })
    )
    if (socket.destroyed) finish({ by: "Remote", reason: "socket closed before use" })

    const closeLocal = (reason: string) => {
      if (end({ by: "Local", reason })) {
        outbox.flushNow()
        outbox.close(reason)
        socket.destroySoon()
      }
    }
    // Abortive close for protocol violations: nothing more is read or written.
    const abort = (reason: string) => {
      if (end({ by: "Local", reason })) {
        outbox.close(reason)
        socket.destroy()
      }
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => closeLocal("connection scope closed")))

    const decoder = new FrameDecoder(maxFrameBytes)
    let running = false
    const connection: Connection = {
      remoteAddress,
      secured,
      run: (onFrame, onActivity) =>
        Effect.suspend(() => {
          if (running) return Effect.dieMessage("Connection.run called twice")
          running = true
          socket.on("data", (chunk: Buffer) => {
            if (ended !== undefined) return
            onActivity?.()
            let error
            try {
              error = decoder.push(chunk, onFrame)
            } catch (defect) {
              // A frame handler must not throw; if one does, this link is in an unknown state.
              return abort(`frame handler threw: ${defect instanceof Error ? defect.message : String(defect)}`)
            }
            if (error !== undefined) return abort(`frame of ${error.bytes} bytes over the ${error.limit}-byte limit`)
            // Replies produced while handling this chunk leave now, in one write, without
            // waiting for the end-of-turn flush: a request's answer costs no extra hop.
            outbox.flushNow()
          })
          return Deferred.await(closed)
        }),
      offer: (frame, options) => outbox.offer(frame, options?.urgent === true),
      writable: outbox.writable,
      transformFrom: (transform) => outbox.transformFrom(transform),
      queuedBytes: () => outbox.queuedBytes() + socket.writableLength,
      close: (reason) => Effect.sync(() => closeLocal(reason)),
      closed: Deferred.await(closed)
    }
    return connection
  })
