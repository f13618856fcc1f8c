/**
 * A member's sync, split to what its link to the receiver takes. A sync states all a member
 * knows: what it hosts (its claims), the children nobody hosts (orphans) and the deleted ids
 * (tombstones). One frame holds only so much (a link drops a larger one), so the sync goes as
 * parts, in that order, each within a quarter of the link's frame limit. The receiver applies
 * each part as it comes (claims and orphans only add, a tombstone deletes only what it names);
 * only the last part lets it forget the sender's claims that no part listed, so a partial sync
 * never makes it drop a child whose part has not arrived yet.
 */
import { Either } from "effect"
import type { NodeId } from "../../NodeId.js"
import { makeCodec } from "../../wire/Codec.js"
import type { PeerMessage } from "./messages.js"
import type { ChildSpec, Claim } from "./table.js"

/** One part of a sync. */
export type SyncPart = Extract<PeerMessage, { readonly _tag: "ds.sync" }>

/**
 * The smallest part budget: a quarter of the smallest frame limit a node may set (4 KiB).
 * A budget below it (no link yet, or no cluster) would only fragment: such a sync goes nowhere.
 */
export const MIN_SYNC_BUDGET = 1024

/**
 * Estimated bytes of one sync part for `peer`: a quarter of the link's limit, as process
 * groups split theirs (`linkBudget`, from the node's groups; none for a standalone node).
 * The estimate counts a child's spec as the default codec encodes it, and the part's
 * envelope, another node's codec and the frame header need the rest.
 */
export const frameBudgetOf = (linkBudget: ((peer: NodeId) => number) | undefined): (peer: NodeId) => number => (peer) =>
  Math.max(MIN_SYNC_BUDGET, linkBudget?.(peer) ?? 0)

const codec = makeCodec()

/** Encoded sizes of the specs seen, measured once per spec object (a table keeps its specs). */
const specSizes = new WeakMap<ChildSpec, number>()

/** The encoded size of `spec`, or `undefined` when it cannot be encoded (its args hold a function, say). */
export const specBytes = (spec: ChildSpec): number | undefined => {
  const known = specSizes.get(spec)
  if (known !== undefined) return known < 0 ? undefined : known
  const encoded = codec.encodeEither(spec)
  const size = Either.isRight(encoded) ? encoded.right.length : -1
  specSizes.set(spec, size)
  return size < 0 ? undefined : size
}

/** What a member states in a sync. */
export interface SyncContent {
  readonly claims: ReadonlyArray<{ readonly spec: ChildSpec; readonly claim: Claim }>
  readonly orphans: ReadonlyArray<{ readonly spec: ChildSpec; readonly gen: number }>
  readonly tombstones: ReadonlyArray<readonly [string, number]>
  readonly leaving: boolean
  readonly ask: boolean
}

/** Per item, beyond its strings: field names and numbers, generously. */
const ITEM_OVERHEAD = 32

/**
 * Splits `content` into parts of about `budget` bytes each (an item larger than the budget
 * goes alone). Children whose spec cannot be encoded are left out and counted: no peer
 * could decode them, and in a part they would make the whole part fail to encode.
 */
export const syncParts = (
  content: SyncContent,
  budget: number
): { readonly parts: ReadonlyArray<SyncPart>; readonly unencodable: number } => {
  type Claims = Array<SyncPart["claims"][number]>
  type Orphans = Array<SyncPart["orphans"][number]>
  type Tombstones = Array<SyncPart["tombstones"][number]>
  const parts: Array<{ claims: Claims; orphans: Orphans; tombstones: Tombstones }> = []
  let part = { claims: [] as Claims, orphans: [] as Orphans, tombstones: [] as Tombstones }
  let bytes = 0
  let items = 0
  let unencodable = 0
  const room = (size: number) => {
    if (items > 0 && bytes + size > budget) {
      parts.push(part)
      part = { claims: [], orphans: [], tombstones: [] }
      bytes = 0
      items = 0
    }
    bytes += size
    items++
  }
  for (const { claim, spec } of content.claims) {
    const size = specBytes(spec)
    if (size === undefined) {
      unencodable++
      continue
    }
    room(size + 3 * claim.serverId.length + ITEM_OVERHEAD)
    part.claims.push({ spec, serverId: claim.serverId, gen: claim.gen })
  }
  for (const { gen, spec } of content.orphans) {
    const size = specBytes(spec)
    if (size === undefined) {
      unencodable++
      continue
    }
    room(size + ITEM_OVERHEAD)
    part.orphans.push({ spec, gen })
  }
  for (const [id, gen] of content.tombstones) {
    room(3 * id.length + ITEM_OVERHEAD)
    part.tombstones.push([id, gen])
  }
  parts.push(part)
  return {
    unencodable,
    parts: parts.map((p, i) => ({
      _tag: "ds.sync",
      ...p,
      leaving: content.leaving,
      ask: content.ask,
      first: i === 0,
      last: i === parts.length - 1
    }))
  }
}

/**
 * The syncs being received: per sender, the ids its claims listed so far in the sync under
 * way (from its first part). Kept until the last part, which releases the sender's other claims.
 */
export class SyncIntake {
  private readonly listed = new Map<NodeId, Set<string>>()

  /** A first part from `from`: a new sync starts (one cut short before is dropped). */
  begin(from: NodeId): void {
    this.listed.set(from, new Set())
  }

  /** `from`'s sync under way lists a claim for `id`. */
  note(from: NodeId, id: string): void {
    this.listed.get(from)?.add(id)
  }

  /** The last part from `from`: what its sync listed, or `undefined` when its first part never came. */
  finish(from: NodeId): ReadonlySet<string> | undefined {
    const ids = this.listed.get(from)
    this.listed.delete(from)
    return ids
  }

  /** `from` is gone: its sync under way with it. */
  forget(from: NodeId): void {
    this.listed.delete(from)
  }
}
