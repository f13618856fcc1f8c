/** Behaviors and helpers shared by the GenServer tests. */
import { Effect } from "effect"
import { GenServer } from "../../src/index.js"
import type { GenServerBehavior } from "../../src/index.js"

// The guide's worker behavior, verbatim apart from the import.
export interface WorkerState {
  taskCount: number
}
export type WorkerCall = { type: "get_stats" }
export type WorkerCast = { type: "process_task"; taskId: string; data: unknown }
export type WorkerReply = { taskCount: number }
export const workerBehavior: GenServerBehavior<WorkerState, WorkerCall, WorkerCast, WorkerReply> = {
  init: () => ({
    taskCount: 0
  }),
  handleCall: (msg, state) => {
    switch (msg.type) {
      case "get_stats":
        return [{ taskCount: state.taskCount }, state]
    }
  },
  handleCast: (msg, state) => {
    switch (msg.type) {
      case "process_task": {
        return { ...state, taskCount: state.taskCount + 1 }
      }
    }
  }
}

/** A counter whose `boom` call throws. */
export const counter = GenServer.behavior({
  init: (start: number = 0) => start,
  handleCall: (msg: "get" | "boom", state: number) => {
    if (msg === "boom") throw new RangeError("counter exploded")
    return [state, state] as const
  },
  handleCast: (msg: "inc", state: number) => (msg === "inc" ? state + 1 : state)
})

/** Runs `effect` in a fresh local runtime. */
export const run = <A, E>(effect: Effect.Effect<A, E, GenServer.GenServerRuntime>) =>
  effect.pipe(Effect.provide(GenServer.layer))

/** Starts `behavior` in a runtime of its own, calls it with `msg`, and closes the runtime while the call is in flight. */
export const callInFlightAtShutdown = <Msg, Cast, Reply>(
  behavior: GenServerBehavior<number, Msg, Cast, Reply>,
  msg: Msg
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const rt = yield* GenServer.make()
      const ref = yield* rt.start(behavior)
      const fiber = yield* Effect.fork(Effect.flip(rt.call(ref, msg, { timeout: "1 hour" })))
      yield* Effect.yieldNow()
      return fiber
    })
  )
