/**
 * What a distributed supervisor's instances tell each other (info messages, decoded from
 * every peer with these Schemas) and what the API asks the local or a remote instance
 * (calls, validated by the instance behavior's call Schema).
 */
import { Schema } from "effect"

/** Longest child id: ids travel in every claim and sync; an unbounded one would let a peer grow every view. */
export const MAX_CHILD_ID_CHARS = 1024

const Id = Schema.String.pipe(Schema.maxLength(MAX_CHILD_ID_CHARS))
const Gen = Schema.Number.pipe(Schema.int(), Schema.nonNegative(), Schema.lessThanOrEqualTo(2 ** 40))
const ServerId = Schema.String.pipe(Schema.maxLength(256))

/** A child spec on the wire. */
export const Spec = Schema.Struct({
  id: Id,
  behavior: Schema.String.pipe(Schema.maxLength(256)),
  args: Schema.Array(Schema.Unknown),
  restart: Schema.Literal("permanent", "transient", "temporary")
})

const Claimed = Schema.Struct({ spec: Spec, serverId: ServerId, gen: Gen })

/** Between instances: each speaks for what it hosts. */
export const PeerMessage = Schema.Union(
  Schema.TaggedStruct("ds.sync", {
    claims: Schema.Array(Claimed),
    orphans: Schema.Array(Schema.Struct({ spec: Spec, gen: Gen })),
    tombstones: Schema.Array(Schema.Tuple(Id, Gen)),
    leaving: Schema.Boolean,
    /** The receiver answers with its own sync (sent to a member just seen: its view of us may be missing). */
    ask: Schema.Boolean,
    /**
     * A sync goes in parts that each fit the link's frames: the first starts it, the last
     * ends it (one part is both), and only the last lets the receiver forget the sender's
     * claims that no part listed.
     */
    first: Schema.Boolean,
    last: Schema.Boolean
  }),
  Schema.TaggedStruct("ds.hosting", { spec: Spec, serverId: ServerId, gen: Gen }),
  Schema.TaggedStruct("ds.released", { id: Id, gen: Gen }),
  Schema.TaggedStruct("ds.deleted", { id: Id, gen: Gen, reason: Schema.String.pipe(Schema.maxLength(1024)) }),
  Schema.TaggedStruct("ds.leaving", {})
)
export type PeerMessage = typeof PeerMessage.Type

/** What an instance is asked; from this node or (`startHere`, `terminate`) another member. */
export const Request = Schema.Union(
  Schema.TaggedStruct("ds.startHere", { spec: Spec }),
  Schema.TaggedStruct("ds.terminate", { id: Id }),
  Schema.TaggedStruct("ds.plan", { id: Id }),
  Schema.TaggedStruct("ds.leave", {}),
  Schema.TaggedStruct("ds.hosted", {}),
  Schema.TaggedStruct("ds.stopAll", {})
)
export type Request = typeof Request.Type

/** How an instance answers `ds.startHere` and `ds.plan`. */
export type StartAnswer =
  | { readonly _tag: "started"; readonly serverId: string }
  | { readonly _tag: "exists"; readonly serverId: string | undefined; readonly host: string | undefined }
  | { readonly _tag: "failed"; readonly message: string }
  | { readonly _tag: "target"; readonly node: string }
  | { readonly _tag: "leaving" }

/** How an instance answers `ds.terminate`. */
export type TerminateAnswer =
  | { readonly _tag: "terminated" }
  | { readonly _tag: "elsewhere"; readonly host: string }
  | { readonly _tag: "notFound" }
