import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Runtime, TestClock } from "effect"
import { Timers } from "../src/internal/timers.js"

/** The deadline wheel behind every call and spawn timeout, driven by `TestClock`. */
const wheel = Effect.gen(function*() {
  const runtime = yield* Effect.runtime<never>()
  return new Timers(yield* Clock.clockWith(Effect.succeed), runtime as Runtime.Runtime<never>)
})

describe("Timers", () => {
  it.effect("fires each live entry once, at its time; a cancelled one never", () =>
    Effect.gen(function*() {
      const timers = yield* wheel
      const fired: Array<string> = []
      timers.schedule(10, () => fired.push("a"))
      const b = timers.schedule(10, () => fired.push("b"))
      timers.schedule(20, () => fired.push("c"))
      timers.cancel(b)
      timers.cancel(b)
      yield* TestClock.adjust(9)
      expect(fired).toEqual([])
      yield* TestClock.adjust(1)
      expect(fired).toEqual(["a"])
      yield* TestClock.adjust(10)
      expect(fired).toEqual(["a", "c"])
    }))

  it.effect("an entry cancelled by one firing in the same millisecond does not fire", () =>
    Effect.gen(function*() {
      const timers = yield* wheel
      const fired: Array<string> = []
      const entries: Array<ReturnType<typeof timers.schedule>> = []
      timers.schedule(5, () => {
        fired.push("first")
        timers.cancel(entries[0])
      })
      entries.push(timers.schedule(5, () => fired.push("second")))
      yield* TestClock.adjust(5)
      expect(fired).toEqual(["first"])
    }))

  it.effect("a millisecond whose entries were all cancelled takes new ones, which fire", () =>
    Effect.gen(function*() {
      const timers = yield* wheel
      const fired: Array<number> = []
      const early = Array.from({ length: 3 }, (_, i) => timers.schedule(7, () => fired.push(i)))
      for (const entry of early) timers.cancel(entry)
      timers.schedule(7, () => fired.push(99))
      const fire = timers.schedule(7, () => fired.push(100))
      yield* TestClock.adjust(7)
      timers.cancel(fire)
      expect(fired).toEqual([99, 100])
    }))

  it.effect("an entry scheduled at the firing millisecond by a firing entry survives a cancel in the old bucket", () =>
    Effect.gen(function*() {
      const timers = yield* wheel
      const fired: Array<string> = []
      const later: Array<ReturnType<typeof timers.schedule>> = []
      timers.schedule(5, () => {
        fired.push("first")
        // The same millisecond again: a new bucket, while this one is still firing.
        timers.schedule(0, () => fired.push("zero"))
        timers.cancel(later[0])
      })
      later.push(timers.schedule(5, () => fired.push("second")))
      yield* TestClock.adjust(5)
      yield* TestClock.adjust(1)
      expect(fired).toEqual(["first", "zero"])
    }))
})
