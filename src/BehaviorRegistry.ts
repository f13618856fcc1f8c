/**
 * BehaviorRegistry: the behaviors this node can start on another node's request.
 * Functions cannot cross the wire, so a remote spawn names a behavior and the target
 * node looks it up here. Register every behavior on every node, before the node
 * accepts connections: `BehaviorRegistry.layer({ worker, cache })` does exactly that.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { GenServerBehavior } from "./GenServer.js"

/** A behavior that can be spawned by name: it needs nothing from the context. */
export type RegisteredBehavior = GenServerBehavior<any, any, any, any, never>

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

/** A registry holding `behaviors` (name → behavior) from the start. */
export const layer = (
  behaviors: Readonly<Record<string, RegisteredBehavior>> = {}
): Layer.Layer<BehaviorRegistry, BehaviorRegistrationError> =>
  Layer.effect(
    BehaviorRegistry,
    Effect.gen(function*() {
      const registry = yield* make
      for (const [name, behavior] of Object.entries(behaviors)) yield* registry.register(name, behavior)
      return registry
    })
  )

/** Registers a behavior on this node. */
export const register = (
  name: string,
  behavior: RegisteredBehavior
): Effect.Effect<void, BehaviorRegistrationError, BehaviorRegistry> =>
  Effect.flatMap(BehaviorRegistry, (r) => r.register(name, behavior))

/** The registered behavior names. */
export const getNames: Effect.Effect<ReadonlyArray<string>, never, BehaviorRegistry> = Effect.flatMap(
  BehaviorRegistry,
  (r) => r.getNames
)

/** Whether a behavior is registered under `name`. */
export const has = (name: string): Effect.Effect<boolean, never, BehaviorRegistry> =>
  Effect.flatMap(BehaviorRegistry, (r) => r.has(name))
