/**
 * What the cluster tells about other nodes: `NodeUp` when a handshake completes,
 * `NodeDown` with the reason when the link ends, and the `NodeInfo` of a connected node.
 */
import type { NodeId } from "../NodeId.js"

/**
 * Why a node went down. `slow_consumer`: it did not read what this node had to send it
 * (the link's outbox passed its hard cap), and the link was closed.
 */
export type NodeDownReason = "connection_closed" | "heartbeat_timeout" | "graceful_shutdown" | "slow_consumer"

/** A node completed the handshake with this one. */
export interface NodeUp {
  readonly _tag: "NodeUp"
  readonly nodeId: NodeId
}

/** The link to a node ended. */
export interface NodeDown {
  readonly _tag: "NodeDown"
  readonly nodeId: NodeId
  readonly reason: NodeDownReason
}

/** A membership change. */
export type NodeEvent = NodeUp | NodeDown

/** A connected node as `Cluster.getConnectedNodes` reports it. */
export interface NodeInfo {
  readonly id: NodeId
  readonly host: string
  readonly port: number
  readonly status: "connected"
  /**
   * Live processes on that node: its last heartbeat's count (at most one interval old),
   * plus the spawns this node sent there that heartbeat could not count yet.
   */
  readonly processCount: number
  /** Clock time (ms) of the last heartbeat received from it. */
  readonly lastHeartbeatAt: number
  /** How long that node has been running, in ms. */
  readonly uptimeMs: number
}
