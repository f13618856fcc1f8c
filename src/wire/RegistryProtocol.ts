/**
 * The global registry sub-protocol, owned by `cluster/internal/registry.ts`: each
 * node's own names replicated to every peer, and registrations forwarded to the node
 * that owns the process.
 */
import { Schema } from "effect"
import * as Errors from "../errors.js"
import { NodeId } from "../NodeId.js"
import { NonNegativeInt, ServerId, tagged } from "./internal/fields.js"

/** One global name: who holds it and the clock-free tiebreak data. */
export const RegistryEntry = Schema.Struct({
  name: Schema.String,
  serverId: ServerId,
  nodeId: NodeId.schema,
  incarnation: Schema.String,
  seq: NonNegativeInt
})

/**
 * The sender's own names, in full: sent at handshake and after a partition heals, in
 * as many frames as the frame limit needs. `more` marks every frame but the last: the
 * receiver drops the names it holds for the sender and none of the frames listed only
 * once the last has arrived.
 */
export const RegistrySync = tagged("RegistrySync", {
  entries: Schema.Array(RegistryEntry),
  more: Schema.optionalWith(Schema.Literal(true), { exact: true })
})

/** The sender registered a name. */
export const RegistryRegister = tagged("RegistryRegister", { entry: RegistryEntry })

/**
 * The sender's name is gone (unregistered, or its process ended). `winner` is set when
 * it lost a conflict, so a node that never saw both entries still reports the conflict.
 */
export const RegistryUnregister = tagged("RegistryUnregister", {
  name: Schema.String,
  serverId: ServerId,
  winner: Schema.optionalWith(Schema.Struct({ serverId: ServerId, nodeId: NodeId.schema }), { exact: true })
})

/** Asks the node owning a process to register or unregister a global name for it; answered by `RegistryAck` or `RegistryFailed`. */
export const RegistryRequest = tagged("RegistryRequest", {
  callId: NonNegativeInt,
  op: Schema.Literal("register", "unregister"),
  name: Schema.String,
  serverId: ServerId
})

/** A `RegistryRequest` was carried out. */
export const RegistryAck = tagged("RegistryAck", { callId: NonNegativeInt })

/** The errors the owner answers a forwarded registration with. */
export const RegistryFailure = Schema.Union(Errors.GlobalNameConflictError, Errors.RemoteServerNotRunningError)

/** An error a `RegistryRequest` is answered with. */
export type RegistryFailure = typeof RegistryFailure.Type

/** A `RegistryRequest` ended in a typed error. */
export const RegistryFailed = tagged("RegistryFailed", { callId: NonNegativeInt, error: RegistryFailure })

/** The messages of this sub-protocol. */
export const messages = [
  RegistrySync,
  RegistryRegister,
  RegistryUnregister,
  RegistryRequest,
  RegistryAck,
  RegistryFailed
] as const

/** A registry message. */
export type RegistryMessage = Schema.Schema.Type<(typeof messages)[number]>
