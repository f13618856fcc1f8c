import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Ref, Schema } from "effect"
import {
  BehaviorRegistrationError,
  BehaviorRegistry,
  GenServer,
  MemoryNetwork,
  RemoteCall,
  RemoteSpawn
} from "../src/index.js"
import type { NodeId, ServerRef } from "../src/index.js"
import { settle, simId, startNode } from "./support/sim.js"

interface WorkerConfig {
  readonly maxConcurrency: number
  readonly timeoutMs: number
}

// The guide's behavior factory pattern.
const createWorkerBehavior = (config: WorkerConfig) =>
  GenServer.behavior({
    init: () => ({ tasks: [] as Array<string>, config }),
    handleCall: (_: "config", state: { tasks: Array<string>; config: WorkerConfig }) => [state.config, state] as const,
    handleCast: (_: unknown, state: { tasks: Array<string>; config: WorkerConfig }) => state
  })
const workerBehavior = createWorkerBehavior({ maxConcurrency: 10, timeoutMs: 30000 })

describe("BehaviorRegistry", () => {
  it.effect("registers behaviors, lists their names in order and answers has()", () =>
    Effect.gen(function*() {
      yield* BehaviorRegistry.register("cache", workerBehavior)
      expect(yield* BehaviorRegistry.getNames).toEqual(["worker", "cache"])
      expect(yield* BehaviorRegistry.has("worker")).toBe(true)
      expect(yield* BehaviorRegistry.has("nope")).toBe(false)
    }).pipe(Effect.provide(BehaviorRegistry.layer({ worker: workerBehavior }))))

  it.effect("refuses an empty or duplicate name with BehaviorRegistrationError", () =>
    Effect.gen(function*() {
      const empty = yield* Effect.flip(BehaviorRegistry.register("  ", workerBehavior))
      expect(empty).toBeInstanceOf(BehaviorRegistrationError)
      expect(empty.reason).toContain("empty")
      const duplicate = yield* Effect.flip(BehaviorRegistry.register("worker", workerBehavior))
      expect(duplicate.reason).toContain("already registered")
      const layer = yield* Effect.flip(Layer.build(BehaviorRegistry.layer({ "": workerBehavior })).pipe(Effect.scoped))
      expect(layer._tag).toBe("BehaviorRegistrationError")
    }).pipe(Effect.provide(BehaviorRegistry.layer({ worker: workerBehavior }))))

  it.scoped("spawns a factory-made behavior on another node with its configuration baked in", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { behaviors: { worker: workerBehavior } })
      const b = yield* startNode(net, "b", {
        behaviors: { worker: createWorkerBehavior({ maxConcurrency: 2, timeoutMs: 5 }) },
        seeds: [simId("a")]
      })
      yield* settle(200)
      const spawned = yield* a.run(RemoteSpawn.spawn("worker", b.id))
      expect(yield* a.run(RemoteCall.call({ id: spawned.serverId, nodeId: b.id }, "config"))).toEqual({
        maxConcurrency: 2,
        timeoutMs: 5
      })
    }))

  it.scoped("a behavior whose handlers need a service gets it from the registry's layer, on a spawn from another node", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const LedgerLive = Layer.succeed(Ledger, {
        opening: Effect.succeed(100),
        record: (entry) => Ref.update(seen, (entries) => [...entries, entry])
      })
      const registry = BehaviorRegistry.layer({ account, auditor }).pipe(Layer.provide(LedgerLive))
      // The layer's type names what its behaviors need: without the Ledger it does not build.
      // @ts-expect-error Ledger is missing
      const unprovided: Layer.Layer<BehaviorRegistry.BehaviorRegistry, BehaviorRegistrationError> = BehaviorRegistry
        .layer({ account })
      expect(unprovided).toBeDefined()
      const a = yield* startNode(net, "a", {})
      const b = yield* startNode(net, "b", { registry, seeds: [simId("a")] })
      yield* settle(200)
      const spawned = yield* a.run(RemoteSpawn.spawn("account", b.id))
      const ref = { id: spawned.serverId, nodeId: b.id }
      expect(yield* a.run(RemoteCall.call(ref, { deposit: 5 }))).toBe(105)
      yield* a.run(RemoteCall.cast(ref, "audit"))
      expect(yield* a.run(RemoteCall.call(ref, { deposit: 1 }))).toBe(106)
      expect(yield* Ref.get(seen)).toEqual(["deposit 5", "audit at 105", "deposit 1"])
      // A behavior with no casts at all (`never`) registers and answers too.
      const auditorRef = yield* a.run(RemoteSpawn.spawn("auditor", b.id))
      expect(yield* a.run(RemoteCall.call({ id: auditorRef.serverId, nodeId: b.id }, "opening"))).toBe(100)
    }))

  it.effect("register captures the services of its caller's context", () =>
    Effect.gen(function*() {
      yield* BehaviorRegistry.register("account", account).pipe(
        Effect.provideService(Ledger, { opening: Effect.succeed(7), record: () => Effect.void })
      )
      const registry = yield* BehaviorRegistry.BehaviorRegistry
      const ref = yield* GenServer.start(Option.getOrThrow(registry.get("account")) as GenServer.AnyBehavior)
      expect(yield* GenServer.call(ref, { deposit: 1 })).toBe(8)
    }).pipe(Effect.provide(Layer.merge(BehaviorRegistry.layer(), GenServer.layer))))
})

/** A service the account's handlers need. */
class Ledger extends Context.Tag("test/Ledger")<Ledger, {
  readonly opening: Effect.Effect<number>
  readonly record: (entry: string) => Effect.Effect<void>
}>() {}

const account = GenServer.behavior({
  init: () => Effect.flatMap(Ledger, (ledger) => ledger.opening),
  handleCall: (msg: { readonly deposit: number }, balance: number) =>
    Effect.flatMap(
      Ledger,
      (ledger) =>
        Effect.as(ledger.record(`deposit ${msg.deposit}`), [balance + msg.deposit, balance + msg.deposit] as const)
    ),
  handleCast: (_msg: "audit", balance: number) =>
    Effect.flatMap(Ledger, (ledger) => Effect.as(ledger.record(`audit at ${balance}`), balance))
})

const auditor = GenServer.behavior({
  init: () => Effect.flatMap(Ledger, (ledger) => ledger.opening),
  handleCall: (_msg: "opening", opening: number) => [opening, opening] as const,
  handleCast: (_msg: never, opening: number) => opening,
  schemas: { call: Schema.Literal("opening"), cast: Schema.Never }
})

describe("BehaviorRegistry.layer, loosely typed behaviors", () => {
  it("a behavior typed `any` requires nothing, so it cannot hide what the others require", () => {
    type Needs<L> = L extends Layer.Layer<any, any, infer R> ? R : never
    type IsAny<T> = 0 extends 1 & T ? true : false
    const loose = GenServer.behavior({
      init: () => 0,
      handleCall: (_: unknown, s: number) => [s, s] as const,
      handleCast: (_: unknown, s: number) => s
    }) as GenServer.AnyBehavior
    const layer = BehaviorRegistry.layer({ loose })
    // Checked by the compiler: with `any` here, a missing service anywhere in the layer would go unreported.
    const requiresAny: IsAny<Needs<typeof layer>> = false
    expect([requiresAny, Layer.isLayer(layer)]).toEqual([false, true])
  })
})

/** Answers with what the process named in the message answers: a handler that calls other processes. */
const relay = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: { readonly ask: ServerRef }, relayed: number) =>
    Effect.map(GenServer.call<number>(msg.ask, "get"), (answer) => [answer, relayed + 1] as const),
  handleCast: (_: never, relayed: number) => relayed
})

describe("BehaviorRegistry.layer, behaviors that use the node", () => {
  it.scoped("a handler calling other processes needs nothing provided: the node's own services reach every spawned process", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const registry: Layer.Layer<BehaviorRegistry.BehaviorRegistry, BehaviorRegistrationError> = BehaviorRegistry
        .layer({
          relay,
          counter: GenServer.behavior({
            init: (n: number) => n,
            handleCall: (_: "get", n: number) => [n, n] as const,
            handleCast: (_: never, n: number) => n
          })
        })
      const a = yield* startNode(net, "a", { registry })
      const b = yield* startNode(net, "b", { registry, seeds: [simId("a")] })
      yield* settle()
      const onB = yield* a.run(RemoteSpawn.spawn("relay", b.id))
      const relayRef = { id: onB.serverId, nodeId: b.id }
      // Beside the relay on b, and back on the caller's node a.
      const there = yield* a.run(RemoteSpawn.spawn("counter", b.id, { args: [7] }))
      const here = yield* a.run(RemoteSpawn.spawn("counter", a.id, { args: [9] }))
      const ask = (target: { readonly serverId: string; readonly nodeId: NodeId }) =>
        a.run(RemoteCall.call<number>(relayRef, { ask: { id: target.serverId, nodeId: target.nodeId } }))
      expect(yield* ask(there)).toBe(7)
      expect(yield* ask(here)).toBe(9)
    }))
})
