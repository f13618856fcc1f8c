/**
 * A local GenServer, start to finish: start a counter, cast to it, call it, provoke
 * each typed error, and stop it. Run with `npx tsx examples/local-counter.ts`.
 */
import { Console, Effect } from "effect"
import { GenServer } from "noex-effect"
import type { ExitReason } from "noex-effect"

type CounterCall = { type: "get" } | { type: "divide"; by: number } | { type: "slow" }
type CounterCast = { type: "add"; amount: number }

const counterBehavior = GenServer.behavior({
  init: (start: number = 0) => start,
  handleCall: (msg: CounterCall, count: number) => {
    switch (msg.type) {
      case "get":
        return [count, count] as const
      case "divide":
        if (msg.by === 0) throw new RangeError("division by zero")
        return [count / msg.by, count] as const
      case "slow":
        return Effect.sleep("1 second").pipe(Effect.as([count, count] as const))
    }
  },
  handleCast: (msg: CounterCast, count: number) => count + msg.amount,
  terminate: (reason: ExitReason, count: number) =>
    Console.log(`  terminate(${JSON.stringify(reason)}) with final count ${count}`)
})

const program = Effect.gen(function*() {
  yield* Console.log("Starting a counter named 'visits' at 10")
  const ref = yield* GenServer.start(counterBehavior, { name: "visits", args: [10] })
  yield* Console.log(`  started ${ref.id} on ${ref.nodeId}`)

  for (let i = 1; i <= 5; i++) yield* GenServer.cast(ref, { type: "add", amount: i })
  yield* Console.log(
    `Cast add 1..5, then called get by name: ${yield* GenServer.call({ id: "visits", nodeId: ref.nodeId }, {
      type: "get"
    })}`
  )

  const duplicate = yield* Effect.flip(GenServer.start(counterBehavior, { name: "visits" }))
  yield* Console.log(`Starting a second 'visits' fails: ${duplicate._tag}`)

  const handlerError = yield* Effect.flip(GenServer.call(ref, { type: "divide", by: 0 }))
  yield* Console.log(
    `A throwing handler answers the call with ${handlerError._tag} (${handlerError.message}); the counter goes on`
  )

  const timeout = yield* Effect.flip(GenServer.call(ref, { type: "slow" }, { timeout: 100 }))
  yield* Console.log(`A call past its 100 ms timeout fails with ${timeout._tag}`)

  yield* Console.log(`Live processes: ${yield* GenServer.processCount}`)
  yield* Console.log("Stopping the counter")
  yield* GenServer.stop(ref, "normal")
  const gone = yield* Effect.flip(GenServer.call(ref, { type: "get" }))
  yield* Console.log(`A call after stop fails with ${gone._tag}; live processes: ${yield* GenServer.processCount}`)
})

Effect.runPromise(program.pipe(Effect.provide(GenServer.layer)))
