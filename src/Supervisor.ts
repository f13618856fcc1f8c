/**
 * Supervisor: a process that starts other processes, watches them and restarts them
 * when they exit (Erlang/OTP's `supervisor`). It is a GenServer started with
 * `trapExit`, so it can be monitored, linked, named and stopped like any process, and a
 * supervisor is a valid child of another (`Supervisor.child(id, options)`): supervision
 * trees. Its children are linked with it, so their exits arrive as exit signals; what it
 * does then is its strategy (`one_for_one`, `one_for_all`, `rest_for_one`) and the
 * child's restart type (`permanent`, `transient`, `temporary`), optionally after a
 * `backoff` delay. More than `maxRestarts` restarts within `period` and it gives up: it
 * stops its children and exits with `{ error: MaxRestartIntensityError }`, for its own
 * supervisor (or monitor) to see. A child may run on another node, by behavior name
 * through `RemoteSpawn`; the management calls (`startChild`, `whichChildren`, ...) are
 * typed requests, so they work on a supervisor of any node (docs/supervision.md).
 */
import { Effect, Either } from "effect"
import type { Duration, Option, Schedule } from "effect"
import { BehaviorRegistry } from "./BehaviorRegistry.js"
import type { CallError, GenServerInitError, NameAlreadyRegisteredError } from "./errors.js"
import * as GenServer from "./GenServer.js"
import type { GenServerBehavior } from "./GenServer.js"
import type { Services } from "./internal/supervisor/children.js"
import {
  ChildAlreadyExistsError,
  ChildNotFoundError,
  ChildRunningError,
  CountChildren,
  DeleteChild,
  RestartChild,
  StartChild,
  SupervisorStartError,
  TerminateChild,
  WhichChildren
} from "./internal/supervisor/protocol.js"
import { launch } from "./internal/supervisor/server.js"
import * as Spec from "./internal/supervisor/spec.js"
import type { NodeId } from "./NodeId.js"
import { RemoteSpawn } from "./RemoteSpawn.js"
import type { ServerRef } from "./ServerRef.js"

// ---- errors ------------------------------------------------------------------------------

/**
 * The supervisor's typed errors (Schema.TaggedError, so they cross the wire as
 * themselves): {@link SupervisorStartError}, {@link ChildAlreadyExistsError},
 * {@link ChildNotFoundError}, {@link ChildRunningError}, and the two reasons a supervisor
 * exits with on its own, inside `{ error }`: {@link MaxRestartIntensityError} and
 * {@link BackoffExhaustedError}.
 */
export {
  BackoffExhaustedError,
  ChildAlreadyExistsError,
  ChildNotFoundError,
  ChildRunningError,
  MaxRestartIntensityError,
  SupervisorStartError
} from "./internal/supervisor/protocol.js"

// ---- specs and options -------------------------------------------------------------------

/** Which children restart when one exits: itself, all of them, or itself and those started after it. */
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one"

/** When a child is restarted: always, after an abnormal exit only, or never. */
export type RestartType = "permanent" | "transient" | "temporary"

/** A child's state: its process runs, it waits for a (delayed or retried) restart, or it is not running. */
export type ChildStatus = "running" | "restarting" | "stopped"

/**
 * How to start one child. `start` is a behavior, the name of a behavior in this node's
 * `BehaviorRegistry` (or in `node`'s: then it is spawned there with `RemoteSpawn`), or a
 * nested supervisor (`Supervisor.spec(options)`). `R`: the services its handlers need,
 * which the supervisor passes on from its own context.
 */
export interface ChildSpec<R = never> {
  /** Unique among the supervisor's children; the management calls name children by it. */
  readonly id: string
  readonly start: GenServerBehavior<any, any, any, any, R> | string | SupervisorSpec<R>
  /** Arguments handed to `init`. */
  readonly args?: ReadonlyArray<unknown> | undefined
  /** Default `permanent`. */
  readonly restart?: RestartType | undefined
  /** How long its `terminate` may take when the supervisor stops it (default 5 s; a supervisor child: no bound). */
  readonly shutdown?: Duration.DurationInput | undefined
  /** The node it runs on (default this one); only for a behavior name. */
  readonly node?: NodeId | undefined
  /** A name to register it under on its node. */
  readonly name?: string | undefined
}

/** A nested supervisor as a child's `start`, built by {@link spec}. */
export interface SupervisorSpec<R = never> {
  readonly _tag: "SupervisorSpec"
  readonly options: SupervisorOptions<R>
}

/** What {@link start} builds a supervisor from. */
export interface SupervisorOptions<R = never> {
  readonly strategy: Strategy
  /** Restarts allowed within `period` (default 3); one more and the supervisor exits. */
  readonly maxRestarts?: number | undefined
  /** The window restarts are counted in (default 5 s). */
  readonly period?: Duration.DurationInput | undefined
  /** Started in order, stopped in reverse order. */
  readonly children?: ReadonlyArray<ChildSpec<R>> | undefined
  /** Registers the supervisor on this node under this name. */
  readonly name?: string | undefined
  /**
   * Delays each restart by the next delay of this schedule, run once per child
   * (`Schedule.exponential("100 millis")`); a child that stayed up for `period` starts it
   * over. A schedule that ends takes the supervisor down ({@link BackoffExhaustedError}).
   */
  readonly backoff?: Schedule.Schedule<unknown, unknown> | undefined
}

/** One child as {@link whichChildren} reports it. */
export interface ChildInfo {
  readonly id: string
  /** Its process, while it runs. */
  readonly ref: Option.Option<ServerRef>
  readonly restart: RestartType
  readonly status: ChildStatus
  readonly type: "worker" | "supervisor"
}

/** The children of a supervisor, counted (OTP's `count_children`). */
export interface ChildCounts {
  /** Children it has a spec of, running or not. */
  readonly specs: number
  /** Children whose process runs. */
  readonly active: number
  readonly supervisors: number
  readonly workers: number
}

/** Options of the management calls. */
export interface CallOptions {
  /** How long to wait for the supervisor's answer (default: no bound, as OTP's). */
  readonly timeout?: Duration.DurationInput | undefined
}

/** Defaults of a supervisor and its children, each with its reason. */
export const defaults = Spec.defaults

/** What a supervisor starts its children with; RemoteSpawn and BehaviorRegistry only when the node has them. */
const servicesOf: Effect.Effect<Services, never, GenServer.GenServerRuntime> = Effect.all({
  rt: GenServer.GenServerRuntime,
  spawn: Effect.serviceOption(RemoteSpawn),
  registry: Effect.serviceOption(BehaviorRegistry)
})

// ---- the API -----------------------------------------------------------------------------

/**
 * Starts a supervisor on this node and its children, in order. When a child fails to
 * start, those already started are stopped in reverse order, the supervisor too, and
 * the start fails with {@link SupervisorStartError} naming the child.
 */
export const start = <R = never>(
  options: SupervisorOptions<R>
): Effect.Effect<
  ServerRef,
  SupervisorStartError | NameAlreadyRegisteredError | GenServerInitError,
  GenServer.GenServerRuntime | R
> => Effect.flatMap(servicesOf, (services) => launch(services, options, options.name, undefined))

/** A nested supervisor, as a child's `start`. */
export const spec = <R = never>(options: SupervisorOptions<R>): SupervisorSpec<R> =>
  new Spec.SupervisorSpecValue(options)

/** A child spec that starts a nested supervisor (`restart` and `name` as for any child; no shutdown bound by default). */
export const child = <R = never>(
  id: string,
  options: SupervisorOptions<R>,
  extra: Pick<ChildSpec<R>, "restart" | "shutdown" | "name"> = {}
): ChildSpec<R> => ({ ...extra, id, start: spec(options) })

const timeoutOf = (options: CallOptions | undefined) => ({ timeout: options?.timeout ?? defaults.callTimeout })

/**
 * Starts a new child and keeps its spec (OTP's `start_child`). A supervisor on another
 * node takes specs whose `start` is a behavior name: a behavior value cannot be sent.
 */
export const startChild = (
  supervisor: ServerRef,
  childSpec: ChildSpec,
  options?: CallOptions
): Effect.Effect<ServerRef, ChildAlreadyExistsError | SupervisorStartError | CallError, GenServer.GenServerRuntime> =>
  Either.match(Spec.normalize(childSpec), {
    onLeft: (message) => Effect.fail(new SupervisorStartError({ childId: String(childSpec.id), message })),
    onRight: (s) => GenServer.call(supervisor, new StartChild({ spec: s }), timeoutOf(options))
  })

/** Stops a child (bounded by its `shutdown`); it is not restarted, and its spec stays for {@link restartChild} (a temporary one's goes). */
export const terminateChild = (
  supervisor: ServerRef,
  id: string,
  options?: CallOptions
): Effect.Effect<void, ChildNotFoundError | CallError, GenServer.GenServerRuntime> =>
  GenServer.call(supervisor, new TerminateChild({ id }), timeoutOf(options))

/** Starts a stopped child again from its spec. */
export const restartChild = (
  supervisor: ServerRef,
  id: string,
  options?: CallOptions
): Effect.Effect<
  ServerRef,
  ChildNotFoundError | ChildRunningError | SupervisorStartError | CallError,
  GenServer.GenServerRuntime
> => GenServer.call(supervisor, new RestartChild({ id }), timeoutOf(options))

/** Forgets a stopped child's spec. */
export const deleteChild = (
  supervisor: ServerRef,
  id: string,
  options?: CallOptions
): Effect.Effect<void, ChildNotFoundError | ChildRunningError | CallError, GenServer.GenServerRuntime> =>
  GenServer.call(supervisor, new DeleteChild({ id }), timeoutOf(options))

/** The children, in start order, with their process and status. */
export const whichChildren = (
  supervisor: ServerRef,
  options?: CallOptions
): Effect.Effect<ReadonlyArray<ChildInfo>, CallError, GenServer.GenServerRuntime> =>
  GenServer.call(supervisor, new WhichChildren(), timeoutOf(options))

/** How many children the supervisor has, and how many run. */
export const countChildren = (
  supervisor: ServerRef,
  options?: CallOptions
): Effect.Effect<ChildCounts, CallError, GenServer.GenServerRuntime> =>
  GenServer.call(supervisor, new CountChildren(), timeoutOf(options))
