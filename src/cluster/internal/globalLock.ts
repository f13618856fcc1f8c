/**
 * The cluster lock behind `GlobalRegistry.registerOrWhereis` (Erlang's `global:trans`
 * for the one case it is mostly used for: starting a singleton). Each name's lock is
 * kept by one arbiter, the lowest NodeId among the members a contender sees (itself
 * included). A contender asks the arbiter; the arbiter grants the lock to one at a
 * time, queues the others, and answers them with the registered ref once the holder
 * registered the name (its registration travels on the same link before its release, so
 * the arbiter's replica has it). A holder's node going down releases its locks; an
 * arbiter's going down makes its contenders ask the next one.
 *
 * While every contender sees the same members, exactly one starts the singleton. Across
 * a partition each side has its own arbiter, so each side may start one; the registry's
 * conflict rule keeps one after the heal and stops the other.
 */
import { Deferred, Effect, Either, Exit, Option, Schema } from "effect"
import type * as GenServer from "../../GenServer.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"
import * as ServerRefModule from "../../ServerRef.js"

/** The lock process's name on every node. */
export const LOCK_PROCESS = "noex.global.lock"

/**
 * Contenders one peer may have waiting at this arbiter: one per singleton it is starting
 * is the honest number, and a queue a peer fills must have a bound. Past it the peer is
 * told `busy` and asks again after a pause.
 */
export const MAX_WAITERS_PER_PEER = 10_000

/** How long a contender told `busy` waits before asking again: long enough for the queue ahead of it to move. */
const BUSY_PAUSE = "50 millis"

const Name = Schema.String.pipe(Schema.maxLength(4096))
const Req = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

const LockMessage = Schema.Union(
  Schema.TaggedStruct("lock.acquire", { name: Name, req: Req }),
  Schema.TaggedStruct("lock.release", { name: Name }),
  Schema.TaggedStruct("lock.answer", {
    name: Name,
    req: Req,
    outcome: Schema.Literal("granted", "registered", "busy"),
    ref: Schema.optional(ServerRefModule.schema)
  })
)
type LockMessage = typeof LockMessage.Type
const decode = Schema.decodeUnknownEither(LockMessage)

/** What the arbiter answers. */
type Outcome =
  | { readonly _tag: "granted" }
  | { readonly _tag: "registered"; readonly ref: ServerRef }
  | { readonly _tag: "busy" }
  | { readonly _tag: "arbiterDown" }

interface Waiter {
  readonly node: NodeId
  readonly req: number
}

/** What the lock is built with. */
export interface LockDeps {
  readonly runtime: GenServer.Service
  readonly connectedMembers: () => ReadonlyArray<NodeId>
  readonly whereis: (name: string) => ServerRef | undefined
}

/** The lock of one node: its arbiter's table and its own pending requests. */
export class GlobalLock {
  private readonly self: NodeId
  /** As arbiter: name → holder and the queue behind it. */
  private readonly held = new Map<string, { holder: NodeId; readonly waiters: Array<Waiter> }>()
  private readonly waiting = new Map<NodeId, number>()
  /** As contender: request → the arbiter asked and where its answer goes. */
  private readonly pending = new Map<number, { arbiter: NodeId; done: (o: Outcome) => void }>()
  private seq = 0

  constructor(private readonly deps: LockDeps) {
    this.self = deps.runtime.nodeId
  }

  /** The arbiter this node asks now. */
  arbiter(): NodeId {
    let best = this.self
    for (const id of this.deps.connectedMembers()) if (id < best) best = id
    return best
  }

  /**
   * Runs `start` under the lock of `name` unless it is registered: answers the
   * registered ref, or the one `start` made (which `register` registers, still under the lock).
   */
  run<E, R, E2>(
    name: string,
    start: Effect.Effect<ServerRef, E, R>,
    register: (ref: ServerRef) => Effect.Effect<ServerRef, E2>
  ): Effect.Effect<ServerRef, E | E2, R> {
    // Uninterruptible between the grant and the `ensuring` that gives it back: an interruption
    // arriving with the grant would otherwise leave the lock held until this node goes down.
    // Only the waits (for the answer, `start` itself) are interruptible.
    const attempt: Effect.Effect<Option.Option<ServerRef>, E | E2, R> = Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const known = this.deps.whereis(name)
        if (known !== undefined) return Effect.succeedSome(known)
        const arbiter = this.arbiter()
        return Effect.flatMap(this.acquire(arbiter, name, restore), (outcome) => {
          switch (outcome._tag) {
            case "registered":
              return Effect.succeedSome(outcome.ref)
            case "busy":
              return Effect.as(restore(Effect.sleep(BUSY_PAUSE)), Option.none())
            case "arbiterDown":
              return Effect.succeedNone
            case "granted": {
              const release = Effect.suspend(() => this.release(arbiter, name))
              const held = Effect.suspend(() => {
                const again = this.deps.whereis(name)
                return again !== undefined ? Effect.succeed(again) : Effect.flatMap(start, register)
              })
              return Effect.asSome(Effect.ensuring(restore(held), release))
            }
          }
        })
      })
    )
    return Effect.flatMap(
      Effect.repeat(attempt, { until: Option.isSome }),
      (ref) => Effect.succeed(Option.getOrThrow(ref))
    )
  }

  /**
   * Asks `arbiter` for the lock of `name`, waiting (interruptibly, through `restore`) for its
   * answer. Interrupted after a grant came, it gives the grant back; a grant coming after
   * that finds no request and is given back by {@link answered}.
   */
  private acquire(
    arbiter: NodeId,
    name: string,
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ): Effect.Effect<Outcome> {
    return Effect.flatMap(Deferred.make<Outcome>(), (deferred) => {
      const req = ++this.seq
      let outcome: Outcome | undefined
      this.pending.set(req, {
        arbiter,
        done: (o) => {
          outcome = o
          Deferred.unsafeDone(deferred, Effect.succeed(o))
        }
      })
      const ask = arbiter === this.self
        ? Effect.suspend(() => this.onAcquire(this.self, name, req) ?? Effect.void)
        : this.deps.runtime.send({ id: LOCK_PROCESS, nodeId: arbiter }, { _tag: "lock.acquire", name, req })
      return Effect.zipRight(ask, restore(Deferred.await(deferred))).pipe(
        // One step: once the request is gone, a late grant is `answered`'s to give back.
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            this.pending.delete(req)
            return Exit.isFailure(exit) && outcome?._tag === "granted" ? this.release(arbiter, name) : Effect.void
          })
        )
      )
    })
  }

  private release(arbiter: NodeId, name: string): Effect.Effect<void> {
    if (arbiter === this.self) return Effect.suspend(() => this.onRelease(this.self, name) ?? Effect.void)
    return this.deps.runtime.send({ id: LOCK_PROCESS, nodeId: arbiter }, { _tag: "lock.release", name })
  }

  private answer(to: NodeId, name: string, req: number, outcome: Outcome): Effect.Effect<void> {
    if (to === this.self) return Effect.suspend(() => this.answered(this.self, name, req, outcome))
    const ref = outcome._tag === "registered" ? { ref: outcome.ref } : {}
    return this.deps.runtime.send({ id: LOCK_PROCESS, nodeId: to }, {
      _tag: "lock.answer",
      name,
      req,
      outcome: outcome._tag,
      ...ref
    })
  }

  /** An arbiter's answer; a grant nobody waits for any more (its contender was interrupted) is given back. */
  private answered(arbiter: NodeId, name: string, req: number, outcome: Outcome): Effect.Effect<void> {
    const pending = this.pending.get(req)
    if (pending === undefined || pending.arbiter !== arbiter) {
      return outcome._tag === "granted" && pending === undefined ? this.release(arbiter, name) : Effect.void
    }
    pending.done(outcome)
    return Effect.void
  }

  private onAcquire(from: NodeId, name: string, req: number): Effect.Effect<void> | void {
    const known = this.deps.whereis(name)
    if (known !== undefined) return this.answer(from, name, req, { _tag: "registered", ref: known })
    const lock = this.held.get(name)
    if (lock === undefined) {
      this.held.set(name, { holder: from, waiters: [] })
      return this.answer(from, name, req, { _tag: "granted" })
    }
    const queued = this.waiting.get(from) ?? 0
    if (queued >= MAX_WAITERS_PER_PEER) return this.answer(from, name, req, { _tag: "busy" })
    this.waiting.set(from, queued + 1)
    lock.waiters.push({ node: from, req })
  }

  private onRelease(from: NodeId, name: string): Effect.Effect<void> | void {
    const lock = this.held.get(name)
    if (lock === undefined || lock.holder !== from) return
    return this.handOn(name, lock)
  }

  /** The holder is gone: the registered ref for every waiter, or the lock for the next. */
  private handOn(name: string, lock: { holder: NodeId; readonly waiters: Array<Waiter> }): Effect.Effect<void> {
    const known = this.deps.whereis(name)
    const answers: Array<Effect.Effect<void>> = []
    while (lock.waiters.length > 0) {
      const next = lock.waiters.shift()!
      this.waiting.set(next.node, (this.waiting.get(next.node) ?? 1) - 1)
      if (known !== undefined) {
        answers.push(this.answer(next.node, name, next.req, { _tag: "registered", ref: known }))
        continue
      }
      lock.holder = next.node
      answers.push(this.answer(next.node, name, next.req, { _tag: "granted" }))
      return Effect.all(answers, { discard: true })
    }
    this.held.delete(name)
    return Effect.all(answers, { discard: true })
  }

  /** An info message to the lock process, from `from` as its link authenticated it. */
  receive(msg: unknown, from: NodeId | undefined): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (from === undefined || from === this.self) return Effect.void
      const decoded = decode(msg)
      if (Either.isLeft(decoded)) {
        return Effect.logWarning("dropped a lock message that does not decode").pipe(
          Effect.annotateLogs({ node: this.self, peer: from })
        )
      }
      return this.apply(from, decoded.right) ?? Effect.void
    })
  }

  private apply(from: NodeId, msg: LockMessage): Effect.Effect<void> | void {
    switch (msg._tag) {
      case "lock.acquire":
        return this.onAcquire(from, msg.name, msg.req)
      case "lock.release":
        return this.onRelease(from, msg.name)
      case "lock.answer": {
        // Only the arbiter asked may answer (`answered` checks it).
        if (msg.outcome !== "registered") return this.answered(from, msg.name, msg.req, { _tag: msg.outcome })
        if (msg.ref === undefined) return
        return this.answered(from, msg.name, msg.req, { _tag: "registered", ref: msg.ref })
      }
    }
  }

  /** A node went down: its locks pass on, its waiters are dropped, and what it arbitrated is asked again. */
  nodeDown(peer: NodeId): Effect.Effect<void> {
    return Effect.suspend(() => {
      const effects: Array<Effect.Effect<void>> = []
      this.waiting.delete(peer)
      for (const [name, lock] of Array.from(this.held)) {
        for (let i = lock.waiters.length - 1; i >= 0; i--) if (lock.waiters[i]!.node === peer) lock.waiters.splice(i, 1)
        if (lock.holder === peer) effects.push(this.handOn(name, lock))
      }
      for (const pending of Array.from(this.pending.values())) {
        if (pending.arbiter === peer) pending.done({ _tag: "arbiterDown" })
      }
      return Effect.all(effects, { discard: true })
    })
  }
}

/** The lock process: the endpoint other nodes' locks send to. */
export const lockBehavior = (lock: GlobalLock): GenServer.GenServerBehavior<GlobalLock, never, never, never> => ({
  init: () => lock,
  handleCall: () => {
    throw new Error("the lock process takes no calls")
  },
  handleCast: (_msg, state) => state,
  handleInfo: (msg: unknown, state: GlobalLock, from?: NodeId) => Effect.as(lock.receive(msg, from), state),
  schemas: { call: Schema.Never, cast: Schema.Never }
})
