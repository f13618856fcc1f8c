/**
 * The entries of the replicated global registry: their shape, their size on the wire, the
 * winner of two for one name, and the table that holds them.
 */
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"

/** One registration as replicated. `seq` is the owner's Lamport time at registration. */
export interface Entry {
  readonly name: string
  readonly serverId: string
  readonly nodeId: NodeId
  readonly incarnation: string
  readonly seq: number
}

export const refOf = (entry: Entry): ServerRef => ({ id: entry.serverId, nodeId: entry.nodeId })

/** An entry's share of a `RegistrySync` frame, over-estimated (UTF-8 is at most 3 bytes per UTF-16 unit). */
export const entrySize = (entry: Entry): number =>
  3 * (entry.name.length + entry.serverId.length + entry.nodeId.length + entry.incarnation.length) + 64

/**
 * The largest entry a name may make: half the smallest frame limit a node may configure
 * (4096 bytes), the budget `sync` gives an entry, so every name registered reaches every
 * peer. About 600 characters of name beside the ids.
 */
export const MAX_ENTRY_BYTES = 2048

/** An incarnation's length on the wire (8 random bytes in hex), for sizing an entry before it exists. */
const INCARNATION_CHARS = 16

/** What an entry for `name` would take in a sync frame, before it exists. */
export const entryBytes = (name: string, serverId: string, nodeId: NodeId): number =>
  entrySize({ name, serverId, nodeId, incarnation: "0".repeat(INCARNATION_CHARS), seq: 0 })

/** Longer than any server id this runtime makes (an incarnation prefix and a counter), for a spawn not yet started. */
export const SERVER_ID_CHARS = 32

/** The deterministic winner of two live entries for one name. */
export const winnerOf = (a: Entry, b: Entry): Entry => {
  if (a.seq !== b.seq) return a.seq < b.seq ? a : b
  if (a.nodeId !== b.nodeId) return a.nodeId < b.nodeId ? a : b
  return a.serverId <= b.serverId ? a : b
}

/**
 * Entries by name, keeping their sorted listing between changes: an inspection pages
 * through the names in order, and sorting the whole registry for every page would make
 * each request cost the registry's size instead of its page's.
 */
export class SortedEntries<V> extends Map<string, V> {
  private listing: ReadonlyArray<V> | undefined = undefined

  override set(key: string, value: V): this {
    this.listing = undefined
    return super.set(key, value)
  }

  override delete(key: string): boolean {
    this.listing = undefined
    return super.delete(key)
  }

  override clear(): void {
    this.listing = undefined
    super.clear()
  }

  /** The values by key order (code-unit order, as `<` compares strings). */
  sorted(): ReadonlyArray<V> {
    if (this.listing === undefined) {
      this.listing = Array.from(this.keys()).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => this.get(k)!)
    }
    return this.listing
  }
}
