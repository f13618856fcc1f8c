/**
 * The outgoing side of one connection. Frames queue here and are flushed as one
 * batch per turn of the event loop: everything queued goes to the sink in one call
 * (one socket write for TCP). A flush is a microtask rather than a writer fiber
 * waking on a queue: a fiber wake costs ~23 µs here, a third of a loopback round
 * trip, and batching is identical either way. Control frames jump ahead of data.
 *
 * Backpressure: `offer` never waits (a reply produced by the reader must not stall
 * it); a producer that can outrun the network (casts) first waits on `writable`, which
 * suspends while the bytes queued here plus those the sink still holds exceed the
 * high-water mark, and resumes when they fall below half of it.
 */
import { Effect } from "effect"
import { ConnectionClosedError } from "../transport/Transport.js"

/**
 * Frames per write when a turn produces many: large enough to amortize the syscall
 * (it costs about as much as handling a few frames), small enough that sender and
 * receiver overlap on two cores.
 */
const BATCH_FRAMES = 32

/** Where a batch goes. Returns `false` when the sink is congested and will call `resume` later. */
export interface Sink {
  readonly write: (frames: ReadonlyArray<Uint8Array>, bytes: number) => boolean
  /** Bytes the sink accepted but has not yet handed to the network. */
  readonly pending: () => number
}

/** What an outbox tells its connection about the pressure on it. */
export interface Pressure {
  /** While the sink refuses bytes, a frame would take those queued past the hard cap: the peer is not reading; close. */
  readonly onOverflow?: ((bytes: number) => void) | undefined
  /**
   * While the sink refuses bytes, what is queued reached the high-water mark: the peer
   * reads slower than this node answers it. Called once until {@link Outbox.resume}.
   */
  readonly onHighWater?: (() => void) | undefined
  /** The sink drained what it held after `onHighWater`. */
  readonly onDrained?: (() => void) | undefined
}

/** A connection's queue of outgoing frames. */
export class Outbox {
  private urgent: Array<Uint8Array> = []
  private data: Array<Uint8Array> = []
  private bytes = 0
  private scheduled = false
  private congested = false
  private high = false
  private waiters: Array<() => void> = []
  private closedReason: string | undefined = undefined
  private transform: ((frames: ReadonlyArray<Uint8Array>) => ReadonlyArray<Uint8Array>) | undefined = undefined

  constructor(
    private readonly sink: Sink,
    private readonly highWater: number,
    private readonly hardCap: number = Infinity,
    private readonly pressure: Pressure = {}
  ) {}

  /** Bytes queued and not yet given to the sink. */
  queuedBytes(): number {
    return this.bytes
  }

  /** Why the outbox was closed, if it was. */
  get closed(): string | undefined {
    return this.closedReason
  }

  /** Queues a frame without waiting, an urgent one ahead of data; `false` once closed. */
  offer(frame: Uint8Array, urgent = false): boolean {
    if (this.closedReason !== undefined) return false
    // Only while the sink refuses bytes: a burst to a peer that reads flushes at the end of the turn.
    if (this.congested) {
      const queued = this.bytes + this.sink.pending() + frame.length
      if (queued > this.hardCap) {
        this.pressure.onOverflow?.(queued)
        return false
      }
      if (queued >= this.highWater && !this.high) {
        this.high = true
        this.pressure.onHighWater?.()
      }
    }
    if (urgent) {
      this.urgent.push(frame)
      this.bytes += frame.length
      this.schedule()
      return true
    }
    this.data.push(frame)
    this.bytes += frame.length
    // A full batch leaves at once: the peer starts on it while we produce the next one,
    // instead of both sides taking turns on whole turns of the event loop.
    if (this.data.length >= BATCH_FRAMES && !this.congested) this.flush()
    else this.schedule()
    return true
  }

  /** Completes once the outbox is under its high-water mark (at once if it is); fails once closed. */
  readonly writable: Effect.Effect<void, ConnectionClosedError> = Effect.suspend(() => {
    if (this.closedReason !== undefined) return Effect.fail(new ConnectionClosedError({ reason: this.closedReason }))
    if (this.bytes + this.sink.pending() < this.highWater) return Effect.void
    return Effect.zipRight(this.waitForRoom(), this.writable)
  })

  /** The sink drained what it held: flush what queued meanwhile and wake waiting senders. */
  resume(): void {
    this.congested = false
    if (this.high) {
      this.high = false
      this.pressure.onDrained?.()
    }
    if (this.urgent.length + this.data.length > 0) this.flush()
    this.wake()
  }

  /** Refuses further frames and wakes waiting senders, which then fail. Returns the frames never flushed. */
  close(reason: string): void {
    if (this.closedReason !== undefined) return
    this.closedReason = reason
    this.urgent = []
    this.data = []
    this.bytes = 0
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /**
   * From now on every batch passes through `transform` on its way to the sink (a link
   * seals batches into authenticated records); what was queued before leaves first, as
   * it was, even while the sink is congested (it queues what it is given).
   */
  transformFrom(transform: (frames: ReadonlyArray<Uint8Array>) => ReadonlyArray<Uint8Array>): void {
    if (this.closedReason === undefined && this.urgent.length + this.data.length > 0) this.flush()
    this.transform = transform
  }

  /** Flushes now instead of at the end of the turn (after a chunk was handled, before a graceful close). */
  flushNow(): void {
    if (!this.congested && this.closedReason === undefined && this.urgent.length + this.data.length > 0) this.flush()
  }

  private waitForRoom(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const waiter = () => resume(Effect.void)
      this.waiters.push(waiter)
      return Effect.sync(() => {
        const i = this.waiters.indexOf(waiter)
        if (i >= 0) this.waiters.splice(i, 1)
      })
    })
  }

  private wake(): void {
    if (this.waiters.length === 0 || this.bytes + this.sink.pending() >= this.highWater / 2) return
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private schedule(): void {
    if (this.scheduled || this.congested) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      if (!this.congested && this.closedReason === undefined) this.flush()
    })
  }

  private flush(): void {
    let batch: Array<Uint8Array>
    if (this.urgent.length === 0) batch = this.data
    else if (this.data.length === 0) batch = this.urgent
    else batch = this.urgent.concat(this.data)
    if (batch.length === 0) return
    const bytes = this.bytes
    this.urgent = []
    this.data = []
    this.bytes = 0
    const out = this.transform === undefined ? batch : this.transform(batch)
    if (!this.sink.write(out, bytes)) this.congested = true
    this.wake()
  }
}
