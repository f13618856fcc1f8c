/**
 * The first half of the failover property's seeds (test/support/dsupSeeds.ts). `npm test`
 * runs seeds 1..100; `.ci/run` then runs 101..200 (`npm run test:seeds`), so CI counts the
 * issue's 200. Any range: `NOEX_DSUP_SEEDS=201-400 npx vitest run test/DistributedSupervisorSeeds`.
 */
import { describeSeeds } from "./support/dsupSeeds.js"

describeSeeds(1)
