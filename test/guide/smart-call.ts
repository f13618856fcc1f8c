// The guide's "Smart Call/Cast Helper", verbatim but for the import lines, driven by a small main.
import { GenServer } from "noex-effect/promise"
import { Cluster, RemoteCall, type SerializedRef } from "noex-effect/promise"
import { BehaviorRegistry, RemoteSpawn } from "noex-effect/promise"
import { workerBehavior } from "./shared/worker.js"

function isLocalRef(ref: SerializedRef): boolean {
  return ref.nodeId === Cluster.getLocalNodeId()
}

async function smartCall<T>(ref: SerializedRef, msg: unknown): Promise<T> {
  if (isLocalRef(ref)) {
    // Local process - use GenServer directly (faster)
    const localRef = GenServer._getRefById(ref.id)
    if (!localRef) {
      throw new Error(`Process ${ref.id} not found`)
    }
    return GenServer.call(localRef, msg) as Promise<T>
  }
  // Remote process - use RemoteCall
  return RemoteCall.call<T>(ref, msg)
}

function smartCast(ref: SerializedRef, msg: unknown): void {
  if (isLocalRef(ref)) {
    const localRef = GenServer._getRefById(ref.id)
    if (localRef) {
      GenServer.cast(localRef, msg)
    }
  } else {
    RemoteCall.cast(ref, msg)
  }
}

// Not from the guide: start a node, put one worker here and one on the seed node, use the helpers on both.
async function main(): Promise<void> {
  BehaviorRegistry.register("worker", workerBehavior)
  await Cluster.start({ nodeName: "smart", port: 0, seeds: process.env.SEEDS?.split(",") || [] })
  while (Cluster.getConnectedNodes().length === 0) await new Promise((r) => setTimeout(r, 50))
  const local = await RemoteSpawn.spawn("worker", Cluster.getLocalNodeId())
  const remote = await RemoteSpawn.spawn("worker", Cluster.getConnectedNodes()[0]!.id)
  for (const result of [local, remote]) {
    const ref = { id: result.serverId, nodeId: result.nodeId }
    for (let i = 0; i < 3; i++) smartCast(ref, { type: "process_task", taskId: `t${i}`, data: i })
    const stats = await smartCall<{ taskCount: number }>(ref, { type: "get_stats" })
    console.log(`${isLocalRef(ref) ? "local" : "remote"} worker stats: ${stats.taskCount}`)
  }
  await Cluster.stop()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
