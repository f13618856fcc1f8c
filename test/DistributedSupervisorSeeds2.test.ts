/**
 * Seeds 51..100 by default of the failover property (test/support/dsupSeeds.ts): split over
 * two files so the two halves run on both cores. `npm test` runs 100 seeds (about two
 * minutes a half on two loaded cores); `NOEX_DSUP_SEEDS=200 npx vitest run test/DistributedSupervisorSeeds`
 * runs the 200 (the simulator's cost, #17, is what bounds it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runSeed } from "./support/dsupSeeds.js"

const half = Math.ceil(Number(process.env.NOEX_DSUP_SEEDS ?? 100) / 2)
const FROM = 1 + half
const TO = FROM + half - 1

describe("DistributedSupervisor failover over seeds (simulated)", () => {
  it.effect(
    `a killed node's children are each restarted exactly once, seeds ${FROM}..${TO}`,
    () =>
      Effect.gen(function*() {
        const failures: Array<string> = []
        let orphans = 0
        for (let seed = FROM; seed <= TO; seed++) {
          const result = yield* runSeed(seed)
          orphans += result.orphans
          if (result.problems.length > 0) {
            failures.push(
              `seed ${seed} (kill ${result.victim}, ${result.rounds} partitions): ${
                result.problems.slice(0, 5).join("; ")
              }`
            )
          }
        }
        expect(failures).toEqual([])
        // The kills took children with them: the property was exercised.
        expect(orphans).toBeGreaterThan(half * 10)
      }),
    600_000
  )
})
