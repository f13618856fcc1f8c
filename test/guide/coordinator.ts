// coordinator.ts — the guide's "Complete Example: Worker Pool", verbatim but for the import line.
import { BehaviorRegistry, Cluster, RemoteCall, RemoteSpawn } from "noex-effect/promise"
import { workerBehavior } from "./shared/worker.js"

interface WorkerRef {
  id: string
  nodeId: string
}

class WorkerPool {
  private workers: WorkerRef[] = []
  private roundRobin = 0

  async initialize(workersPerNode: number): Promise<void> {
    const nodes = Cluster.getConnectedNodes()

    for (const node of nodes) {
      for (let i = 0; i < workersPerNode; i++) {
        const result = await RemoteSpawn.spawn("worker", node.id)
        this.workers.push({
          id: result.serverId,
          nodeId: result.nodeId
        })
      }
    }

    console.log(`Initialized ${this.workers.length} workers`)
  }

  submitTask(taskId: string, data: unknown): void {
    if (this.workers.length === 0) {
      throw new Error("No workers available")
    }

    const worker = this.workers[this.roundRobin % this.workers.length]
    this.roundRobin++

    RemoteCall.cast(worker, {
      type: "process_task",
      taskId,
      data
    })
  }

  async getStats(): Promise<{ taskCount: number }[]> {
    const stats = await Promise.all(
      this.workers.map((worker) => RemoteCall.call<{ taskCount: number }>(worker, { type: "get_stats" }))
    )
    return stats
  }
}

// Main
async function main(): Promise<void> {
  BehaviorRegistry.register("worker", workerBehavior)

  await Cluster.start({
    nodeName: "coordinator",
    port: 4369,
    seeds: process.env.SEEDS?.split(",") || []
  })

  // Wait for nodes to join
  await new Promise((r) => setTimeout(r, 2000))

  const pool = new WorkerPool()
  await pool.initialize(3) // 3 workers per node

  // Submit tasks
  for (let i = 0; i < 100; i++) {
    pool.submitTask(`task-${i}`, { value: i })
  }

  // Check stats
  const stats = await pool.getStats()
  console.log("Worker stats:", stats)
}

main()
