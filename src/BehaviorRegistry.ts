/**
 * BehaviorRegistry: the behaviors this node can start on another node's request.
 * Functions cannot cross the wire, so a remote spawn names a behavior and the target
 * node looks it up here. Register every behavior on every node, before the node
 * accepts connections: `BehaviorRegistry.layer({ worker, cache })` does exactly that.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { Cluster } from "./cluster/Cluster.js"
import type { ExitReason } from "./ExitReason.js"
import type { Answer, GenServerRuntime } from "./GenServer.js"
import type { GlobalRegistry } from "./GlobalRegistry.js"
import type { ProcessGroups } from "./ProcessGroups.js"
import type { RemoteCall } from "./RemoteCall.js"
import type { RemoteSpawn } from "./RemoteSpawn.js"

/** A schema of any types: Schemas are invariant, so `never` sides need their own members. */
type AnySchema =
  | Schema.Schema<any, any>
  | Schema.Schema<any, never>
  | Schema.Schema<never, any>
  | Schema.Schema<never, never>

/**
 * A behavior that can be spawned by name, needing the services `R` from the context
 * (the registry's layer supplies them). Any `GenServerBehavior` fits, whatever its
 * message types, `never` included: handlers take `never` here because a registry only
 * ever hands them what a peer sent, checked by the behavior's own schemas.
 */
export interface RegisteredBehavior<R = never> {
  readonly init: (...args: ReadonlyArray<any>) => Answer<unknown, R>
  readonly handleCall: (msg: never, state: never) => Answer<readonly [unknown, unknown], R>
  readonly handleCast: (msg: never, state: never) => Answer<unknown, R>
  readonly handleInfo?: ((msg: never, state: never) => Answer<unknown, R>) | undefined
  readonly onError?: "reply" | "crash" | undefined
  readonly terminate?:
    | ((reason: ExitReason, state: never) => void | Promise<void> | Effect.Effect<void, never, R>)
    | undefined
  readonly schemas?: {
    readonly call?: AnySchema | undefined
    readonly cast?: AnySchema | undefined
    readonly reply?: AnySchema | undefined
  } | undefined
}

// A loosely typed (`any`) behavior, or an `any` requirement inferred from one, needs nothing:
// `any` would swallow every other requirement of the layer.
type ContextOf<A> = 0 extends 1 & A ? never
  : A extends Effect.Effect<any, any, infer R> ? (0 extends 1 & R ? never : R)
  : never
type ContextOfFn<F> = F extends (...args: any) => infer A ? ContextOf<A> : never

/**
 * What every process a node starts has without asking: the node's own services, so a
 * handler may call, cast to, spawn or look up other processes (`Cluster.layer` gives them).
 */
export type NodeProvided =
  | Cluster
  | GenServerRuntime
  | BehaviorRegistry
  | RemoteCall
  | RemoteSpawn
  | GlobalRegistry
  | ProcessGroups

/** The services a behavior's handlers need (the `R` of their Effects), beyond the node's own. */
export type Requirements<B> = B extends RegisteredBehavior<any> ? Exclude<
    | ContextOfFn<B["init"]>
    | ContextOfFn<B["handleCall"]>
    | ContextOfFn<B["handleCast"]>
    | ContextOfFn<NonNullable<B["handleInfo"]>>
    | ContextOfFn<NonNullable<B["terminate"]>>,
    NodeProvided
  >
  : never

/**
 * `behavior` with its services supplied from `context`: a registry holds behaviors
 * that need nothing more, since a spawn from another node has no context to offer.
 */
const provided = <R>(behavior: RegisteredBehavior<R>, context: Context.Context<R>): RegisteredBehavior => {
  const supply = (answer: unknown): any => Effect.isEffect(answer) ? Effect.provide(answer, context) : answer
  const { handleInfo, terminate } = behavior
  return {
    init: (...args) => supply(behavior.init(...args)),
    handleCall: (msg, state) => supply(behavior.handleCall(msg, state)),
    handleCast: (msg, state) => supply(behavior.handleCast(msg, state)),
    handleInfo: handleInfo === undefined ? undefined : (msg, state) => supply(handleInfo.call(behavior, msg, state)),
    onError: behavior.onError,
    terminate: terminate === undefined ? undefined : (reason, state) => supply(terminate.call(behavior, reason, state)),
    schemas: behavior.schemas
  }
}

/** A behavior name that is empty or already taken. */
export class BehaviorRegistrationError extends Schema.TaggedError<BehaviorRegistrationError>()(
  "BehaviorRegistrationError",
  { behaviorName: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `cannot register behavior '${this.behaviorName}': ${this.reason}`
  }
}

/** The registry of one node. */
export interface Service {
  /** Registers a behavior under a non-empty, unused name. */
  readonly register: (name: string, behavior: RegisteredBehavior) => Effect.Effect<void, BehaviorRegistrationError>
  /** The registered names, in registration order. */
  readonly getNames: Effect.Effect<ReadonlyArray<string>>
  /** Whether `name` is registered. */
  readonly has: (name: string) => Effect.Effect<boolean>
  /** The behavior registered under `name`. */
  readonly get: (name: string) => Option.Option<RegisteredBehavior>
}

/** The BehaviorRegistry service. */
export class BehaviorRegistry extends Context.Tag("noex-effect/BehaviorRegistry")<BehaviorRegistry, Service>() {}

/** An empty registry. */
export const make: Effect.Effect<Service> = Effect.sync(() => {
  const behaviors = new Map<string, RegisteredBehavior>()
  return {
    register: (name, behavior) =>
      Effect.suspend(() => {
        if (name.trim().length === 0) {
          return Effect.fail(new BehaviorRegistrationError({ behaviorName: name, reason: "the name is empty" }))
        }
        if (behaviors.has(name)) {
          return Effect.fail(
            new BehaviorRegistrationError({ behaviorName: name, reason: "the name is already registered" })
          )
        }
        behaviors.set(name, behavior)
        return Effect.void
      }),
    getNames: Effect.sync(() => Array.from(behaviors.keys())),
    has: (name) => Effect.sync(() => behaviors.has(name)),
    get: (name) => Option.fromNullable(behaviors.get(name))
  }
})

/**
 * A registry holding `behaviors` (name → behavior) from the start. The services their
 * handlers need are the layer's requirements: provide them to this layer
 * (`Layer.provide(DbLive)`), and every process spawned from it, by any node, gets them.
 */
export const layer = <const Behaviors extends Readonly<Record<string, RegisteredBehavior<any>>> = {}>(
  behaviors: Behaviors = {} as Behaviors
): Layer.Layer<BehaviorRegistry, BehaviorRegistrationError, Requirements<Behaviors[keyof Behaviors]>> =>
  Layer.effect(
    BehaviorRegistry,
    Effect.gen(function*() {
      const context = yield* Effect.context<Requirements<Behaviors[keyof Behaviors]>>()
      const registry = yield* make
      for (const [name, behavior] of Object.entries(behaviors)) {
        yield* registry.register(name, provided(behavior, context))
      }
      return registry
    })
  )

/** Registers a behavior on this node; the services it needs come from the caller's context, captured now. */
export const register = <R = never>(
  name: string,
  behavior: RegisteredBehavior<R>
): Effect.Effect<void, BehaviorRegistrationError, BehaviorRegistry | R> =>
  Effect.flatMap(
    Effect.context<R>(),
    (context) => Effect.flatMap(BehaviorRegistry, (r) => r.register(name, provided(behavior, context)))
  )

/** The registered behavior names. */
export const getNames: Effect.Effect<ReadonlyArray<string>, never, BehaviorRegistry> = Effect.flatMap(
  BehaviorRegistry,
  (r) => r.getNames
)

/** Whether a behavior is registered under `name`. */
export const has = (name: string): Effect.Effect<boolean, never, BehaviorRegistry> =>
  Effect.flatMap(BehaviorRegistry, (r) => r.has(name))
