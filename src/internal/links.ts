/**
 * The links of one node's processes (Erlang's `link/1`): two processes that share a
 * fate. When one exits with a reason other than `normal`, the exit signal takes its
 * partner down with the same reason, unless the partner traps exits (`trapExit`): then
 * it receives an `Exit` info message instead, for a `normal` exit too. A link is removed
 * by the exit that travels along it, so a cycle of links ends with each process exiting
 * once. A partner on another node is reached through the cluster's signals (`remote`);
 * its node going down is an exit signal `noconnection`. Nothing here is stored on a
 * process: an idle one pays nothing for being linkable.
 */
import type { ExitReason } from "../ExitReason.js"
import type { DownReason } from "../Monitor.js"
import { fromExitReason } from "../Monitor.js"
import type { NodeId } from "../NodeId.js"
import type { ServerRef } from "../ServerRef.js"
import type { ProcessTable } from "./process.js"

/** What a process that traps exits receives in `handleInfo` when a partner exits. */
export interface ExitSignal {
  readonly _tag: "Exit"
  /** The partner that exited. */
  readonly from: ServerRef
  readonly reason: DownReason
}

/** Whether an info message is an {@link ExitSignal}. */
export const isExitSignal = (u: unknown): u is ExitSignal =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Exit"

/** The reason a process exits with when a partner's exit signal takes it down. */
export const exitReasonOf = (reason: DownReason): ExitReason => reason

/** How links to processes on other nodes are kept (the cluster's signals). */
export interface RemoteLinks {
  /** Tells `remote`'s node that local process `local` links to it. */
  readonly link: (local: string, remote: ServerRef) => void
  /** Tells `remote`'s node the link is gone. */
  readonly unlink: (local: string, remote: ServerRef) => void
  /** Sends the exit signal of local process `local` to its partner `remote`. */
  readonly exit: (local: string, remote: ServerRef, reason: DownReason) => void
}

const keyOf = (ref: ServerRef) => `${ref.nodeId}\u0000${ref.id}`

/** The links of one node. */
export class Links {
  /** Local process id → its partners, by node and id. */
  private readonly partners = new Map<string, Map<string, ServerRef>>()
  /** Node → the local processes with a partner there (for its going down). */
  private readonly byNode = new Map<NodeId, Set<string>>()
  private readonly trapping = new Set<string>()
  /** Node → how many links cross to it (a peer's share, for its bound). */
  private readonly perNode = new Map<NodeId, number>()
  /** How a remote partner names a local process, when not by its id (a name it linked to). */
  private readonly aliases = new Map<string, string>()
  /** Set by the cluster; `undefined` for a runtime that never clusters. */
  remote: RemoteLinks | undefined = undefined

  constructor(private readonly table: ProcessTable) {}

  /** Links alive on this node, counted once per local end. */
  get size(): number {
    let n = 0
    for (const p of this.partners.values()) n += p.size
    return n
  }

  /** Makes local process `id` receive its partners' exits as `Exit` info messages. */
  trap(id: string): void {
    this.trapping.add(id)
  }

  /**
   * Links local process `id` (alive) with `other`. A partner that is not alive sends
   * its exit signal `noproc` at once, as Erlang's does.
   */
  link(id: string, other: ServerRef): void {
    if (other.nodeId !== this.table.nodeId) {
      if (this.remote === undefined) return this.signal(id, other, "noconnection")
      if (this.add(id, other)) this.remote.link(id, other)
      return
    }
    // A process stopping, its `terminate` running, is alive until it exits: its exit reaches the new partner.
    const partner = this.table.resolve(other.id)
    if (partner === undefined) return this.signal(id, other, "noproc")
    if (partner.id === id) return
    this.add(id, { id: partner.id, nodeId: other.nodeId })
    this.add(partner.id, { id, nodeId: this.table.nodeId })
  }

  /** Removes the link between local process `id` and `other`, on both sides. */
  unlink(id: string, other: ServerRef): void {
    if (other.nodeId !== this.table.nodeId) {
      if (this.remove(id, other)) this.remote?.unlink(id, other)
      return
    }
    const partner = this.table.resolve(other.id)?.id ?? other.id
    this.remove(id, { id: partner, nodeId: other.nodeId })
    this.remove(partner, { id, nodeId: this.table.nodeId })
  }

  /** Whether local process `id` is linked to `other` (a peer's exit counts only along a link). */
  has(id: string, other: ServerRef): boolean {
    return this.partners.get(id)?.has(keyOf(other)) === true
  }

  /** Links crossing to node `nodeId`. */
  linksTo(nodeId: NodeId): number {
    return this.perNode.get(nodeId) ?? 0
  }

  /** A remote partner linked to local process `id`, which it named `alias` (its node told us). */
  addRemote(id: string, other: ServerRef, alias: string): boolean {
    if (!this.add(id, other)) return false
    if (alias !== id) this.aliases.set(`${id}\u0000${keyOf(other)}`, alias)
    return true
  }

  /** Forgets a remote partner's link to `id` without a signal (its node said unlink). */
  removeRemote(id: string, other: ServerRef): void {
    this.remove(id, other)
  }

  /** How remote partner `other` names local process `id`. */
  private aliasFor(id: string, other: ServerRef): string {
    return this.aliases.get(`${id}\u0000${keyOf(other)}`) ?? id
  }

  /** Drops every local process's link with `other` (on another node), without a signal either way. */
  forgetPartner(other: ServerRef): void {
    const locals = this.byNode.get(other.nodeId)
    if (locals === undefined) return
    for (const id of Array.from(locals)) this.remove(id, other)
  }

  /** A local process ended (called after its monitors were told): its partners get its exit signal. */
  exited(id: string, exitReason: ExitReason): void {
    this.trapping.delete(id)
    const partners = this.partners.get(id)
    if (partners === undefined) return
    this.partners.delete(id)
    const reason = fromExitReason(exitReason)
    for (const partner of partners.values()) {
      this.unindex(id, partner.nodeId)
      if (partner.nodeId === this.table.nodeId) {
        this.remove(partner.id, { id, nodeId: this.table.nodeId })
        this.deliver(partner.id, { id, nodeId: this.table.nodeId }, reason)
      } else {
        const alias = this.aliasFor(id, partner)
        this.forgetRemote(id, partner)
        this.remote?.exit(alias, partner, reason)
      }
    }
  }

  /**
   * An exit signal from `from` reached local process `to` along their link: the link is
   * gone, and `to` exits with the same reason or, trapping exits, receives an `Exit`.
   */
  signal(to: string, from: ServerRef, reason: DownReason, fromPeer = false): void {
    this.remove(to, from)
    this.deliver(to, from, reason, fromPeer)
  }

  /** Node `nodeId` went down: every local process linked to one of its processes gets `noconnection`. */
  nodeDown(nodeId: NodeId): void {
    const locals = this.byNode.get(nodeId)
    if (locals === undefined) return
    this.byNode.delete(nodeId)
    this.perNode.delete(nodeId)
    // Every link to that node goes before any exit runs: a process it takes down must not
    // send exits to the node's other processes (a restarted node would get them).
    const lost: Array<readonly [string, ServerRef]> = []
    for (const id of locals) {
      const partners = this.partners.get(id)
      if (partners === undefined) continue
      for (const partner of Array.from(partners.values())) {
        if (partner.nodeId !== nodeId) continue
        partners.delete(keyOf(partner))
        this.aliases.delete(`${id}\u0000${keyOf(partner)}`)
        lost.push([id, partner])
      }
      if (partners.size === 0) this.partners.delete(id)
    }
    for (const [id, partner] of lost) this.deliver(id, partner, "noconnection")
  }

  /**
   * Exit signals waiting to be applied. Applying one ends a process, whose own exit sends
   * more: they queue here and one loop applies them, so a chain of 10,000 linked
   * processes takes a loop, not 10,000 nested stack frames.
   */
  private signals: Array<
    { readonly to: string; readonly from: ServerRef; readonly reason: DownReason; readonly fromPeer: boolean }
  > = []
  private draining = false

  private deliver(to: string, from: ServerRef, reason: DownReason, fromPeer = false): void {
    this.signals.push({ to, from, reason, fromPeer })
    if (this.draining) return
    this.draining = true
    try {
      for (let i = 0; i < this.signals.length; i++) {
        const signal = this.signals[i]!
        // One exit's defect must not cost the others theirs.
        try {
          this.apply(signal.to, signal.from, signal.reason, signal.fromPeer)
        } catch (defect) {
          this.table.reportDefect("applying an exit signal threw", defect)
        }
      }
    } finally {
      this.signals = []
      this.draining = false
    }
  }

  private apply(to: string, from: ServerRef, reason: DownReason, fromPeer: boolean): void {
    const proc = this.table.resolve(to)
    if (proc === undefined || !proc.alive) return
    if (this.trapping.has(proc.id)) {
      const signal: ExitSignal = { _tag: "Exit", from, reason }
      // Past the mailbox limit, ours and a peer's alike; a peer's are counted against its
      // share (a link and an exit in a loop would otherwise grow the mailbox without end).
      this.table.signal(proc.id, signal, undefined, fromPeer ? from.nodeId : undefined)
    } else if (reason !== "normal") {
      this.table.exit(proc.id, exitReasonOf(reason))
    }
  }

  private add(id: string, other: ServerRef): boolean {
    let partners = this.partners.get(id)
    if (partners === undefined) this.partners.set(id, partners = new Map())
    const key = keyOf(other)
    if (partners.has(key)) return false
    partners.set(key, other)
    if (other.nodeId !== this.table.nodeId) this.perNode.set(other.nodeId, this.linksTo(other.nodeId) + 1)
    let locals = this.byNode.get(other.nodeId)
    if (locals === undefined) this.byNode.set(other.nodeId, locals = new Set())
    locals.add(id)
    return true
  }

  private remove(id: string, other: ServerRef): boolean {
    const partners = this.partners.get(id)
    if (partners === undefined || !partners.delete(keyOf(other))) return false
    if (partners.size === 0) this.partners.delete(id)
    this.forgetRemote(id, other)
    let still = false
    if (partners.size > 0) {
      for (const p of partners.values()) {
        if (p.nodeId === other.nodeId) {
          still = true
          break
        }
      }
    }
    if (!still) this.unindex(id, other.nodeId)
    return true
  }

  /** One fewer link to a remote partner's node. */
  private forgetRemote(id: string, other: ServerRef): void {
    if (other.nodeId === this.table.nodeId) return
    this.aliases.delete(`${id}\u0000${keyOf(other)}`)
    const n = this.linksTo(other.nodeId) - 1
    if (n > 0) this.perNode.set(other.nodeId, n)
    else this.perNode.delete(other.nodeId)
  }

  private unindex(id: string, nodeId: NodeId): void {
    const locals = this.byNode.get(nodeId)
    if (locals !== undefined && locals.delete(id) && locals.size === 0) this.byNode.delete(nodeId)
  }
}
