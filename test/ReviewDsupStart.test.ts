/**
 * Review reproduction: DistributedSupervisor.start failing after its instance process
 * started leaves the process (and the instance) behind. Now: the name and options are
 * checked before anything starts (a typed `GenServerInitError`), and a start that fails
 * later closes what it started.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { BehaviorRegistry, DistributedSupervisor, GenServer, MemoryNetwork } from "../src/index.js"
import { settle, startNode } from "./support/sim.js"

describe("Review: DistributedSupervisor.start", () => {
  it.scoped("a start that fails leaves no instance behind, and fails with a typed error", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { registry: BehaviorRegistry.layer({}) })
      yield* settle(100)
      const name = "s".repeat(2000)
      const first = yield* Effect.exit(a.run(Effect.scoped(DistributedSupervisor.start(name))))
      const second = yield* Effect.exit(a.run(Effect.scoped(DistributedSupervisor.start(name))))
      const leftover = yield* a.run(GenServer.whereis(`noex.dsup.${name}`))
      expect({
        firstDied: Exit.isFailure(first) && first.cause._tag === "Die",
        secondCause: Exit.isFailure(second) ? second.cause._tag : "ok",
        leftover: leftover._tag
      }).toEqual({ firstDied: false, secondCause: "Fail", leftover: "None" })
    }))

  it.scoped("invalid options fail typed, before anything starts", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { registry: BehaviorRegistry.layer({}) })
      yield* settle(100)
      const invalid: ReadonlyArray<DistributedSupervisor.Options> = [
        { maxRestarts: -1 },
        { maxRestarts: 1.5 },
        { period: "0 millis" },
        { stableAfter: "infinity" as any },
        { partition: "majority" as any },
        { placement: "random" as any },
        // Past the process-group limit every child's join would die in the instance.
        { group: "g".repeat(2000) }
      ]
      const before = yield* a.run(GenServer.processCount)
      const failures = yield* Effect.forEach(invalid, (options) =>
        Effect.map(
          Effect.exit(a.run(Effect.scoped(DistributedSupervisor.start("pool", options)))),
          (exit) =>
            Exit.isFailure(exit)
              ? Option.getOrUndefined(Cause.failureOption(exit.cause))?._tag
              : "started"
        ))
      expect(failures).toEqual(invalid.map(() => "GenServerInitError"))
      expect(yield* a.run(GenServer.whereis("noex.dsup.pool"))).toEqual(Option.none())
      expect(yield* a.run(GenServer.processCount)).toBe(before)
    }))

  it.scoped("a second start of a running supervisor fails typed and leaves the first one serving", () =>
    Effect.gen(function*() {
      const worker = GenServer.behavior({
        init: () => 0,
        handleCall: (_: "ping", n: number) => ["pong", n] as const,
        handleCast: (_: unknown, n: number) => n
      })
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { registry: BehaviorRegistry.layer({ worker }) })
      yield* settle(100)
      const first = yield* a.run(DistributedSupervisor.start("pool"))
      const second = yield* Effect.exit(a.run(Effect.scoped(DistributedSupervisor.start("pool"))))
      expect(Exit.isFailure(second) && Option.getOrUndefined(Cause.failureOption(second.cause))?._tag)
        .toBe("NameAlreadyRegisteredError")
      expect(yield* a.run(GenServer.whereis("noex.dsup.pool"))).toEqual(Option.some(first))
      yield* a.run(DistributedSupervisor.startChild("pool", { id: "w", behavior: "worker" }))
      expect(yield* a.run(DistributedSupervisor.call("pool", "w", "ping"))).toBe("pong")
    }))
})
