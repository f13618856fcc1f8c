/**
 * One process-group scope on one node (Erlang's `pg`): the scope's replica of every
 * group's members, and the process named after the scope that peers talk to. Each node
 * is the only author of its own processes' memberships: it broadcasts its joins and
 * leaves to the scope's process on every peer, and sends its whole share (`sync`) to
 * each peer it discovers. What a peer says is taken only for that peer's processes (the
 * `from` its link authenticated), and all of it is dropped when the peer's node goes
 * down. Replicas therefore converge once links are quiet, whatever the
 * order of partitions and heals: strong eventual consistency, as `pg` promises.
 */
import { Effect, Either, PubSub, Schema } from "effect"
import type * as GenServer from "../GenServer.js"
import type { NodeId } from "../NodeId.js"
import type { ServerRef } from "../ServerRef.js"
import type { PeerMessage } from "./groupsMessages.js"
import {
  chunkIds,
  decodePeerMessage,
  frameBudget,
  groupBytes,
  idBytes,
  MAX_MEMBERS_PER_PEER,
  OwnerReply,
  OwnerRequest,
  scopeProcessName
} from "./groupsMessages.js"

export { MAX_GROUP_NAME_CHARS, MAX_MEMBERS_PER_PEER, scopeProcessName } from "./groupsMessages.js"

/** What a scope's members did: one event per join or leave, for the refs it changed. */
export type GroupEvent =
  | { readonly _tag: "Joined"; readonly scope: string; readonly group: string; readonly refs: ReadonlyArray<ServerRef> }
  | { readonly _tag: "Left"; readonly scope: string; readonly group: string; readonly refs: ReadonlyArray<ServerRef> }

/** What a scope is built with. */
export interface ScopeDeps {
  readonly scope: string
  readonly runtime: GenServer.Service
  /** The nodes to discover at start (connected members). */
  readonly connected: () => ReadonlyArray<NodeId>
  /** Whether a peer takes part (a hidden node, a tool, does not). */
  readonly isMember: (nodeId: NodeId) => boolean
  /** Estimated bytes a frame to `peer` may hold (a sync's, a join's, a leave's). */
  readonly frameBudget: (peer: NodeId) => number
  readonly events: PubSub.PubSub<GroupEvent>
}

/** Counts per id: a process may join a group several times and must leave as often (as in `pg`). */
type Counts = Map<string, number>

const add = (counts: Counts, id: string, n = 1) => counts.set(id, (counts.get(id) ?? 0) + n)

/** One scope's replica on one node. */
export class GroupScope {
  readonly name: string
  /** This node's memberships: group → local id → count. */
  private readonly local = new Map<string, Counts>()
  /** Each peer's memberships: peer → group → id → count. */
  private readonly remote = new Map<NodeId, Map<string, Counts>>()
  /** How many memberships each peer holds (its bound). */
  private readonly remoteCount = new Map<NodeId, number>()
  /** Groups listed so far by a peer's sync that has more frames to come, and how many ids. */
  private readonly syncing = new Map<NodeId, Map<string, Counts>>()
  private readonly syncCount = new Map<NodeId, number>()
  /** Peers whose scope process is known (it sent us something since its link came up). */
  private readonly peers = new Set<NodeId>()
  /** Local id → the monitor that removes it from its groups when it exits. */
  private readonly watched = new Map<string, number>()
  /** `members` answers, kept until the group changes (lookups are the hot path). */
  private readonly cache = new Map<string, ReadonlyArray<ServerRef>>()
  private readonly rt: GenServer.Service
  private readonly self: NodeId
  private droppedJoins = 0

  constructor(private readonly deps: ScopeDeps) {
    this.name = deps.scope
    this.rt = deps.runtime
    this.self = deps.runtime.nodeId
  }

  private refTo(peer: NodeId): ServerRef {
    return { id: scopeProcessName(this.name), nodeId: peer }
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** Every member of `group` on every node, local ones first, then by node and id. */
  members(group: string): ReadonlyArray<ServerRef> {
    const cached = this.cache.get(group)
    if (cached !== undefined) return cached
    const refs: Array<ServerRef> = []
    const push = (counts: Counts | undefined, nodeId: NodeId) => {
      if (counts === undefined) return
      for (const [id, n] of counts) for (let i = 0; i < n; i++) refs.push({ id, nodeId })
    }
    push(this.local.get(group), this.self)
    for (const peer of Array.from(this.remote.keys()).sort()) push(this.remote.get(peer)!.get(group), peer)
    // Only groups with members are kept: asking for any number of names must not grow the cache.
    if (refs.length > 0) this.cache.set(group, refs)
    return refs
  }

  /** This node's members of `group`. */
  localMembers(group: string): ReadonlyArray<ServerRef> {
    const counts = this.local.get(group)
    if (counts === undefined) return []
    const refs: Array<ServerRef> = []
    for (const [id, n] of counts) for (let i = 0; i < n; i++) refs.push({ id, nodeId: this.self })
    return refs
  }

  /** Groups with at least one member anywhere, sorted. */
  groups(): ReadonlyArray<string> {
    const names = new Set(this.local.keys())
    for (const groups of this.remote.values()) for (const g of groups.keys()) names.add(g)
    return Array.from(names).sort()
  }

  // ---- local writes --------------------------------------------------------------------------

  /** Adds live local processes to `group` and tells every peer. */
  joinLocal(group: string, ids: ReadonlyArray<string>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (ids.length === 0) return Effect.void
      let counts = this.local.get(group)
      if (counts === undefined) this.local.set(group, counts = new Map())
      for (const id of ids) {
        add(counts, id)
        if (!this.watched.has(id)) this.watch(id)
      }
      this.changed(group, "Joined", ids.map((id) => ({ id, nodeId: this.self })))
      return this.broadcast("pg.join", group, ids)
    })
  }

  /** Removes one membership of each local process from `group` (those not in it are skipped). */
  leaveLocal(group: string, ids: ReadonlyArray<string>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const counts = this.local.get(group)
      if (counts === undefined) return Effect.void
      const left: Array<string> = []
      for (const id of ids) {
        const n = counts.get(id)
        if (n === undefined) continue
        if (n > 1) counts.set(id, n - 1)
        else counts.delete(id)
        left.push(id)
      }
      if (counts.size === 0) this.local.delete(group)
      if (left.length === 0) return Effect.void
      for (const id of left) this.unwatchIfGone(id)
      this.changed(group, "Left", left.map((id) => ({ id, nodeId: this.self })))
      return this.broadcast("pg.leave", group, left)
    })
  }

  private watch(id: string): void {
    const monitor = this.rt.watch({ id, nodeId: this.self }, () => this.exited(id))
    if (monitor._tag === "Right" && this.watched.has(id) === false) this.watched.set(id, monitor.right)
  }

  private unwatchIfGone(id: string): void {
    for (const counts of this.local.values()) if (counts.has(id)) return
    const monitor = this.watched.get(id)
    this.watched.delete(id)
    if (monitor !== undefined) this.rt.unwatch(monitor)
  }

  /** A local member exited: it leaves every group it was in, everywhere. */
  private exited(id: string): void {
    this.watched.delete(id)
    const effects: Array<Effect.Effect<void>> = []
    for (const [group, counts] of Array.from(this.local)) {
      const n = counts.get(id)
      if (n === undefined) continue
      effects.push(this.leaveLocal(group, Array.from({ length: n }, () => id)))
    }
    // A monitor's notify runs inside the runtime's signal loop: the sends go after it.
    if (effects.length > 0) this.runLater(Effect.all(effects, { discard: true }))
  }

  /** Set by the scope's process: how work started by a callback is run. */
  runLater: (effect: Effect.Effect<void>) => void = () => {}

  // ---- peers ---------------------------------------------------------------------------------

  /** Asks every connected member's scope process to exchange memberships. */
  discoverAll(): Effect.Effect<void> {
    return Effect.forEach(this.deps.connected(), (peer) => this.discover(peer), { discard: true })
  }

  /** Asks `peer`'s scope process for its memberships (it answers with a sync, and asks for ours). */
  discover(peer: NodeId): Effect.Effect<void> {
    if (peer === this.self || !this.deps.isMember(peer)) return Effect.void
    return this.rt.send(this.refTo(peer), { _tag: "pg.discover" })
  }

  /** A message from a peer's scope process (`from`, as its link authenticated it). */
  receive(msg: unknown, from: NodeId | undefined): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (from === undefined || from === this.self || !this.deps.isMember(from)) return Effect.void
      const decoded = decodePeerMessage(msg)
      if (Either.isLeft(decoded)) {
        return Effect.logWarning("dropped a process-group message that does not decode").pipe(
          Effect.annotateLogs({ node: this.self, peer: from, scope: this.name })
        )
      }
      return this.apply(from, decoded.right)
    })
  }

  private apply(from: NodeId, msg: PeerMessage): Effect.Effect<void> {
    switch (msg._tag) {
      case "pg.discover": {
        const known = this.know(from)
        return Effect.zipRight(this.sync(from), known ? Effect.void : this.discover(from))
      }
      case "pg.sync": {
        this.know(from)
        let listed = this.syncing.get(from)
        if (listed === undefined) this.syncing.set(from, listed = new Map())
        // A sync still coming is bounded like what it replaces: past the limit the rest is dropped.
        let held = this.syncCount.get(from) ?? 0
        for (const [group, ids] of msg.groups) {
          let counts = listed.get(group)
          if (counts === undefined) listed.set(group, counts = new Map())
          for (const id of ids) {
            if (held >= MAX_MEMBERS_PER_PEER) break
            add(counts, id)
            held++
          }
        }
        this.syncCount.set(from, held)
        if (msg.more === true) return Effect.void
        this.syncing.delete(from)
        this.syncCount.delete(from)
        this.replace(from, listed)
        return Effect.void
      }
      case "pg.join": {
        // Before its discover is answered a peer's joins are still its own: taken, and its sync settles the rest.
        this.know(from)
        const granted = this.grant(from, msg.ids.length)
        if (granted < msg.ids.length) this.overLimit(from)
        if (granted === 0) return Effect.void
        const ids = msg.ids.slice(0, granted)
        const groups = this.remoteOf(from)
        let counts = groups.get(msg.group)
        if (counts === undefined) groups.set(msg.group, counts = new Map())
        for (const id of ids) add(counts, id)
        this.changed(msg.group, "Joined", ids.map((id) => ({ id, nodeId: from })))
        return Effect.void
      }
      case "pg.leave": {
        const counts = this.remote.get(from)?.get(msg.group)
        if (counts === undefined) return Effect.void
        const left: Array<string> = []
        for (const id of msg.ids) {
          const n = counts.get(id)
          if (n === undefined) continue
          if (n > 1) counts.set(id, n - 1)
          else counts.delete(id)
          left.push(id)
        }
        if (counts.size === 0) this.remote.get(from)!.delete(msg.group)
        this.remoteCount.set(from, (this.remoteCount.get(from) ?? 0) - left.length)
        if (left.length > 0) this.changed(msg.group, "Left", left.map((id) => ({ id, nodeId: from })))
        return Effect.void
      }
    }
  }

  /** Notes a peer's scope process; `true` when it was known already. */
  private know(peer: NodeId): boolean {
    if (this.peers.has(peer)) return true
    this.peers.add(peer)
    return false
  }

  /**
   * A peer's node went down: its memberships are dropped here. (Its scope process stops
   * only with its node, so the node's link is all there is to watch: no monitor per peer.)
   */
  peerGone(peer: NodeId): void {
    this.peers.delete(peer)
    this.syncing.delete(peer)
    this.syncCount.delete(peer)
    this.replace(peer, new Map())
  }

  /** Replaces everything held for `peer` with `next`, publishing the difference. */
  private replace(peer: NodeId, next: Map<string, Counts>): void {
    const before = this.remote.get(peer) ?? new Map<string, Counts>()
    // The bound holds for a sync too: what is past it is dropped, group by group.
    let budget = MAX_MEMBERS_PER_PEER
    let total = 0
    for (const [group, counts] of next) {
      for (const [id, n] of counts) {
        const take = Math.min(n, budget)
        budget -= take
        total += take
        if (take < n) {
          if (take === 0) counts.delete(id)
          else counts.set(id, take)
        }
      }
      if (counts.size === 0) next.delete(group)
    }
    if (budget === 0) this.overLimit(peer)
    if (next.size === 0) this.remote.delete(peer)
    else this.remote.set(peer, next)
    this.remoteCount.set(peer, total)
    if (total === 0) this.remoteCount.delete(peer)
    for (const group of new Set([...before.keys(), ...next.keys()])) {
      const was = before.get(group) ?? new Map<string, number>()
      const now = next.get(group) ?? new Map<string, number>()
      const joined: Array<ServerRef> = []
      const left: Array<ServerRef> = []
      for (const id of new Set([...was.keys(), ...now.keys()])) {
        const delta = (now.get(id) ?? 0) - (was.get(id) ?? 0)
        for (let i = 0; i < Math.abs(delta); i++) (delta > 0 ? joined : left).push({ id, nodeId: peer })
      }
      if (left.length > 0) this.changed(group, "Left", left)
      if (joined.length > 0) this.changed(group, "Joined", joined)
    }
  }

  private remoteOf(peer: NodeId): Map<string, Counts> {
    let groups = this.remote.get(peer)
    if (groups === undefined) this.remote.set(peer, groups = new Map())
    return groups
  }

  /** How many of `wanted` more memberships `peer` may hold. */
  private grant(peer: NodeId, wanted: number): number {
    const held = this.remoteCount.get(peer) ?? 0
    const granted = Math.max(0, Math.min(wanted, MAX_MEMBERS_PER_PEER - held))
    this.remoteCount.set(peer, held + granted)
    return granted
  }

  private overLimit(peer: NodeId): void {
    if (this.droppedJoins++ % 1000 !== 0) return
    this.runLater(
      Effect.logWarning("dropped a peer's process-group joins past its limit").pipe(
        Effect.annotateLogs({ node: this.self, peer, scope: this.name, limit: MAX_MEMBERS_PER_PEER })
      )
    )
  }

  /** Sends this node's memberships to `peer`, in frames its link takes. */
  private sync(peer: NodeId): Effect.Effect<void> {
    const budget = frameBudget(this.deps.frameBudget(peer))
    const frames: Array<Array<readonly [string, ReadonlyArray<string>]>> = []
    let frame: Array<readonly [string, ReadonlyArray<string>]> = []
    let bytes = 0
    for (const [group, counts] of this.local) {
      let ids: Array<string> = []
      bytes += groupBytes(group)
      for (const [id, n] of counts) {
        for (let i = 0; i < n; i++) {
          ids.push(id)
          bytes += idBytes(id)
          if (bytes > budget) {
            frame.push([group, ids])
            frames.push(frame)
            frame = []
            ids = []
            bytes = groupBytes(group)
          }
        }
      }
      if (ids.length > 0) frame.push([group, ids])
    }
    frames.push(frame)
    const to = this.refTo(peer)
    return Effect.forEach(
      frames,
      (groups, i) =>
        this.rt.send(to, i < frames.length - 1 ? { _tag: "pg.sync", groups, more: true } : { _tag: "pg.sync", groups }),
      { discard: true }
    )
  }

  /**
   * Tells every peer of a join or leave, cut to each peer's frame budget: one message over
   * the link's limit would be dropped whole, and a peer's view would then never converge.
   * The parts go in order on one link, so the peer applies them as the one change they are.
   */
  private broadcast(tag: "pg.join" | "pg.leave", group: string, ids: ReadonlyArray<string>): Effect.Effect<void> {
    // Peers mostly share one frame limit: the ids are cut once per budget, not once per peer.
    const byBudget = new Map<number, ReadonlyArray<ReadonlyArray<string>>>()
    return Effect.forEach(Array.from(this.peers), (peer) => {
      const budget = frameBudget(this.deps.frameBudget(peer))
      let chunks = byBudget.get(budget)
      if (chunks === undefined) byBudget.set(budget, chunks = chunkIds(group, ids, budget))
      const to = this.refTo(peer)
      return Effect.forEach(chunks, (part) => this.rt.send(to, { _tag: tag, group, ids: part }), { discard: true })
    }, { discard: true })
  }

  private changed(group: string, tag: "Joined" | "Left", refs: ReadonlyArray<ServerRef>): void {
    this.cache.delete(group)
    this.deps.events.unsafeOffer({ _tag: tag, scope: this.name, group, refs })
  }
}

/**
 * The behavior of a scope's process: the endpoint peers send to; the state lives in the
 * scope. A call is an owner request (`serve`, the node's: it may concern another scope,
 * which it starts if it must).
 */
export const scopeBehavior = (
  scope: GroupScope,
  serve: (request: OwnerRequest) => Effect.Effect<OwnerReply>
): GenServer.GenServerBehavior<GroupScope, any, unknown, OwnerReply> => ({
  init: () => scope,
  handleCall: (msg: unknown, state: GroupScope) => {
    // A peer's call was decoded on arrival (`schemas.call`); a local caller's is decoded here.
    const request = Schema.decodeUnknownEither(OwnerRequest)(msg)
    if (Either.isLeft(request)) return Effect.fail(new Error("not a process-group request"))
    return Effect.map(serve(request.right), (reply) => [reply, state] as const)
  },
  handleCast: (_msg: unknown, state: GroupScope) => state,
  handleInfo: (msg: unknown, state: GroupScope, from?: NodeId) => Effect.as(state.receive(msg, from), state),
  schemas: { call: OwnerRequest, cast: Schema.Never as unknown as Schema.Schema<any, never>, reply: OwnerReply }
})
