/**
 * The local GenServer runtime of one node, built from its process table: local refs
 * are served by the table, refs on other nodes by the router the cluster gives it
 * (none for a standalone runtime: they fail with `NodeNotReachableError`).
 */
import { Duration, Effect, Either, FiberSet, Option, Random } from "effect"
import type { Scope } from "effect"
import type { CallError, GenServerInitError, NameAlreadyRegisteredError, NodeNotReachableError } from "../errors.js"
import { NodeNotReachableError as NotReachable, RemoteServerNotRunningError } from "../errors.js"
import type { ExitReason } from "../ExitReason.js"
import type { CallOptions, GenServerBehavior, Service } from "../GenServer.js"
import type { NodeId } from "../NodeId.js"
import type { ServerRef } from "../ServerRef.js"
import { ProcessTable } from "./process.js"
import type { AnyBehavior } from "./process.js"
import { Timers, toMillis } from "./timers.js"

/** Defaults of the local runtime, each with its reason (published as `GenServer.defaults`). */
export const defaults = {
  /** Erlang's gen_server default: long enough for real work, short enough to surface a stuck server. */
  callTimeout: Duration.seconds(5),
  /** The guide's default; init doing I/O on a loaded node should finish well within it. */
  initTimeout: Duration.seconds(5),
  /** How long graceful shutdown waits for `terminate` handlers before interrupting them. */
  shutdownGrace: Duration.seconds(5)
} as const

/** How a runtime reaches processes on other nodes; the cluster provides it. */
export interface RemoteRouter {
  readonly call: (ref: ServerRef, msg: unknown, timeoutMs: number) => Effect.Effect<unknown, CallError>
  readonly cast: (ref: ServerRef, msg: unknown) => Effect.Effect<void>
  readonly stop: (
    ref: ServerRef,
    reason: ExitReason
  ) => Effect.Effect<void, RemoteServerNotRunningError | NodeNotReachableError>
  /** Sends an info message to a process on another node (never fails: dropped when it cannot go). */
  readonly send: (ref: ServerRef, msg: unknown) => Effect.Effect<void>
}

/**
 * Builds a node's process table in the current scope; closing the scope stops every
 * process with reason `shutdown` (bounded by the shutdown grace) and then its timers.
 */
export const makeTable = (
  nodeId: NodeId,
  incarnation?: string,
  mailboxLimit?: number
): Effect.Effect<ProcessTable, never, Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = incarnation ?? (yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)
    const clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const fibers = yield* FiberSet.make<any, any>()
    const timers = new Timers(clock, runtime)
    const table = new ProcessTable(nodeId, `${prefix}.`, timers, fibers, runtime, mailboxLimit)
    yield* Effect.addFinalizer(() =>
      // Finalizers run uninterruptibly, where a timeout would wait for what it times out.
      Effect.interruptible(table.stopAll("shutdown")).pipe(
        Effect.timeout(defaults.shutdownGrace),
        Effect.ignore,
        Effect.zipRight(timers.close())
      )
    )
    return table
  })

/** The `GenServer` service over `table`, routing refs on other nodes through `router`. */
export const makeService = (table: ProcessTable, router: RemoteRouter | undefined): Service => {
  const nodeId = table.nodeId
  // Decoded once: a call without options should not pay for decoding the default.
  const defaultTimeoutMs = toMillis(defaults.callTimeout)
  const notReachable = (ref: ServerRef) => new NotReachable({ nodeId: ref.nodeId })
  /** Runs `f` from the end of a link that is a live process here (`a`, else `b`). */
  const linkEnds = (
    a: ServerRef,
    b: ServerRef,
    f: (id: string, other: ServerRef) => void
  ): Effect.Effect<void, RemoteServerNotRunningError> => {
    const live = (ref: ServerRef) => {
      const proc = ref.nodeId === nodeId ? table.resolve(ref.id) : undefined
      return proc !== undefined && proc.alive ? proc : undefined
    }
    // Either order alike: the end that is a live process here acts, the other may be anywhere.
    const nearA = live(a)
    const near = nearA ?? live(b)
    if (near === undefined) {
      const local = a.nodeId === nodeId ? a : b
      return Effect.fail(new RemoteServerNotRunningError({ serverId: local.id, nodeId: local.nodeId }))
    }
    f(near.id, nearA !== undefined ? b : a)
    return Effect.void
  }
  return {
    nodeId,
    start: (behavior, opts) =>
      table.start(
        behavior,
        opts?.name,
        opts?.args ?? [],
        toMillis(opts?.initTimeout ?? defaults.initTimeout),
        opts?.link === undefined && opts?.trapExit !== true ? undefined : { link: opts.link, trapExit: opts.trapExit }
      ),
    call: <Reply>(ref: ServerRef, msg: unknown, opts?: CallOptions) => {
      const timeoutMs = opts?.timeout === undefined ? defaultTimeoutMs : toMillis(opts.timeout)
      if (ref.nodeId === nodeId) return table.call(ref.id, msg, timeoutMs) as Effect.Effect<Reply, CallError>
      return (router === undefined
        ? Effect.fail(notReachable(ref))
        : router.call(ref, msg, timeoutMs)) as Effect.Effect<Reply, CallError>
    },
    cast: (ref, msg) => {
      if (ref.nodeId === nodeId) return Effect.sync(() => void table.cast(ref.id, msg))
      return router === undefined ? Effect.void : router.cast(ref, msg)
    },
    stop: (ref, reason = "normal") => {
      if (ref.nodeId === nodeId) return table.stop(ref.id, reason)
      return router === undefined ? Effect.fail(notReachable(ref)) : router.stop(ref, reason)
    },
    watch: (ref, notify, owner) => {
      if (owner === undefined) return Either.right(table.monitors.watch(ref, notify))
      const proc = owner.nodeId === nodeId ? table.resolve(owner.id) : undefined
      if (proc === undefined || !proc.alive || proc.stopReason !== undefined) {
        return Either.left(new RemoteServerNotRunningError({ serverId: owner.id, nodeId: owner.nodeId }))
      }
      const ownerId = proc.id
      return Either.right(table.monitors.watch(ref, (down) => {
        // Noted before it is delivered (an idle owner handles it inside `signal`); `down`
        // completes when the owner takes it, so a demonitor before then withdraws both.
        table.monitors.queue(down.monitorId, () => notify(down))
        if (!table.signal(ownerId, down, down.monitorId)) table.monitors.handled(down.monitorId)
      }, ownerId))
    },
    unwatch: (id) => table.monitors.unwatch(id),
    link: (a, b) => Effect.suspend(() => linkEnds(a, b, (id, other) => table.links.link(id, other))),
    unlink: (a, b) => Effect.suspend(() => linkEnds(a, b, (id, other) => table.links.unlink(id, other))),
    send: (ref, msg) => {
      if (ref.nodeId === nodeId) return Effect.sync(() => void table.info(ref.id, msg))
      return router === undefined ? Effect.void : router.send(ref, msg)
    },
    processCount: () => table.count,
    whereis: (name) => Option.fromNullable(table.whereis(name))
  }
}

/** The table behind a runtime service, for the cluster's own machinery and the facade. */
const tables = new WeakMap<Service, ProcessTable>()

/** Remembers the table of a service built by {@link makeService}. */
export const register = (service: Service, table: ProcessTable): Service => {
  tables.set(service, table)
  return service
}

/** The table of a runtime service. */
export const tableOf = (service: Service): ProcessTable | undefined => tables.get(service)

/**
 * Starts one of the runtime's own processes (named under the reserved `noex.` prefix): it is
 * not counted nor listed as the user's, a link cannot take it down, and only
 * {@link stopSystem} stops it — a user's or a peer's stop is refused.
 */
export const startSystem = <State, CallMsg, CastMsg, Reply, R>(
  service: Service,
  behavior: GenServerBehavior<State, CallMsg, CastMsg, Reply, R>,
  options: { readonly name: string; readonly trapExit?: boolean | undefined }
): Effect.Effect<ServerRef, GenServerInitError | NameAlreadyRegisteredError, R> => {
  const table = tableOf(service)
  if (table === undefined) return service.start(behavior, options)
  return table.start(behavior as AnyBehavior, options.name, [], toMillis(defaults.initTimeout), {
    system: true,
    trapExit: options.trapExit
  })
}

/** Stops a process started by {@link startSystem} (any other process too). */
export const stopSystem = (
  service: Service,
  ref: ServerRef,
  reason: ExitReason
): Effect.Effect<void, RemoteServerNotRunningError | NodeNotReachableError> => {
  const table = tableOf(service)
  return table !== undefined && ref.nodeId === service.nodeId
    ? table.stop(ref.id, reason, true)
    : service.stop(ref, reason)
}
