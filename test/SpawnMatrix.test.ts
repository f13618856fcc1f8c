/**
 * Every way a spawn can go, on the in-memory network: {sync, Promise, Effect} init ×
 * {none, local, global} registration × {named, anonymous} × {success, init failure,
 * initTimeout, caller timeout}, aimed at another node and at the caller's own node.
 * Each row asserts the error class, that `init` ran exactly once, that a name the
 * spawn did not end up holding is free at once, and that the target's process count
 * is back where it was (after the slow part of a timed-out init would have ended).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Option } from "effect"
import { GenServer, GlobalRegistry, MemoryNetwork as Net, RemoteSpawn } from "../src/index.js"
import type { MemoryNetwork } from "../src/index.js"
import { makeProbe, SLOW_INIT_MS } from "./support/probe.js"
import type { InitKind, InitOutcome } from "./support/probe.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

/** Slow Promise inits wait here until the test lets them finish (simulated time does not move Promises). */
const gates: Array<() => void> = []
const probe = makeProbe(() => new Promise<void>((resolve) => gates.push(resolve)))
const releaseGates = Effect.sync(() => {
  for (const open of gates.splice(0)) open()
})

const behaviors = { probe: probe.behavior }

const pair = (net: MemoryNetwork) =>
  Effect.gen(function*() {
    const a = yield* startNode(net, "a", { behaviors })
    const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")] })
    yield* settle(200, 25)
    return { a, b }
  })

type Ending = "success" | "init failure" | "initTimeout" | "caller timeout"
type Registration = "none" | "local" | "global"

const outcomeOf: Record<Ending, InitOutcome> = {
  success: "ok",
  "init failure": "fail",
  initTimeout: "slow",
  "caller timeout": "slow"
}
const errorOf: Record<Ending, string | undefined> = {
  success: undefined,
  "init failure": "RemoteSpawnInitError",
  initTimeout: "RemoteSpawnInitError",
  "caller timeout": "RemoteSpawnTimeoutError"
}

interface Row {
  readonly target: "remote" | "local"
  readonly kind: InitKind
  readonly registration: Registration
  readonly named: boolean
  readonly ending: Ending
}

const rows: Array<Row> = []
for (const target of ["remote", "local"] as const) {
  for (const kind of ["sync", "promise", "effect"] as const) {
    for (const registration of ["none", "local", "global"] as const) {
      for (const named of [true, false]) {
        for (const ending of ["success", "init failure", "initTimeout", "caller timeout"] as const) {
          // A synchronous init has finished before any timer could fire.
          if (kind === "sync" && (ending === "initTimeout" || ending === "caller timeout")) continue
          rows.push({ target, kind, registration, named, ending })
        }
      }
    }
  }
}

let keys = 0

/** What `name` resolves to on `node`: locally there, and in the global registry as `node` sees it. */
const lookups = (node: SimNode, target: SimNode, name: string) =>
  Effect.all({
    local: target.run(GenServer.whereis(name)),
    global: node.run(GlobalRegistry.whereis(name))
  })

const runRow = (row: Row) =>
  Effect.gen(function*() {
    const { a, b } = yield* pair(yield* Net.make)
    const target = row.target === "remote" ? b : a
    const key = `k${++keys}`
    const name = row.named ? `name-${key}` : undefined
    const spawnProbe = (
      args: { key: string; kind: InitKind; outcome: InitOutcome },
      initTimeout: number,
      timeout: number
    ) =>
      a.run(
        RemoteSpawn.spawn("probe", target.id, {
          args: [args],
          name,
          registration: row.registration,
          initTimeout,
          timeout
        })
      )
    const before = yield* target.run(GenServer.processCount)

    const spawning = yield* Effect.fork(
      Effect.either(
        spawnProbe(
          { key, kind: row.kind, outcome: outcomeOf[row.ending] },
          row.ending === "initTimeout" ? 100 : 5000,
          row.ending === "caller timeout" ? 100 : 10_000
        )
      )
    )
    yield* settle(300, 50)
    const result = yield* Fiber.join(spawning)
    const expected = errorOf[row.ending]
    if (expected === undefined) {
      expect(Either.isRight(result) ? "ok" : result.left._tag).toBe("ok")
    } else {
      expect(Either.isLeft(result) ? result.left._tag : "ok").toBe(expected)
    }

    // What the name resolves to now.
    const registers = row.named && row.registration !== "none"
    if (name !== undefined) {
      const seen = yield* lookups(a, target, name)
      const held = Either.isRight(result) && registers
      const ref = Either.isRight(result) ? { id: result.right.serverId, nodeId: result.right.nodeId } : undefined
      expect(Option.getOrUndefined(seen.local)).toEqual(held && row.registration === "local" ? ref : undefined)
      expect(Option.getOrUndefined(seen.global)).toEqual(held && row.registration === "global" ? ref : undefined)
      // A name the spawn does not hold is free at once: the same spawn with a quick init succeeds.
      const again = yield* Effect.either(spawnProbe({ key: `${key}-again`, kind: "sync", outcome: "ok" }, 5000, 10_000))
      if (held) expect(Either.isLeft(again) ? again.left._tag : "ok").toBe("RemoteSpawnRegistrationError")
      else {
        expect(Either.isRight(again) ? "ok" : again.left._tag).toBe("ok")
        if (Either.isRight(again)) yield* a.run(GenServer.stop({ id: again.right.serverId, nodeId: target.id }))
      }
    }

    // Let every slow init reach its end: its late result must not bring a process back.
    yield* releaseGates
    yield* settle(SLOW_INIT_MS + 500, 100)
    expect(probe.runs.get(key)).toBe(1)
    expect(yield* target.run(GenServer.processCount)).toBe(before + (Either.isRight(result) ? 1 : 0))
    // A Promise init cannot be interrupted: the state it finally produced is terminated, never registered.
    const lateState = row.kind === "promise" && outcomeOf[row.ending] === "slow"
    expect(probe.terminated.filter((k) => k === key).length).toBe(lateState ? 1 : 0)
    if (Either.isRight(result)) {
      yield* a.run(GenServer.stop({ id: result.right.serverId, nodeId: target.id }))
      expect(yield* target.run(GenServer.processCount)).toBe(before)
      if (name !== undefined) {
        const seen = yield* lookups(a, target, name)
        expect(Option.isNone(seen.local) && Option.isNone(seen.global)).toBe(true)
      }
    }
  })

describe("RemoteSpawn matrix (simulated)", () => {
  for (const row of rows) {
    const title = `${row.target}: ${row.kind} init, registration '${row.registration}', ${
      row.named ? "named" : "anonymous"
    }: ${row.ending}`
    it.scoped(title, () => runRow(row))
  }
})

describe("RemoteSpawn when the target shuts down during init (simulated)", () => {
  for (const kind of ["promise", "effect"] as const) {
    it.scoped(`fails a ${kind}-init spawn with NodeNotReachableError, and nothing of it survives`, () =>
      Effect.gen(function*() {
        const { a, b } = yield* pair(yield* Net.make)
        const key = `k${++keys}`
        const spawning = yield* Effect.fork(
          Effect.flip(
            a.run(
              RemoteSpawn.spawn("probe", b.id, {
                args: [{ key, kind, outcome: "slow" }],
                name: `name-${key}`,
                registration: "local"
              })
            )
          )
        )
        yield* settle(100, 50)
        yield* b.stop
        yield* settle(100, 50)
        expect(yield* Fiber.join(spawning)).toMatchObject({ _tag: "NodeNotReachableError", nodeId: b.id })
        yield* releaseGates
        yield* settle(SLOW_INIT_MS + 500, 100)
        expect(probe.runs.get(key)).toBe(1)
        // The Effect init was interrupted; the Promise init's late state was terminated, not registered.
        expect(probe.terminated.filter((k) => k === key).length).toBe(kind === "promise" ? 1 : 0)
        expect(yield* b.run(GenServer.processCount)).toBe(0)
      }))
  }

  it.effect("fails a local start in init with GenServerInitError when its runtime closes, and frees the name", () =>
    Effect.gen(function*() {
      const key = `k${++keys}`
      const starting = yield* Effect.scoped(
        Effect.gen(function*() {
          const rt = yield* GenServer.make()
          const fiber = yield* Effect.fork(
            Effect.flip(rt.start(probe.behavior, { name: "held", args: [{ key, kind: "promise", outcome: "slow" }] }))
          )
          yield* Effect.yieldNow()
          return fiber
        })
      )
      const error = yield* Fiber.join(starting)
      expect(error).toMatchObject({ _tag: "GenServerInitError" })
      expect(error.message).toContain("shutting down")
      yield* releaseGates
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      expect(probe.runs.get(key)).toBe(1)
      expect(probe.terminated.filter((k) => k === key).length).toBe(1)
    }))
})

describe("RemoteSpawn of a name that is taken (simulated)", () => {
  for (const target of ["remote", "local"] as const) {
    for (const kind of ["sync", "promise", "effect"] as const) {
      for (const registration of ["local", "global"] as const) {
        it.scoped(`${target}: ${kind} init, registration '${registration}': fails without running init, and the holder keeps it`, () =>
          Effect.gen(function*() {
            const { a, b } = yield* pair(yield* Net.make)
            const node = target === "remote" ? b : a
            const key = `k${++keys}`
            const name = `name-${key}`
            const spawn = (args: { key: string; kind: InitKind; outcome: InitOutcome }) =>
              a.run(RemoteSpawn.spawn("probe", node.id, { args: [args], name, registration }))
            const holder = yield* spawn({ key: `${key}-holder`, kind: "sync", outcome: "ok" })
            yield* settle(50, 25)
            const before = yield* node.run(GenServer.processCount)
            const clash = yield* Effect.flip(spawn({ key, kind, outcome: "ok" }))
            expect(clash).toMatchObject({ _tag: "RemoteSpawnRegistrationError", name, nodeId: node.id })
            expect(probe.runs.get(key)).toBeUndefined()
            expect(yield* node.run(GenServer.processCount)).toBe(before)
            const seen = yield* lookups(a, node, name)
            expect(Option.getOrUndefined(registration === "local" ? seen.local : seen.global)?.id).toBe(holder.serverId)
          }))
      }
    }
  }

  for (const kind of ["promise", "effect"] as const) {
    it.scoped(`fails a second global spawn of a name while the first is still in its ${kind} init, without running init`, () =>
      Effect.gen(function*() {
        const { a, b } = yield* pair(yield* Net.make)
        const key = `k${++keys}`
        const name = `name-${key}`
        const spawn = (k: string, outcome: InitOutcome) =>
          a.run(RemoteSpawn.spawn("probe", b.id, { args: [{ key: k, kind, outcome }], name, registration: "global" }))
        const first = yield* Effect.fork(spawn(`${key}-first`, "slow"))
        yield* settle(50, 25)
        const second = yield* Effect.flip(spawn(key, "ok"))
        expect(second).toMatchObject({ _tag: "RemoteSpawnRegistrationError", name })
        expect(probe.runs.get(key)).toBeUndefined()
        yield* releaseGates
        yield* settle(SLOW_INIT_MS + 200, 100)
        const held = yield* Fiber.join(first)
        expect(Option.getOrUndefined(yield* a.run(GlobalRegistry.whereis(name)))?.id).toBe(held.serverId)
      }))
  }
})
