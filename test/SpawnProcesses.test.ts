/**
 * Spawns with asynchronous inits across two real OS processes over TCP, and user
 * code that rejects: the target runs with `--unhandled-rejections=strict`, so any
 * Promise of a behavior whose rejection nobody handled would end it.
 */
import { Effect, Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { GenServer, GlobalRegistry, RemoteCall, RemoteSpawn } from "../src/index.js"
import type { NodeId } from "../src/index.js"
import type { InitKind, InitOutcome } from "./support/probe.js"
import { eventually, startNodeProcess, useNodeProcesses } from "./support/processes.js"
import type { NodeProcess } from "./support/processes.js"
import { asNode, refOf } from "./support/tester.js"

useNodeProcesses()

const strictNode = (name: string) =>
  startNodeProcess({ nodeName: name, port: 0, heartbeatInterval: 200 }, 30_000, {
    nodeFlags: ["--unhandled-rejections=strict"]
  })

const processCount = async (node: NodeProcess) => (await node.command({ cmd: "processCount" })).count as number

/** Long enough to outlast the 100 ms timeouts below, short enough to keep the test quick. */
const SLOW_MS = 600

type Ending = "success" | "init failure" | "initTimeout" | "caller timeout"
const endings: ReadonlyArray<readonly [Ending, InitOutcome, string | undefined]> = [
  ["success", "ok", undefined],
  ["init failure", "fail", "RemoteSpawnInitError"],
  ["initTimeout", "slow", "RemoteSpawnInitError"],
  ["caller timeout", "slow", "RemoteSpawnTimeoutError"]
]

describe("remote spawn with an async init, across OS processes", () => {
  it(
    "runs init once per spawn and answers each row as the contract says, leaving no name or process behind",
    async () => {
      const b = await strictNode("b")
      const baseline = await processCount(b)
      const keys: Array<string> = []
      /** Slow Promise inits whose spawn ended first: their late state must reach `terminate`, once. */
      const latePromise: Array<string> = []
      /** Slow Effect inits whose spawn ended first: interrupted, so they never produce a state. */
      const interrupted: Array<string> = []
      const failures: Array<string> = []
      await asNode(
        [b.id],
        Effect.gen(function*() {
          const target = b.id as NodeId
          let n = 0
          for (const kind of ["promise", "effect"] as const satisfies ReadonlyArray<InitKind>) {
            for (const registration of ["none", "local", "global"] as const) {
              for (const named of [true, false]) {
                for (const [ending, outcome, expected] of endings) {
                  const row = `${kind} init, '${registration}', ${named ? "named" : "anonymous"}, ${ending}`
                  const key = `p${++n}`
                  keys.push(key)
                  if (outcome === "slow") (kind === "promise" ? latePromise : interrupted).push(key)
                  const name = named ? `name-${key}` : undefined
                  const spawn = (args: unknown, initTimeout: number, timeout: number) =>
                    RemoteSpawn.spawn("probe", target, { args: [args], name, registration, initTimeout, timeout })
                  const result = yield* Effect.either(
                    spawn(
                      { key, kind, outcome, slowMs: SLOW_MS },
                      ending === "initTimeout" ? 100 : 5000,
                      ending === "caller timeout" ? 100 : 10_000
                    )
                  )
                  const got = Either.isRight(result) ? "ok" : result.left._tag
                  if (got !== (expected ?? "ok")) failures.push(`${row}: expected ${expected ?? "ok"}, got ${got}`)
                  if (name === undefined) {
                    if (Either.isRight(result)) yield* GenServer.stop(refOf(result.right))
                    continue
                  }
                  // A name the spawn does not hold is free at once: the same spawn with a quick init succeeds.
                  const held = Either.isRight(result) && registration !== "none"
                  const again = yield* Effect.either(
                    spawn({ key: `${key}-again`, kind: "sync", outcome: "ok" }, 5000, 10_000)
                  )
                  const gotAgain = Either.isRight(again) ? "ok" : again.left._tag
                  if (gotAgain !== (held ? "RemoteSpawnRegistrationError" : "ok")) {
                    failures.push(`${row}: the same name again gave ${gotAgain}`)
                  }
                  if (Either.isRight(again)) yield* GenServer.stop(refOf(again.right))
                  if (Either.isRight(result)) {
                    if (registration === "global") {
                      const seen = yield* GlobalRegistry.whereis(name)
                      if (Option.getOrUndefined(seen)?.id !== result.right.serverId) {
                        failures.push(`${row}: not registered globally`)
                      }
                    }
                    yield* GenServer.stop(refOf(result.right))
                  }
                }
              }
            }
          }
        })
      )
      expect(failures).toEqual([])
      type Probe = { runs: Record<string, number>; terminated: Array<string> }
      const probe = async () => (await b.command({ cmd: "initRuns" })) as unknown as Probe
      // Every late Promise init has delivered its state (to terminate): nothing it produced is left running.
      await eventually(
        async () => {
          const { terminated } = await probe()
          return latePromise.every((k) => terminated.includes(k))
        },
        10_000,
        "late Promise inits delivered"
      )
      expect(await processCount(b)).toBe(baseline)
      const { runs, terminated } = await probe()
      expect(keys.filter((k) => runs[k] !== 1)).toEqual([])
      expect(latePromise.filter((k) => terminated.filter((t) => t === k).length !== 1)).toEqual([])
      expect(interrupted.filter((k) => terminated.includes(k))).toEqual([])
      expect(b.hasExited()).toBe(false)
    },
    120_000
  )

  it("keeps the node up when init, call, cast and terminate reject (--unhandled-rejections=strict)", async () => {
    const b = await strictNode("b")
    await asNode(
      [b.id],
      Effect.gen(function*() {
        const target = b.id as NodeId
        const initFailed = yield* Effect.flip(RemoteSpawn.spawn("rejecting", target, { args: [true] }))
        expect(initFailed).toMatchObject({ _tag: "RemoteSpawnInitError" })
        expect(initFailed.message).toContain("init rejected")
        const ref = refOf(yield* RemoteSpawn.spawn("rejecting", target))
        const callFailed = yield* Effect.flip(RemoteCall.call(ref, "reject"))
        expect(callFailed).toMatchObject({ _tag: "RemoteHandlerError", message: "call rejected" })
        yield* RemoteCall.cast(ref, "reject")
        expect(yield* RemoteCall.call(ref, "ping")).toBe("pong")
        yield* GenServer.stop(ref)
        // Stopped with a rejecting terminate, and still serving.
        expect((yield* Effect.flip(RemoteCall.call(ref, "ping")))._tag).toBe("RemoteServerNotRunningError")
        const again = refOf(yield* RemoteSpawn.spawn("rejecting", target))
        expect(yield* RemoteCall.call(again, "ping")).toBe("pong")
      })
    )
    expect(b.hasExited()).toBe(false)
    expect((await b.command({ cmd: "connected" })).ok).toBe(true)
  }, 60_000)

  it(
    "fails spawn arguments over maxFrameBytes on the caller with MessageTooLargeError; the link and a call in flight survive",
    async () => {
      const b = await strictNode("b")
      await asNode(
        [b.id],
        Effect.gen(function*() {
          const target = b.id as NodeId
          const slow = refOf(yield* RemoteSpawn.spawn("slow", target))
          const inFlight = yield* Effect.fork(RemoteCall.call(slow, { sleep: 300 }))
          const tooLarge = yield* Effect.flip(
            RemoteSpawn.spawn("counter", target, { args: [Buffer.alloc(17 * 1024 * 1024)] })
          )
          expect(tooLarge).toMatchObject({ _tag: "MessageTooLargeError", limit: 16 * 1024 * 1024 })
          expect(yield* Effect.fromFiber(inFlight)).toBe("slept")
          const counter = refOf(yield* RemoteSpawn.spawn("counter", target, { args: [1] }))
          expect(yield* RemoteCall.call(counter, "get")).toBe(1)
        })
      )
      expect(b.events.filter((e) => e.event === "NodeDown" && e.reason !== "graceful_shutdown")).toEqual([])
    },
    60_000
  )
})
