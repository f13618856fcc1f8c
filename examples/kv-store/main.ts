/**
 * A distributed key-value store: three nodes (n1, n2, n3) in this process over TCP on
 * 127.0.0.1. n1 spawns the store on n2, registered globally as `kv:store`
 * (`RemoteSpawn.spawn("kv", n2, { name: "kv:store", registration: "global" })`); then n1 writes,
 * n3 reads (each value checked against what was written: Date, Map, Set, BigInt, a typed
 * array and NaN/undefined come back intact), n2 — where the store lives — lists the keys, n3
 * deletes one, and a second store under the same name is refused.
 *
 *   npx tsx examples/kv-store/main.ts
 */
import { Console, Effect, Option } from "effect"
import { inspect, isDeepStrictEqual } from "node:util"
import { GlobalRegistry, RemoteSpawn } from "noex-effect"
import { awaitMesh, ExampleError, runExample, short, startNode, waitUntil } from "../support/nodes.js"
import * as Kv from "./kv.js"

const show = (value: unknown) => inspect(value, { depth: 4, breakLength: Infinity, colors: false })

/** What n1 writes: values that JSON would flatten or lose. */
const entries: ReadonlyArray<readonly [string, unknown]> = [
  ["user:ada", { name: "Ada", joined: new Date("2024-02-29T12:00:00.000Z"), roles: new Set(["admin", "dev"]) }],
  ["visits", new Map<string, number>([["/", 120], ["/docs", 37]])],
  ["shapes", new Map<unknown, string>([[1, "one"], [[2, 3], "pair"]])],
  ["big", 2n ** 100n],
  ["bytes", new Uint8Array([0, 1, 254, 255])],
  ["odd", [NaN, Infinity, undefined, -0]]
]

const program = Effect.gen(function*() {
  const behaviors = { kv: Kv.kvBehavior }
  const n1 = yield* startNode("n1", { behaviors })
  const n2 = yield* startNode("n2", { seeds: [n1.id], behaviors })
  const n3 = yield* startNode("n3", { seeds: [n1.id], behaviors })
  const nodes = [n1, n2, n3]
  yield* awaitMesh(nodes)
  yield* Console.log(`Cluster: ${nodes.map((n) => n.id).join(", ")}`)

  const spawned = yield* n1.run(RemoteSpawn.spawn("kv", n2.id, { name: Kv.KV_NAME, registration: "global" }))
  yield* Console.log(
    `n1 spawned the store on ${short(spawned.nodeId)} as '${Kv.KV_NAME}' (process ${spawned.serverId})`
  )
  yield* waitUntil(
    `'${Kv.KV_NAME}' to be visible on every node`,
    Effect.map(
      Effect.forEach(nodes, (n) => n.run(GlobalRegistry.whereis(Kv.KV_NAME))),
      (seen) => seen.every(Option.isSome)
    )
  )
  for (const node of nodes) {
    const ref = yield* node.run(GlobalRegistry.lookup(Kv.KV_NAME))
    yield* Console.log(`  ${node.name}: lookup('${Kv.KV_NAME}') -> ${ref.id} on ${short(ref.nodeId)}`)
  }

  yield* Console.log("\nn1 writes:")
  for (const [key, value] of entries) {
    const outcome = yield* n1.run(Kv.put(key, value))
    yield* Console.log(`  put ${key} = ${show(value)} (${outcome})`)
  }

  yield* Console.log("\nn3 reads them back:")
  let intact = 0
  for (const [key, written] of entries) {
    const read = yield* n3.run(Kv.get(key))
    const same = isDeepStrictEqual(read, written)
    if (same) intact++
    yield* Console.log(`  get ${key} -> ${show(read)} ${same ? "(intact)" : "(DIFFERS)"}`)
  }
  const user = (yield* n3.run(Kv.get("user:ada"))) as { joined: unknown; roles: unknown }
  yield* Console.log(
    `  types on n3: joined instanceof Date = ${user.joined instanceof Date}, roles instanceof Set = ${
      user.roles instanceof Set
    }, ` +
      `typeof big = ${typeof (yield* n3.run(Kv.get("big")))}, visits instanceof Map = ${
        (yield* n3.run(Kv.get("visits"))) instanceof Map
      }`
  )
  yield* Console.log(`  ${intact}/${entries.length} values intact`)
  if (intact !== entries.length) return yield* new ExampleError({ message: "some values did not survive the trip" })

  yield* Console.log(`\nn2 (the store's own node, a local call) lists the keys: ${(yield* n2.run(Kv.keys)).join(", ")}`)
  yield* Console.log(`n3 deletes 'big': ${yield* n3.run(Kv.remove("big"))}`)
  yield* Console.log(
    `n1 lists the keys: ${(yield* n1.run(Kv.keys)).join(", ")}; get big -> ${show(yield* n1.run(Kv.get("big")))}`
  )

  const second = yield* Effect.flip(
    n3.run(RemoteSpawn.spawn("kv", n3.id, { name: Kv.KV_NAME, registration: "global" }))
  )
  yield* Console.log(`\nA second store under '${Kv.KV_NAME}' is refused: ${second._tag} (${second.message})`)
  yield* Console.log("Shutting down the three nodes")
})

runExample(Effect.scoped(program))
