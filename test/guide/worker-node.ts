// A worker node for the guide tests, written against the Promise facade: registers the
// guide's worker behavior, starts on a free port, prints its NodeId, serves until killed.
import { BehaviorRegistry, Cluster } from "noex-effect/promise"
import { workerBehavior } from "./shared/worker.js"

BehaviorRegistry.register("worker", workerBehavior)
await Cluster.start({ nodeName: process.env.NODE_NAME ?? "worker", port: 0 })
console.log(`READY ${Cluster.getLocalNodeId()}`)
const stop = () => void Cluster.stop().then(() => process.exit(0))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
