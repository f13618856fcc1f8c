/**
 * A supervisor's children as processes: starting one linked with its supervisor (a
 * behavior here, a registered name here or on another node, a nested supervisor), and
 * stopping one within its shutdown time. Failures come back as words for the
 * supervisor to put in its own typed error.
 */
import { Duration, Effect, Option } from "effect"
import type { Schedule } from "effect"
import type { Service as Registry } from "../../BehaviorRegistry.js"
import type { AnyBehavior, GenServerBehavior, Service as Runtime } from "../../GenServer.js"
import type { Service as Spawner } from "../../RemoteSpawn.js"
import type { ServerRef } from "../../ServerRef.js"
import type { ChildStatus, SupervisorOptions } from "../../Supervisor.js"
import { describe } from "../handler.js"
import { currentProcess } from "../self.js"
import { isSupervisorSpec } from "./spec.js"
import type { Spec } from "./spec.js"

/** What a supervisor starts and stops its children with, taken from the context it was started in. */
export interface Services {
  readonly rt: Runtime
  /** Present in a cluster: children on other nodes are spawned with it. */
  readonly spawn: Option.Option<Spawner>
  /** Present when the node has one: children named by behavior are looked up in it. */
  readonly registry: Option.Option<Registry>
}

/** Starts a nested supervisor linked with `link`; how `Supervisor.ts` hands its own start down. */
export type StartSupervisor = (
  options: SupervisorOptions<any>,
  name: string | undefined,
  link: ServerRef
) => Effect.Effect<ServerRef, { readonly message: string }>

/** One child as its supervisor keeps it; mutated only by the supervisor's handlers, one at a time. */
export interface Child {
  readonly spec: Spec
  ref: ServerRef | undefined
  status: ChildStatus
  /** Clock time (ms) of its last start: a child up for a whole period gets its backoff reset. */
  startedAt: number
  /** The restart it waits for; a due restart of another one is stale for it. */
  waiting: number | undefined
  /** Its own run of the backoff schedule, made at its first delayed restart. */
  backoff: Schedule.ScheduleDriver<unknown, unknown> | undefined
}

/** A child that has just started. */
export const running = (spec: Spec, ref: ServerRef, now: number): Child => ({
  spec,
  ref,
  status: "running",
  startedAt: now,
  waiting: undefined,
  backoff: undefined
})

/** Whether two refs name the same process. */
export const sameRef = (a: ServerRef, b: ServerRef): boolean => a.id === b.id && a.nodeId === b.nodeId

const words = (error: unknown): string => {
  const { message, name } = describe(error)
  return `${name}: ${message}`
}

/**
 * Starts the process of `spec`, linked with supervisor `self` from its first step. Run
 * outside the supervisor's identity (`GenServer.self` is not the supervisor's inside the
 * child's `init`), with the supervisor's context, so a child's services are the ones
 * the supervisor was started with.
 */
export const startProcess = (
  services: Services,
  spec: Spec,
  self: ServerRef,
  startSupervisor: StartSupervisor
): Effect.Effect<ServerRef, string> => {
  const { rt } = services
  const start = spec.start
  const local = (behavior: AnyBehavior) =>
    Effect.mapError(
      rt.start(behavior as GenServerBehavior<any, any, any, any, never>, {
        link: self,
        args: spec.args,
        name: spec.name
      }),
      words
    )
  const started: Effect.Effect<ServerRef, string> = isSupervisorSpec(start)
    ? Effect.mapError(startSupervisor(start.options, spec.name ?? start.options.name, self), (e) => e.message)
    : typeof start !== "string"
    ? local(start)
    : spec.node !== undefined && spec.node !== rt.nodeId
    ? Option.match(services.spawn, {
      onNone: () =>
        Effect.fail(`the child runs on ${spec.node}, but this runtime is not part of a cluster (no RemoteSpawn)`),
      onSome: (spawner) =>
        spawner.spawn(start, spec.node!, {
          args: spec.args,
          link: self,
          name: spec.name,
          registration: spec.name === undefined ? "none" : "local"
        }).pipe(
          Effect.map((s): ServerRef => ({ id: s.serverId, nodeId: s.nodeId })),
          Effect.mapError(words)
        )
    })
    : Option.match(Option.flatMap(services.registry, (r) => r.get(start)), {
      onNone: () => Effect.fail(`BehaviorNotFoundError: behavior '${start}' is not registered on ${rt.nodeId}`),
      onSome: (behavior) => local(behavior as unknown as AnyBehavior)
    })
  return Effect.locally(started, currentProcess, undefined)
}

/**
 * Stops a child's process: unlinked first (its exit is no restart, and a child left
 * running is no longer tied to the supervisor), then `GenServer.stop(ref, "shutdown")`
 * bounded by its `shutdown`. One that overruns it is left to finish its `terminate` on
 * its own, and logged: there is no brutal kill of a process's fiber here.
 */
export const stopProcess = (services: Services, self: ServerRef | undefined, child: Child): Effect.Effect<void> => {
  const ref = child.ref
  if (ref === undefined) return Effect.void
  child.ref = undefined
  const { rt } = services
  const stop = rt.stop(ref, "shutdown").pipe(
    Effect.catchTag("RemoteServerNotRunningError", () => Effect.void),
    Effect.catchTag("NodeNotReachableError", () => Effect.logWarning("cannot stop a child: its node is not reachable"))
  )
  const bounded = Duration.isFinite(child.spec.shutdown)
    ? Effect.flatMap(Effect.timeoutOption(stop, child.spec.shutdown), (done) =>
      Option.isSome(done)
        ? Effect.void
        : Effect.logWarning("a child did not stop within its shutdown time; it is left to finish on its own").pipe(
          Effect.annotateLogs({ shutdownMs: Duration.toMillis(child.spec.shutdown) })
        ))
    : stop
  return Effect.zipRight(
    self === undefined ? Effect.void : Effect.ignore(rt.unlink(self, ref)),
    bounded
  ).pipe(Effect.annotateLogs({ child: child.spec.id, childRef: ref.id }))
}
