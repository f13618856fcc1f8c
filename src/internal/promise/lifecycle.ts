/**
 * A facade node's lifecycle outside the Effect runtime: the process signals that stop it,
 * and what it reports for a node that came up.
 */
import type { NodeInfo } from "../../cluster/Cluster.js"
import { NodeId as NodeIds } from "../../NodeId.js"
import type { NodeId } from "../../NodeId.js"

/** The signals a started facade node stops on. */
const SIGNALS = ["SIGINT", "SIGTERM"] as const

/** Moves the process's listener limit by `by`, unless the program made it unlimited (0 or Infinity). */
const growListenerLimit = (by: number): void => {
  const limit = process.getMaxListeners()
  if (limit !== 0 && Number.isFinite(limit)) process.setMaxListeners(Math.max(1, limit + by))
}

/**
 * Stops the node (`stop`) on SIGINT or SIGTERM, then exits the process unless another
 * listener of that signal remains to handle it. Answers the function that removes the
 * listeners again.
 */
export const stopOnSignals = (stop: () => Promise<void>): () => void => {
  const handler = (signal: NodeJS.Signals) => {
    // The listener stays until the node has stopped: a second signal meanwhile is
    // absorbed, and of several nodes only the last to stop finds no listener and exits.
    stop().then(
      () => {
        if (process.listenerCount(signal) === 0) process.exit(0)
      },
      (error: unknown) => {
        process.stderr.write(`noex-effect: the node did not stop cleanly: ${String(error)}\n`)
        if (process.listenerCount(signal) === 0) process.exit(1)
      }
    )
  }
  // One listener per node on a process-wide emitter: the limit grows with the nodes (and shrinks
  // as they stop), so a program running many nodes is not warned of a leak it does not have.
  growListenerLimit(1)
  for (const signal of SIGNALS) process.on(signal, handler)
  return () => {
    for (const signal of SIGNALS) process.off(signal, handler)
    growListenerLimit(-1)
  }
}

/** The `NodeInfo` of a node that came up and left before its handler ran: no heartbeat heard yet. */
export const upInfo = (id: NodeId, now: number): NodeInfo => {
  const { host, port } = NodeIds.components(id)
  return { id, host, port, status: "connected", processCount: 0, lastHeartbeatAt: now, uptimeMs: 0 }
}
