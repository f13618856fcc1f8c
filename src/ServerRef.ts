/**
 * A reference to a process: its id (or a name registered locally on its node)
 * and the node it lives on. Plain data, so it crosses the wire as is.
 */
import { Schema } from "effect"
import { NodeId } from "./NodeId.js"

/** Where a process lives: `id` is a server id or a name registered on `nodeId`. */
export interface ServerRef {
  readonly id: string
  readonly nodeId: NodeId
}

/** The guide's name for a ref that can be sent to other nodes. */
export type SerializedRef = ServerRef

/** What a spawn answers: the new process's id and the node it runs on. */
export interface SpawnResult {
  readonly serverId: string
  readonly nodeId: NodeId
}

/** The Schema of a {@link ServerRef}. */
export const schema: Schema.Schema<ServerRef, { readonly id: string; readonly nodeId: string }> = Schema.Struct({
  id: Schema.String,
  nodeId: NodeId.schema
})

/** The Schema of a {@link SpawnResult}. */
export const spawnResultSchema: Schema.Schema<SpawnResult, { readonly serverId: string; readonly nodeId: string }> =
  Schema.Struct({ serverId: Schema.String, nodeId: NodeId.schema })

/** Builds a ref. */
export const make = (id: string, nodeId: NodeId): ServerRef => ({ id, nodeId })

/** ServerRef helpers under the type's name. */
export const ServerRef = { schema, make } as const

/** SpawnResult helpers under the type's name. */
export const SpawnResult = { schema: spawnResultSchema } as const
