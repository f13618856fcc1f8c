/**
 * The message loop of the process table: calls and casts into mailboxes, and the
 * loop that runs them. A message sent to an idle process whose handler answers with a
 * plain value is handled on the sender's stack and answered at once; a Promise or
 * Effect answer suspends the process until it settles. `ProcessTable` adds starting,
 * naming and stopping processes on top.
 */
import { Cause, Effect, Exit, FiberSet, Metric, Option, Runtime } from "effect"
import { MailboxFullError, RemoteCallTimeoutError, RemoteHandlerError, RemoteServerNotRunningError } from "../errors.js"
import type { NodeId } from "../NodeId.js"
import { describe, isAsync, settlePromise } from "./handler.js"
import { CallEnvelope, CastEnvelope, InfoEnvelope } from "./proc.js"
import type { Envelope, LocalCallError, Proc, Resume } from "./proc.js"
import { currentProcess } from "./self.js"
import type { Timers } from "./timers.js"
import { declares, resultOf } from "./typed.js"

/**
 * Messages a process handles before it lets other fibers run. A process flooded by
 * casts must not starve the rest of the node; 64 keeps the fast path fast.
 */
const BATCH = 64

/**
 * A local call to a plain handler is answered synchronously, and Effect's run loop restarts
 * its operation count on each synchronous resume: a fiber calling in a loop would never
 * yield, and its node would stop reading sockets and firing timers (heartbeats lost, peers
 * declaring it down). Every this many local calls, the caller waits for one turn of the
 * event loop: a few µs per thousand calls.
 */
const YIELD_EVERY = 1024

/** One turn of the event loop (`setImmediate` runs after pending I/O and timers): not a delay, so no Clock. */
const turn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * Messages one process may have waiting, by default. A process that keeps up has a
 * handful; 100,000 envelopes are a few MiB, enough to ride out a burst, and a bound a
 * producer hits long before the node runs out of memory (a cast flood to a slow handler
 * used to queue millions).
 */
export const DEFAULT_MAILBOX_LIMIT = 100_000

/**
 * A peer's signals (exit signals of its processes) waiting in this node's mailboxes, at
 * most: as many as the links it may hold, so an honest peer never meets the bound.
 */
export const MAX_QUEUED_PEER_SIGNALS = 100_000

/** The counter of casts node `nodeId` dropped at a full mailbox. */
export const mailboxDrops = (nodeId: NodeId): Metric.Metric.Counter<number> =>
  Metric.tagged(
    Metric.counter("noex_mailbox_casts_dropped_total", { description: "casts dropped at a full mailbox" }),
    "node",
    nodeId
  )

/** Casts dropped at one full mailbox between two warnings about it (the first is logged): a flood must not flood the log too. */
export const DROP_LOG_EVERY = 1000

/** The mailboxes of one node's processes and the loop that runs them. */
export abstract class Mailboxes {
  /** Processes already warned that a `handleCast` answered `undefined` (a set, so an idle process pays nothing). */
  private readonly keptStateWarned = new WeakSet<Proc>()
  /** Casts each process lost to its full mailbox (weak: a stopped process takes its count along). */
  private readonly dropsOf = new WeakMap<Proc, number>()
  private readonly mailboxDrops: Metric.Metric.Counter<number>

  constructor(
    readonly nodeId: NodeId,
    readonly timers: Timers,
    protected readonly fibers: FiberSet.FiberSet<any, any>,
    protected readonly runtime: Runtime.Runtime<never>,
    /** Messages one process may have waiting; a call past it fails, a cast is dropped. */
    readonly mailboxLimit: number = DEFAULT_MAILBOX_LIMIT
  ) {
    this.mailboxDrops = mailboxDrops(nodeId)
  }

  /** Finds a process by id, then by locally registered name. */
  abstract resolve(id: string): Proc | undefined

  /** Ends a process whose stop was requested, once the message in hand is done. */
  protected abstract terminate(proc: Proc): void

  /** A handler failed in a behavior with `onError: "crash"`. */
  protected abstract crash(proc: Proc, error: unknown): void

  /** Whether an info message is still to be handled (a `Down` whose monitor was dropped is not). */
  protected abstract wanted(env: InfoEnvelope): boolean

  /** Calls a process of this node. The reply type is the caller's promise, as in the guide. */
  call(id: string, msg: unknown, timeoutMs: number): Effect.Effect<unknown, LocalCallError> {
    const call = Effect.async<unknown, LocalCallError>((resume) => this.callWith(id, msg, timeoutMs, resume))
    return ++this.localCalls % YIELD_EVERY === 0 ? Effect.zipLeft(call, turn) : call
  }

  /** Local calls made through {@link call}: every `YIELD_EVERY`th gives the event loop a turn. */
  private localCalls = 0

  /**
   * The callback form of {@link call}, for the cluster serving calls from other nodes
   * without a fiber per call. Returns the canceler when the outcome is still pending.
   */
  callWith(id: string, msg: unknown, timeoutMs: number, resume: Resume): Effect.Effect<void> | undefined {
    const proc = this.resolve(id)
    if (proc === undefined || proc.stopReason !== undefined || !proc.alive) {
      resume(Exit.fail(new RemoteServerNotRunningError({ serverId: id, nodeId: this.nodeId })))
      return undefined
    }
    const env = new CallEnvelope(msg, resume)
    if (!this.deliver(proc, env)) {
      resume(Exit.fail(new MailboxFullError({ serverId: id, nodeId: this.nodeId, limit: this.mailboxLimit })))
      return undefined
    }
    if (env.resume === undefined) return undefined
    env.timer = this.timers.schedule(
      timeoutMs,
      () => this.settle(env, Exit.fail(new RemoteCallTimeoutError({ serverId: id, nodeId: this.nodeId, timeoutMs })))
    )
    return Effect.sync(() => {
      env.resume = undefined
      this.timers.cancel(env.timer)
    })
  }

  /** Casts to a process of this node; `false` when no such process runs or its mailbox is full (dropped). */
  cast(id: string, msg: unknown): boolean {
    const proc = this.resolve(id)
    if (proc === undefined || proc.stopReason !== undefined || !proc.alive) return false
    if (this.deliver(proc, new CastEnvelope(msg))) return true
    this.castDropped(proc)
    return false
  }

  /**
   * Sends an info message (`GenServer.send`, a monitor's `Down`) to a process of this
   * node: handled by its `handleInfo`, in order with its casts. `false` when no such
   * process runs or its mailbox is full (dropped and counted, as a cast).
   */
  info(id: string, msg: unknown, from?: string): boolean {
    const proc = this.resolve(id)
    if (proc === undefined || proc.stopReason !== undefined || !proc.alive) return false
    if (this.deliver(proc, new InfoEnvelope(msg, undefined, undefined, from))) return true
    this.castDropped(proc)
    return false
  }

  /**
   * Delivers a signal (a monitor's `Down`, a trapped `Exit`) to a process of this node:
   * past the mailbox limit too, since losing one would leave a supervisor or a pool
   * believing a dead process alive. Each signal answers one monitor or one link, so their
   * number is bounded by those. `false` when the process is not running.
   */
  signal(id: string, msg: unknown, monitorId?: number, peer?: string): boolean {
    const proc = this.resolve(id)
    if (proc === undefined || proc.stopReason !== undefined || !proc.alive) return false
    if (peer !== undefined) {
      // A peer's signals (its exits, which need no lasting link: Link + Exit in a loop) are
      // kept for it up to a bound, past the mailbox limit; past the bound they are dropped.
      const held = this.peerSignals.get(peer) ?? 0
      if (held >= MAX_QUEUED_PEER_SIGNALS) return false
      this.peerSignals.set(peer, held + 1)
    }
    this.pendingSignals.push({ proc, env: new InfoEnvelope(msg, monitorId, peer) })
    if (this.signalling) return true
    // One loop for a cascade: a handler that exits on a Down sends Downs of its own, which
    // queue here instead of running its watchers on this stack (a chain of 2,000 overflowed).
    this.signalling = true
    try {
      for (let i = 0; i < this.pendingSignals.length; i++) {
        const { env, proc } = this.pendingSignals[i]!
        // One handler's defect must not cost the others their signals.
        try {
          // Ended since it was sent: its `Down` is settled, not handled.
          if (proc.alive && proc.stopReason === undefined) this.deliver(proc, env, true)
          else this.wanted(env)
        } catch (defect) {
          this.logDefect("delivering a signal threw", defect)
        }
      }
    } finally {
      this.pendingSignals = []
      this.signalling = false
    }
    return true
  }

  private pendingSignals: Array<{ readonly proc: Proc; readonly env: InfoEnvelope }> = []
  private signalling = false
  /** Peer → its signals waiting in mailboxes here. */
  private readonly peerSignals = new Map<string, number>()

  /** A signal left its mailbox (handled or dropped): its peer's share is free again. */
  protected signalTaken(env: InfoEnvelope): void {
    if (env.peer === undefined) return
    const held = (this.peerSignals.get(env.peer) ?? 1) - 1
    if (held > 0) this.peerSignals.set(env.peer, held)
    else this.peerSignals.delete(env.peer)
  }

  /** Counts a cast dropped at a full mailbox, and says so for the first and every {@link DROP_LOG_EVERY}th. */
  private castDropped(proc: Proc): void {
    this.mailboxDrops.unsafeUpdate(1, [])
    const dropped = (this.dropsOf.get(proc) ?? 0) + 1
    this.dropsOf.set(proc, dropped)
    if ((dropped - 1) % DROP_LOG_EVERY !== 0) return
    const log = Effect.logWarning("dropped a cast: the process's mailbox is full").pipe(
      Effect.annotateLogs({ node: this.nodeId, serverId: proc.id, limit: this.mailboxLimit, dropped })
    )
    FiberSet.unsafeAdd(this.fibers, Runtime.runFork(this.runtime, log))
  }

  protected settle(env: CallEnvelope, result: Exit.Exit<unknown, LocalCallError>): void {
    const resume = env.resume
    if (resume === undefined) return
    env.resume = undefined
    this.timers.cancel(env.timer)
    // The resume is a caller's (or a peer's reply path): a throw there must not leave this process busy forever.
    try {
      resume(result)
    } catch (defect) {
      const log = Effect.logError("answering a call threw; the process goes on", Cause.die(defect)).pipe(
        Effect.annotateLogs({ node: this.nodeId })
      )
      FiberSet.unsafeAdd(this.fibers, Runtime.runFork(this.runtime, log))
    }
  }

  /** Hands `env` to its process; `false` when the mailbox is full. */
  private deliver(proc: Proc, env: Envelope, unbounded = false): boolean {
    if (proc.busy) {
      const queue = (proc.queue ??= [])
      if (!unbounded && queue.length - proc.head >= this.mailboxLimit) return false
      queue.push(env)
      return true
    }
    proc.busy = true
    this.loop(proc, env)
    return true
  }

  protected dequeue(proc: Proc): Envelope | undefined {
    const queue = proc.queue
    if (queue === undefined) return undefined
    if (proc.head >= queue.length) {
      proc.queue = undefined
      proc.head = 0
      return undefined
    }
    const env = queue[proc.head]!
    queue[proc.head++] = undefined as any
    // Compact once the consumed prefix dominates, so a long-lived busy mailbox does not grow forever.
    if (proc.head > 1024 && proc.head * 2 > queue.length) {
      queue.splice(0, proc.head)
      proc.head = 0
    }
    return env
  }

  /** Runs messages until the mailbox is empty, a handler goes async, or the batch budget is spent. */
  private loop(proc: Proc, first: Envelope): void {
    let env: Envelope | undefined = first
    let budget = BATCH
    while (env !== undefined) {
      if (!this.step(proc, env)) return
      if (proc.stopReason !== undefined) return this.terminate(proc)
      env = this.dequeue(proc)
      if (env !== undefined && --budget === 0) {
        const next: Envelope = env
        this.fork(Effect.zipRight(Effect.yieldNow(), Effect.sync(() => this.loop(proc, next))))
        return
      }
    }
    proc.busy = false
  }

  /** Continues a process after an async handler settled. */
  private continue(proc: Proc): void {
    proc.inFlight = undefined
    // Shutdown may have terminated the process while an abandoned Promise handler was pending.
    if (!proc.alive) return
    if (proc.stopReason !== undefined) return this.terminate(proc)
    const next = this.dequeue(proc)
    if (next === undefined) proc.busy = false
    else this.loop(proc, next)
  }

  /** Handles one message; `true` when it completed synchronously. */
  private step(proc: Proc, env: Envelope): boolean {
    let result: unknown
    let async: boolean
    try {
      if (env instanceof CallEnvelope) result = proc.behavior.handleCall(env.msg, proc.state)
      else if (env instanceof CastEnvelope) result = proc.behavior.handleCast(env.msg, proc.state)
      else if (!this.wanted(env)) return true
      else if (proc.behavior.handleInfo !== undefined) {
        result = proc.behavior.handleInfo(env.msg, proc.state, env.from as NodeId | undefined)
      } else return this.unhandledInfo(proc, env)
      // Inside the `try`: reading `then` runs user code too (a getter, a revoked Proxy).
      async = isAsync(result)
    } catch (error) {
      this.failed(proc, env, error)
      return true
    }
    if (!async) {
      this.applied(proc, env, result)
      return true
    }
    if (Effect.isEffect(result)) {
      // `GenServer.self` inside the handler: only an Effect handler can ask for it.
      const self = { id: proc.id, nodeId: this.nodeId }
      const fiber = this.forkIn(
        proc.runtime,
        Effect.locally(result as Effect.Effect<unknown, unknown, any>, currentProcess, self)
      )
      // An Effect that completed while forking is handled here, in the loop and its budget:
      // continuing from its observer would nest one stack frame per queued message.
      const exit = fiber.unsafePoll()
      if (exit !== null) {
        this.effectDone(proc, env, exit)
        return true
      }
      proc.inFlight = fiber
      fiber.addObserver((exit) => {
        this.effectDone(proc, env, exit)
        this.continue(proc)
      })
    } else {
      proc.inFlight = env
      settlePromise(
        result as PromiseLike<unknown>,
        (value) => {
          this.applied(proc, env, value)
          this.continue(proc)
        },
        (error) => {
          this.failed(proc, env, error)
          this.continue(proc)
        },
        (defect) => this.logDefect("a handler's completion threw", defect)
      )
    }
    return false
  }

  private effectDone(proc: Proc, env: Envelope, exit: Exit.Exit<unknown, unknown>): void {
    if (Exit.isSuccess(exit)) this.applied(proc, env, exit.value)
    else if (proc.stopReason !== undefined && Exit.isInterrupted(exit) && env instanceof CallEnvelope) {
      this.settle(env, Exit.fail(new RemoteServerNotRunningError({ serverId: proc.id, nodeId: this.nodeId })))
    } else this.failed(proc, env, exit.cause)
  }

  private applied(proc: Proc, env: Envelope, result: unknown): void {
    if (!(env instanceof CallEnvelope)) {
      // `undefined` is almost always a `switch` without a `default` (a cast the handler does
      // not know): keeping the state beats replacing it with nothing and failing every later call.
      if (result === undefined && proc.state !== undefined) return this.keptState(proc)
      proc.state = result
      return
    }
    if (!Array.isArray(result) || result.length !== 2) {
      this.failed(proc, env, new TypeError("handleCall must return a [reply, state] tuple"))
      return
    }
    let reply: unknown
    let state: unknown
    // User code may run here too (a getter on the tuple).
    try {
      reply = result[0]
      state = result[1]
    } catch (error) {
      this.failed(proc, env, error)
      return
    }
    proc.state = state
    this.settle(env, Exit.succeed(reply))
  }

  private failed(proc: Proc, env: Envelope, error: unknown): void {
    const crash = proc.behavior.onError === "crash"
    // A typed request's declared failure is an answer, not a crash.
    if (this.answerFailure(proc, env, error, crash) || !crash) return
    // After the caller's answer, so it learns why; then monitors, links and supervisors do.
    this.crash(proc, Cause.isCause(error) ? Cause.squash(error) : error)
  }

  /** Answers or logs a handler's failure; `true` when it was a typed request's declared one. */
  private answerFailure(proc: Proc, env: Envelope, error: unknown, crash: boolean): boolean {
    if (env instanceof CallEnvelope) {
      // A typed request's declared failure is the caller's to catch, as itself; anything else is the handler's fault.
      const result = resultOf(env.msg)
      if (result !== undefined) {
        const failure = Cause.isCause(error) ? Option.getOrUndefined(Cause.failureOption(error)) : error
        if (failure !== undefined && declares(result, failure)) {
          this.settle(env, Exit.fail(failure as never))
          return true
        }
      }
      const { message, name } = describe(error)
      this.settle(env, Exit.fail(new RemoteHandlerError({ serverId: proc.id, nodeId: this.nodeId, name, message })))
    } else {
      const { message, name } = describe(error)
      const kind = env instanceof CastEnvelope ? "cast" : "info"
      this.fork(
        Effect.logWarning(`${kind} handler failed; the process ${crash ? "exits (onError: crash)" : "goes on"}`).pipe(
          Effect.annotateLogs({ nodeId: this.nodeId, serverId: proc.id, error: `${name}: ${message}` })
        )
      )
    }
    return false
  }

  /** An info message to a behavior without `handleInfo`: logged and dropped, the state kept. */
  private unhandledInfo(proc: Proc, env: InfoEnvelope): boolean {
    const msg = env.msg as { readonly _tag?: unknown } | null
    const kind = typeof msg === "object" && msg !== null && typeof msg._tag === "string" ? msg._tag : typeof msg
    this.fork(
      Effect.logWarning("dropped an info message: the behavior has no handleInfo").pipe(
        Effect.annotateLogs({ nodeId: this.nodeId, serverId: proc.id, info: kind.slice(0, 64) })
      )
    )
    return true
  }

  /** Once per process: a handler that mutates its state in place answers `undefined` on every cast. */
  protected keptState(proc: Proc): void {
    if (this.keptStateWarned.has(proc)) return
    this.keptStateWarned.add(proc)
    this.fork(
      Effect.logWarning("handleCast returned undefined; the state is kept (logged once per process)").pipe(
        Effect.annotateLogs({ nodeId: this.nodeId, serverId: proc.id })
      )
    )
  }

  /** A bug of ours or a listener's, caught where it would otherwise become an unhandled rejection. */
  protected logDefect(what: string, defect: unknown): void {
    const { message, name } = describe(defect)
    this.fork(Effect.logError(what).pipe(Effect.annotateLogs({ nodeId: this.nodeId, error: `${name}: ${message}` })))
  }

  protected fork(effect: Effect.Effect<unknown, unknown, never>): void {
    this.forkIn(this.runtime as Runtime.Runtime<any>, effect)
  }

  protected forkIn(runtime: Runtime.Runtime<any>, effect: Effect.Effect<unknown, unknown, any>) {
    const fiber = Runtime.runFork(runtime, effect)
    FiberSet.unsafeAdd(this.fibers, fiber)
    return fiber
  }
}
