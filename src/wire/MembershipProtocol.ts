/**
 * The membership sub-protocol, owned by `cluster/Membership.ts`: liveness, load,
 * gossip of members, and the graceful goodbye.
 */
import { Schema } from "effect"
import { NodeId } from "../NodeId.js"
import { NonNegativeInt, tagged } from "./internal/fields.js"

/** A member as gossiped: its id and incarnation. */
export const Member = Schema.Struct({ nodeId: NodeId.schema, incarnation: Schema.String })

/** Liveness and load: sent every heartbeat interval (any frame counts as life). */
export const Heartbeat = tagged("Heartbeat", { processCount: NonNegativeInt, uptimeMs: NonNegativeInt })

/** The members the sender is connected to, so every node connects to every other. */
export const Gossip = tagged("Gossip", { members: Schema.Array(Member) })

/** The sender is shutting down gracefully; the receiver reports `graceful_shutdown`. */
export const Goodbye = tagged("Goodbye", {})

/** The messages of this sub-protocol. */
export const messages = [Heartbeat, Gossip, Goodbye] as const

/** A membership message. */
export type MembershipMessage = Schema.Schema.Type<(typeof messages)[number]>
