import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { GenServer } from "../src/index.js"

const echo = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "ping", n: number) => [n, n + 1] as const,
  handleCast: (_: unknown, n: number) => n
})

/** How long the loop may run if nothing stops it (the starved case): the test then fails instead of hanging. */
const LOOP_LIMIT_MS = 3000

describe("a loop of local calls", () => {
  // Each local call to a plain handler answers synchronously: without a turn of the event
  // loop now and then, the caller's loop would keep timers and sockets from ever running.
  it.live("lets the event loop run: a timer fires while the loop goes on", () =>
    Effect.gen(function*() {
      const ref = yield* GenServer.start(echo)
      let calls = 0
      let callsWhenFired: number | undefined
      const timer = setTimeout(() => void (callsWhenFired = calls), 20)
      const started = performance.now()
      const loop = yield* Effect.fork(Effect.gen(function*() {
        while (callsWhenFired === undefined && performance.now() - started < LOOP_LIMIT_MS) {
          yield* GenServer.call(ref, "ping")
          calls++
        }
        // Some more after the timer: it fired while the loop was running, not after it.
        for (let i = 0; i < 10; i++) {
          yield* GenServer.call(ref, "ping")
          calls++
        }
      }))
      yield* Fiber.join(loop)
      clearTimeout(timer)
      expect(callsWhenFired).toBeDefined()
      expect(callsWhenFired!).toBeLessThan(calls)
      expect(performance.now() - started).toBeLessThan(LOOP_LIMIT_MS)
    }).pipe(Effect.provide(GenServer.layer)))
})
