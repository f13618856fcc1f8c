/**
 * The supervisor process: its state, its handlers (the management requests, its
 * children's exit signals, its own due restarts) and its `terminate`, which stops the
 * children in reverse order. Restarts follow `policy.ts`; starting and stopping a child
 * is `children.ts`. `launch` starts one (a top-level supervisor or a nested one) and
 * has it start its children from a handler, where it has its own ref to link them with.
 */
import { Clock, Duration, Effect, Either, Fiber, Metric, Option, Schedule } from "effect"
import type { CallError, NameAlreadyRegisteredError } from "../../errors.js"
import { GenServerInitError } from "../../errors.js"
import * as GenServer from "../../GenServer.js"
import type { ExitSignal } from "../../GenServer.js"
import { fromExitReason } from "../../Monitor.js"
import type { DownReason } from "../../Monitor.js"
import type { ServerRef } from "../../ServerRef.js"
import type { ChildInfo, SupervisorOptions } from "../../Supervisor.js"
import * as Children from "./children.js"
import type { Child, Services } from "./children.js"
import * as Policy from "./policy.js"
import {
  BackoffExhaustedError,
  Boot,
  ChildAlreadyExistsError,
  ChildNotFoundError,
  ChildRunningError,
  MaxRestartIntensityError,
  Requests,
  RestartDue,
  SupervisorStartError
} from "./protocol.js"
import * as Spec from "./spec.js"

/** Restarts of supervised children, by child id. */
const restartsTotal = Metric.counter("noex_supervisor_restarts_total", {
  description: "restarts of supervised children",
  incremental: true
})

/** A supervisor's state; its handlers, one at a time, mutate it in place. */
interface State {
  self: ServerRef | undefined
  /** The supervisor that started this one: its exit is this one's (OTP). */
  parent: ServerRef | undefined
  booted: boolean
  /** Stopping because its parent exited: no more restarts. */
  exiting: boolean
  children: Array<Child>
  /** Clock times (ms) of the restarts still in the window. */
  restarts: ReadonlyArray<number>
  /** Numbers the restarts planned so far; a child waits for one of them. */
  episodes: number
  /**
   * The fibers sleeping a delayed restart's backoff, by restart: a restart's own, not its
   * lead child's, so the others still start when the lead is terminated meanwhile.
   */
  readonly timers: Map<number, Fiber.RuntimeFiber<unknown>>
}

const reasonText = (reason: DownReason): string => typeof reason === "string" ? reason : JSON.stringify(reason)

const server = (services: Services, config: Spec.Config) => {
  const { rt } = services
  const startOne = (spec: Spec.Spec, self: ServerRef) =>
    Children.startProcess(services, spec, self, (options, name, link) => launch(services, options, name, link))

  /** Runs a handler's effect as the supervisor, its logs annotated with its id. */
  const inside = <A, E>(state: State, f: (self: ServerRef) => Effect.Effect<A, E>) =>
    Effect.flatMap(GenServer.self, (current) => {
      const self = Option.getOrThrow(current)
      state.self = self
      return Effect.annotateLogs(f(self), "supervisor", self.id)
    })

  const find = (state: State, id: string) =>
    Option.match(Option.fromNullable(state.children.find((c) => c.spec.id === id)), {
      onNone: () => Effect.fail(new ChildNotFoundError({ id })),
      onSome: Effect.succeed
    })

  /** Gives up the delayed restarts no child waits for any more. */
  const sweep = (state: State) =>
    Effect.forEach(Array.from(state.timers), ([episode, timer]) => {
      if (state.children.some((c) => c.waiting === episode)) return Effect.void
      state.timers.delete(episode)
      return Fiber.interruptFork(timer)
    }, { discard: true })

  /** Stops every child in reverse start order, and forgets them (and their delayed restarts). */
  const stopAll = (self: ServerRef | undefined, state: State) =>
    Effect.gen(function*() {
      for (const child of state.children) child.waiting = undefined
      yield* sweep(state)
      for (const child of [...state.children].reverse()) yield* Children.stopProcess(services, self, child)
      state.children = []
    })

  /** Counts a restart of `child`; one past the intensity fails the handler, which takes the supervisor down. */
  const count = (state: State, child: Child, now: number): Effect.Effect<void, MaxRestartIntensityError> => {
    state.restarts = Policy.withRestart(state.restarts, now, config.periodMs)
    const counted = Metric.increment(Metric.tagged(restartsTotal, "child", child.spec.id))
    if (state.restarts.length <= config.maxRestarts) return counted
    return counted.pipe(
      Effect.zipRight(Effect.logError("max restart intensity reached; the supervisor stops its children and exits")),
      Effect.zipRight(
        Effect.fail(
          new MaxRestartIntensityError({
            childId: child.spec.id,
            maxRestarts: config.maxRestarts,
            periodMs: config.periodMs
          })
        )
      ),
      Effect.annotateLogs("child", child.spec.id)
    )
  }

  /**
   * Marks `members` as waiting for a new restart, led by `lead`, and starts them: now, or
   * after `lead`'s backoff delay. A retry without backoff goes through the mailbox (OTP's
   * `try_again_restart`), so what queued meanwhile is served first.
   */
  const plan = (
    self: ServerRef,
    state: State,
    lead: Child,
    members: ReadonlyArray<Child>,
    now: number,
    retry: boolean
  ): Effect.Effect<void, MaxRestartIntensityError> =>
    Effect.gen(function*() {
      const episode = ++state.episodes
      for (const member of members) {
        member.status = "restarting"
        member.waiting = episode
      }
      yield* sweep(state)
      if (config.backoff === undefined) {
        if (retry) return yield* rt.send(self, new RestartDue(episode, lead.spec.id, false))
        return yield* resume(self, state, episode)
      }
      let driver = lead.backoff
      if (driver === undefined) lead.backoff = driver = yield* Schedule.driver(config.backoff)
      else if (!retry && now - lead.startedAt >= config.periodMs) yield* driver.reset
      // The driver sleeps the delay itself (through the Clock); the fiber then tells the supervisor.
      const timer = yield* Effect.forkDaemon(
        driver.next(undefined).pipe(
          Effect.match({ onFailure: () => true, onSuccess: () => false }),
          Effect.flatMap((exhausted) => rt.send(self, new RestartDue(episode, lead.spec.id, exhausted)))
        )
      )
      state.timers.set(episode, timer)
    })

  /** Starts, in start order, the children waiting for restart `episode`; one that fails is retried with those after it. */
  const resume = (self: ServerRef, state: State, episode: number): Effect.Effect<void, MaxRestartIntensityError> =>
    Effect.gen(function*() {
      const waiting = state.children.filter((c) => c.waiting === episode)
      for (let i = 0; i < waiting.length; i++) {
        const child = waiting[i]!
        const started = yield* Effect.either(startOne(child.spec, self))
        const now = yield* Clock.currentTimeMillis
        if (Either.isRight(started)) {
          child.ref = started.right
          child.status = "running"
          child.startedAt = now
          child.waiting = undefined
          yield* Effect.logInfo("restarted a child").pipe(Effect.annotateLogs("child", child.spec.id))
          continue
        }
        yield* Effect.logWarning("a child failed to restart; trying again").pipe(
          Effect.annotateLogs({ child: child.spec.id, error: started.left })
        )
        yield* count(state, child, now)
        return yield* plan(self, state, child, waiting.slice(i), now, true)
      }
    })

  /** `child` exited and is to be restarted: count it, stop the rest of its strategy's group, restart them. */
  const restart = (self: ServerRef, state: State, child: Child) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* count(state, child, now)
      const group = Policy.groupOf(config.strategy, state.children, child)
      for (const other of [...group].reverse()) if (other !== child) yield* Children.stopProcess(services, self, other)
      // A temporary child stopped for its siblings' sake is not restarted: it is gone (OTP).
      const members = group.filter((c) => c === child || c.spec.restart !== "temporary")
      state.children = state.children.filter((c) => !group.includes(c) || members.includes(c))
      yield* plan(self, state, child, members, now, false)
    })

  const onExit = (self: ServerRef, state: State, signal: ExitSignal) =>
    Effect.gen(function*() {
      const child = state.children.find((c) => c.ref !== undefined && Children.sameRef(c.ref, signal.from))
      if (child === undefined) {
        if (state.parent !== undefined && Children.sameRef(state.parent, signal.from)) {
          // OTP: a supervisor exits with its parent's reason. A handler cannot wait for its own
          // process's stop (the stop waits for the handler), so the stop is forked.
          state.exiting = true
          yield* Effect.forkDaemon(rt.stop(self, signal.reason))
        }
        return state
      }
      child.ref = undefined
      const annotated = Effect.annotateLogs({ child: child.spec.id, reason: reasonText(signal.reason) })
      if (state.exiting || !Policy.isRestarted(child.spec.restart, signal.reason)) {
        child.status = "stopped"
        if (child.spec.restart === "temporary") state.children = state.children.filter((c) => c !== child)
        yield* annotated(Effect.logInfo("a child exited; not restarted"))
        return state
      }
      yield* annotated(Effect.logWarning("a child exited; restarting"))
      yield* restart(self, state, child)
      return state
    })

  const onDue = (
    self: ServerRef,
    state: State,
    due: RestartDue
  ): Effect.Effect<State, MaxRestartIntensityError | BackoffExhaustedError> => {
    state.timers.delete(due.episode)
    if (!state.children.some((c) => c.waiting === due.episode)) return Effect.succeed(state)
    if (due.exhausted) {
      return Effect.logError("a child's backoff schedule ended; the supervisor stops its children and exits").pipe(
        Effect.zipRight(Effect.fail(new BackoffExhaustedError({ childId: due.childId }))),
        Effect.annotateLogs("child", due.childId)
      )
    }
    return Effect.as(resume(self, state, due.episode), state)
  }

  const info = (c: Child): ChildInfo => ({
    id: c.spec.id,
    ref: Option.fromNullable(c.ref),
    restart: c.spec.restart,
    status: c.status,
    type: Spec.kindOf(c.spec)
  })

  return GenServer.typedBehavior({
    requests: Requests,
    init: (): State => ({
      self: undefined,
      parent: undefined,
      booted: false,
      exiting: false,
      children: [],
      restarts: [],
      episodes: 0,
      timers: new Map()
    }),
    handlers: {
      "Supervisor.Boot": ({ parent }, state) =>
        inside(state, (self) =>
          Effect.gen(function*() {
            if (state.booted) return [undefined, state] as const
            state.booted = true
            state.parent = parent
            for (const spec of config.children) {
              const started = yield* Effect.either(startOne(spec, self))
              if (Either.isLeft(started)) {
                yield* stopAll(self, state)
                return yield* Effect.fail(new SupervisorStartError({ childId: spec.id, message: started.left }))
              }
              state.children.push(Children.running(spec, started.right, yield* Clock.currentTimeMillis))
            }
            return [undefined, state] as const
          })),
      "Supervisor.StartChild": ({ spec }, state) =>
        inside(state, (self) =>
          Effect.gen(function*() {
            if (state.children.some((c) => c.spec.id === spec.id)) {
              return yield* Effect.fail(new ChildAlreadyExistsError({ id: spec.id }))
            }
            const ref = yield* Effect.mapError(
              startOne(spec, self),
              (message) => new SupervisorStartError({ childId: spec.id, message })
            )
            state.children.push(Children.running(spec, ref, yield* Clock.currentTimeMillis))
            return [ref, state] as const
          })),
      "Supervisor.TerminateChild": ({ id }, state) =>
        inside(state, (self) =>
          Effect.gen(function*() {
            const child = yield* find(state, id)
            child.waiting = undefined
            child.status = "stopped"
            yield* sweep(state)
            yield* Children.stopProcess(services, self, child)
            // OTP keeps the spec for `restartChild`, except a temporary child's.
            if (child.spec.restart === "temporary") state.children = state.children.filter((c) => c !== child)
            return [undefined, state] as const
          })),
      "Supervisor.RestartChild": ({ id }, state) =>
        inside(state, (self) =>
          Effect.gen(function*() {
            const child = yield* find(state, id)
            if (child.status !== "stopped") {
              return yield* Effect.fail(new ChildRunningError({ id, status: child.status }))
            }
            const ref = yield* Effect.mapError(
              startOne(child.spec, self),
              (message) => new SupervisorStartError({ childId: id, message })
            )
            child.ref = ref
            child.status = "running"
            child.startedAt = yield* Clock.currentTimeMillis
            return [ref, state] as const
          })),
      "Supervisor.DeleteChild": ({ id }, state) =>
        Effect.gen(function*() {
          const child = yield* find(state, id)
          if (child.status !== "stopped") return yield* Effect.fail(new ChildRunningError({ id, status: child.status }))
          state.children = state.children.filter((c) => c !== child)
          return [undefined, state] as const
        }),
      "Supervisor.WhichChildren": (_, state) => [state.children.map(info), state] as const,
      "Supervisor.CountChildren": (_, state) => {
        const supervisors = state.children.filter((c) => Spec.kindOf(c.spec) === "supervisor").length
        const active = state.children.filter((c) => c.status === "running").length
        const specs = state.children.length
        return [{ specs, active, supervisors, workers: specs - supervisors }, state] as const
      }
    },
    handleInfo: (msg: unknown, state: State, from?: string) => {
      // Sent by a process of another node (`GenServer.send`): exit signals never come that way.
      if (from !== undefined) return state
      if (msg instanceof RestartDue) return inside(state, (self) => onDue(self, state, msg))
      if (GenServer.isExitSignal(msg)) return inside(state, (self) => onExit(self, state, msg))
      return state
    },
    // A failing handler is a supervisor that gave up (or a bug): it exits, and `terminate` stops its children.
    onError: "crash",
    terminate: (reason, state) =>
      stopAll(state.self, state).pipe(
        Effect.zipRight(Effect.logDebug("the supervisor stopped its children")),
        Effect.annotateLogs({
          supervisor: state.self?.id ?? "(not started)",
          reason: reasonText(fromExitReason(reason))
        })
      )
  })
}

/**
 * Starts a supervisor process linked with `link` (if any) and has it start its children.
 * A failed start leaves nothing behind: the children started are stopped in reverse
 * order, and then the supervisor itself.
 */
export const launch = (
  services: Services,
  options: SupervisorOptions<any>,
  name: string | undefined,
  link: ServerRef | undefined
): Effect.Effect<ServerRef, SupervisorStartError | NameAlreadyRegisteredError | GenServerInitError> =>
  Effect.gen(function*() {
    const config = yield* Either.mapLeft(Spec.configOf(options), (e) => new SupervisorStartError(e))
    const { rt } = services
    const discard = (ref: ServerRef) =>
      Effect.zipRight(
        link === undefined ? Effect.void : Effect.ignore(rt.unlink(link, ref)),
        Effect.ignore(rt.stop(ref, "shutdown"))
      )
    const boot = (ref: ServerRef) =>
      GenServer.call(ref, new Boot({ parent: link }), { timeout: Duration.infinity }).pipe(
        Effect.provideService(GenServer.GenServerRuntime, rt),
        Effect.catchIf(
          (e): e is CallError => e._tag !== "SupervisorStartError",
          (e) => Effect.fail(new GenServerInitError({ message: `the supervisor did not start: ${e.message}` }))
        )
      )
    // Masked between the two steps: a start given up after the process exists still stops it.
    return yield* Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(rt.start(server(services, config), { name, trapExit: true, link })),
        (ref) => restore(boot(ref)).pipe(Effect.onError(() => discard(ref)), Effect.as(ref))
      )
    )
  })
