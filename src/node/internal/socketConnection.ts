/**
 * A `Connection` over a raw `net.Socket`. The data path uses `node:net` directly
 * because the platform `Socket` cannot do what the wire needs: it forks a fiber per
 * chunk unless the handler is synchronous, awaits a callback per write (no
 * batching), and hides `setNoDelay` and the socket's buffered byte count that
 * backpressure is measured by. Listening and error handling stay on the platform.
 */
import { Deferred, Duration, Effect, FiberSet, Runtime } from "effect"
import type { Scope } from "effect"
import type * as net from "node:net"
import { Outbox } from "../../internal/outbox.js"
import type { CloseInfo, Connection, Secured } from "../../transport/Transport.js"
import { MAX_READ_PAUSE, OUTBOX_HIGH_WATER_BYTES, outboxHardCap, SLOW_CONSUMER } from "../../transport/Transport.js"
import { encodeFrames, FrameDecoder } from "../../wire/Frame.js"

/** Wraps a connected socket; the socket is destroyed when the scope closes. */
export const make = (
  socket: net.Socket,
  maxFrameBytes: number,
  secured?: Secured | undefined,
  readPause: Duration.Duration = MAX_READ_PAUSE
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
    // Past the high-water mark the peer's bytes are not read until ours drain (TCP
    // backpressure on a peer that asks faster than it reads the answers), for at most
    // `readPause`: two nodes that each wait for the other to read would otherwise
    // wait forever, and a peer that never reads is closed at the hard cap instead.
    let running = false
    const pauses = yield* FiberSet.make()
    const runtime = yield* Effect.runtime<never>()
    let paused = false
    // Which pause a timer belongs to: a timer of an earlier pause must not end a later one early.
    let pause = 0
    const resumeReading = () => {
      if (!paused) return
      paused = false
      if (ended === undefined) socket.resume()
    }
    const pauseReading = () => {
      if (paused || ended !== undefined || !running) return
      paused = true
      socket.pause()
      const mine = ++pause
      const timer = Effect.sync(() => mine === pause && resumeReading()).pipe(Effect.delay(readPause))
      FiberSet.unsafeAdd(pauses, Runtime.runFork(runtime, timer))
    }
    const outbox = new Outbox(
      {
        write: (frames) => socket.write(encodeFrames(frames)),
        pending: () => socket.writableLength
      },
      OUTBOX_HIGH_WATER_BYTES,
      hardCap,
      {
        onOverflow: (bytes) => abort(`${SLOW_CONSUMER}: ${bytes} bytes queued, over ${hardCap}`),
        onHighWater: pauseReading,
        onDrained: resumeReading
      }
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
