/**
 * What process-group scopes say to each other, and the limits on it. Scope processes
 * speak in info messages (`handleInfo`'s `from` is the node the link authenticated); a join
 * or leave of another node's process is a call to that node's default scope process, which
 * runs on every node, so the request is heard even where its scope has not started yet.
 * Everything a peer sends is decoded against these schemas, never trusted.
 */
import { Schema } from "effect"

/** The scope used when an operation names none; it runs on every node from the start. */
export const DEFAULT_SCOPE = "default"

/**
 * The longest group name: a group travels in every join, leave and sync of the scope, and
 * an unbounded name would let one peer grow every replica without bound.
 */
export const MAX_GROUP_NAME_CHARS = 1024

/**
 * The longest scope name: it is part of the scope's process name (`noex.pg.<scope>`), which
 * addresses every message between the scope's processes, and a peer may name a scope in a
 * request, so it is bounded like a group name (and kept within a server id's bound below).
 */
export const MAX_SCOPE_NAME_CHARS = 240

/** The longest server id a peer may list (this runtime's are under 40 characters). */
export const MAX_ID_CHARS = 256

/**
 * The most memberships one peer may hold in one scope: a peer speaks for its own
 * processes, but an honest node runs at most about a million, and a hostile one must not
 * fill this node's memory through a scope. Past it a peer's joins are dropped and logged.
 */
export const MAX_MEMBERS_PER_PEER = 100_000

/**
 * The most scopes a node runs before it refuses to start one for a peer. A peer's join of
 * one of this node's processes starts the scope it names here, and each scope is a process
 * plus a replica in which every peer may hold {@link MAX_MEMBERS_PER_PEER} memberships:
 * without a bound a peer could make this node start scopes without end. Applications use a
 * handful (the default one, DistributedSupervisor's, one per library). This node's own code
 * is never refused a scope: it chooses its scopes itself.
 */
export const MAX_SCOPES = 100

/**
 * The floor of a frame's estimated size: a link whose limit is unknown (it went down
 * meanwhile) still gets frames that the smallest frame limit a node may set (4 KiB) takes.
 */
const MIN_FRAME_BUDGET = 1024

/** The process name of scope `scope` on every node. */
export const scopeProcessName = (scope: string): string => `noex.pg.${scope}`

const GroupName = Schema.String.pipe(Schema.maxLength(MAX_GROUP_NAME_CHARS))
const ScopeName = Schema.String.pipe(Schema.maxLength(MAX_SCOPE_NAME_CHARS))
const Id = Schema.String.pipe(Schema.maxLength(MAX_ID_CHARS))
const Ids = Schema.Array(Id)

/** What scope processes tell each other; decoded from every peer, never trusted. */
export const PeerMessage = Schema.Union(
  Schema.TaggedStruct("pg.discover", {}),
  Schema.TaggedStruct("pg.sync", {
    groups: Schema.Array(Schema.Tuple(GroupName, Ids)),
    more: Schema.optional(Schema.Boolean)
  }),
  Schema.TaggedStruct("pg.join", { group: GroupName, ids: Ids }),
  Schema.TaggedStruct("pg.leave", { group: GroupName, ids: Ids })
)
/** A message between scope processes, decoded. */
export type PeerMessage = typeof PeerMessage.Type
/** Decodes what a peer's scope process sent. */
export const decodePeerMessage = Schema.decodeUnknownEither(PeerMessage)

/**
 * A join or leave another node asks this node to do for its own processes (a remote ref's
 * owner acts), sent to the default scope's process, which starts `scope` if it must.
 */
export const OwnerRequest = Schema.TaggedStruct("pg.request", {
  scope: ScopeName,
  op: Schema.Literal("join", "leave"),
  group: GroupName,
  ids: Ids
})
/** An owner request, decoded. */
export type OwnerRequest = typeof OwnerRequest.Type

/**
 * The owner's answer: done; nothing joined because `id` is not a live process (a join is
 * all-or-nothing, as a local one is); or the scope refused, this node running
 * {@link MAX_SCOPES} already. The caller decodes it: the owner is a peer too.
 */
export const OwnerReply = Schema.Union(
  Schema.TaggedStruct("pg.done", {}),
  Schema.TaggedStruct("pg.notRunning", { id: Id }),
  Schema.TaggedStruct("pg.refused", {})
)
/** An owner's answer, decoded. */
export type OwnerReply = typeof OwnerReply.Type
/** Decodes an owner's answer. */
export const decodeOwnerReply = Schema.decodeUnknownEither(OwnerReply)

/** Estimated bytes a group name takes in a frame (UTF-8 at worst, and its framing). */
export const groupBytes = (group: string): number => 3 * group.length + 16

/** Estimated bytes an id takes in a frame. */
export const idBytes = (id: string): number => 3 * id.length + 4

/** The estimated bytes a frame may hold, given the link's own budget (`0` when unknown). */
export const frameBudget = (linkBudget: number): number => Math.max(MIN_FRAME_BUDGET, linkBudget)

/**
 * `ids` cut into runs whose join or leave of `group` stays within `budget` estimated bytes
 * (each run holds one id at least): a message over the link's frame limit would be dropped.
 */
export const chunkIds = (
  group: string,
  ids: ReadonlyArray<string>,
  budget: number
): Array<ReadonlyArray<string>> => {
  const chunks: Array<ReadonlyArray<string>> = []
  let chunk: Array<string> = []
  let bytes = groupBytes(group)
  for (const id of ids) {
    const more = idBytes(id)
    if (chunk.length > 0 && bytes + more > budget) {
      chunks.push(chunk)
      chunk = []
      bytes = groupBytes(group)
    }
    chunk.push(id)
    bytes += more
  }
  if (chunk.length > 0) chunks.push(chunk)
  return chunks
}
