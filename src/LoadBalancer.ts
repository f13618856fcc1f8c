/**
 * Placement helpers from the guide's "Load Balancing Strategies": round-robin over
 * the connected nodes, the least-loaded node (by the live `processCount` each node
 * publishes in its heartbeats), and locality-aware spawning that prefers this node
 * and falls back to the others.
 */
import { Effect, Ref } from "effect"
import { Cluster } from "./cluster/Cluster.js"
import { NoNodesAvailableError } from "./errors.js"
import { GenServerRuntime } from "./GenServer.js"
import type { NodeId } from "./NodeId.js"
import { RemoteSpawn } from "./RemoteSpawn.js"
import type { SpawnError, SpawnOptions } from "./RemoteSpawn.js"
import type { SpawnResult } from "./ServerRef.js"

/** Which nodes a helper may choose from. */
export interface PlacementOptions {
  /** Also consider this node (default `false`: the guide's helpers place on connected nodes only). */
  readonly includeLocal?: boolean | undefined
}

/** Node ids with their live process counts, in a stable order (connection order, local first when included). */
const candidates = (options?: PlacementOptions) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster
    const nodes = (yield* cluster.getConnectedNodes).map((n) => ({ id: n.id, processCount: n.processCount }))
    if (options?.includeLocal === true) {
      const runtime = yield* GenServerRuntime
      nodes.unshift({ id: cluster.localNodeId, processCount: runtime.processCount() })
    }
    return nodes
  })

/** A spawner that places each new process on the next node in turn. */
export interface RoundRobinSpawner {
  readonly spawn: (
    behaviorName: string,
    options?: SpawnOptions
  ) => Effect.Effect<SpawnResult, SpawnError | NoNodesAvailableError, Cluster | RemoteSpawn | GenServerRuntime>
}

/** Makes a round-robin spawner with its own position (the guide's `RoundRobinSpawner`). */
export const roundRobin = (placement?: PlacementOptions): Effect.Effect<RoundRobinSpawner> =>
  Effect.map(Ref.make(0), (index) => ({
    spawn: (behaviorName, options) =>
      Effect.gen(function*() {
        const nodes = yield* candidates(placement)
        if (nodes.length === 0) return yield* Effect.fail(new NoNodesAvailableError())
        const i = yield* Ref.getAndUpdate(index, (n) => n + 1)
        return yield* RemoteSpawn.pipe(
          Effect.flatMap((s) => s.spawn(behaviorName, nodes[i % nodes.length]!.id, options))
        )
      })
  }))

/** The node running the fewest processes (ties: the first in connection order). */
export const leastLoadedNode = (
  placement?: PlacementOptions
): Effect.Effect<NodeId, NoNodesAvailableError, Cluster | GenServerRuntime> =>
  Effect.gen(function*() {
    const nodes = yield* candidates(placement)
    if (nodes.length === 0) return yield* Effect.fail(new NoNodesAvailableError())
    let min = nodes[0]!
    for (const node of nodes) if (node.processCount < min.processCount) min = node
    return min.id
  })

/** Spawns on the least-loaded node. */
export const spawnOnLeastLoaded = (
  behaviorName: string,
  options?: SpawnOptions & PlacementOptions
): Effect.Effect<SpawnResult, SpawnError | NoNodesAvailableError, Cluster | RemoteSpawn | GenServerRuntime> =>
  Effect.flatMap(
    leastLoadedNode(options),
    (nodeId) => Effect.flatMap(RemoteSpawn, (s) => s.spawn(behaviorName, nodeId, options))
  )

/**
 * Spawns on this node; if that fails, on each connected node in turn until one
 * succeeds (a spawn that failed leaves nothing behind, so each node tries afresh).
 * A global name that is taken is taken everywhere: that error ends the search at
 * once. Fails with the local error when no other node is connected, else with the
 * last node's error.
 */
export const spawnPreferLocal = (
  behaviorName: string,
  options?: SpawnOptions
): Effect.Effect<SpawnResult, SpawnError, Cluster | RemoteSpawn> =>
  Effect.gen(function*() {
    const cluster = yield* Cluster
    const spawner = yield* RemoteSpawn
    const local = yield* Effect.either(spawner.spawn(behaviorName, cluster.localNodeId, options))
    if (local._tag === "Right") return local.right
    const final = (e: SpawnError) => e._tag === "RemoteSpawnRegistrationError" && options?.registration === "global"
    let error: SpawnError = local.left
    if (final(error)) return yield* Effect.fail(error)
    for (const node of yield* cluster.getConnectedNodes) {
      const remote = yield* Effect.either(spawner.spawn(behaviorName, node.id, options))
      if (remote._tag === "Right") return remote.right
      error = remote.left
      if (final(error)) break
    }
    return yield* Effect.fail(error)
  })
