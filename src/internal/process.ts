/**
 * The local process table: every GenServer of one node. A process is not a fiber:
 * it is a small object with a state and a lazily allocated mailbox, run by
 * whoever finds it idle. A message sent to an idle process whose handler answers
 * with a plain value is handled on the sender's stack and answered at once; a
 * Promise or Effect answer suspends the process until it settles. This keeps an
 * idle process at a few hundred bytes and a local call at a few microseconds,
 * while each process still handles one message at a time, in arrival order.
 */
import { Cause, Effect, Exit, type Fiber, FiberSet, Runtime } from "effect"
import {
  GenServerInitError,
  NameAlreadyRegisteredError,
  RemoteCallTimeoutError,
  RemoteHandlerError,
  RemoteServerNotRunningError
} from "../errors.js"
import type { NodeId } from "../NodeId.js"
import type { ServerRef } from "../ServerRef.js"
import { describe, isAsync, settlePromise } from "./handler.js"
import type { TimerEntry, Timers } from "./timers.js"

import type { ExitReason } from "../ExitReason.js"

export type { ExitReason } from "../ExitReason.js"

/** The shape the table runs; `GenServer.ts` publishes the typed version. */
export interface AnyBehavior {
  readonly init: (...args: ReadonlyArray<any>) => unknown
  readonly handleCall: (msg: any, state: any) => unknown
  readonly handleCast: (msg: any, state: any) => unknown
  readonly terminate?: ((reason: ExitReason, state: any) => unknown) | undefined
}

/**
 * Messages a process handles before it lets other fibers run. A process flooded by
 * casts must not starve the rest of the node; 64 keeps the fast path fast.
 */
const BATCH = 64

/** How a call to a process of this node can fail (a remote caller adds the network's errors). */
export type LocalCallError = RemoteServerNotRunningError | RemoteCallTimeoutError | RemoteHandlerError

/** Receives a call's outcome; `Exit` is an `Effect`, so an `Effect.async` resume accepts it as is. */
export type Resume = (exit: Exit.Exit<unknown, LocalCallError>) => void

class CallEnvelope {
  timer: TimerEntry | undefined = undefined
  constructor(readonly msg: unknown, public resume: Resume | undefined) {}
}

class CastEnvelope {
  constructor(readonly msg: unknown) {}
}

type Envelope = CallEnvelope | CastEnvelope

/** One live process. */
export class Proc {
  queue: Array<Envelope> | undefined = undefined
  head = 0
  busy = false
  alive = true
  stopReason: ExitReason | undefined = undefined
  stopWaiters: Array<() => void> | undefined = undefined
  /**
   * The handler in flight: its fiber for an Effect, the message it handles for a
   * Promise (shutdown answers that message's caller), `undefined` when none.
   */
  inFlight: Fiber.RuntimeFiber<unknown, unknown> | Envelope | undefined = undefined
  constructor(
    readonly id: string,
    readonly name: string | undefined,
    readonly behavior: AnyBehavior,
    public state: unknown,
    readonly runtime: Runtime.Runtime<any>
  ) {}
}

/** Called once for every process that ends, after `terminate` ran and its names were released. */
export type ExitListener = (ref: ServerRef, name: string | undefined, reason: ExitReason) => void

/** Why a start failed. */
export type StartError = GenServerInitError | NameAlreadyRegisteredError

/** Receives the outcome of a start. */
export type StartDone = (exit: Exit.Exit<ServerRef, StartError>) => void

/** A start whose `init` is still running. */
export interface PendingStart {
  /** Gives the start up: the name is free at once and no process will appear. */
  readonly cancel: () => void
}

/** The bookkeeping of one start in `init`. */
class Starting implements PendingStart {
  settled = false
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
  timer: TimerEntry | undefined = undefined
  constructor(
    readonly behavior: AnyBehavior,
    readonly name: string | undefined,
    readonly runtime: Runtime.Runtime<any>,
    readonly done: StartDone,
    readonly cancel: () => void
  ) {}
}

const initError = (error: unknown) => new GenServerInitError({ message: describe(error).message })

/** The table of one node's processes and the machinery that runs them. */
export class ProcessTable {
  private readonly byId = new Map<string, Proc>()
  private readonly byName = new Map<string, Proc>()
  private readonly reserved = new Set<string>()
  private readonly exitListeners = new Set<ExitListener>()
  /** Starts still in `init`: shutdown gives them up. */
  private readonly starting = new Set<Starting>()
  /** Processes already warned that a `handleCast` answered `undefined` (a set, so an idle process pays nothing). */
  private readonly keptStateWarned = new WeakSet<Proc>()
  /** Set by shutdown: no process starts after it. */
  private closing = false
  private seq = 0

  constructor(
    readonly nodeId: NodeId,
    private readonly idPrefix: string,
    readonly timers: Timers,
    private readonly fibers: FiberSet.FiberSet<any, any>,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  /** Live processes. */
  get count(): number {
    return this.byId.size
  }

  /** Finds a process by id, then by locally registered name. */
  resolve(id: string): Proc | undefined {
    return this.byId.get(id) ?? this.byName.get(id)
  }

  /** A ref to the process registered under `name` here, if any. */
  whereis(name: string): ServerRef | undefined {
    const proc = this.byName.get(name)
    return proc === undefined ? undefined : { id: proc.id, nodeId: this.nodeId }
  }

  /** Registered local names. */
  names(): Array<string> {
    return Array.from(this.byName.keys())
  }

  /** Subscribes to process exits; returns the unsubscribe function. */
  onExit(listener: ExitListener): () => void {
    this.exitListeners.add(listener)
    return () => this.exitListeners.delete(listener)
  }

  // ---- start -------------------------------------------------------------------------------

  /** Starts a process: reserves the name, runs `init` (bounded by `initTimeoutMs`), registers it. */
  start<R>(
    behavior: AnyBehavior,
    name: string | undefined,
    args: ReadonlyArray<unknown>,
    initTimeoutMs: number
  ): Effect.Effect<ServerRef, StartError, R> {
    return Effect.withFiberRuntime<ServerRef, StartError, R>((fiber) => {
      const runtime = Runtime.make({
        context: fiber.currentContext,
        fiberRefs: fiber.getFiberRefs(),
        runtimeFlags: Runtime.defaultRuntimeFlags
      }) as Runtime.Runtime<R>
      // Interrupting the start gives the init up: the name is free at once and no process appears.
      return Effect.async<ServerRef, StartError>((resume) => {
        const pending = this.startWith(behavior, name, args, initTimeoutMs, runtime, resume)
        return pending === undefined ? undefined : Effect.sync(pending.cancel)
      })
    })
  }

  /**
   * Starts a process without a fiber: the name is reserved, `init` runs once, and
   * `done` gets the outcome exactly once — at once when `init` answers with a plain
   * value or throws (the common case, and what remote spawns are served with), later
   * for a Promise or an Effect. The returned handle gives a start still in `init` up:
   * the name is released at once, an Effect init is interrupted, and a Promise init's
   * late value is terminated (reason `shutdown`) instead of registered; `done` is then
   * not called. `undefined` means `done` was already called. Handlers' effects run
   * with `runtime`.
   */
  startWith<R>(
    behavior: AnyBehavior,
    name: string | undefined,
    args: ReadonlyArray<unknown>,
    initTimeoutMs: number,
    runtime: Runtime.Runtime<R>,
    done: StartDone
  ): PendingStart | undefined {
    if (this.closing) {
      done(Exit.fail(new GenServerInitError({ message: "the node is shutting down" })))
      return undefined
    }
    if (name !== undefined) {
      if (this.byName.has(name) || this.reserved.has(name)) {
        done(Exit.fail(new NameAlreadyRegisteredError({ name })))
        return undefined
      }
      this.reserved.add(name)
    }
    let initial: unknown
    let async: boolean
    try {
      initial = behavior.init(...args)
      // Inside the `try`: reading `then` runs user code too (a getter, a revoked Proxy).
      async = isAsync(initial)
    } catch (error) {
      this.release(name)
      done(Exit.fail(initError(error)))
      return undefined
    }
    if (!async) {
      done(Exit.succeed(this.register(behavior, name, initial, runtime)))
      return undefined
    }
    const start = new Starting(behavior, name, runtime, done, () => this.endStart(start, undefined))
    this.starting.add(start)
    // Armed before the init runs: an Effect init may complete synchronously, and ending it cancels the timer.
    start.timer = this.timers.schedule(
      initTimeoutMs,
      () =>
        this.endStart(
          start,
          Exit.fail(new GenServerInitError({ message: `init did not complete within ${initTimeoutMs}ms` }))
        )
    )
    if (Effect.isEffect(initial)) {
      const fiber = this.forkIn(runtime, initial as Effect.Effect<unknown, unknown, any>)
      if (!start.settled) start.fiber = fiber
      fiber.addObserver((exit) => {
        start.fiber = undefined
        if (Exit.isSuccess(exit)) this.initialized(start, exit.value)
        else this.endStart(start, Exit.fail(initError(exit.cause)))
      })
    } else {
      settlePromise(
        initial as PromiseLike<unknown>,
        (state) => this.initialized(start, state),
        (error) => this.endStart(start, Exit.fail(initError(error))),
        (defect) => this.logDefect("a start's completion threw", defect)
      )
    }
    return start.settled ? undefined : start
  }

  /** An async init produced its state: register the process, unless the start already ended. */
  private initialized(start: Starting, state: unknown): void {
    if (start.settled) return this.discard(start, state)
    this.settleStart(start)
    start.done(Exit.succeed(this.register(start.behavior, start.name, state, start.runtime)))
  }

  /** Ends a start still in `init` with `exit` (a failure), or silently when the caller gave it up. */
  private endStart(start: Starting, exit: Exit.Exit<never, GenServerInitError> | undefined): void {
    if (start.settled) return
    this.settleStart(start)
    this.release(start.name)
    const fiber = start.fiber
    start.fiber = undefined
    if (fiber !== undefined) fiber.unsafeInterruptAsFork(fiber.id())
    if (exit !== undefined) start.done(exit)
  }

  private settleStart(start: Starting): void {
    start.settled = true
    this.starting.delete(start)
    this.timers.cancel(start.timer)
  }

  /**
   * A state whose start ended before `init` delivered it (a Promise cannot be
   * interrupted): it is never registered, and `terminate` runs on it with reason
   * `shutdown` so what `init` acquired is released.
   */
  private discard(start: Starting, state: unknown): void {
    const proc = new Proc(`${this.idPrefix}discarded`, undefined, start.behavior, state, start.runtime)
    proc.stopReason = "shutdown"
    proc.busy = true
    this.terminate(proc)
  }

  /** The runtime the table runs its own effects with (a standalone behavior's handlers too). */
  get baseRuntime(): Runtime.Runtime<never> {
    return this.runtime
  }

  private release(name: string | undefined): void {
    if (name !== undefined) this.reserved.delete(name)
  }

  private register(
    behavior: AnyBehavior,
    name: string | undefined,
    state: unknown,
    runtime: Runtime.Runtime<any>
  ): ServerRef {
    const id = `${this.idPrefix}${++this.seq}`
    const proc = new Proc(id, name, behavior, state, runtime)
    this.byId.set(id, proc)
    if (name !== undefined) {
      this.reserved.delete(name)
      this.byName.set(name, proc)
    }
    return { id, nodeId: this.nodeId }
  }

  // ---- call / cast -------------------------------------------------------------------------

  /** Calls a process of this node. The reply type is the caller's promise, as in the guide. */
  call(id: string, msg: unknown, timeoutMs: number): Effect.Effect<unknown, LocalCallError> {
    return Effect.async<unknown, LocalCallError>((resume) => this.callWith(id, msg, timeoutMs, resume))
  }

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
    this.deliver(proc, env)
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

  /** Casts to a process of this node; `false` when no such process runs (the message is dropped). */
  cast(id: string, msg: unknown): boolean {
    const proc = this.resolve(id)
    if (proc === undefined || proc.stopReason !== undefined || !proc.alive) return false
    this.deliver(proc, new CastEnvelope(msg))
    return true
  }

  private settle(env: CallEnvelope, result: Exit.Exit<unknown, LocalCallError>): void {
    const resume = env.resume
    if (resume === undefined) return
    env.resume = undefined
    this.timers.cancel(env.timer)
    resume(result)
  }

  private deliver(proc: Proc, env: Envelope): void {
    if (proc.busy) {
      ;(proc.queue ??= []).push(env)
      return
    }
    proc.busy = true
    this.loop(proc, env)
  }

  private dequeue(proc: Proc): Envelope | undefined {
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
    const isCall = env instanceof CallEnvelope
    let result: unknown
    let async: boolean
    try {
      result = isCall ? proc.behavior.handleCall(env.msg, proc.state) : proc.behavior.handleCast(env.msg, proc.state)
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
      const fiber = this.forkIn(proc.runtime, result as Effect.Effect<unknown, unknown, any>)
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
    if (env instanceof CastEnvelope) {
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
    proc.state = result[1]
    this.settle(env, Exit.succeed(result[0]))
  }

  private failed(proc: Proc, env: Envelope, error: unknown): void {
    const { message, name } = describe(error)
    if (env instanceof CallEnvelope) {
      this.settle(env, Exit.fail(new RemoteHandlerError({ serverId: proc.id, nodeId: this.nodeId, name, message })))
    } else {
      this.fork(
        Effect.logWarning("cast handler failed; the process goes on").pipe(
          Effect.annotateLogs({ nodeId: this.nodeId, serverId: proc.id, error: `${name}: ${message}` })
        )
      )
    }
  }

  // ---- stop --------------------------------------------------------------------------------

  /**
   * Stops a process: after the message in hand, `terminate(reason, state)` runs, queued
   * calls fail with `RemoteServerNotRunningError`, and the effect completes once it is gone.
   */
  stop(id: string, reason: ExitReason): Effect.Effect<void, RemoteServerNotRunningError> {
    return Effect.async<void, RemoteServerNotRunningError>((resume) => {
      const proc = this.resolve(id)
      if (proc === undefined || (!proc.alive && proc.stopWaiters === undefined)) {
        resume(Effect.fail(new RemoteServerNotRunningError({ serverId: id, nodeId: this.nodeId })))
        return
      }
      ;(proc.stopWaiters ??= []).push(() => resume(Effect.void))
      this.requestStop(proc, reason)
    })
  }

  private requestStop(proc: Proc, reason: ExitReason): void {
    if (proc.stopReason !== undefined) return
    proc.stopReason = reason
    if (!proc.busy) {
      proc.busy = true
      this.terminate(proc)
    }
  }

  /**
   * Shutdown: every process stops with `reason` without waiting for the message in hand
   * (an Effect handler is interrupted and its caller told the server is not running; a
   * Promise handler is abandoned), then `terminate` runs. Completes when all are gone;
   * the caller bounds the wait for slow `terminate` handlers.
   */
  stopAll(reason: ExitReason): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      this.closing = true
      for (const start of Array.from(this.starting)) {
        this.endStart(
          start,
          Exit.fail(new GenServerInitError({ message: "init interrupted: the node is shutting down" }))
        )
      }
      let pending = 0
      const done = () => {
        if (--pending === 0) resume(Effect.void)
      }
      for (const proc of Array.from(this.byId.values())) {
        pending++
        ;(proc.stopWaiters ??= []).push(done)
        if (proc.stopReason === undefined) proc.stopReason = reason
        const inFlight = proc.inFlight
        if (inFlight instanceof CallEnvelope || inFlight instanceof CastEnvelope) {
          // A Promise cannot be interrupted: its caller is answered now, its late value ignored.
          proc.inFlight = undefined
          if (inFlight instanceof CallEnvelope) {
            this.settle(
              inFlight,
              Exit.fail(new RemoteServerNotRunningError({ serverId: proc.id, nodeId: this.nodeId }))
            )
          }
          if (proc.alive) this.terminate(proc)
        } else if (inFlight !== undefined) {
          inFlight.unsafeInterruptAsFork(inFlight.id())
        } else if (!proc.busy) {
          proc.busy = true
          this.terminate(proc)
        }
      }
      if (pending === 0) resume(Effect.void)
    })
  }

  private terminate(proc: Proc): void {
    proc.alive = false
    const reason = proc.stopReason ?? "normal"
    for (let env = this.dequeue(proc); env !== undefined; env = this.dequeue(proc)) {
      if (env instanceof CallEnvelope) {
        this.settle(env, Exit.fail(new RemoteServerNotRunningError({ serverId: proc.id, nodeId: this.nodeId })))
      }
    }
    const terminate = proc.behavior.terminate
    if (terminate === undefined) return this.finish(proc, reason)
    let result: unknown
    let async: boolean
    try {
      result = terminate(reason, proc.state)
      async = isAsync(result)
    } catch (error) {
      this.logTerminateFailure(proc, error)
      return this.finish(proc, reason)
    }
    if (!async) return this.finish(proc, reason)
    if (Effect.isEffect(result)) {
      this.forkIn(proc.runtime, result as Effect.Effect<unknown, unknown, any>).addObserver((exit) => {
        if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) this.logTerminateFailure(proc, exit.cause)
        this.finish(proc, reason)
      })
    } else {
      settlePromise(
        result as PromiseLike<unknown>,
        () => this.finish(proc, reason),
        (error) => {
          this.logTerminateFailure(proc, error)
          this.finish(proc, reason)
        },
        (defect) => this.logDefect("a terminate's completion threw", defect)
      )
    }
  }

  private finish(proc: Proc, reason: ExitReason): void {
    if (this.byId.get(proc.id) !== proc) return
    this.byId.delete(proc.id)
    if (proc.name !== undefined && this.byName.get(proc.name) === proc) this.byName.delete(proc.name)
    const ref: ServerRef = { id: proc.id, nodeId: this.nodeId }
    for (const listener of this.exitListeners) listener(ref, proc.name, reason)
    const waiters = proc.stopWaiters
    proc.stopWaiters = undefined
    if (waiters !== undefined) { for (const waiter of waiters) waiter() }
  }

  /** Once per process: a handler that mutates its state in place answers `undefined` on every cast. */
  private keptState(proc: Proc): void {
    if (this.keptStateWarned.has(proc)) return
    this.keptStateWarned.add(proc)
    this.fork(
      Effect.logWarning("handleCast returned undefined; the state is kept (logged once per process)").pipe(
        Effect.annotateLogs({ nodeId: this.nodeId, serverId: proc.id })
      )
    )
  }

  /** A bug of ours or a listener's, caught where it would otherwise become an unhandled rejection. */
  private logDefect(what: string, defect: unknown): void {
    const { message, name } = describe(defect)
    this.fork(Effect.logError(what).pipe(Effect.annotateLogs({ nodeId: this.nodeId, error: `${name}: ${message}` })))
  }

  private logTerminateFailure(proc: Proc, error: unknown): void {
    const { message, name } = describe(error)
    this.fork(
      Effect.logWarning("terminate failed").pipe(
        Effect.annotateLogs({ nodeId: this.nodeId, serverId: proc.id, error: `${name}: ${message}` })
      )
    )
  }

  private fork(effect: Effect.Effect<unknown, unknown, never>): void {
    this.forkIn(this.runtime as Runtime.Runtime<any>, effect)
  }

  private forkIn(runtime: Runtime.Runtime<any>, effect: Effect.Effect<unknown, unknown, any>) {
    const fiber = Runtime.runFork(runtime, effect)
    FiberSet.unsafeAdd(this.fibers, fiber)
    return fiber
  }
}
