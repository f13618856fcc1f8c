/**
 * One timer per node for every call and spawn deadline. `Effect.timeout` forks a
 * sleeping fiber per call (~25 µs here), which would cap local calls near 40k/s;
 * this wheel keeps one sleeping fiber for all deadlines and re-arms it only when a
 * new deadline is earlier than the armed one. Time comes from the node's `Clock`,
 * so `TestClock` drives it.
 */
import { Clock, Duration, Effect, Fiber, Runtime } from "effect"

/** A scheduled callback; pass it to {@link Timers.cancel} to drop it. */
export interface TimerEntry {
  readonly at: number
  /** Dropped on cancel, so a cancelled entry waiting in its bucket holds nothing of its caller's. */
  fire: () => void
  /** Fired or cancelled: set once, never cleared. */
  done: boolean
  /** The bucket it was put in (a later one at the same millisecond is another); dropped once done. */
  bucket: Bucket | undefined
}

/**
 * The entries due in one millisecond. An array with a live count rather than a `Set`:
 * a cancelled entry is only marked, because deleting from a `Set` reallocates its table
 * as it shrinks (~350 B per call measured, for a call that is nearly always answered
 * and so cancels its deadline).
 */
export interface Bucket {
  readonly entries: Array<TimerEntry>
  live: number
}

const noop = () => {}

/** Milliseconds as a whole number, `Infinity` for no deadline. */
export const toMillis = (input: Duration.DurationInput): number => {
  const d = Duration.decode(input)
  return Duration.isFinite(d) ? Math.max(0, Math.ceil(Duration.toMillis(d))) : Infinity
}

/** A deadline wheel: buckets per millisecond plus a min-heap of bucket keys. */
export class Timers {
  private readonly buckets = new Map<number, Bucket>()
  private readonly heap: Array<number> = []
  /** The keys in `heap`. */
  private readonly keys = new Set<number>()
  private armedAt = Infinity
  private generation = 0
  private sleeper: Fiber.RuntimeFiber<void> | undefined
  private closed = false

  constructor(
    private readonly clock: Clock.Clock,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  /** The clock's current time in milliseconds. */
  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /** Runs `fire` once `ms` milliseconds from now (unless cancelled first). */
  schedule(ms: number, fire: () => void): TimerEntry | undefined {
    if (!Number.isFinite(ms) || this.closed) return undefined
    const at = this.now() + ms
    let bucket = this.buckets.get(at)
    const fresh = bucket === undefined
    if (bucket === undefined) {
      bucket = { entries: [], live: 0 }
      this.buckets.set(at, bucket)
    }
    const entry: TimerEntry = { at, fire, done: false, bucket }
    bucket.entries.push(entry)
    bucket.live++
    // In the bucket before arming: a clock that runs a 0 ms sleep at once (TestClock) wakes
    // the wheel inside `arm`, and that wake must find the entry.
    if (fresh) {
      // Once per millisecond in the heap: a bucket emptied by cancels and made again in the
      // same millisecond must not push its key again (100k schedule + cancel made 100k keys).
      if (!this.keys.has(at)) this.push(at)
      if (at < this.armedAt) this.arm(at)
    }
    return entry
  }

  /** Drops a scheduled entry; a no-op for one that already fired. */
  cancel(entry: TimerEntry | undefined): void {
    if (entry === undefined || entry.done) return
    entry.done = true
    entry.fire = noop
    // Its own bucket: one being fired has left the map, and a new one may hold its millisecond.
    const bucket = entry.bucket!
    entry.bucket = undefined
    if (--bucket.live === 0 && this.buckets.get(entry.at) === bucket) this.buckets.delete(entry.at)
  }

  /** Stops the wheel: pending entries never fire. */
  close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      this.buckets.clear()
      this.heap.length = 0
      this.keys.clear()
      const sleeper = this.sleeper
      this.sleeper = undefined
      return sleeper === undefined ? Effect.void : Fiber.interrupt(sleeper)
    })
  }

  private arm(at: number): void {
    const previous = this.sleeper
    const generation = ++this.generation
    this.armedAt = at
    if (previous !== undefined) previous.unsafeInterruptAsFork(previous.id())
    const delay = Math.max(0, at - this.now())
    this.sleeper = Runtime.runFork(
      this.runtime,
      Effect.zipRight(Effect.sleep(Duration.millis(delay)), Effect.sync(() => this.wake(generation)))
    )
  }

  private wake(generation: number): void {
    if (generation !== this.generation || this.closed) return
    this.sleeper = undefined
    this.armedAt = Infinity
    const now = this.now()
    while (this.heap.length > 0 && this.heap[0]! <= now) {
      const key = this.pop()
      const bucket = this.buckets.get(key)
      if (bucket === undefined) continue
      this.buckets.delete(key)
      for (const entry of bucket.entries) {
        // An entry fired earlier in this loop may have cancelled this one.
        if (entry.done) continue
        // Done entries keep nothing: not their caller's closure, not their bucket's siblings.
        const fire = entry.fire
        entry.done = true
        entry.fire = noop
        entry.bucket = undefined
        fire()
      }
    }
    // Keys whose bucket emptied by cancellation are stale: skip them so we do not wake for nothing.
    while (this.heap.length > 0 && !this.buckets.has(this.heap[0]!)) this.pop()
    if (this.heap.length > 0 && !this.closed) this.arm(this.heap[0]!)
  }

  private push(key: number): void {
    this.keys.add(key)
    const heap = this.heap
    let i = heap.push(key) - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]! <= key) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = key
  }

  private pop(): number {
    const heap = this.heap
    const top = heap[0]!
    this.keys.delete(top)
    const last = heap.pop()!
    if (heap.length > 0) {
      let i = 0
      const n = heap.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && heap[r]! < heap[l]! ? r : l
        if (heap[c]! >= last) break
        heap[i] = heap[c]!
        i = c
      }
      heap[i] = last
    }
    return top
  }
}
