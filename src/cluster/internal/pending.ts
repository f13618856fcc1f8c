/**
 * Requests of one kind waiting for their answers (calls, stops, spawns, forwarded
 * registrations each have their own table, so an answer can only complete a request
 * of its kind). Every request ends exactly once: its answer, its timeout, or the
 * failure of its node the moment that node goes down; an answer that finds no entry —
 * late, or from a node the request did not go to — is dropped.
 */
import { Effect, Exit } from "effect"
import type { TimerEntry, Timers } from "../../internal/timers.js"
import type { ResultSchemas } from "../../internal/typed.js"
import type { NodeId } from "../../NodeId.js"

/** One request in flight. */
export interface Pending<A, E> {
  readonly nodeId: NodeId
  /** What the request is about: a server id, a behavior name. */
  readonly subject: string
  /** Clock time (ms) it was sent. */
  readonly startedAt: number
  readonly resume: (exit: Exit.Exit<A, E>) => void
  /** A typed request's result schemas: its answer is decoded with them. */
  readonly result: ResultSchemas | undefined
  timer: TimerEntry | undefined
}

/** The table of one request kind. */
export class PendingRequests<A, E> {
  private seq = 0
  private readonly entries = new Map<number, Pending<A, E>>()

  constructor(
    private readonly timers: Timers,
    /** Called when a request is given up by its caller (timeout or interruption), after it left the table. */
    private readonly onGiveUp?: (id: number, entry: Pending<A, E>) => void
  ) {}

  /** Requests in flight. */
  get size(): number {
    return this.entries.size
  }

  /** A fresh id: wraps before 2^31 so ids stay small integers on the wire; 0 is reserved. */
  nextId(): number {
    this.seq = this.seq >= 0x7fff_ffff ? 1 : this.seq + 1
    return this.seq
  }

  /**
   * Registers request `id` to `nodeId` and arms its timeout (none for `Infinity`); the
   * timeout fails it with `timeoutError`. Returns the canceler for `Effect.async` (a call does without one).
   */
  open(
    id: number,
    nodeId: NodeId,
    subject: string,
    resume: (exit: Exit.Exit<A, E>) => void,
    timeoutMs: number,
    timeoutError: (entry: Pending<A, E>, timeoutMs: number) => E,
    result?: ResultSchemas
  ): Effect.Effect<void> {
    const entry: Pending<A, E> = { nodeId, subject, startedAt: this.timers.now(), resume, result, timer: undefined }
    this.entries.set(id, entry)
    entry.timer = this.timers.schedule(timeoutMs, () => {
      if (this.entries.get(id) !== entry) return
      this.entries.delete(id)
      this.onGiveUp?.(id, entry)
      resume(Exit.fail(timeoutError(entry, timeoutMs)))
    })
    return Effect.sync(() => {
      if (this.entries.get(id) !== entry) return
      this.entries.delete(id)
      this.timers.cancel(entry.timer)
      this.onGiveUp?.(id, entry)
    })
  }

  /** Takes request `id` out of the table, if it is there and went to `from`. */
  take(id: number, from: NodeId): Pending<A, E> | undefined {
    const entry = this.entries.get(id)
    if (entry === undefined || entry.nodeId !== from) return undefined
    this.entries.delete(id)
    this.timers.cancel(entry.timer)
    return entry
  }

  /** Fails every request to `nodeId` (it went down). */
  failNode(nodeId: NodeId, error: E): void {
    for (const [id, entry] of this.entries) {
      if (entry.nodeId !== nodeId) continue
      this.entries.delete(id)
      this.timers.cancel(entry.timer)
      entry.resume(Exit.fail(error))
    }
  }
}
