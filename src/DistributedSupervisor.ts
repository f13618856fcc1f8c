/**
 * DistributedSupervisor: children spread over the nodes that run the supervisor, each
 * with a stable cluster-wide id, found by it wherever it runs now (`whereis`, `call`).
 * When a node dies, each child it ran is restarted on a survivor exactly once: the
 * survivor that ranks highest for the child's id decides, so no two race (rendezvous
 * hashing over the live members; no wall clock, no leader). Under a partition only a
 * side holding a majority of the members restarts (`partition: "quorum"`, the default),
 * or every side does (`"availability"`); after the heal one instance of each child is
 * kept and the other stopped with reason `{ conflict: id }` and a `ConflictResolved`
 * event. Closing the scope of {@link start} hands this node's children over before it
 * goes. A child crash is restarted where it ran, as its `restart` says, within
 * `maxRestarts` per `period`. See docs/supervision.md.
 */
import { Clock, Duration, Effect, Either, ExecutionStrategy, Exit, Option, PubSub, Schema, Scope, Stream } from "effect"
import type { CallError, NameAlreadyRegisteredError } from "./errors.js"
import { GenServerInitError } from "./errors.js"
import * as GenServer from "./GenServer.js"
import { Instance, instanceBehavior, instanceName, INSTANCES_SCOPE, refAt } from "./internal/dsup/instance.js"
import { MAX_CHILD_ID_CHARS, Spec } from "./internal/dsup/messages.js"
import type { StartAnswer, TerminateAnswer } from "./internal/dsup/messages.js"
import { settingsOf } from "./internal/dsup/options.js"
import type { Settings } from "./internal/dsup/options.js"
import { frameBudgetOf } from "./internal/dsup/sync.js"
import type { ChildEvent, Restart } from "./internal/dsup/table.js"
import { budgetOf } from "./internal/groupsNode.js"
import { startSystem, stopSystem } from "./internal/runtime.js"
import { toMillis } from "./internal/timers.js"
import type { NodeId } from "./NodeId.js"
import * as ProcessGroups from "./ProcessGroups.js"
import type { RemoteSpawn } from "./RemoteSpawn.js"
import type { ServerRef } from "./ServerRef.js"

export { MAX_CHILD_ID_CHARS }
export type { ChildEvent, Restart } from "./internal/dsup/table.js"
export { MAX_TOMBSTONES } from "./internal/dsup/table.js"

/** Options of {@link start}. */
export interface Options {
  /** `"quorum"` (default): only a side with a majority of the members restarts a dead node's children. */
  readonly partition?: "quorum" | "availability" | undefined
  /** Where `startChild` places a child: `"hash"` (default, the member its id hashes to) or `"least-loaded"`. */
  readonly placement?: "hash" | "least-loaded" | undefined
  /** Crash restarts of one child allowed within `period` before it is given up (default 3). */
  readonly maxRestarts?: number | undefined
  /** Default 5 s. */
  readonly period?: Duration.DurationInput | undefined
  /** How long closing the scope waits for this node's children to start elsewhere (default 5 s). */
  readonly handoffTimeout?: Duration.DurationInput | undefined
  /**
   * How long the members must stay unchanged before a lost node's children are restarted
   * (default 1.5 s). A partition is noticed link by link, spread over about one heartbeat
   * interval, and until the view settles a minority may believe it holds a majority: keep
   * this above the cluster's `heartbeatInterval`.
   */
  readonly stableAfter?: Duration.DurationInput | undefined
  /**
   * A process group (default scope) each child joins on the node it starts on, so the
   * group lists the live children wherever they run (a pool dispatches over it). Give
   * every member the same group.
   */
  readonly group?: string | undefined
}

/** Defaults, each with its reason. */
export const defaults = {
  /** OTP's supervisor default intensity. */
  maxRestarts: 3,
  period: Duration.seconds(5),
  /** A handoff is one start per child on another node: seconds are plenty, and a shutdown must not hang on it. */
  handoffTimeout: Duration.seconds(5),
  /** Above the default heartbeat interval (1 s), and within the 2 s a failover may take. */
  stableAfter: Duration.millis(1500)
} as const

/** A child of a distributed supervisor: a behavior name every member registers. */
export interface ChildSpec {
  /** Stable and unique within the supervisor: how the child is found wherever it runs. */
  readonly id: string
  readonly behavior: string
  readonly args?: ReadonlyArray<unknown> | undefined
  /** Default `"permanent"`. */
  readonly restart?: Restart | undefined
}

/** A child as this node sees it. */
export interface ChildInfo {
  readonly id: string
  /** Where it runs now; `None` between its node's death and its restart. */
  readonly ref: Option.Option<ServerRef>
  readonly behavior: string
  readonly restart: Restart
}

/** No instance of the supervisor runs on this node. */
export class DistributedSupervisorNotFoundError extends Schema.TaggedError<DistributedSupervisorNotFoundError>()(
  "DistributedSupervisorNotFoundError",
  { name: Schema.String }
) {
  override get message() {
    return `no distributed supervisor '${this.name}' runs on this node`
  }
}

/** A child with this id exists already (`ref` where it runs, if it runs now). */
export class ChildAlreadyStartedError extends Schema.TaggedError<ChildAlreadyStartedError>()(
  "ChildAlreadyStartedError",
  { id: Schema.String, ref: Schema.optional(Schema.Struct({ id: Schema.String, nodeId: Schema.String })) }
) {
  override get message() {
    return `child '${this.id}' is already started`
  }
}

/** The child's process did not start on the node chosen for it. */
export class ChildStartError extends Schema.TaggedError<ChildStartError>()("ChildStartError", {
  id: Schema.String,
  nodeId: Schema.String,
  message: Schema.String
}) {}

/** No child with this id is known. */
export class ChildNotFoundError extends Schema.TaggedError<ChildNotFoundError>()("ChildNotFoundError", {
  id: Schema.String
}) {
  override get message() {
    return `no child '${this.id}'`
  }
}

/** How often a call by id looks again for a child that is moving, and a leaving node for its heirs. */
const RETRY_EVERY = Duration.millis(10)

/** Bounds the whole `startChild` / `terminateChild` exchange with the nodes involved. */
const REQUEST_TIMEOUT = Duration.seconds(10)

/** The instances of this process's nodes: a node's runtime → supervisor name → instance. */
const instances = new WeakMap<GenServer.Service, Map<string, Instance>>()

const instanceOf = (
  name: string
): Effect.Effect<Instance, DistributedSupervisorNotFoundError, GenServer.GenServerRuntime> =>
  Effect.flatMap(GenServer.GenServerRuntime, (rt) => {
    const found = instances.get(rt)?.get(name)
    return found === undefined || found.leaving
      ? Effect.fail(new DistributedSupervisorNotFoundError({ name }))
      : Effect.succeed(found)
  })

/**
 * What starting an instance can fail with: `GenServerInitError` for an invalid name or
 * options (checked before anything starts), `NameAlreadyRegisteredError` when it runs here
 * already, and the join of the members' group.
 */
export type StartError = GenServerInitError | NameAlreadyRegisteredError | ProcessGroups.JoinError

/**
 * Runs supervisor `name` on this node for the life of the scope: the node joins the
 * members that host its children. Closing the scope hands this node's children to the
 * others, then stops it here. A start that fails leaves nothing behind.
 */
export const start = (
  name: string,
  options: Options = {}
): Effect.Effect<
  ServerRef,
  StartError,
  Scope.Scope | GenServer.GenServerRuntime | ProcessGroups.ProcessGroups | RemoteSpawn
> =>
  Effect.gen(function*() {
    const settings = yield* Either.mapLeft(
      settingsOf(name, options, defaults),
      (reason) => new GenServerInitError({ message: `invalid distributed supervisor: ${reason}` })
    )
    // What the start makes lives in a scope of its own: one that fails closes it at once,
    // leaving nothing behind; one that succeeds closes it with the caller's.
    const own = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    return yield* Scope.extend(launch(settings), own).pipe(
      Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(own, exit) : Effect.void)
    )
  })

/** Starts the instance in the current scope, which stops it (after the handoff, once it joined). */
const launch = (settings: Settings) =>
  Effect.gen(function*() {
    const { name } = settings
    const rt = yield* GenServer.GenServerRuntime
    const budget = frameBudgetOf(budgetOf(yield* ProcessGroups.ProcessGroups))
    const events = yield* Effect.acquireRelease(PubSub.unbounded<ChildEvent>(), PubSub.shutdown)
    const instance = new Instance(settings, rt, events, budget)
    // Released last (scopes close in reverse): after the handoff and after the name is gone.
    const ref = yield* Effect.acquireRelease(
      startSystem(rt, instanceBehavior(instance), { name: instanceName(name), trapExit: true }),
      (ref) => Effect.ignore(stopSystem(rt, ref, "shutdown"))
    )
    instance.ref = ref
    let byName = instances.get(rt)
    if (byName === undefined) instances.set(rt, byName = new Map())
    const registry = byName
    yield* Effect.acquireRelease(
      Effect.sync(() => registry.set(name, instance)),
      () => Effect.sync(() => registry.get(name) === instance && registry.delete(name))
    )
    // Subscribed before joining: no change of the group is missed.
    const changes = yield* ProcessGroups.subscribe({ scope: INSTANCES_SCOPE })
    yield* Effect.forkScoped(
      Stream.runForEach(changes, (e) => (e.group === name ? GenServer.send(ref, { _tag: "ds.members" }) : Effect.void))
    )
    yield* ProcessGroups.join(name, ref, { scope: INSTANCES_SCOPE })
    yield* GenServer.send(ref, { _tag: "ds.members" })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* GenServer.call(ref, { _tag: "ds.leave" })
        const deadline = (yield* Clock.currentTimeMillis) + settings.handoffMs
        while (instance.hostedCount() > 0 && instance.hasHeirs() && (yield* Clock.currentTimeMillis) < deadline) {
          yield* Effect.sleep(RETRY_EVERY)
        }
        yield* GenServer.call(ref, { _tag: "ds.stopAll" })
        yield* ProcessGroups.leave(name, ref, { scope: INSTANCES_SCOPE })
      }).pipe(Effect.ignore)
    )
    return ref
  })

/**
 * Starts a child on the member its placement picks and answers where it runs. Fails with
 * `ChildAlreadyStartedError` when the id is taken, `ChildStartError` when its process did
 * not start there.
 */
export const startChild = (
  name: string,
  spec: ChildSpec
): Effect.Effect<
  ServerRef,
  DistributedSupervisorNotFoundError | ChildAlreadyStartedError | ChildStartError | CallError,
  GenServer.GenServerRuntime
> =>
  Effect.gen(function*() {
    const instance = yield* instanceOf(name)
    const wire = { id: spec.id, behavior: spec.behavior, args: spec.args ?? [], restart: spec.restart ?? "permanent" }
    // Checked here for every target: a spec only the local path took unchecked would make this
    // node's claims undecodable for every peer.
    const checked = Schema.decodeUnknownEither(Spec)(wire)
    if (checked._tag === "Left") {
      return yield* Effect.fail(
        new ChildStartError({ id: String(spec.id).slice(0, 100), nodeId: instance.self, message: "invalid child spec" })
      )
    }
    const plan = yield* GenServer.call<StartAnswer>(instance.ref!, { _tag: "ds.plan", id: spec.id })
    const target = plan._tag === "target" ? (plan.node as NodeId) : undefined
    if (target === undefined) return yield* answerToRef(spec.id, instance.self, plan, name)
    const answer = yield* GenServer.call<StartAnswer>(
      { id: instanceName(name), nodeId: target },
      { _tag: "ds.startHere", spec: wire },
      { timeout: REQUEST_TIMEOUT }
    )
    return yield* answerToRef(spec.id, target, answer, name)
  })

const answerToRef = (
  id: string,
  node: NodeId,
  answer: StartAnswer,
  name: string
): Effect.Effect<ServerRef, DistributedSupervisorNotFoundError | ChildAlreadyStartedError | ChildStartError> => {
  switch (answer._tag) {
    case "started":
      return Effect.succeed({ id: answer.serverId, nodeId: node })
    case "exists":
      return Effect.fail(
        new ChildAlreadyStartedError({
          id,
          ...Option.match(refAt(answer.serverId, answer.host), { onNone: () => ({}), onSome: (ref) => ({ ref }) })
        })
      )
    case "failed":
      return Effect.fail(new ChildStartError({ id, nodeId: node, message: answer.message }))
    default:
      return Effect.fail(new DistributedSupervisorNotFoundError({ name }))
  }
}

/** Stops a child wherever it runs and forgets it on every member (it is not restarted). */
export const terminateChild = (
  name: string,
  id: string
): Effect.Effect<
  void,
  DistributedSupervisorNotFoundError | ChildNotFoundError | CallError,
  GenServer.GenServerRuntime
> =>
  Effect.gen(function*() {
    const instance = yield* instanceOf(name)
    const host = instance.table.location(id)?.host ?? instance.self
    const answer = yield* GenServer.call<TerminateAnswer>(
      { id: instanceName(name), nodeId: host },
      { _tag: "ds.terminate", id },
      { timeout: REQUEST_TIMEOUT }
    )
    if (answer._tag === "notFound") return yield* Effect.fail(new ChildNotFoundError({ id }))
    if (answer._tag === "elsewhere") {
      const again = yield* GenServer.call<TerminateAnswer>(
        { id: instanceName(name), nodeId: answer.host as NodeId },
        { _tag: "ds.terminate", id },
        { timeout: REQUEST_TIMEOUT }
      )
      if (again._tag !== "terminated") return yield* Effect.fail(new ChildNotFoundError({ id }))
    }
  })

/** Where child `id` runs now, as this node sees it. */
export const whereis = (
  name: string,
  id: string
): Effect.Effect<Option.Option<ServerRef>, DistributedSupervisorNotFoundError, GenServer.GenServerRuntime> =>
  Effect.map(instanceOf(name), (instance) => {
    const at = instance.table.location(id)
    return refAt(at?.serverId, at?.host)
  })

/** Every child this node knows, by id. */
export const whichChildren = (
  name: string
): Effect.Effect<ReadonlyArray<ChildInfo>, DistributedSupervisorNotFoundError, GenServer.GenServerRuntime> =>
  Effect.map(instanceOf(name), (instance) =>
    Array.from(instance.table.ids()).sort().map((id) => {
      const spec = instance.table.spec(id)!
      const at = instance.table.location(id)
      return { id, ref: refAt(at?.serverId, at?.host), behavior: spec.behavior, restart: spec.restart }
    }))

/** How many children, and how many run now. */
export const countChildren = (
  name: string
): Effect.Effect<
  { readonly specs: number; readonly active: number },
  DistributedSupervisorNotFoundError,
  GenServer.GenServerRuntime
> =>
  Effect.map(whichChildren(name), (children) => ({
    specs: children.length,
    active: children.filter((c) => Option.isSome(c.ref)).length
  }))

/** The nodes running the supervisor, as this node sees them. */
export const members = (
  name: string
): Effect.Effect<ReadonlyArray<NodeId>, DistributedSupervisorNotFoundError, GenServer.GenServerRuntime> =>
  Effect.map(instanceOf(name), (instance) => Array.from(instance.active()).sort())

/**
 * Calls child `id` wherever it runs. A child that is moving (restarting after its node
 * died, or handed over) is waited for within the timeout, and a call its old process did
 * not take (`RemoteServerNotRunningError`) is sent again to the new one: a caller sees no
 * gap. A call that may have reached a process is never sent twice.
 */
export const call = <Reply = unknown>(
  name: string,
  id: string,
  msg: unknown,
  options?: GenServer.CallOptions
): Effect.Effect<
  Reply,
  DistributedSupervisorNotFoundError | ChildNotFoundError | CallError,
  GenServer.GenServerRuntime
> =>
  Effect.gen(function*() {
    const instance = yield* instanceOf(name)
    const timeoutMs = toMillis(options?.timeout ?? GenServer.defaults.callTimeout)
    const deadline = (yield* Clock.currentTimeMillis) + timeoutMs
    while (true) {
      const at = instance.table.location(id)
      const now = yield* Clock.currentTimeMillis
      if (at === undefined) {
        if (instance.table.spec(id) === undefined) return yield* Effect.fail(new ChildNotFoundError({ id }))
        if (now >= deadline) {
          return yield* Effect.fail(new ChildNotFoundError({ id }))
        }
        yield* Effect.sleep(RETRY_EVERY)
        continue
      }
      const ref: ServerRef = { id: at.serverId, nodeId: at.host }
      const result = yield* Effect.either(GenServer.call<Reply>(ref, msg, { timeout: Math.max(1, deadline - now) }))
      if (result._tag === "Right") return result.right
      const error = result.left as CallError
      const moved = error._tag === "RemoteServerNotRunningError" && instance.table.spec(id) !== undefined
      if (!moved || (yield* Clock.currentTimeMillis) >= deadline) return yield* Effect.fail(error)
      const still = instance.table.location(id)
      if (still !== undefined && still.serverId === at.serverId && still.host === at.host) {
        yield* Effect.sleep(RETRY_EVERY)
      }
    }
  })

/** The supervisor's child events on this node, from when the stream runs. */
export const events = (
  name: string
): Stream.Stream<ChildEvent, DistributedSupervisorNotFoundError, GenServer.GenServerRuntime> =>
  Stream.unwrapScoped(Effect.map(instanceOf(name), (instance) => Stream.fromPubSub(instance.events)))
