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
 * A grant is a lease ({@link LOCK_LEASE_MS}) that the holder renews while it is inside its
 * critical section: a holder that never gives the lock back (a bug, or a peer that never
 * does) loses it when the lease lapses, and the next contender is granted. A holder whose
 * lease lapsed anyway does not register what it started (see {@link GlobalLock.run}).
 *
 * While every contender sees the same members, exactly one starts the singleton. Across
 * a partition each side has its own arbiter, so each side may start one; the registry's
 * conflict rule keeps one after the heal and stops the other.
 */
import { Deferred, Effect, Either, Exit, Fiber, Option, Schema } from "effect"
import type * as GenServer from "../../GenServer.js"
import type { ProcessTable } from "../../internal/process.js"
import type { TimerEntry, Timers } from "../../internal/timers.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"
import * as ServerRefModule from "../../ServerRef.js"

/** The lock process's name on every node. */
export const LOCK_PROCESS = "noex.global.lock"

/**
 * Locks one peer may hold plus wait for at one arbiter: one per singleton it is starting
 * is the honest number, and both the table of held names and the queues are filled by
 * the peer, so both need a bound. Past it the peer is told `busy` and asks again after a pause.
 */
export const MAX_LOCKS_PER_PEER = 10_000

/**
 * How long a grant lasts unless its holder renews it. Three failure-detection windows
 * (5 s by default): a holder whose node is gone is released at NodeDown long before, so
 * the lease only takes a name back from a holder that is connected and never gives it
 * back. The holder renews every third of it, so a renewal may be late by two thirds of
 * the lease before a live holder loses the lock.
 */
export const LOCK_LEASE_MS = 15_000

/** How often a holder renews its lease: a third of it (see {@link LOCK_LEASE_MS}). */
const RENEW_EVERY_MS = LOCK_LEASE_MS / 3

/** How long a contender told `busy` waits before asking again: long enough for the queue ahead of it to move. */
const BUSY_PAUSE = "50 millis"

const Name = Schema.String.pipe(Schema.maxLength(4096))
const Req = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/** What lock processes tell each other. `req` names the contender's request, so a grant's renewal, release and revocation name the grant. */
const LockMessage = Schema.Union(
  Schema.TaggedStruct("lock.acquire", { name: Name, req: Req }),
  Schema.TaggedStruct("lock.release", { name: Name, req: Req }),
  Schema.TaggedStruct("lock.renew", { name: Name, req: Req }),
  Schema.TaggedStruct("lock.revoked", { name: Name, req: Req }),
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

/** What a contender learns from its request: a grant comes as the {@link Grant} it now holds. */
type Answer = Exclude<Outcome, { readonly _tag: "granted" }> | { readonly _tag: "granted"; readonly grant: Grant }

interface Waiter {
  readonly node: NodeId
  readonly req: number
}

/** As arbiter: one name's lock, its holder's lease and the queue behind it. */
interface Lock {
  holder: NodeId
  req: number
  /** The arbiter's clock: the lease ends here unless renewed. */
  expiresAt: number
  /** The wheel entry that looks at the lease next. */
  timer: TimerEntry | undefined
  readonly waiters: Array<Waiter>
}

/** As contender: a grant this node holds, until it gives it back. */
interface Grant {
  readonly arbiter: NodeId
  readonly name: string
  readonly req: number
  /** The arbiter took it back (the lease lapsed): the holder must not register. */
  revoked: boolean
  /** When this node was granted it or last renewed it, by its own clock. */
  renewedAt: number
}

/** A lease's timer fired: sent by the wheel to this node's lock process, which alone runs the lock's effects. */
class LeaseDue {
  constructor(readonly name: string, readonly lock: Lock, readonly entry: TimerEntry) {}
}

/** What the lock is built with. */
export interface LockDeps {
  readonly runtime: GenServer.Service
  /** The node's own table: its deadline wheel times the leases, and its signals reach the lock process. */
  readonly table: ProcessTable
  readonly connectedMembers: () => ReadonlyArray<NodeId>
  readonly whereis: (name: string) => ServerRef | undefined
}

/** The lock of one node: its arbiter's table and its own pending requests and grants. */
export class GlobalLock {
  private readonly self: NodeId
  /** The node's deadline wheel and clock (closed with the node, so no lease timer outlives it). */
  private readonly timers: Timers
  private readonly signal: (msg: LeaseDue) => boolean
  /** As arbiter: name → its lock. */
  private readonly held = new Map<string, Lock>()
  /** As arbiter: peer → the locks it holds plus waits for (at most {@link MAX_LOCKS_PER_PEER}). */
  private readonly claims = new Map<NodeId, number>()
  /** As contender: request → the arbiter asked and where its answer goes. */
  private readonly pending = new Map<number, { arbiter: NodeId; done: (o: Outcome) => void }>()
  /** As contender: request → the grant it holds. */
  private readonly holding = new Map<number, Grant>()
  private seq = 0

  constructor(private readonly deps: LockDeps) {
    this.self = deps.runtime.nodeId
    const table = deps.table
    this.timers = table.timers
    // Past the mailbox limit, as a monitor's Down is: at most one per held lock, and losing
    // one would leave that lock held for good.
    this.signal = (msg) => table.signal(LOCK_PROCESS, msg)
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
   *
   * While it holds the lock it renews the lease every {@link RENEW_EVERY_MS}, so a `start`
   * as long as the user's `initTimeout` keeps it. It registers only while it still holds
   * the lease as far as it can tell: the arbiter has not told it `lock.revoked`, and it
   * renewed within the last lease (it did not stall). Otherwise the ref `start` made is
   * stopped and it asks again. A revocation still on its way when it registers is not seen:
   * then two may register, and the registry keeps one, as when the arbiter goes down.
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
        return Effect.flatMap(this.acquire(arbiter, name, restore), (answer) => {
          switch (answer._tag) {
            case "registered":
              return Effect.succeedSome(answer.ref)
            case "busy":
              return Effect.as(restore(Effect.sleep(BUSY_PAUSE)), Option.none())
            case "arbiterDown":
              return Effect.succeedNone
            case "granted": {
              const grant = answer.grant
              const renewing = Effect.forever(Effect.zipRight(Effect.sleep(RENEW_EVERY_MS), this.renew(grant)))
              const held = Effect.suspend(() => {
                const again = this.deps.whereis(name)
                if (again !== undefined) return Effect.succeedSome(again)
                return Effect.flatMap(
                  start,
                  (ref) => this.stillHolds(grant) ? Effect.asSome(register(ref)) : this.lapsed(grant, ref)
                )
              })
              return Effect.flatMap(
                Effect.fork(Effect.interruptible(renewing)),
                (renewer) =>
                  Effect.ensuring(restore(held), Effect.zipRight(Fiber.interrupt(renewer), this.giveBack(grant)))
              )
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

  /** Not revoked, and renewed within the last lease: the arbiter's lease, counted from later, runs too. */
  private stillHolds(grant: Grant): boolean {
    return !grant.revoked && this.timers.now() - grant.renewedAt < LOCK_LEASE_MS
  }

  /** `start` ended after the lease lapsed: what it made is not registered, and the caller asks again. */
  private lapsed(grant: Grant, ref: ServerRef): Effect.Effect<Option.Option<ServerRef>> {
    return Effect.logWarning("the lock's lease lapsed during start: stopping what it started, asking again").pipe(
      Effect.annotateLogs({ node: this.self, arbiter: grant.arbiter, name: grant.name, serverId: ref.id }),
      Effect.zipRight(Effect.ignore(this.deps.runtime.stop(ref, "shutdown"))),
      Effect.as(Option.none())
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
  ): Effect.Effect<Answer> {
    return Effect.flatMap(Deferred.make<Answer>(), (deferred) => {
      const req = ++this.seq
      let answer: Answer | undefined
      this.pending.set(req, {
        arbiter,
        done: (o) => {
          // The first answer counts (the arbiter may go down after it granted).
          if (answer !== undefined) return
          if (o._tag === "granted") {
            // Held from now, so that a revocation arriving before this fiber runs again is kept.
            const grant: Grant = { arbiter, name, req, revoked: false, renewedAt: this.timers.now() }
            this.holding.set(req, grant)
            answer = { _tag: "granted", grant }
          } else answer = o
          Deferred.unsafeDone(deferred, Effect.succeed(answer))
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
            return Exit.isFailure(exit) && answer?._tag === "granted" ? this.giveBack(answer.grant) : Effect.void
          })
        )
      )
    })
  }

  private giveBack(grant: Grant): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.holding.delete(grant.req)
      return this.release(grant.arbiter, grant.name, grant.req)
    })
  }

  private release(arbiter: NodeId, name: string, req: number): Effect.Effect<void> {
    if (arbiter === this.self) return Effect.suspend(() => this.onRelease(this.self, name, req) ?? Effect.void)
    return this.deps.runtime.send({ id: LOCK_PROCESS, nodeId: arbiter }, { _tag: "lock.release", name, req })
  }

  /** Renews a grant still held; a revoked one is the arbiter's no more. */
  private renew(grant: Grant): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (grant.revoked) return Effect.void
      grant.renewedAt = this.timers.now()
      const { arbiter, name, req } = grant
      if (arbiter === this.self) return Effect.sync(() => this.onRenew(this.self, name, req))
      return this.deps.runtime.send({ id: LOCK_PROCESS, nodeId: arbiter }, { _tag: "lock.renew", name, req })
    })
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
      return outcome._tag === "granted" && pending === undefined ? this.release(arbiter, name, req) : Effect.void
    }
    pending.done(outcome)
    return Effect.void
  }

  /** The arbiter took a grant back: only the arbiter that granted it may. */
  private onRevoked(from: NodeId, name: string, req: number): void {
    const grant = this.holding.get(req)
    if (grant !== undefined && grant.arbiter === from && grant.name === name) grant.revoked = true
  }

  private onAcquire(from: NodeId, name: string, req: number): Effect.Effect<void> | void {
    const known = this.deps.whereis(name)
    if (known !== undefined) return this.answer(from, name, req, { _tag: "registered", ref: known })
    const claims = this.claims.get(from) ?? 0
    if (claims >= MAX_LOCKS_PER_PEER) return this.answer(from, name, req, { _tag: "busy" })
    this.claims.set(from, claims + 1)
    const lock = this.held.get(name)
    if (lock !== undefined) {
      lock.waiters.push({ node: from, req })
      return
    }
    const fresh: Lock = { holder: from, req, expiresAt: 0, timer: undefined, waiters: [] }
    this.held.set(name, fresh)
    this.lease(name, fresh)
    return this.answer(from, name, req, { _tag: "granted" })
  }

  private onRelease(from: NodeId, name: string, req: number): Effect.Effect<void> | void {
    const lock = this.held.get(name)
    if (lock === undefined || lock.holder !== from || lock.req !== req) return
    return this.handOn(name, lock)
  }

  private onRenew(from: NodeId, name: string, req: number): void {
    const lock = this.held.get(name)
    if (lock !== undefined && lock.holder === from && lock.req === req) {
      lock.expiresAt = this.timers.now() + LOCK_LEASE_MS
    }
  }

  /** A new lease for the lock's holder. */
  private lease(name: string, lock: Lock): void {
    lock.expiresAt = this.timers.now() + LOCK_LEASE_MS
    this.arm(name, lock, LOCK_LEASE_MS)
  }

  /** Looks at the lease in `ms`; a renewal only moves `expiresAt`, so the wheel is not touched per renewal. */
  private arm(name: string, lock: Lock, ms: number): void {
    this.timers.cancel(lock.timer)
    // At least 1 ms: a 0 ms entry can fire inside `schedule`, before `entry` is assigned.
    const entry: TimerEntry | undefined = this.timers.schedule(Math.max(1, Math.ceil(ms)), () => {
      if (entry === undefined || this.held.get(name) !== lock || lock.timer !== entry) return
      // No lock process to run the lease's effects (it is being restarted): look again later.
      if (!this.signal(new LeaseDue(name, lock, entry))) this.arm(name, lock, RENEW_EVERY_MS)
    })
    lock.timer = entry
  }

  /** A lease's timer, in the lock process: renewed since, it looks again then; lapsed, the lock is taken back. */
  private leaseDue(due: LeaseDue): Effect.Effect<void> {
    const { entry, lock, name } = due
    if (this.held.get(name) !== lock || lock.timer !== entry) return Effect.void
    const left = lock.expiresAt - this.timers.now()
    if (left > 0) {
      this.arm(name, lock, left)
      return Effect.void
    }
    const { holder, req } = lock
    // Taken back and handed on in this one step, before any effect can yield: a release or a
    // renewal of the old grant arriving meanwhile must find it gone.
    if (holder === this.self) this.onRevoked(this.self, name, req)
    const revoke = holder === this.self
      ? Effect.void
      : this.deps.runtime.send({ id: LOCK_PROCESS, nodeId: holder }, { _tag: "lock.revoked", name, req })
    const next = this.handOn(name, lock)
    const log = Effect.logWarning("took a lock back: its holder did not renew its lease").pipe(
      Effect.annotateLogs({ node: this.self, holder, name, leaseMs: LOCK_LEASE_MS })
    )
    return Effect.all([log, revoke, next], { discard: true })
  }

  /** One claim of `node` ended (a lock given back, a waiter answered). */
  private unclaim(node: NodeId): void {
    const claims = this.claims.get(node)
    if (claims === undefined) return
    if (claims > 1) this.claims.set(node, claims - 1)
    else this.claims.delete(node)
  }

  /** The holder is gone: the registered ref for every waiter, or the lock for the next. */
  private handOn(name: string, lock: Lock): Effect.Effect<void> {
    this.unclaim(lock.holder)
    const known = this.deps.whereis(name)
    const answers: Array<Effect.Effect<void>> = []
    while (lock.waiters.length > 0) {
      const next = lock.waiters.shift()!
      if (known !== undefined) {
        this.unclaim(next.node)
        answers.push(this.answer(next.node, name, next.req, { _tag: "registered", ref: known }))
        continue
      }
      lock.holder = next.node
      lock.req = next.req
      this.lease(name, lock)
      answers.push(this.answer(next.node, name, next.req, { _tag: "granted" }))
      return Effect.all(answers, { discard: true })
    }
    this.timers.cancel(lock.timer)
    this.held.delete(name)
    return Effect.all(answers, { discard: true })
  }

  /** An info message to the lock process, from `from` as its link authenticated it (`undefined`: this node's wheel). */
  receive(msg: unknown, from: NodeId | undefined): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (from === undefined) return msg instanceof LeaseDue ? this.leaseDue(msg) : Effect.void
      if (from === this.self) return Effect.void
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
        return this.onRelease(from, msg.name, msg.req)
      case "lock.renew":
        return this.onRenew(from, msg.name, msg.req)
      case "lock.revoked":
        return this.onRevoked(from, msg.name, msg.req)
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
      this.claims.delete(peer)
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

/** The lock process: the endpoint other nodes' locks send to, and where its lease timers land. */
export const lockBehavior = (lock: GlobalLock): GenServer.GenServerBehavior<GlobalLock, never, never, never> => ({
  init: () => lock,
  handleCall: () => {
    throw new Error("the lock process takes no calls")
  },
  handleCast: (_msg, state) => state,
  handleInfo: (msg: unknown, state: GlobalLock, from?: NodeId) => Effect.as(lock.receive(msg, from), state),
  schemas: { call: Schema.Never, cast: Schema.Never }
})
