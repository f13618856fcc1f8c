import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import {
  BehaviorRegistrationError,
  BehaviorRegistry,
  GenServer,
  MemoryNetwork,
  RemoteCall,
  RemoteSpawn
} from "../src/index.js"
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
})
