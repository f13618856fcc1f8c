/**
 * Every typed error of noex-effect. Each is a `Schema.TaggedError`, so it is
 * serializable by construction and crosses the wire intact; `_tag` equals the
 * class name. The errors name the condition, not the location: a local call that
 * times out fails with {@link RemoteCallTimeoutError} whose `nodeId` is the local node.
 */
import { Schema } from "effect"
import * as NodeIdFormat from "./internal/nodeIdFormat.js"
import { isReserved, SYSTEM_PREFIX } from "./internal/reserved.js"

/** A NodeId: checked when an error arrives from a peer, as it is given when one is made here. */
const NodeIdField = NodeIdFormat.errorField

/** The target node is not connected (or went down while the request was pending). */
export class NodeNotReachableError extends Schema.TaggedError<NodeNotReachableError>()("NodeNotReachableError", {
  nodeId: NodeIdField
}) {
  override get message() {
    return `node ${this.nodeId} is not reachable`
  }
}

/** The behavior name is not registered on the target node. */
export class BehaviorNotFoundError extends Schema.TaggedError<BehaviorNotFoundError>()("BehaviorNotFoundError", {
  behaviorName: Schema.String,
  nodeId: NodeIdField
}) {
  override get message() {
    return `behavior '${this.behaviorName}' is not registered on ${this.nodeId}`
  }
}

/** The target already runs as many processes spawned by the calling node as it allows (`maxProcessesPerPeer`). */
export class SpawnQuotaError extends Schema.TaggedError<SpawnQuotaError>()("SpawnQuotaError", {
  nodeId: NodeIdField,
  limit: Schema.Number
}) {
  override get message() {
    return `${this.nodeId} runs as many processes for this node as it allows (${this.limit})`
  }
}

/** The caller's spawn `timeout` passed before the target answered. */
export class RemoteSpawnTimeoutError extends Schema.TaggedError<RemoteSpawnTimeoutError>()("RemoteSpawnTimeoutError", {
  behaviorName: Schema.String,
  nodeId: NodeIdField,
  timeoutMs: Schema.Number
}) {
  override get message() {
    return `spawn of '${this.behaviorName}' on ${this.nodeId} timed out after ${this.timeoutMs}ms`
  }
}

/** `init` of a remotely spawned process failed or ran past its `initTimeout`. */
export class RemoteSpawnInitError extends Schema.TaggedError<RemoteSpawnInitError>()("RemoteSpawnInitError", {
  behaviorName: Schema.String,
  nodeId: NodeIdField,
  message: Schema.String
}) {}

/** The name asked for at spawn is taken (locally or globally); the started process was stopped. */
export class RemoteSpawnRegistrationError extends Schema.TaggedError<RemoteSpawnRegistrationError>()(
  "RemoteSpawnRegistrationError",
  {
    behaviorName: Schema.String,
    nodeId: NodeIdField,
    name: Schema.String,
    message: Schema.String
  }
) {}

/** A call got no reply within its timeout; a late reply is dropped. */
export class RemoteCallTimeoutError extends Schema.TaggedError<RemoteCallTimeoutError>()("RemoteCallTimeoutError", {
  serverId: Schema.String,
  nodeId: NodeIdField,
  timeoutMs: Schema.Number
}) {
  override get message() {
    return `call to ${this.serverId} on ${this.nodeId} timed out after ${this.timeoutMs}ms`
  }
}

/**
 * The process's mailbox holds as many messages as the node allows (`mailboxLimit`): the
 * process is not keeping up, and the call is refused rather than queued without bound.
 */
export class MailboxFullError extends Schema.TaggedError<MailboxFullError>()("MailboxFullError", {
  serverId: Schema.String,
  nodeId: NodeIdField,
  limit: Schema.Number
}) {
  override get message() {
    return `the mailbox of ${this.serverId} on ${this.nodeId} is full (${this.limit} messages)`
  }
}

/** No process with that id or name runs on the node (never did, stopped, or an old incarnation). */
export class RemoteServerNotRunningError extends Schema.TaggedError<RemoteServerNotRunningError>()(
  "RemoteServerNotRunningError",
  {
    serverId: Schema.String,
    nodeId: NodeIdField
  }
) {
  override get message() {
    return `server ${this.serverId} is not running on ${this.nodeId}`
  }
}

/** The process's handler threw or failed; `name` and `message` describe what it raised. The process goes on. */
export class RemoteHandlerError extends Schema.TaggedError<RemoteHandlerError>()("RemoteHandlerError", {
  serverId: Schema.String,
  nodeId: NodeIdField,
  name: Schema.String,
  message: Schema.String
}) {}

/** A message did not fit the behavior's declared `schemas`; the process goes on. */
export class InvalidMessageError extends Schema.TaggedError<InvalidMessageError>()("InvalidMessageError", {
  serverId: Schema.String,
  nodeId: NodeIdField,
  message: Schema.String
}) {}

/** An encoded message is over `maxFrameBytes`; failed on the sender, the connection stays up. */
export class MessageTooLargeError extends Schema.TaggedError<MessageTooLargeError>()("MessageTooLargeError", {
  bytes: Schema.Number,
  limit: Schema.Number
}) {
  override get message() {
    return `message of ${this.bytes} bytes is over the frame limit of ${this.limit} bytes`
  }
}

/** The global name is held by another live process. */
export class GlobalNameConflictError extends Schema.TaggedError<GlobalNameConflictError>()("GlobalNameConflictError", {
  name: Schema.String,
  nodeId: NodeIdField
}) {
  override get message() {
    return `global name '${this.name}' is already registered (held on ${this.nodeId})`
  }
}

/** No process is registered under that global name. */
export class GlobalNameNotFoundError extends Schema.TaggedError<GlobalNameNotFoundError>()("GlobalNameNotFoundError", {
  name: Schema.String
}) {
  override get message() {
    return `global name '${this.name}' is not registered`
  }
}

/** A string that is not a valid `name@host:port`. */
export class InvalidNodeIdError extends Schema.TaggedError<InvalidNodeIdError>()("InvalidNodeIdError", {
  value: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid node id "${this.value}": ${this.reason}`
  }
}

/** A cluster configuration field is invalid; `reason` says how to fix it. */
export class ClusterConfigError extends Schema.TaggedError<ClusterConfigError>()("ClusterConfigError", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid cluster config '${this.field}': ${this.reason}`
  }
}

/** `Cluster.awaitNodes` gave up: the nodes it waited for were not all connected in time. */
export class AwaitNodesTimeoutError extends Schema.TaggedError<AwaitNodesTimeoutError>()("AwaitNodesTimeoutError", {
  /** What was awaited: "3 nodes", or the ids. */
  wanted: Schema.String,
  /** The awaited ids that were not connected. */
  missing: Schema.Array(Schema.String),
  /** The nodes connected when it gave up. */
  connected: Schema.Array(Schema.String),
  timeoutMs: Schema.Number
}) {
  override get message() {
    const missing = this.missing.length > 0 ? `; missing ${this.missing.join(", ")}` : ""
    const connected = this.connected.length > 0 ? this.connected.join(", ") : "none"
    return `timed out after ${this.timeoutMs} ms waiting for ${this.wanted}${missing}; connected: ${connected}`
  }
}

/** `Cluster.inspect` got no answer from the node within its timeout. */
export class InspectTimeoutError extends Schema.TaggedError<InspectTimeoutError>()("InspectTimeoutError", {
  nodeId: NodeIdField,
  timeoutMs: Schema.Number
}) {
  override get message() {
    return `node ${this.nodeId} did not answer an inspection within ${this.timeoutMs} ms`
  }
}

/** A local process's `init` failed or ran past its `initTimeout`. */
export class GenServerInitError extends Schema.TaggedError<GenServerInitError>()("GenServerInitError", {
  message: Schema.String
}) {}

/**
 * The local name is already registered to a live process on this node, or is reserved for
 * the runtime's own processes (the `noex.` prefix).
 */
export class NameAlreadyRegisteredError extends Schema.TaggedError<NameAlreadyRegisteredError>()(
  "NameAlreadyRegisteredError",
  { name: Schema.String }
) {
  override get message() {
    return isReserved(this.name)
      ? `name '${this.name}' is reserved for the runtime (the '${SYSTEM_PREFIX}' prefix)`
      : `name '${this.name}' is already registered`
  }
}

/** The errors a call can end with, local or remote. */
export type CallError =
  | NodeNotReachableError
  | RemoteCallTimeoutError
  | RemoteServerNotRunningError
  | RemoteHandlerError
  | InvalidMessageError
  | MessageTooLargeError
  | MailboxFullError

/** A load-balancing helper found no node to place a process on. */
export class NoNodesAvailableError extends Schema.TaggedError<NoNodesAvailableError>()("NoNodesAvailableError", {}) {
  override get message() {
    return "no nodes available"
  }
}
