/**
 * One node's instance of a distributed supervisor: a process that traps exits, linked to
 * the children it hosts, and the node's {@link ChildTable} of them all. It learns which
 * nodes run the supervisor from a process group (its members are the instances), tells
 * the other instances what it hosts (syncs in parts, `sync.ts`), takes their claims as
 * `admission.ts` says (a claim that would displace a live member's child waits), and after
 * every change decides what it alone must do: restart the orphans it ranks highest for
 * (with a majority of the members, in `quorum` mode, and only once every member has sent
 * its view), and give up a child another node runs with a better claim (a partition
 * healed, or it is leaving and the child found a new home). Decisions are made by the process, one at a time; reads of
 * the table (`whereis`) are direct.
 */
import { Clock, Effect, Either, Option, PubSub, Schema } from "effect"
import type { ExitReason } from "../../ExitReason.js"
import type * as GenServer from "../../GenServer.js"
import * as GenServerModule from "../../GenServer.js"
import { isDown, isExitSignal } from "../../GenServer.js"
import type { NodeId } from "../../NodeId.js"
import * as ProcessGroups from "../../ProcessGroups.js"
import * as RemoteSpawn from "../../RemoteSpawn.js"
import type { ServerRef } from "../../ServerRef.js"
import { describe } from "../handler.js"
import { Admission } from "./admission.js"
import { PeerMessage, Request } from "./messages.js"
import type { StartAnswer, TerminateAnswer } from "./messages.js"
import { syncParts } from "./sync.js"
import { ChildTable, ownerOf } from "./table.js"
import type { ChildEvent, ChildSpec } from "./table.js"

/** How long a child may take to stop when its supervisor stops it (a conflict, a handoff, a terminate). */
const CHILD_SHUTDOWN = "5 seconds"

/** The scope of the process groups whose members are the supervisors' instances. */
export const INSTANCES_SCOPE = "noex.dsup"

/** The process name of supervisor `name`'s instance on every node. */
export const instanceName = (name: string): string => `noex.dsup.${name}`

/** How a supervisor behaves under a partition and on crashes. */
export interface InstanceOptions {
  readonly name: string
  /** `quorum`: only a side with a majority of the members restarts orphans; `availability`: every side does. */
  readonly partition: "quorum" | "availability"
  /** Where a new child goes: the member its id hashes to, or the member running the fewest processes. */
  readonly placement: "hash" | "least-loaded"
  readonly maxRestarts: number
  readonly periodMs: number
  /** How long the members must stay the same before orphans are restarted. */
  readonly stableAfterMs: number
  /** A process group (default scope) every child joins where it is started: a pool's dispatch list. */
  readonly group: string | undefined
}

const decodePeer = Schema.decodeUnknownEither(PeerMessage)

const reasonText = (reason: unknown): string =>
  typeof reason === "string" ? reason : (() => {
    try {
      return JSON.stringify(reason, (_k, v) => (v instanceof Error ? `${v.name}: ${v.message}` : v))
    } catch {
      return "error"
    }
  })()

/** One node's instance. */
export class Instance {
  readonly table: ChildTable
  readonly events: PubSub.PubSub<ChildEvent>
  readonly self: NodeId
  ref: ServerRef | undefined = undefined
  /** How peers' claims and syncs enter the table. */
  private readonly admission: Admission
  /** Nodes running an instance (the group's members), this one included once it joined. */
  private members = new Set<NodeId>()
  /** Every member seen and not gone gracefully: a majority of these is a quorum. */
  private readonly known = new Set<NodeId>()
  private readonly leavingPeers = new Set<NodeId>()
  /** Peers whose view arrived since they (re)appeared: orphans wait until all have. */
  private readonly synced = new Set<NodeId>()
  /** What this node hosts: child id → process and generation, in start order. */
  private readonly hosted = new Map<string, { serverId: string; gen: number }>()
  private readonly byServer = new Map<string, string>()
  private readonly restarts = new Map<string, Array<number>>()
  /** When the members last changed, and whether a wake-up for their settling is pending. */
  private lastChange = 0
  private wakeUp = false
  leaving = false

  constructor(
    readonly options: InstanceOptions,
    readonly runtime: GenServer.Service,
    events: PubSub.PubSub<ChildEvent>,
    /** Estimated bytes one sync part to a peer may take (see `sync.ts`). */
    private readonly frameBudget: (peer: NodeId) => number
  ) {
    this.self = runtime.nodeId
    this.events = events
    this.table = new ChildTable((e) => void events.unsafeOffer(e))
    this.known.add(this.self)
    this.admission = new Admission({
      table: this.table,
      active: () => this.active(),
      watch: (ref) => Option.getOrUndefined(Either.getRight(runtime.watch(ref, () => {}, this.ref))),
      annotate: (effect) => Effect.annotateLogs(effect, { node: this.self, supervisor: this.options.name })
    })
  }

  /** The nodes that can host: members that are not leaving. */
  active(): Set<NodeId> {
    const nodes = new Set<NodeId>()
    for (const m of this.members) if (!this.leavingPeers.has(m) && !(m === this.self && this.leaving)) nodes.add(m)
    return nodes
  }

  /** Whether this side holds a majority of the members it knows. */
  hasQuorum(): boolean {
    return this.active().size * 2 > this.known.size
  }

  hostedCount(): number {
    return this.hosted.size
  }

  /** Whether another node could take this one's children now. */
  hasHeirs(): boolean {
    for (const m of this.active()) if (m !== this.self) return true
    return false
  }

  private peerRef(node: NodeId): ServerRef {
    return { id: instanceName(this.options.name), nodeId: node }
  }

  private send(node: NodeId, msg: PeerMessage): Effect.Effect<void> {
    return this.runtime.send(this.peerRef(node), msg)
  }

  private broadcast(msg: PeerMessage): Effect.Effect<void> {
    return Effect.forEach(this.members, (m) => (m === this.self ? Effect.void : this.send(m, msg)), { discard: true })
  }

  /** Sends this node's view to `node`, in parts its link takes. */
  private syncTo(node: NodeId, ask: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      const { parts, unencodable } = syncParts({
        ask,
        claims: this.table.claimsOf(this.self),
        orphans: this.table.orphans(),
        tombstones: this.table.tombstoneList(),
        leaving: this.leaving
      }, this.frameBudget(node))
      const sent = Effect.forEach(parts, (part) => this.send(node, part), { discard: true })
      return unencodable === 0 ? sent : Effect.zipRight(
        Effect.logWarning("left children whose spec cannot be encoded out of a sync").pipe(
          Effect.annotateLogs({ node: this.self, supervisor: this.options.name, peer: node, children: unencodable })
        ),
        sent
      )
    })
  }

  // ---- membership ----------------------------------------------------------------------------

  /** The group's members now: new ones are sent this node's view, gone ones lose their claims. */
  membersChanged(): Effect.Effect<void, never, ProcessGroups.ProcessGroups> {
    return Effect.gen(this, function*() {
      const refs = yield* ProcessGroups.members(this.options.name, { scope: INSTANCES_SCOPE })
      const now = new Set(refs.map((r) => r.nodeId))
      const fresh: Array<NodeId> = []
      for (const node of now) {
        if (!this.members.has(node) && node !== this.self) fresh.push(node)
        // A member that said it is leaving stays in the group until it is gone, but no longer counts toward a majority.
        if (!this.leavingPeers.has(node)) this.known.add(node)
      }
      for (const node of this.members) {
        if (now.has(node)) continue
        this.synced.delete(node)
        this.admission.memberGone(node)
        if (this.leavingPeers.delete(node)) this.known.delete(node)
      }
      let changed = now.size !== this.members.size
      for (const node of now) if (!this.members.has(node)) changed = true
      if (changed) this.lastChange = yield* Clock.currentTimeMillis
      const lost = Array.from(this.members).some((m) => !now.has(m))
      this.members = now
      // A lost member's last claims may have reached only some of us: everyone says what it
      // knows (its claims, and the orphans with their specs), so the decider learns them.
      if (lost) {
        for (const node of now) if (node !== this.self && !fresh.includes(node)) yield* this.syncTo(node, false)
      }
      for (const node of fresh) {
        this.synced.delete(node)
        yield* this.syncTo(node, true)
      }
    })
  }

  // ---- peers ---------------------------------------------------------------------------------

  /** An info message: the group changed, a hosted child exited, or a peer instance spoke. */
  receive(msg: unknown, from: NodeId | undefined): Effect.Effect<void, never, any> {
    return Effect.gen(this, function*() {
      if (from === undefined) {
        if (isExitSignal(msg)) yield* this.childExited(msg.from, msg.reason)
        else if (isDown(msg)) yield* this.admission.down(msg)
        else if ((msg as { _tag?: unknown })?._tag === "ds.members") yield* this.membersChanged()
        return yield* this.reconcile()
      }
      const decoded = decodePeer(msg)
      if (Either.isLeft(decoded)) {
        return yield* Effect.logWarning("dropped a supervisor message that does not decode").pipe(
          Effect.annotateLogs({ node: this.self, peer: from, supervisor: this.options.name })
        )
      }
      // Only an instance in the group speaks for the supervisor. The group may know of it
      // before this process heard: look again. What is dropped here the peer's sync
      // restores, since seeing it join asks for one.
      if (!this.members.has(from)) yield* this.membersChanged()
      if (!this.members.has(from)) return
      const message = decoded.right
      yield* this.apply(from, message)
      if (message._tag === "ds.sync") {
        // Decisions wait for the whole view: the parts of one sync come one after another.
        if (!message.last) return
        if (message.ask) yield* this.syncTo(from, false)
      }
      yield* this.reconcile()
    })
  }

  private apply(from: NodeId, msg: PeerMessage): Effect.Effect<void> {
    switch (msg._tag) {
      case "ds.sync": {
        // A member that ran apart from us says what it ran meanwhile in its first sync since
        // it reappeared, or in one that asks for ours (it has just seen us again): a second
        // copy of a child there is settled by the generation rule, not held.
        const heal = msg.ask || !this.synced.has(from)
        return Effect.map(this.admission.syncPart(from, msg, heal), () => {
          if (!msg.last) return
          if (msg.leaving) this.peerLeaving(from)
          this.synced.add(from)
        })
      }
      case "ds.hosting":
        return this.admission.claim(msg.spec, { host: from, serverId: msg.serverId, gen: msg.gen }, false)
      case "ds.released":
        return Effect.sync(() => this.admission.released(from, msg.id, msg.gen))
      case "ds.deleted":
        return Effect.sync(() => {
          // The host deletes its own child; a peer that does not run it cannot.
          const at = this.table.location(msg.id)
          if (at === undefined || at.host === from) this.table.delete(msg.id, msg.gen, msg.reason)
          this.admission.deleted(from, msg.id)
        })
      case "ds.leaving":
        return Effect.sync(() => this.peerLeaving(from))
    }
  }

  private peerLeaving(peer: NodeId): void {
    this.leavingPeers.add(peer)
    this.known.delete(peer)
  }

  // ---- decisions -----------------------------------------------------------------------------

  /** What this node alone must do now: restart the orphans it decides, give up what another node runs better. */
  reconcile(): Effect.Effect<void, never, any> {
    return Effect.gen(this, function*() {
      // Held claims first: a member that left or went since makes some of them stand.
      this.admission.retry()
      const hosts = this.active()
      const complete = Array.from(hosts).every((h) => h === this.self || this.synced.has(h))
      const allowed = this.options.partition === "availability" || this.hasQuorum()
      // A partition is seen link by link, over about a heartbeat interval: until the view
      // settles, a minority can believe it holds a majority. Orphans wait for it.
      const unsettled = this.options.stableAfterMs - ((yield* Clock.currentTimeMillis) - this.lastChange)
      // A majority whose view has settled forgets the members that are gone: a quorum is
      // then a majority of the nodes that still run the supervisor (a minority never prunes).
      if (unsettled <= 0 && complete && this.hasQuorum()) {
        for (const k of Array.from(this.known)) if (!this.members.has(k)) this.known.delete(k)
      }
      // Orphans to restart, or gone members to forget, once the view settles.
      if (unsettled > 0) yield* this.wakeAfter(unsettled)
      else if (!this.leaving && complete && allowed && hosts.has(this.self)) {
        for (const spec of this.table.homeless(hosts)) {
          if (ownerOf(spec.id, hosts) === this.self && !this.hosted.has(spec.id)) {
            yield* this.startLocal(spec, this.table.nextGen(spec.id))
          }
        }
      }
      for (const [id, mine] of Array.from(this.hosted)) {
        const at = this.table.location(id)
        if (at === undefined || at.host === this.self) continue
        const winner = { id: at.serverId, nodeId: at.host }
        const loser = { id: mine.serverId, nodeId: this.self }
        yield* this.stopHosted(id, this.leaving ? "shutdown" : { conflict: id })
        this.table.release(this.self, id, mine.gen)
        yield* this.broadcast({ _tag: "ds.released", id, gen: mine.gen })
        if (!this.leaving) yield* PubSub.publish(this.events, { _tag: "ConflictResolved", id, winner, loser })
      }
      // And again: a claim this node gave up may have been what held another.
      this.admission.retry()
    })
  }

  /** Looks again once the members may have settled (one wake-up pending at a time). */
  private wakeAfter(ms: number): Effect.Effect<void> {
    if (this.wakeUp) return Effect.void
    this.wakeUp = true
    const self = this.ref!
    return Effect.asVoid(Effect.forkDaemon(
      Effect.sleep(ms).pipe(
        Effect.zipRight(Effect.sync(() => void (this.wakeUp = false))),
        Effect.zipRight(this.runtime.send(self, { _tag: "ds.members" }))
      )
    ))
  }

  /** Where a new child goes. */
  placementFor(id: string): NodeId {
    const hosts = this.active()
    if (hosts.size === 0) return this.self
    if (this.options.placement === "hash") return ownerOf(id, hosts)!
    let best: NodeId | undefined
    for (const node of Array.from(hosts).sort()) {
      if (best === undefined || this.table.loadOf(node) < this.table.loadOf(best)) best = node
    }
    return best!
  }

  /** Starts `spec` here, linked to this instance, and tells every member. */
  startLocal(spec: ChildSpec, gen: number): Effect.Effect<StartAnswer, never, any> {
    return Effect.gen(this, function*() {
      const started = yield* Effect.either(
        RemoteSpawn.spawn(spec.behavior, this.self, { args: spec.args, link: true })
      )
      if (Either.isLeft(started)) {
        const message = started.left.message
        yield* Effect.logWarning("a distributed child could not start").pipe(
          Effect.annotateLogs({ node: this.self, supervisor: this.options.name, child: spec.id, reason: message })
        )
        this.table.delete(spec.id, gen, `start failed: ${message}`)
        yield* this.broadcast({ _tag: "ds.deleted", id: spec.id, gen, reason: `start failed: ${message}` })
        return { _tag: "failed", message } as const
      }
      const serverId = started.right.serverId
      const group = this.options.group
      // Exits are noticed by the group itself: a child that already died is simply not a member.
      if (group !== undefined) yield* Effect.ignore(ProcessGroups.join(group, { id: serverId, nodeId: this.self }))
      this.hosted.set(spec.id, { serverId, gen })
      this.byServer.set(serverId, spec.id)
      this.table.claim(spec, { host: this.self, serverId, gen })
      yield* this.broadcast({ _tag: "ds.hosting", spec, serverId, gen })
      return { _tag: "started", serverId } as const
    })
  }

  /** Stops a hosted child on purpose (unlinked first: its exit is not a crash to restart). */
  private stopHosted(id: string, reason: ExitReason): Effect.Effect<void, never, any> {
    const mine = this.hosted.get(id)
    if (mine === undefined) return Effect.void
    this.hosted.delete(id)
    this.byServer.delete(mine.serverId)
    const ref = { id: mine.serverId, nodeId: this.self }
    return Effect.zipRight(
      Effect.ignore(GenServerModule.unlink(this.ref!, ref)),
      // Bounded: a child whose terminate never ends must not wedge the supervisor on this node.
      Effect.ignore(Effect.timeout(GenServerModule.stop(ref, reason), CHILD_SHUTDOWN))
    )
  }

  /** A hosted child exited: restarted here as its spec says, or gone for good. */
  private childExited(ref: ServerRef, reason: unknown): Effect.Effect<void, never, any> {
    return Effect.gen(this, function*() {
      const id = ref.nodeId === this.self ? this.byServer.get(ref.id) : undefined
      if (id === undefined) return
      const mine = this.hosted.get(id)!
      this.hosted.delete(id)
      this.byServer.delete(ref.id)
      const spec = this.table.spec(id)
      if (spec === undefined) return
      const normal = reason === "normal" || reason === "shutdown"
      const restart = spec.restart === "permanent" || (spec.restart === "transient" && !normal)
      if (!restart) return yield* this.deleteHosted(id, mine.gen, reasonText(reason))
      const now = yield* Clock.currentTimeMillis
      const recent = (this.restarts.get(id) ?? []).filter((t) => now - t < this.options.periodMs)
      recent.push(now)
      this.restarts.set(id, recent)
      if (recent.length > this.options.maxRestarts) {
        yield* Effect.logError("a distributed child reached its restart intensity and is given up").pipe(
          Effect.annotateLogs({ node: this.self, supervisor: this.options.name, child: id, reason: reasonText(reason) })
        )
        return yield* this.deleteHosted(id, mine.gen, "max restart intensity reached")
      }
      // A crash restart stays here: its new claim replaces the old one, with no moment in
      // which another node could see it homeless.
      yield* this.startLocal(spec, this.table.nextGen(id))
    })
  }

  private deleteHosted(id: string, gen: number, reason: string): Effect.Effect<void> {
    this.restarts.delete(id)
    this.table.delete(id, gen, reason)
    return this.broadcast({ _tag: "ds.deleted", id, gen, reason })
  }

  // ---- requests ------------------------------------------------------------------------------

  /** A call to the instance: from this node's API, or another member's. */
  request(msg: Request): Effect.Effect<unknown, never, any> {
    return Effect.gen(this, function*() {
      switch (msg._tag) {
        case "ds.plan": {
          if (this.leaving) return { _tag: "leaving" } satisfies StartAnswer
          const at = this.table.location(msg.id)
          if (this.table.spec(msg.id) !== undefined) {
            return { _tag: "exists", serverId: at?.serverId, host: at?.host } satisfies StartAnswer
          }
          return { _tag: "target", node: this.placementFor(msg.id) } satisfies StartAnswer
        }
        case "ds.startHere": {
          if (this.leaving) return { _tag: "leaving" } satisfies StartAnswer
          if (this.table.spec(msg.spec.id) !== undefined) {
            const at = this.table.location(msg.spec.id)
            return { _tag: "exists", serverId: at?.serverId, host: at?.host } satisfies StartAnswer
          }
          return yield* this.startLocal(msg.spec, this.table.nextGen(msg.spec.id))
        }
        case "ds.terminate": {
          const mine = this.hosted.get(msg.id)
          if (mine !== undefined) {
            yield* this.stopHosted(msg.id, "shutdown")
            yield* this.deleteHosted(msg.id, mine.gen, "terminated")
            return { _tag: "terminated" } satisfies TerminateAnswer
          }
          const at = this.table.location(msg.id)
          if (at !== undefined) return { _tag: "elsewhere", host: at.host } satisfies TerminateAnswer
          if (this.table.spec(msg.id) !== undefined) {
            // Known but running nowhere (between a crash and its restart): deleted here and told to all.
            const gen = this.table.nextGen(msg.id)
            yield* this.deleteHosted(msg.id, gen, "terminated")
            return { _tag: "terminated" } satisfies TerminateAnswer
          }
          return { _tag: "notFound" } satisfies TerminateAnswer
        }
        case "ds.leave": {
          if (!this.leaving) {
            this.leaving = true
            yield* this.broadcast({ _tag: "ds.leaving" })
          }
          return this.hosted.size
        }
        case "ds.hosted":
          return this.hosted.size
        case "ds.stopAll": {
          for (const id of Array.from(this.hosted.keys()).reverse()) yield* this.stopHosted(id, "shutdown")
          return this.hosted.size
        }
      }
    })
  }
}

/** The instance's behavior: calls are requests, infos are the group, its children and its peers. */
export const instanceBehavior = (
  instance: Instance
): GenServer.GenServerBehavior<Instance, Request, never, unknown, any> => ({
  init: () => instance,
  handleCall: (msg, state) => Effect.map(state.request(msg), (answer) => [answer, state] as const),
  handleCast: (_msg, state) => state,
  handleInfo: (msg: unknown, state: Instance, from?: NodeId) =>
    Effect.as(
      Effect.catchAllCause(state.receive(msg, from), (cause) =>
        Effect.logError("a distributed supervisor failed to handle a message", cause).pipe(
          Effect.annotateLogs({ node: state.self, supervisor: state.options.name })
        )),
      state
    ),
  schemas: { call: Request, cast: Schema.Never }
})

/** The description of an error for a log or an answer. */
export const errorText = (error: unknown): string => describe(error).message

/** The ref a claim names, if any. */
export const refAt = (serverId: string | undefined, host: string | undefined): Option.Option<ServerRef> =>
  serverId === undefined || host === undefined ? Option.none() : Option.some({ id: serverId, nodeId: host as NodeId })
