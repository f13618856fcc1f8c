/**
 * The exactly-once property of failover, over many seeds: three or four simulated nodes, 100
 * distributed children, a random prelude of partitions and heals (quorum mode: only a
 * majority side restarts, and the heal settles the duplicates), then a node is killed.
 * Every child the killed node ran is started exactly once on a survivor, no other child
 * is started at all, and every survivor agrees where each child runs.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Scope } from "effect"
import { BehaviorRegistry, DistributedSupervisor, GenServer, MemoryNetwork } from "../../src/index.js"
import type { NodeId } from "../../src/index.js"
import { settle, simId, startNode } from "./sim.js"
import type { SimNode } from "./sim.js"

export const CHILDREN = 100
const NAMES = ["a", "b", "c", "d", "e"]
/**
 * Heartbeats every second, two missed is down: a partition is detected in 2–3 s of
 * simulated time with few timers (a seed's cost is its timers firing).
 */
const fast = { heartbeatInterval: 1000, heartbeatMissThreshold: 2 } as const

/** Advances the clock until every node is connected to every other (redials back off after a partition). */
const awaitMesh = (nodes: ReadonlyArray<SimNode>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const counts = yield* Effect.forEach(nodes, (n) => Effect.map(n.cluster.getConnectedNodes, (c) => c.length))
      if (counts.every((c) => c === nodes.length - 1)) return yield* settle(200, 100)
      yield* settle(250, 250)
    }
  })

/** mulberry32: a tiny seeded generator, so a failing seed replays. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** One seed: the prelude, the kill, and what went wrong (nothing, when the property holds). */
export const runSeed = (seed: number) =>
  Effect.scoped(Effect.gen(function*() {
    const next = random(seed)
    const starts = new Map<string, number>()
    const worker = GenServer.behavior({
      init: (id: string) => {
        starts.set(id, (starts.get(id) ?? 0) + 1)
        return id
      },
      handleCall: (_: "where", id: string) => [id, id] as const,
      handleCast: (_: unknown, id: string) => id
    })
    const registry = BehaviorRegistry.layer({ worker })
    const net = yield* MemoryNetwork.make
    const nodes: Array<SimNode> = []
    // Three or four nodes: a 1|2 or 1|3 split leaves a majority, a 2|2 split none.
    for (const name of NAMES.slice(0, 3 + Math.floor(next() * 2))) {
      nodes.push(yield* startNode(net, name, { registry, ...fast, seeds: nodes.length === 0 ? [] : [simId("a")] }))
    }
    yield* awaitMesh(nodes)
    for (const node of nodes) yield* Scope.extend(node.run(DistributedSupervisor.start("s")), node.scope)
    yield* settle(100, 50)
    yield* Effect.forEach(
      Array.from({ length: CHILDREN }, (_, i) => `w${i}`),
      (id) =>
        nodes[Math.floor(next() * nodes.length)]!.run(
          DistributedSupervisor.startChild("s", { id, behavior: "worker", args: [id] })
        ),
      { concurrency: "unbounded", discard: true }
    )
    // The prelude: up to two partitions into random sides, each healed.
    const rounds = Math.floor(next() * 3)
    for (let r = 0; r < rounds; r++) {
      const side = nodes.filter(() => next() < 0.5).map((n) => n.id)
      if (side.length === 0 || side.length === nodes.length) continue
      yield* net.partition(side, nodes.map((n) => n.id).filter((id) => !side.includes(id)))
      yield* settle(2000 + Math.floor(next() * 1000), 250)
      yield* net.heal
      yield* awaitMesh(nodes)
    }
    const where = (node: SimNode) =>
      Effect.map(node.run(DistributedSupervisor.whichChildren("s")), (children) =>
        new Map(children.map((c) => [c.id, Option.getOrUndefined(c.ref)?.nodeId])))
    const before = yield* where(nodes[0]!)
    if (process.env.NOEX_DSUP_DEBUG) {
      const all = yield* Effect.forEach(nodes, where)
      for (let i = 0; i < CHILDREN; i++) {
        const at = all.map((v) =>
          v.get(`w${i}`)?.split("@")[0] ?? "-"
        )
        if (new Set(at).size !== 1) console.log(`seed ${seed} before kill: w${i} at ${at.join(",")}`)
      }
    }
    const victim = nodes[Math.floor(next() * nodes.length)]!
    const orphans = Array.from(before).filter(([, at]) => at === victim.id).map(([id]) => id)
    const startsBefore = new Map(starts)
    yield* net.kill(victim.id)
    yield* settle(2000, 250)
    const survivors = nodes.filter((n) => n !== victim)
    const views = yield* Effect.forEach(survivors, where)
    const problems: Array<string> = []
    for (let i = 0; i < CHILDREN; i++) {
      const id = `w${i}`
      const at = views.map((v) => v.get(id))
      if (new Set(at).size !== 1 || at[0] === undefined || at[0] === victim.id) {
        problems.push(`${id} is at ${at.join(",")}`)
      }
      const restarted = (starts.get(id) ?? 0) - (startsBefore.get(id) ?? 0)
      const expected = orphans.includes(id) ? 1 : 0
      if (restarted !== expected) {
        problems.push(`${id} started ${restarted} times after the kill (expected ${expected})`)
      }
    }
    let running = 0
    for (const node of survivors) running += yield* node.run(GenServer.processCount)
    if (running !== CHILDREN) problems.push(`${running} children run on the survivors`)
    // Crash every node before the scope closes them: a graceful close would hand children over
    // between nodes that are about to go too, which costs real time and tests nothing here.
    for (const node of nodes) yield* net.kill(node.id)
    yield* settle(10, 10)
    return { problems, orphans: orphans.length, victim: victim.id as NodeId, rounds }
  }))

/**
 * The seeds a run covers: `NOEX_DSUP_SEEDS` is a count (`100`: seeds 1..100, what `npm test`
 * runs) or a range (`101-200`: what `.ci/run` adds, so CI covers 200 distinct seeds).
 */
export const seedRange = (
  spec = process.env.NOEX_DSUP_SEEDS ?? "100"
): { readonly from: number; readonly to: number } => {
  const range = /^(\d+)-(\d+)$/.exec(spec)
  return range === null ? { from: 1, to: Number(spec) } : { from: Number(range[1]), to: Number(range[2]) }
}

/**
 * Half `part` of the seeds as one test: the two halves live in two files so they run on
 * both cores.
 */
export const describeSeeds = (part: 1 | 2): void => {
  const { from, to } = seedRange()
  const half = Math.ceil((to - from + 1) / 2)
  const first = part === 1 ? from : from + half
  const last = part === 1 ? from + half - 1 : to
  describe("DistributedSupervisor failover over seeds (simulated)", () => {
    it.effect(
      `a killed node's children are each restarted exactly once, seeds ${first}..${last}`,
      () =>
        Effect.gen(function*() {
          const failures: Array<string> = []
          let orphans = 0
          for (let seed = first; seed <= last; seed++) {
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
          expect(orphans).toBeGreaterThan((last - first + 1) * 10)
        }),
      600_000
    )
  })
}
