/**
 * Every error of the guide's "Error Handling", provoked on purpose and handled with
 * `Effect.catchTags` — the guide's `if (error instanceof ...)` chains, as typed cases.
 * Nodes alpha and beta (and a short-lived gamma) run in this process over TCP on 127.0.0.1,
 * with a 64 KiB frame limit; alpha asks, beta serves.
 *
 * Spawn errors: NodeNotReachableError, BehaviorNotFoundError, RemoteSpawnTimeoutError,
 * RemoteSpawnInitError, RemoteSpawnRegistrationError. Call errors: RemoteCallTimeoutError,
 * RemoteServerNotRunningError, NodeNotReachableError, RemoteHandlerError, InvalidMessageError
 * (a behavior with `schemas`), MessageTooLargeError. Registry: GlobalNameNotFoundError.
 * One line per error; the example fails if any error is not the one expected.
 *
 *   npx tsx examples/timeouts-and-errors.ts
 */
import { Console, Effect, Schema } from "effect"
import { GenServer, GlobalRegistry, NodeId, RemoteCall, RemoteSpawn } from "noex-effect"
import type { CallError, ServerRef } from "noex-effect"
import { awaitMesh, ExampleError, runExample, startNode } from "./support/nodes.js"

// ---- behaviors on beta ------------------------------------------------------------------------

type WorkerCall = { type: "get" } | { type: "slow"; ms: number } | { type: "boom" } | { type: "echo"; payload: string }

const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: WorkerCall, n: number) => {
    switch (msg.type) {
      case "get":
        return [n, n] as const
      case "slow":
        return Effect.as(Effect.sleep(msg.ms), [n, n] as const)
      case "boom":
        throw new RangeError("the handler blew up")
      case "echo":
        return [msg.payload.length, n] as const
    }
  },
  handleCast: (_: unknown, n: number) => n + 1
})

const slowInit = GenServer.behavior({
  init: () => Effect.as(Effect.sleep("1 second"), 0),
  handleCall: (_: unknown, n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})

const failingInit = GenServer.behavior({
  init: () => Effect.fail(new Error("database unavailable")),
  handleCall: (_: unknown, n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})

/** Messages from other nodes are checked against `schemas` before the handler sees them. */
const adder = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: { readonly add: number }, n: number) => [n + msg.add, n + msg.add] as const,
  handleCast: (msg: { readonly add: number }, n: number) => n + msg.add,
  schemas: { call: Schema.Struct({ add: Schema.Number }), cast: Schema.Struct({ add: Schema.Number }) }
})

// ---- the guide's handlers, as catchTags --------------------------------------------------------

interface Outcome {
  readonly tag: string
  readonly text: string
}
const outcome = (tag: string, text: string) => Effect.succeed<Outcome>({ tag, text })

/** The guide's "Spawn Errors" chain. */
const handleSpawnErrors = (effect: Effect.Effect<unknown, RemoteSpawn.SpawnError>) =>
  effect.pipe(
    Effect.flatMap(() => outcome("success", "the spawn succeeded")),
    Effect.catchTags({
      NodeNotReachableError: (error) => outcome(error._tag, `Node ${error.nodeId} is not connected`),
      BehaviorNotFoundError: (error) =>
        outcome(error._tag, `Behavior '${error.behaviorName}' not registered on target`),
      RemoteSpawnTimeoutError: (error) => outcome(error._tag, `Spawn timed out (after ${error.timeoutMs}ms)`),
      RemoteSpawnInitError: (error) => outcome(error._tag, `Init failed: ${error.message}`),
      RemoteSpawnRegistrationError: (error) => outcome(error._tag, `Registration failed: ${error.message}`)
    })
  )

/** The guide's "Call Errors" chain, with every error a call can end with. */
const handleCallErrors = (effect: Effect.Effect<unknown, CallError>) =>
  effect.pipe(
    Effect.flatMap(() => outcome("success", "the call succeeded")),
    Effect.catchTags({
      RemoteCallTimeoutError: (error) => outcome(error._tag, `Call timed out after ${error.timeoutMs}ms`),
      RemoteServerNotRunningError: (error) => outcome(error._tag, `Server ${error.serverId} is not running`),
      NodeNotReachableError: (error) => outcome(error._tag, `Node ${error.nodeId} disconnected`),
      RemoteHandlerError: (error) => outcome(error._tag, `The handler raised ${error.name}: ${error.message}`),
      InvalidMessageError: (error) =>
        outcome(error._tag, `Rejected by the behavior's schema: ${error.message.replace(/\s*\n\s*/g, " ")}`),
      MessageTooLargeError: (error) =>
        outcome(error._tag, `Message of ${error.bytes} bytes is over the ${error.limit}-byte frame limit`)
    })
  )

const program = Effect.gen(function*() {
  const options = { maxFrameBytes: 64 * 1024, behaviors: { worker, slowInit, failingInit, adder } }
  const alpha = yield* startNode("alpha", options)
  const beta = yield* startNode("beta", { ...options, seeds: [alpha.id] })
  const gamma = yield* startNode("gamma", { ...options, seeds: [alpha.id] })
  yield* awaitMesh([alpha, beta, gamma])
  yield* Console.log(`alpha ${alpha.id} asks, beta ${beta.id} serves\n`)

  let mismatches = 0
  const report = (expected: string, what: string) => (result: Outcome) => {
    if (result.tag !== expected) mismatches++
    const mark = result.tag === expected ? "ok" : `EXPECTED ${expected}`
    return Console.log(`${mark.padEnd(3)} ${result.tag.padEnd(29)} ${what}: ${result.text}`)
  }
  const onAlpha = <A, E, R>(effect: Effect.Effect<A, E, R>) => alpha.run(effect)

  // Spawn errors.
  const ghost = NodeId.make("ghost", "127.0.0.1", 1)
  yield* handleSpawnErrors(onAlpha(RemoteSpawn.spawn("worker", ghost))).pipe(
    Effect.flatMap(report("NodeNotReachableError", "spawn on a node that is not connected"))
  )
  yield* handleSpawnErrors(onAlpha(RemoteSpawn.spawn("no-such-behavior", beta.id))).pipe(
    Effect.flatMap(report("BehaviorNotFoundError", "spawn of an unregistered behavior"))
  )
  yield* handleSpawnErrors(onAlpha(RemoteSpawn.spawn("slowInit", beta.id, { timeout: 300, initTimeout: "5 seconds" })))
    .pipe(
      Effect.flatMap(report("RemoteSpawnTimeoutError", "spawn with timeout 300 ms, init takes 1 s"))
    )
  yield* handleSpawnErrors(onAlpha(RemoteSpawn.spawn("failingInit", beta.id))).pipe(
    Effect.flatMap(report("RemoteSpawnInitError", "spawn whose init fails"))
  )
  yield* handleSpawnErrors(onAlpha(RemoteSpawn.spawn("slowInit", beta.id, { initTimeout: 200 }))).pipe(
    Effect.flatMap(report("RemoteSpawnInitError", "spawn with initTimeout 200 ms, init takes 1 s"))
  )
  yield* onAlpha(RemoteSpawn.spawn("worker", beta.id, { name: "singleton", registration: "local" }))
  yield* handleSpawnErrors(onAlpha(RemoteSpawn.spawn("worker", beta.id, { name: "singleton", registration: "local" })))
    .pipe(
      Effect.flatMap(report("RemoteSpawnRegistrationError", "second spawn under the same local name"))
    )

  // Call errors.
  const { serverId } = yield* onAlpha(RemoteSpawn.spawn("worker", beta.id))
  const ref: ServerRef = { id: serverId, nodeId: beta.id }
  yield* handleCallErrors(onAlpha(RemoteCall.call(ref, { type: "slow", ms: 1000 }, { timeout: 200 }))).pipe(
    Effect.flatMap(report("RemoteCallTimeoutError", "call with timeout 200 ms, the handler takes 1 s"))
  )
  yield* handleCallErrors(onAlpha(RemoteCall.call({ id: "nobody", nodeId: beta.id }, { type: "get" }))).pipe(
    Effect.flatMap(report("RemoteServerNotRunningError", "call to a process id beta does not know"))
  )
  const stopped = yield* onAlpha(RemoteSpawn.spawn("worker", beta.id))
  yield* onAlpha(GenServer.stop({ id: stopped.serverId, nodeId: beta.id }))
  yield* handleCallErrors(onAlpha(RemoteCall.call({ id: stopped.serverId, nodeId: beta.id }, { type: "get" }))).pipe(
    Effect.flatMap(report("RemoteServerNotRunningError", "call to a process that was stopped"))
  )
  const onGamma = yield* onAlpha(RemoteSpawn.spawn("worker", gamma.id))
  yield* gamma.stop
  yield* handleCallErrors(onAlpha(RemoteCall.call({ id: onGamma.serverId, nodeId: gamma.id }, { type: "get" }))).pipe(
    Effect.flatMap(report("NodeNotReachableError", "call to a process on gamma, which has left"))
  )
  yield* handleCallErrors(onAlpha(RemoteCall.call(ref, { type: "boom" }))).pipe(
    Effect.flatMap(report("RemoteHandlerError", "call whose handler throws"))
  )
  const typed = yield* onAlpha(RemoteSpawn.spawn("adder", beta.id))
  yield* handleCallErrors(onAlpha(RemoteCall.call({ id: typed.serverId, nodeId: beta.id }, { add: "one" }))).pipe(
    Effect.flatMap(report("InvalidMessageError", "call with { add: 'one' } to a behavior expecting a number"))
  )
  yield* handleCallErrors(onAlpha(RemoteCall.call(ref, { type: "echo", payload: "x".repeat(100_000) }))).pipe(
    Effect.flatMap(report("MessageTooLargeError", "call carrying 100 KB over a 64 KiB frame limit"))
  )

  // Registry errors.
  yield* onAlpha(GlobalRegistry.lookup("cache:primary")).pipe(
    Effect.flatMap(() => outcome("success", "found")),
    Effect.catchTags({
      GlobalNameNotFoundError: (error) => outcome(error._tag, `No process is registered as '${error.name}'`)
    }),
    Effect.flatMap(report("GlobalNameNotFoundError", "lookup of a global name nobody registered"))
  )

  // Errors are answers, not crashes: the processes that raised them go on.
  yield* Console.log(
    `\nAfterwards the worker still answers: get -> ${yield* onAlpha(RemoteCall.call(ref, { type: "get" }))}; ` +
      `the adder too: add 2 -> ${yield* onAlpha(RemoteCall.call({ id: typed.serverId, nodeId: beta.id }, { add: 2 }))}`
  )
  if (mismatches > 0) return yield* new ExampleError({ message: `${mismatches} error(s) were not the expected ones` })
  yield* Console.log("Every error was the expected one")
})

runExample(Effect.scoped(program))
