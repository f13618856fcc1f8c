/**
 * The local process table: every GenServer of one node. A process is not a fiber:
 * it is a small object with a state and a lazily allocated mailbox, run by whoever
 * finds it idle (`mailbox.ts`). This keeps an idle process at a few hundred bytes and
 * a local call at a few microseconds, while each process still handles one message
 * at a time, in arrival order. This file starts, names and stops processes.
 */
import { Cause, Effect, Exit, type FiberSet, Runtime } from "effect"
import { GenServerInitError, NameAlreadyRegisteredError, RemoteServerNotRunningError } from "../errors.js"
import type { ExitReason } from "../ExitReason.js"
import type { NodeId } from "../NodeId.js"
import type { ServerRef } from "../ServerRef.js"
import { describe, isAsync, settlePromise } from "./handler.js"
import { Links } from "./links.js"
import type { RemoteLinks } from "./links.js"
import { Mailboxes } from "./mailbox.js"
import { Monitors } from "./monitors.js"
import type { RemoteWatch } from "./monitors.js"
import { CallEnvelope, CastEnvelope, InfoEnvelope, initError, Proc, Starting } from "./proc.js"
import type { AnyBehavior, ExitListener, Fate, PendingStart, StartDone, StartError } from "./proc.js"
import { isReserved } from "./reserved.js"
import type { Timers } from "./timers.js"

export type { ExitReason } from "../ExitReason.js"
export type {
  AnyBehavior,
  ExitListener,
  Fate,
  LocalCallError,
  PendingStart,
  Proc,
  Resume,
  StartDone,
  StartError
} from "./proc.js"

/** The table of one node's processes and the machinery that runs them. */
export class ProcessTable extends Mailboxes {
  private readonly byId = new Map<string, Proc>()
  private readonly byName = new Map<string, Proc>()
  private readonly reserved = new Set<string>()
  private readonly exitListeners = new Set<ExitListener>()
  /** Who is told when a process ends. */
  readonly monitors: Monitors = new Monitors(this)
  /** Which processes share a fate. */
  readonly links: Links = new Links(this)
  /** Starts still in `init`: shutdown gives them up. */
  private readonly starting = new Set<Starting>()
  /** Set by shutdown: no process starts after it. */
  private closing = false
  private seq = 0
  /** The runtime's own processes (started with `fate.system`): not counted nor listed as the user's. */
  private readonly system = new Set<string>()

  constructor(
    nodeId: NodeId,
    private readonly idPrefix: string,
    timers: Timers,
    fibers: FiberSet.FiberSet<any, any>,
    runtime: Runtime.Runtime<never>,
    mailboxLimit?: number
  ) {
    super(nodeId, timers, fibers, runtime, mailboxLimit)
  }

  /** Live processes, the runtime's own left out. */
  get count(): number {
    return this.byId.size - this.system.size
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

  /** Up to `limit` live processes from the `offset`-th, in start order, and how many there are. */
  page(offset: number, limit: number): { readonly total: number; readonly procs: ReadonlyArray<Proc> } {
    const procs: Array<Proc> = []
    let index = 0
    for (const proc of this.byId.values()) {
      if (procs.length >= limit) break
      if (this.system.has(proc.id)) continue
      if (index++ >= offset) procs.push(proc)
    }
    return { total: this.count, procs }
  }

  /** Registered local names. */
  names(): Array<string> {
    return Array.from(this.byName.keys())
  }

  /**
   * How monitors and links reach processes on other nodes: the cluster's signals, attached
   * once by the composition root (the table is built before them; without a cluster, a
   * remote target answers `noconnection`).
   */
  attachRemote(remote: RemoteWatch & RemoteLinks): void {
    this.monitors.remote = remote
    this.links.remote = remote
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
    initTimeoutMs: number,
    fate?: Fate
  ): Effect.Effect<ServerRef, StartError, R> {
    return Effect.withFiberRuntime<ServerRef, StartError, R>((fiber) => {
      const runtime = Runtime.make({
        context: fiber.currentContext,
        fiberRefs: fiber.getFiberRefs(),
        runtimeFlags: Runtime.defaultRuntimeFlags
      }) as Runtime.Runtime<R>
      // Interrupting the start gives the init up: the name is free at once and no process appears.
      return Effect.async<ServerRef, StartError>((resume) => {
        const pending = this.startWith(behavior, name, args, initTimeoutMs, runtime, resume, fate)
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
    done: StartDone,
    fate?: Fate
  ): PendingStart | undefined {
    if (this.closing) {
      done(Exit.fail(new GenServerInitError({ message: "the node is shutting down" })))
      return undefined
    }
    if (name !== undefined) {
      if (
        this.byName.has(name) || this.reserved.has(name) || (isReserved(name) && fate?.system !== true)
      ) {
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
      done(Exit.succeed(this.register(behavior, name, initial, runtime, fate)))
      return undefined
    }
    const start = new Starting(behavior, name, runtime, done, () => this.endStart(start, undefined), fate)
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
    start.done(Exit.succeed(this.register(start.behavior, start.name, state, start.runtime, start.fate)))
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
    runtime: Runtime.Runtime<any>,
    fate: Fate | undefined
  ): ServerRef {
    const id = `${this.idPrefix}${++this.seq}`
    const proc = new Proc(id, name, behavior, state, runtime)
    this.byId.set(id, proc)
    if (name !== undefined) {
      this.reserved.delete(name)
      this.byName.set(name, proc)
    }
    if (fate?.system === true) this.system.add(id)
    // In the same step as the registration: no message, and no exit, can come between.
    if (fate?.trapExit === true) this.links.trap(id)
    if (fate?.link !== undefined) this.links.link(id, fate.link)
    return { id, nodeId: this.nodeId }
  }

  // ---- stop --------------------------------------------------------------------------------

  /**
   * Stops a process: after the message in hand, `terminate(reason, state)` runs, queued
   * calls fail with `RemoteServerNotRunningError`, and the effect completes once it is gone.
   * A runtime process is stopped only `asRuntime`: for anyone else (user code, a peer) it is
   * not a process they may stop, and the stop fails as for one not running.
   */
  stop(id: string, reason: ExitReason, asRuntime = false): Effect.Effect<void, RemoteServerNotRunningError> {
    return Effect.suspend(() => {
      const notRunning = new RemoteServerNotRunningError({ serverId: id, nodeId: this.nodeId })
      const proc = this.resolve(id)
      if (proc === undefined || (!proc.alive && proc.stopWaiters === undefined)) return Effect.fail(notRunning)
      if (!asRuntime && this.system.has(proc.id)) {
        return Effect.logWarning("refused to stop one of the runtime's own processes").pipe(
          Effect.annotateLogs({ node: this.nodeId, process: proc.name ?? proc.id }),
          Effect.zipRight(Effect.fail(notRunning))
        )
      }
      return Effect.async<void>((resume) => {
        ;(proc.stopWaiters ??= []).push(() => resume(Effect.void))
        this.requestStop(proc, reason)
      })
    })
  }

  /**
   * Ends process `id` with `reason` after the message in hand (an exit signal; no one waits).
   * A runtime process ignores it: a link a user (or a peer) made must not take the node's
   * machinery down with it.
   */
  exit(id: string, reason: ExitReason): void {
    const proc = this.resolve(id)
    if (proc !== undefined && proc.alive && !this.system.has(proc.id)) this.requestStop(proc, reason)
  }

  protected wanted(env: InfoEnvelope): boolean {
    this.signalTaken(env)
    return env.monitorId === undefined || this.monitors.handled(env.monitorId)
  }

  /** A defect of user code or ours, caught where it would break an exit in progress. */
  reportDefect(what: string, defect: unknown): void {
    this.logDefect(what, defect)
  }

  /** A handler failed in a behavior with `onError: "crash"`: the process exits with the error. */
  protected crash(proc: Proc, error: unknown): void {
    if (proc.alive) this.requestStop(proc, { error })
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
      // One count for the loop itself: a process that ends synchronously inside it must not
      // complete the shutdown while later ones are still in their `terminate`.
      let pending = 1
      const done = () => {
        if (--pending === 0) resume(Effect.void)
      }
      for (const proc of Array.from(this.byId.values())) {
        // Ended during the loop (an exit travelled along a link): nothing to wait for.
        if (this.byId.get(proc.id) !== proc) continue
        pending++
        ;(proc.stopWaiters ??= []).push(done)
        if (proc.stopReason === undefined) proc.stopReason = reason
        const inFlight = proc.inFlight
        if (inFlight instanceof CallEnvelope || inFlight instanceof CastEnvelope || inFlight instanceof InfoEnvelope) {
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
      done()
    })
  }

  protected terminate(proc: Proc): void {
    proc.alive = false
    const reason = proc.stopReason ?? "normal"
    for (let env = this.dequeue(proc); env !== undefined; env = this.dequeue(proc)) {
      // A `Down` still queued: its monitor's `down` completes all the same.
      if (env instanceof InfoEnvelope) this.wanted(env)
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
    this.system.delete(proc.id)
    if (proc.name !== undefined && this.byName.get(proc.name) === proc) this.byName.delete(proc.name)
    const ref: ServerRef = { id: proc.id, nodeId: this.nodeId }
    for (const listener of this.exitListeners) listener(ref, proc.name, reason)
    this.monitors.exited(proc.id, reason)
    this.links.exited(proc.id, reason)
    const waiters = proc.stopWaiters
    proc.stopWaiters = undefined
    if (waiters !== undefined) { for (const waiter of waiters) waiter() }
  }

  private logTerminateFailure(proc: Proc, error: unknown): void {
    const { message, name } = describe(error)
    this.fork(
      Effect.logWarning("terminate failed").pipe(
        Effect.annotateLogs({ nodeId: this.nodeId, serverId: proc.id, error: `${name}: ${message}` })
      )
    )
  }
}
