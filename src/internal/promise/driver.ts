/**
 * What the Promise facade's namespaces run on: one facade node's way of running an
 * Effect as a Promise (a typed failure rejects with the error instance itself), of
 * holding a subscription open until it is cancelled or the node stops, and of holding a
 * scope open for something started through the facade (a distributed supervisor's
 * instance) until its handle, or the node, closes it.
 */
import { Cause, Effect, Exit, Scheduler, Scope, Stream } from "effect"
import type { ManagedRuntime } from "effect"
import type { ClusterServices } from "../../cluster/Cluster.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"

/** A facade callback: its result is awaited before the next event is delivered. */
export type Handler<A> = (event: A) => void | Promise<void>

/** What a facade namespace needs from its node. */
export interface Driver {
  /** Runs an effect; a typed failure rejects with the error instance itself. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, ClusterServices>) => Promise<A>
  /** Runs a synchronous effect; a typed failure is thrown as itself. */
  readonly runSync: <A, E>(effect: Effect.Effect<A, E, ClusterServices>) => A
  /** Runs an effect in the background; its failure is logged. */
  readonly fire: (effect: Effect.Effect<unknown, unknown, ClusterServices>) => void
  /** Runs a scoped effect until the returned function is called or the node stops. */
  readonly subscribe: (effect: Effect.Effect<void, never, ClusterServices | Scope.Scope>) => () => void
  /**
   * Delivers each element of `stream` to `handler`, in order, until the returned function
   * is called or the node stops. A handler that throws or rejects is logged; the next
   * element is delivered all the same.
   */
  readonly listen: <A, E>(stream: Stream.Stream<A, E, ClusterServices>, handler: Handler<A>, what: string) => () => void
  /**
   * Runs a scoped effect in a scope of its own, left open: `close` closes it (once; later
   * calls answer the same Promise), and the node closes it before it stops.
   */
  readonly scoped: <A, E>(
    effect: Effect.Effect<A, E, ClusterServices | Scope.Scope>
  ) => Promise<{ readonly value: A; readonly close: () => Promise<void> }>
}

/** The facade takes refs as plain objects (a ref read from JSON, a `SpawnResult`'s fields). */
export const asRef = (ref: { readonly id: string; readonly nodeId: string }): ServerRef => ({
  id: ref.id,
  nodeId: ref.nodeId as NodeId
})

/** Runs a user callback for one event; what it throws or rejects with is logged, not propagated. */
export const deliver = <A>(handler: Handler<A>, event: A, what: string): Effect.Effect<void> =>
  Effect.tryPromise({ try: async () => handler(event), catch: (error) => error }).pipe(
    Effect.catchAllCause((cause) => Effect.logWarning(`${what} callback failed`, cause))
  )

/** Throws what an exit failed with as the error itself (`instanceof` works on it). */
export const orThrow = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/**
 * Opens a scope, runs `effect` in it and leaves it open. A failed effect closes it at
 * once. The scope is closed on Effect's default runtime: its finalizers run with the
 * services they were added with, so closing needs nothing of the node's runtime.
 */
export const openScoped = async <A, E, R>(
  runPromiseExit: (effect: Effect.Effect<A, E, R>) => Promise<Exit.Exit<A, unknown>>,
  effect: Effect.Effect<A, E, R | Scope.Scope>
): Promise<{ readonly value: A; readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await runPromiseExit(Scope.extend(effect, scope) as Effect.Effect<A, E, R>)
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw Cause.squash(exit.cause)
  }
  let closing: Promise<void> | undefined
  const close = () => (closing ??= Effect.runPromise(Scope.close(scope, Exit.void)))
  return { value: exit.value, close }
}

/** A node's driver, and what its `stop()` does with what the driver holds open. */
export interface NodeDriver extends Driver {
  /** Cancels every subscription. */
  readonly unsubscribeAll: () => void
  /** Closes every scope `scoped` left open (a distributed supervisor hands its children over); never rejects. */
  readonly closeAll: () => Promise<void>
}

/**
 * The driver of one facade node. `current` is its runtime now (`undefined` when it is not
 * started); `live` is the same, throwing `ClusterNotStartedError` instead.
 */
export const makeDriver = (
  live: () => ManagedRuntime.ManagedRuntime<ClusterServices, unknown>,
  current: () => ManagedRuntime.ManagedRuntime<ClusterServices, unknown> | undefined,
  notStarted: () => Error
): NodeDriver => {
  const unsubscribers = new Set<() => void>()
  const closers = new Set<() => Promise<void>>()
  const run = async <A, E>(effect: Effect.Effect<A, E, ClusterServices>): Promise<A> =>
    orThrow(await live().runPromiseExit(effect))
  const subscribe = (effect: Effect.Effect<void, never, ClusterServices | Scope.Scope>): () => void => {
    const rt = live()
    // Run up to its first real wait before this returns (a forked fiber would subscribe a tick
    // later): an event published right after the call, by the caller's next line, is not missed.
    const scheduler = new Scheduler.SyncScheduler()
    const fiber = rt.runFork(Effect.scoped(Effect.zipRight(effect, Effect.never)), { scheduler })
    scheduler.flush()
    const off = () => {
      unsubscribers.delete(off)
      void rt.runPromise(fiber.interruptAsFork(fiber.id())).catch(() => {})
    }
    unsubscribers.add(off)
    return off
  }
  return {
    run,
    runSync: (effect) => orThrow(live().runSyncExit(effect)),
    fire: (effect) => void live().runFork(Effect.ignoreLogged(effect)),
    subscribe,
    listen: (stream, handler, what) =>
      subscribe(Effect.ignoreLogged(Stream.runForEach(stream, (event) => deliver(handler, event, what)))),
    scoped: async (effect) => {
      const rt = live()
      const opened = await openScoped((e) => rt.runPromiseExit(e), effect)
      const close = () => (closers.delete(close), opened.close())
      if (current() !== rt) {
        // The node stopped while this started: it goes with the node.
        await close()
        throw notStarted()
      }
      closers.add(close)
      return { value: opened.value, close }
    },
    unsubscribeAll: () => {
      for (const off of Array.from(unsubscribers)) off()
    },
    closeAll: () => Promise.allSettled(Array.from(closers, (close) => close())).then(() => undefined)
  }
}
