/**
 * GlobalRegistry: names that every node of the cluster resolves to the same process.
 * Every node holds a replica; a registration is visible on every connected node
 * within one round trip, and a node that joins receives each node's names when its
 * link comes up. A name disappears everywhere when it is unregistered, when its
 * process ends (for any reason) and when its node goes down. Two live registrations
 * of one name — possible only across a partition or in a race — are resolved the same
 * way on every node without wall clocks; the loser is stopped with reason
 * `{ conflict: name }` (or as the `onNameConflict` strategy says). See
 * `docs/global-registry.md` for what a reader observes during and after a partition.
 */
import { Context, Effect } from "effect"
import { Stream as StreamModule } from "effect"
import type { Option, Stream } from "effect"
import type {
  GlobalNameConflictError,
  GlobalNameNotFoundError,
  MessageTooLargeError,
  NodeNotReachableError,
  RemoteServerNotRunningError
} from "./errors.js"
import { accessor } from "./internal/tracing.js"
import type { ServerRef } from "./ServerRef.js"

/** What the registry reports. */
export type RegistryEvent =
  | { readonly _tag: "Registered"; readonly name: string; readonly ref: ServerRef }
  | { readonly _tag: "Unregistered"; readonly name: string; readonly ref: ServerRef }
  | { readonly _tag: "ConflictResolved"; readonly name: string; readonly winner: ServerRef; readonly loser: ServerRef }

/** A conflict as handed to a custom strategy, on the node that owns the loser. */
export interface NameConflict {
  readonly name: string
  readonly winner: ServerRef
  readonly loser: ServerRef
}

/**
 * What the loser's node does with the losing process: `"stop"` (default) stops it with
 * reason `{ conflict: name }`; `"keep"` leaves it running, unregistered; a function
 * decides (it runs on the loser's node; its failures are logged).
 */
export type ConflictStrategy = "stop" | "keep" | ((conflict: NameConflict) => Effect.Effect<void, unknown>)

/** What a registration can fail with. */
export type RegisterError =
  | GlobalNameConflictError
  | RemoteServerNotRunningError
  | NodeNotReachableError
  | MessageTooLargeError

/** The GlobalRegistry of one node. */
export interface Service {
  /**
   * Registers `name` for `ref` cluster-wide. Registering the same ref again is a no-op;
   * a name held by another live process fails with `GlobalNameConflictError`. A ref on
   * another node is registered by that node (`NodeNotReachableError` if it is not connected).
   */
  readonly register: (
    name: string,
    ref: ServerRef
  ) => Effect.Effect<
    void,
    GlobalNameConflictError | RemoteServerNotRunningError | NodeNotReachableError | MessageTooLargeError
  >
  /**
   * The process registered under `name`, or, when there is none, the one `start` makes,
   * registered: a cluster lock lets one contender at a time run `start`, so while every
   * contender sees the same members exactly one singleton starts. Across a partition each
   * side may start one; after the heal the registry keeps one and stops the other.
   */
  readonly registerOrWhereis: <E, R>(
    name: string,
    start: Effect.Effect<ServerRef, E, R>
  ) => Effect.Effect<ServerRef, E | RegisterError, R>
  /** Removes `name` on every node (done by the node owning it); a name not registered is a no-op. */
  readonly unregister: (name: string) => Effect.Effect<void, NodeNotReachableError>
  /** The process registered under `name`, as this node's replica knows it. */
  readonly whereis: (name: string) => Effect.Effect<Option.Option<ServerRef>>
  /** Like {@link whereis}, failing with `GlobalNameNotFoundError` when nothing is registered. */
  readonly lookup: (name: string) => Effect.Effect<ServerRef, GlobalNameNotFoundError>
  /** Whether `name` is registered. */
  readonly isRegistered: (name: string) => Effect.Effect<boolean>
  /** Every registered name. */
  readonly getNames: Effect.Effect<ReadonlyArray<string>>
  /** `Registered`, `Unregistered` and `ConflictResolved`, from subscription on. */
  readonly events: Stream.Stream<RegistryEvent>
}

/** The GlobalRegistry service. */
export class GlobalRegistry extends Context.Tag("noex-effect/GlobalRegistry")<GlobalRegistry, Service>() {}

/** Registers `name` for `ref` cluster-wide. */
export const register: (
  name: string,
  ref: ServerRef
) => Effect.Effect<
  void,
  GlobalNameConflictError | RemoteServerNotRunningError | NodeNotReachableError | MessageTooLargeError,
  GlobalRegistry
> = accessor(
  "GlobalRegistry.register",
  GlobalRegistry,
  (r, name: string, ref: ServerRef) => r.register(name, ref)
)

/**
 * The singleton registered under `name`, started by `start` when there is none (Erlang's
 * `global:trans` around `whereis_name` and `register_name`): while the contenders see the
 * same members, exactly one of them runs `start`; the others answer its ref. `start`
 * makes the process (any node); it is registered before the lock is released. A
 * partition lets each side start one: the heal keeps one (docs/global-registry.md).
 */
export const registerOrWhereis = <E, R>(
  name: string,
  start: Effect.Effect<ServerRef, E, R>
): Effect.Effect<ServerRef, E | RegisterError, GlobalRegistry | R> =>
  Effect.flatMap(GlobalRegistry, (r) => r.registerOrWhereis(name, start))

/** Removes `name` cluster-wide. */
export const unregister = (name: string): Effect.Effect<void, NodeNotReachableError, GlobalRegistry> =>
  Effect.flatMap(GlobalRegistry, (r) => r.unregister(name))

/** The process registered under `name`. */
export const whereis = (name: string): Effect.Effect<Option.Option<ServerRef>, never, GlobalRegistry> =>
  Effect.flatMap(GlobalRegistry, (r) => r.whereis(name))

/** The process registered under `name`, or `GlobalNameNotFoundError`. */
export const lookup = (name: string): Effect.Effect<ServerRef, GlobalNameNotFoundError, GlobalRegistry> =>
  Effect.flatMap(GlobalRegistry, (r) => r.lookup(name))

/** Whether `name` is registered. */
export const isRegistered = (name: string): Effect.Effect<boolean, never, GlobalRegistry> =>
  Effect.flatMap(GlobalRegistry, (r) => r.isRegistered(name))

/** Every registered name. */
export const getNames: Effect.Effect<ReadonlyArray<string>, never, GlobalRegistry> = Effect.flatMap(
  GlobalRegistry,
  (r) => r.getNames
)

/** The registry's events. */
export const events: Stream.Stream<RegistryEvent, never, GlobalRegistry> = StreamModule.unwrap(
  Effect.map(GlobalRegistry, (r) => r.events)
)
