/** A timed loop of an Effect with N copies in flight, as the remote benchmarks drive calls. */
import { Effect } from "effect"

/** Runs `body` in `outstanding` loops until `durationMs` passed: rate and per-run latencies (µs). */
export const timedLoop = <E, R>(body: Effect.Effect<unknown, E, R>, outstanding: number, durationMs: number) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    let completed = 0
    const started = performance.now()
    const deadline = started + durationMs
    yield* Effect.all(
      Array.from({ length: outstanding }, () =>
        Effect.gen(function*() {
          while (performance.now() < deadline) {
            const t0 = performance.now()
            yield* body
            if (latencies.length < 200_000) latencies.push((performance.now() - t0) * 1000)
            completed++
          }
        })),
      { concurrency: "unbounded", discard: true }
    )
    return { perSecond: completed / ((performance.now() - started) / 1000), latencies }
  })
