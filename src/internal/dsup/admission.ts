/**
 * How a peer's claims enter this node's {@link ChildTable}. A member speaks only for itself
 * (a claim's host is the node whose link brought it), and an honest one claims a child that
 * another live member runs in two cases only: it restarted the child after that member went
 * (a failover or a handoff this node has not seen happen yet), or it ran apart from us (a
 * partition) and says so in the sync it sends when it sees us again, where the generation
 * rule keeps one copy. So outside such a sync, a claim for a child that a live member other
 * than its sender runs is held, not applied: it takes effect once that member is gone or
 * leaving (and is then checked: a process that is not there was never the child), and goes
 * when its sender withdraws or replaces it. A member that lies about running a child cannot
 * displace the real one that way.
 *
 * Syncs arrive in parts (see `sync.ts`); the intake here keeps what the parts under way listed.
 */
import { Effect } from "effect"
import type { Down } from "../../Monitor.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"
import { SyncIntake } from "./sync.js"
import type { SyncPart } from "./sync.js"
import type { ChildSpec, ChildTable, Claim } from "./table.js"

/**
 * The most claims held for one member: an honest member has claims held only while a failover
 * or handoff it made has not been seen here, a few at a time; one that lies must not grow this
 * node's memory. Past it the member's claims are dropped (its next sync states them again).
 */
export const MAX_HELD_PER_MEMBER = 100_000

/** Log one dropped claim in this many: a member over its limit would otherwise flood the log. */
const LOG_EVERY_DROPPED = 1000

/** A claim waiting, with the spec it came with. */
interface HeldClaim {
  readonly spec: ChildSpec
  readonly claim: Claim
}

/** The claims held, per member and child id (a member's newer claim for an id replaces its older). */
class HeldClaims {
  private readonly byMember = new Map<NodeId, Map<string, HeldClaim>>()
  private count = 0

  get size(): number {
    return this.count
  }

  /** Holds `claim`; `false` when its member holds too many already. */
  hold(spec: ChildSpec, claim: Claim): boolean {
    let held = this.byMember.get(claim.host)
    if (held === undefined) this.byMember.set(claim.host, held = new Map())
    if (!held.has(spec.id)) {
      if (held.size >= MAX_HELD_PER_MEMBER) return false
      this.count++
    }
    held.set(spec.id, { spec, claim })
    return true
  }

  /** `host` withdraws its claim for `id` (of generation `gen`, when given). */
  withdraw(host: NodeId, id: string, gen?: number): void {
    const held = this.byMember.get(host)
    const found = held?.get(id)
    if (held === undefined || found === undefined || (gen !== undefined && found.claim.gen !== gen)) return
    held.delete(id)
    this.count--
    if (held.size === 0) this.byMember.delete(host)
  }

  /** Every claim `host` has held here goes (it is gone, or its sync states its claims anew). */
  dropMember(host: NodeId): void {
    const held = this.byMember.get(host)
    if (held === undefined) return
    this.count -= held.size
    this.byMember.delete(host)
  }

  /** A snapshot of the claims held, to look at each again. */
  all(): Array<HeldClaim> {
    const out: Array<HeldClaim> = []
    for (const held of this.byMember.values()) for (const h of held.values()) out.push(h)
    return out
  }
}

/** What admission needs of its instance. */
export interface AdmissionDeps {
  readonly table: ChildTable
  /** The members that can host now (not leaving), this node included unless it leaves. */
  readonly active: () => ReadonlySet<NodeId>
  /** Monitors `ref` for the instance (its `Down` comes to the instance's `handleInfo`): the monitor's id, if watched. */
  readonly watch: (ref: ServerRef) => number | undefined
  /** Adds the instance's log annotations (node, supervisor). */
  readonly annotate: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** The peers' claims on their way into one instance's table. */
export class Admission {
  private readonly held = new HeldClaims()
  private readonly intake = new SyncIntake()
  /** Claims applied from being held and not yet seen to name a process: monitor id → claim. */
  private readonly verifying = new Map<number, { readonly id: string; readonly claim: Claim }>()
  private dropped = 0

  constructor(private readonly deps: AdmissionDeps) {}

  /** A claim by its host: applied, or held while a live member other than its host runs the child (unless `heal`). */
  claim(spec: ChildSpec, claim: Claim, heal: boolean): Effect.Effect<void> {
    const { table } = this.deps
    this.held.withdraw(claim.host, spec.id)
    if (heal || !table.claimedByOther(spec.id, claim.host, this.deps.active())) {
      table.claim(spec, claim)
      return Effect.void
    }
    if (this.held.hold(spec, claim)) {
      return this.deps.annotate(
        Effect.logDebug("held a member's claim for a child another live member runs").pipe(
          Effect.annotateLogs({ peer: claim.host, child: spec.id, gen: claim.gen })
        )
      )
    }
    if (this.dropped++ % LOG_EVERY_DROPPED !== 0) return Effect.void
    return this.deps.annotate(
      Effect.logWarning("dropped a member's claims past its limit of held claims").pipe(
        Effect.annotateLogs({ peer: claim.host, limit: MAX_HELD_PER_MEMBER })
      )
    )
  }

  /**
   * One part of `from`'s sync: its claims (each as {@link claim}), orphans and tombstones. The
   * last part releases the claims of `from` that no part of this sync listed.
   */
  syncPart(from: NodeId, part: SyncPart, heal: boolean): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const { table } = this.deps
      if (part.first) {
        this.intake.begin(from)
        this.held.dropMember(from)
      }
      for (const c of part.claims) {
        this.intake.note(from, c.spec.id)
        yield* this.claim(c.spec, { host: from, serverId: c.serverId, gen: c.gen }, heal)
      }
      for (const o of part.orphans) table.learnOrphan(o.spec, o.gen)
      for (const [id, gen] of part.tombstones) table.bury(id, gen)
      if (!part.last) return
      const listed = this.intake.finish(from)
      if (listed !== undefined) return table.releaseUnlisted(from, listed)
      // Its first part was lost (too large for the link, say): keep what it claimed rather
      // than forget children it may well run; its next sync states them again.
      yield* this.deps.annotate(
        Effect.logWarning("a member's sync arrived without its first part: its other claims are kept").pipe(
          Effect.annotateLogs({ peer: from })
        )
      )
    })
  }

  /** `host` no longer runs generation `gen` of `id`. */
  released(host: NodeId, id: string, gen: number): void {
    this.deps.table.release(host, id, gen)
    this.held.withdraw(host, id, gen)
  }

  /** `host` deleted child `id`: a claim of its own held here goes too. */
  deleted(host: NodeId, id: string): void {
    this.held.withdraw(host, id)
  }

  /** `host` is no longer a member: its claims, held or not, and its sync under way go. */
  memberGone(host: NodeId): void {
    this.deps.table.dropHost(host)
    this.held.dropMember(host)
    this.intake.forget(host)
  }

  /** Applies the held claims no live member contests any more, each watched to see that its process is there. */
  retry(): void {
    if (this.held.size === 0) return
    const { table } = this.deps
    const active = this.deps.active()
    for (const { claim, spec } of this.held.all()) {
      if (table.claimedByOther(spec.id, claim.host, active)) continue
      this.held.withdraw(claim.host, spec.id)
      table.claim(spec, claim)
      const monitor = this.deps.watch({ id: claim.serverId, nodeId: claim.host })
      if (monitor !== undefined) this.verifying.set(monitor, { id: spec.id, claim })
    }
  }

  /** A `Down` of a watched claim's process: one that was not there (`noproc`) was never the child. */
  down(down: Down): Effect.Effect<void> {
    const watched = this.verifying.get(down.monitorId)
    if (watched === undefined) return Effect.void
    this.verifying.delete(down.monitorId)
    const { claim, id } = watched
    const now = this.deps.table.claimOf(claim.host, id)
    // Any other end is its host's to report (a crash restart, a handoff), and a newer claim stands on its own.
    if (down.reason !== "noproc" || now?.serverId !== claim.serverId || now.gen !== claim.gen) return Effect.void
    this.deps.table.release(claim.host, id, claim.gen)
    return this.deps.annotate(
      Effect.logWarning("dropped a member's claim: it names no process on that member").pipe(
        Effect.annotateLogs({ peer: claim.host, child: id, serverId: claim.serverId })
      )
    )
  }
}
