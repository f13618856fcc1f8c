/**
 * A distributed supervisor's view of its children on one node. Every node is the only
 * author of what it hosts: it tells the others each child it runs (a claim: host,
 * process, generation), and a node's claims go with it. A child whose claims are all
 * gone is an orphan, and exactly one node restarts it: the one that ranks highest for
 * the child's id among the live members (rendezvous hashing), so every node that sees
 * the same members picks the same decider without asking anyone. Two claims for one
 * child (possible only across a partition, or in churn) are settled by one rule every
 * node applies alike: the higher generation wins, then the higher rank.
 */
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"

/** When a child is restarted after it exits (as OTP's). */
export type Restart = "permanent" | "transient" | "temporary"

/** What a distributed child is made from: a behavior name every member registers, and its `init` arguments. */
export interface ChildSpec {
  readonly id: string
  readonly behavior: string
  readonly args: ReadonlyArray<unknown>
  readonly restart: Restart
}

/** A node runs the child: which process, from which generation (each restart or move adds one). */
export interface Claim {
  readonly host: NodeId
  readonly serverId: string
  readonly gen: number
}

/** What a supervisor reports about its children, on every node that sees it happen. */
export type ChildEvent =
  | { readonly _tag: "ChildStarted"; readonly id: string; readonly ref: ServerRef }
  | {
    readonly _tag: "ChildRestarted"
    readonly id: string
    /** The node it ran on before (the same node for a crash restart). */
    readonly from: NodeId
    readonly to: NodeId
    readonly ref: ServerRef
  }
  | { readonly _tag: "ChildStopped"; readonly id: string; readonly reason: string }
  /** Two instances ran (a partition healed): the loser's node stopped it with reason `{ conflict: id }`. */
  | { readonly _tag: "ConflictResolved"; readonly id: string; readonly winner: ServerRef; readonly loser: ServerRef }

interface Entry {
  spec: ChildSpec
  readonly claims: Map<NodeId, Claim>
  /** The highest generation seen: a restart takes the next. */
  gen: number
  /** Where it ran last, for `ChildRestarted.from`. */
  last: Claim | undefined
}

/** 32-bit FNV-1a: cheap, stable across nodes and runs (no seed), well spread for short keys. */
const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** How much `node` wants child `id`: the highest-ranked live member decides it. */
export const rank = (id: string, node: NodeId): number => fnv1a(`${id}\u0000${node}`)

/** The member that decides (and by default hosts) child `id`: the highest rank, ties by NodeId. */
export const ownerOf = (id: string, nodes: Iterable<NodeId>): NodeId | undefined => {
  let best: NodeId | undefined
  let bestRank = -1
  for (const node of nodes) {
    const r = rank(id, node)
    if (r > bestRank || (r === bestRank && best !== undefined && node > best)) {
      best = node
      bestRank = r
    }
  }
  return best
}

/** Whether claim `a` beats claim `b` for child `id`. */
export const beats = (id: string, a: Claim, b: Claim): boolean => {
  if (a.gen !== b.gen) return a.gen > b.gen
  const ra = rank(id, a.host)
  const rb = rank(id, b.host)
  return ra !== rb ? ra > rb : a.host > b.host
}

/**
 * Deleted children remembered so a node that missed the deletion (it was partitioned)
 * does not bring one back: they travel in syncs. Bounded, oldest first out, because
 * every `terminateChild` adds one.
 */
export const MAX_TOMBSTONES = 10_000

/**
 * The largest generation taken from a peer: one per restart or move, so 2^40 is never
 * reached honestly, and a peer's wild one would push every restart past what the others
 * can decode (a safe integer), splitting the views for good.
 */
export const MAX_GENERATION = 2 ** 40

/** One node's view of one supervisor's children. */
export class ChildTable {
  private readonly entries = new Map<string, Entry>()
  private readonly tombstones = new Map<string, number>()

  constructor(private readonly emit: (event: ChildEvent) => void) {}

  get size(): number {
    return this.entries.size
  }

  spec(id: string): ChildSpec | undefined {
    return this.entries.get(id)?.spec
  }

  /** The claim that wins for `id`: where the child runs. */
  location(id: string): Claim | undefined {
    const entry = this.entries.get(id)
    return entry === undefined ? undefined : this.best(id, entry)
  }

  private best(id: string, entry: Entry): Claim | undefined {
    let best: Claim | undefined
    for (const c of entry.claims.values()) if (best === undefined || beats(id, c, best)) best = c
    return best
  }

  /** The next generation for a restart of `id`. */
  nextGen(id: string): number {
    // Past a tombstone too: a child started again under a deleted id must not be taken for the dead one.
    return Math.max(this.entries.get(id)?.gen ?? 0, this.tombstones.get(id) ?? 0) + 1
  }

  /** Claims per host (what `least-loaded` placement counts). */
  loadOf(host: NodeId): number {
    let n = 0
    for (const entry of this.entries.values()) if (entry.claims.has(host)) n++
    return n
  }

  ids(): ReadonlyArray<string> {
    return Array.from(this.entries.keys())
  }

  /** Children with no claim from a node in `hosts` (the live members that are not leaving). */
  homeless(hosts: ReadonlySet<NodeId>): Array<ChildSpec> {
    const out: Array<ChildSpec> = []
    for (const entry of this.entries.values()) {
      let housed = false
      for (const host of entry.claims.keys()) {
        if (hosts.has(host)) {
          housed = true
          break
        }
      }
      if (!housed) out.push(entry.spec)
    }
    return out
  }

  /** The claims `host` makes (what it would send in a sync). */
  claimsOf(host: NodeId): Array<{ readonly spec: ChildSpec; readonly claim: Claim }> {
    const out: Array<{ spec: ChildSpec; claim: Claim }> = []
    for (const entry of this.entries.values()) {
      const claim = entry.claims.get(host)
      if (claim !== undefined) out.push({ spec: entry.spec, claim })
    }
    return out
  }

  /** Children no node claims, with their generation (a sync hands them to a node that never saw them). */
  orphans(): Array<{ readonly spec: ChildSpec; readonly gen: number }> {
    const out: Array<{ spec: ChildSpec; gen: number }> = []
    for (const entry of this.entries.values()) {
      if (entry.claims.size === 0) out.push({ spec: entry.spec, gen: entry.gen })
    }
    return out
  }

  tombstoneList(): Array<readonly [string, number]> {
    return Array.from(this.tombstones)
  }

  /** `host` runs `spec` as `claim`. Ignored for a child deleted at that generation or later. */
  claim(spec: ChildSpec, claim: Claim): void {
    if (claim.gen > MAX_GENERATION) return
    const dead = this.tombstones.get(spec.id)
    if (dead !== undefined && dead >= claim.gen) return
    if (dead !== undefined) this.tombstones.delete(spec.id)
    let entry = this.entries.get(spec.id)
    const before = entry === undefined ? undefined : this.best(spec.id, entry)
    if (entry === undefined) {
      entry = { spec, claims: new Map(), gen: 0, last: undefined }
      this.entries.set(spec.id, entry)
    }
    if (claim.gen >= entry.gen) entry.spec = spec
    entry.gen = Math.max(entry.gen, claim.gen)
    entry.claims.set(claim.host, claim)
    this.moved(spec.id, entry, before)
  }

  /** Knows of a child nobody runs now (from a sync), unless it is known already or was deleted. */
  learnOrphan(spec: ChildSpec, gen: number): void {
    const dead = this.tombstones.get(spec.id)
    if (dead !== undefined && dead >= gen) return
    const entry = this.entries.get(spec.id)
    if (entry !== undefined) {
      entry.gen = Math.max(entry.gen, gen)
      return
    }
    this.entries.set(spec.id, { spec, claims: new Map(), gen, last: undefined })
  }

  /** `host` no longer runs generation `gen` of `id` (it handed it over, or lost a conflict). */
  release(host: NodeId, id: string, gen: number): void {
    const entry = this.entries.get(id)
    const claim = entry?.claims.get(host)
    if (entry === undefined || claim === undefined || claim.gen !== gen) return
    const before = this.best(id, entry)
    entry.claims.delete(host)
    this.moved(id, entry, before)
  }

  /** The child is gone for good (terminated, or it exited and is not restarted). */
  delete(id: string, gen: number, reason: string): void {
    const entry = this.entries.get(id)
    this.tombstones.delete(id)
    this.tombstones.set(id, Math.max(gen, entry?.gen ?? 0))
    if (this.tombstones.size > MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value!)
    if (entry === undefined) return
    this.entries.delete(id)
    this.emit({ _tag: "ChildStopped", id, reason })
  }

  /** The claim `host` makes for `id`, if any. */
  claimOf(host: NodeId, id: string): Claim | undefined {
    return this.entries.get(id)?.claims.get(host)
  }

  /** Whether a node in `hosts` other than `host` claims `id`. */
  claimedByOther(id: string, host: NodeId, hosts: ReadonlySet<NodeId>): boolean {
    const entry = this.entries.get(id)
    if (entry === undefined) return false
    for (const other of entry.claims.keys()) if (other !== host && hosts.has(other)) return true
    return false
  }

  /** Releases every claim of `host` for an id not in `listed` (its sync stated the others). */
  releaseUnlisted(host: NodeId, listed: ReadonlySet<string>): void {
    for (const [id, entry] of this.entries) {
      const held = entry.claims.get(host)
      if (held !== undefined && !listed.has(id)) this.release(host, id, held.gen)
    }
  }

  /** `host` is gone: its claims go with it (its children become orphans unless claimed elsewhere). */
  dropHost(host: NodeId): void {
    for (const [id, entry] of this.entries) {
      const held = entry.claims.get(host)
      if (held !== undefined) this.release(host, id, held.gen)
    }
  }

  /** Applies a peer's tombstones: what it knows deleted goes here too. */
  bury(id: string, gen: number): void {
    const entry = this.entries.get(id)
    if (entry !== undefined && entry.gen <= gen) this.delete(id, gen, "terminated")
    else if (entry === undefined) this.delete(id, gen, "terminated")
  }

  private moved(id: string, entry: Entry, before: Claim | undefined): void {
    const after = this.best(id, entry)
    if (after === undefined) {
      if (before !== undefined) entry.last = before
      return
    }
    if (before !== undefined && before.host === after.host && before.serverId === after.serverId) return
    const from = before ?? entry.last
    entry.last = after
    const ref = { id: after.serverId, nodeId: after.host }
    this.emit(
      from === undefined
        ? { _tag: "ChildStarted", id, ref }
        : { _tag: "ChildRestarted", id, from: from.host, to: after.host, ref }
    )
  }
}
