/**
 * The signal sub-protocol's one owner: monitors across nodes, both sides, and info
 * messages to processes elsewhere (`GenServer.send`).
 *
 * Watching side: a monitor of a process on node N sends `Monitor` and waits for N's
 * `Down`; N going down answers every such monitor `noconnection` the moment the link
 * goes. Watched side: a peer's `Monitor` becomes a local monitor whose `Down` goes back
 * on the link; the peer going down drops all of them, so a heal resurrects nothing. A
 * peer speaks only for itself: its `Down` answers only monitors sent to it, its
 * `Demonitor` drops only its own, and it may hold at most {@link MAX_MONITORS_PER_PEER}.
 */
import { Effect, Either } from "effect"
import type { Links as Fates, RemoteLinks } from "../../internal/links.js"
import type { Monitors, Notify, RemoteWatch } from "../../internal/monitors.js"
import type { ProcessTable } from "../../internal/process.js"
import type { DownReason } from "../../Monitor.js"
import { down } from "../../Monitor.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"
import type { PayloadCodec } from "../../wire/Codec.js"
import type { MessageOf } from "../../wire/Protocol.js"
import type { Link } from "../Link.js"
import type { Handlers, Links } from "./dispatch.js"
import type { NodeMetrics } from "./metrics.js"

/**
 * Monitors one peer may hold on this node's processes. Each is a few hundred bytes; a
 * coordinator watching its workers holds thousands, and a bound keeps a peer that
 * monitors in a loop from growing this node without end. Past it, the peer's monitor is
 * answered at once with a `Down` whose error says so.
 */
export const MAX_MONITORS_PER_PEER = 100_000

/**
 * Links one peer may hold with this node's processes, for the same reason. Past it, the
 * peer's process gets the exit signal of a partner that could not be linked.
 */
export const MAX_LINKS_PER_PEER = 100_000

/** Bad info messages from peers between two log lines about them (the first is logged). */
const INVALID_INFO_LOG_EVERY = 1000

/** What the signals need. */
export interface SignalsDeps {
  readonly self: NodeId
  readonly links: Links
  readonly table: ProcessTable
  readonly codec: PayloadCodec
  readonly metrics: NodeMetrics
  /** Runs a log line in the node's fibers. */
  readonly fork: (effect: Effect.Effect<unknown, unknown>) => void
}

interface Watching {
  readonly nodeId: NodeId
  readonly ref: ServerRef
  readonly notify: Notify
}

/** Monitors and info messages across nodes. */
export class Signals implements RemoteWatch, RemoteLinks {
  private readonly self: NodeId
  private readonly links: Links
  private readonly table: ProcessTable
  private readonly monitors: Monitors
  private readonly fates: Fates
  private readonly codec: PayloadCodec
  private readonly metrics: NodeMetrics
  private readonly fork: (effect: Effect.Effect<unknown, unknown>) => void
  /** Our monitors of processes elsewhere, by id. */
  private readonly watching = new Map<number, Watching>()
  private readonly watchingByNode = new Map<NodeId, Set<number>>()
  /** Peers' monitors of our processes: peer → its monitor id → our local monitor id. */
  private readonly held = new Map<NodeId, Map<number, number>>()
  private invalidInfos = 0

  constructor(deps: SignalsDeps) {
    this.self = deps.self
    this.links = deps.links
    this.table = deps.table
    this.monitors = deps.table.monitors
    this.fates = deps.table.links
    this.codec = deps.codec
    this.metrics = deps.metrics
    this.fork = deps.fork
  }

  /** Monitors held here for peers, and ours of processes on peers. */
  get size(): { readonly held: number; readonly watching: number } {
    let held = 0
    for (const peer of this.held.values()) held += peer.size
    return { held, watching: this.watching.size }
  }

  // ---- watching side ----------------------------------------------------------------------

  watch(id: number, ref: ServerRef, notify: Notify): void {
    const link = this.links.linkTo(ref.nodeId)
    const sent = link?.send({ _tag: "Monitor", monitorId: id, serverId: ref.id })
    if (sent === undefined || Either.isLeft(sent)) return notify(down(id, ref, "noconnection"))
    this.watching.set(id, { nodeId: ref.nodeId, ref, notify })
    let ids = this.watchingByNode.get(ref.nodeId)
    if (ids === undefined) this.watchingByNode.set(ref.nodeId, ids = new Set())
    ids.add(id)
  }

  unwatch(id: number): void {
    const entry = this.take(id)
    if (entry !== undefined) this.links.linkTo(entry.nodeId)?.send({ _tag: "Demonitor", monitorId: id })
  }

  private take(id: number): Watching | undefined {
    const entry = this.watching.get(id)
    if (entry === undefined) return undefined
    this.watching.delete(id)
    const ids = this.watchingByNode.get(entry.nodeId)
    if (ids !== undefined && ids.delete(id) && ids.size === 0) this.watchingByNode.delete(entry.nodeId)
    return entry
  }

  /** Sends an info message to a process on another node; dropped (and counted) when it cannot go. */
  send(ref: ServerRef, msg: unknown): Effect.Effect<void> {
    return Effect.suspend(() => {
      const link = this.links.linkTo(ref.nodeId)
      const payload = link === undefined ? undefined : this.codec.encodeEither(msg)
      if (link === undefined || payload === undefined || Either.isLeft(payload)) {
        this.metrics.castsDropped.unsafeUpdate(1, [])
        return payload !== undefined && Either.isLeft(payload)
          ? Effect.logWarning("dropped an info message").pipe(
            Effect.annotateLogs({ node: this.self, serverId: ref.id, reason: payload.left.message })
          )
          : Effect.void
      }
      const sent = link.send({ _tag: "Info", serverId: ref.id, payload: payload.right })
      if (Either.isLeft(sent)) {
        this.metrics.castsDropped.unsafeUpdate(1, [])
        return Effect.void
      }
      // As a cast: a sender past the outbox's high-water mark waits here for room.
      return Effect.catchAll(link.writable, () => Effect.sync(() => this.metrics.castsDropped.unsafeUpdate(1, [])))
    })
  }

  // ---- links ------------------------------------------------------------------------------------

  link(local: string, remote: ServerRef): void {
    const sent = this.links.linkTo(remote.nodeId)?.send({ _tag: "Link", from: local, to: remote.id })
    if (sent === undefined || Either.isLeft(sent)) this.fates.signal(local, remote, "noconnection")
  }

  unlink(local: string, remote: ServerRef): void {
    this.links.linkTo(remote.nodeId)?.send({ _tag: "Unlink", from: local, to: remote.id })
  }

  exit(local: string, remote: ServerRef, reason: DownReason): void {
    this.links.linkTo(remote.nodeId)?.send({ _tag: "Exit", from: local, to: remote.id, reason })
  }

  private serveLink(from: NodeId, link: Link, message: MessageOf<"Link">): void {
    const partner: ServerRef = { id: message.from, nodeId: from }
    const proc = this.table.resolve(message.to)
    const refuse = (reason: DownReason) => link.send({ _tag: "Exit", from: message.to, to: message.from, reason })
    if (proc === undefined) return void refuse("noproc")
    if (this.fates.linksTo(from) >= MAX_LINKS_PER_PEER && !this.fates.has(proc.id, partner)) {
      return void refuse({
        error: {
          name: "LinkLimitError",
          message: `${this.self} holds ${MAX_LINKS_PER_PEER} links with ${from}, the most one peer may`
        }
      })
    }
    this.fates.addRemote(proc.id, partner, message.to)
  }

  private serveUnlink(from: NodeId, message: MessageOf<"Unlink">): void {
    const proc = this.table.resolve(message.to)
    if (proc !== undefined) this.fates.removeRemote(proc.id, { id: message.from, nodeId: from })
  }

  private serveExit(from: NodeId, message: MessageOf<"Exit">): void {
    const partner: ServerRef = { id: message.from, nodeId: from }
    const proc = this.table.resolve(message.to)
    // Only along a link: a peer's exit takes down only the processes linked with it.
    if (proc !== undefined && this.fates.has(proc.id, partner)) {
      this.fates.signal(proc.id, partner, message.reason, true)
    }
  }

  // ---- both sides ----------------------------------------------------------------------------

  /**
   * A peer went down: our monitors of its processes are answered `noconnection`, its
   * monitors of ours dropped, and every process linked with one of its gets `noconnection`.
   */
  nodeDown(nodeId: NodeId): void {
    // Its monitors of ours go first: the exits its links cause here must not answer them.
    const held = this.held.get(nodeId)
    if (held !== undefined) {
      this.held.delete(nodeId)
      for (const local of held.values()) this.monitors.unwatch(local)
    }
    this.fates.nodeDown(nodeId)
    const ids = this.watchingByNode.get(nodeId)
    if (ids === undefined) return
    for (const id of Array.from(ids)) {
      const entry = this.take(id)
      if (entry !== undefined) entry.notify(down(id, entry.ref, "noconnection"))
    }
  }

  // ---- watched side -------------------------------------------------------------------------

  private serveMonitor(from: NodeId, link: Link, message: MessageOf<"Monitor">): void {
    let held = this.held.get(from)
    if (held?.has(message.monitorId)) return
    if (held !== undefined && held.size >= MAX_MONITORS_PER_PEER) {
      link.send({
        _tag: "Down",
        monitorId: message.monitorId,
        reason: {
          error: {
            name: "MonitorLimitError",
            message: `${this.self} holds ${MAX_MONITORS_PER_PEER} monitors for ${from}, the most one peer may`
          }
        }
      })
      return
    }
    if (held === undefined) this.held.set(from, held = new Map())
    const peer = held
    let local: number | undefined = undefined
    local = this.monitors.watch({ id: message.serverId, nodeId: this.self }, (d) => {
      // Answered from inside `watch` (not alive) before `local` was set, or later once.
      if (local !== undefined) {
        if (peer.get(message.monitorId) !== local) return
        peer.delete(message.monitorId)
        if (peer.size === 0 && this.held.get(from) === peer) this.held.delete(from)
      }
      // On the link the monitor came by, never a later one: monitor ids restart with every
      // incarnation, and a restarted peer must not get its predecessor's Down.
      link.send({ _tag: "Down", monitorId: message.monitorId, reason: d.reason })
    })
    // Still watching unless it was answered at once.
    if (this.monitors.isWatching(local)) peer.set(message.monitorId, local)
    else if (peer.size === 0 && this.held.get(from) === peer) this.held.delete(from)
  }

  private serveDemonitor(from: NodeId, message: MessageOf<"Demonitor">): void {
    const held = this.held.get(from)
    const local = held?.get(message.monitorId)
    if (held === undefined || local === undefined) return
    held.delete(message.monitorId)
    if (held.size === 0) this.held.delete(from)
    this.monitors.unwatch(local)
  }

  private serveDown(from: NodeId, message: MessageOf<"Down">): void {
    // Only the node a monitor went to may answer it.
    if (this.watching.get(message.monitorId)?.nodeId !== from) return
    const entry = this.take(message.monitorId)!
    entry.notify(down(message.monitorId, entry.ref, message.reason))
  }

  private serveInfo(from: NodeId, message: MessageOf<"Info">): void {
    const decoded = this.codec.decodeEither(message.payload)
    if (Either.isRight(decoded)) {
      if (!this.table.info(message.serverId, decoded.right, from)) this.metrics.castsDropped.unsafeUpdate(1, [])
      return
    }
    this.metrics.castsDropped.unsafeUpdate(1, [])
    if (this.invalidInfos++ % INVALID_INFO_LOG_EVERY !== 0) return
    this.fork(
      Effect.logWarning("dropped an info message that does not decode").pipe(
        Effect.annotateLogs({
          node: this.self,
          peer: from,
          serverId: message.serverId,
          reason: decoded.left.message,
          dropped: this.invalidInfos
        })
      )
    )
  }

  /** Handlers of every message of the signal sub-protocol. */
  readonly handlers: Handlers<"Monitor" | "Demonitor" | "Down" | "Info" | "Link" | "Unlink" | "Exit"> = {
    Link: (from, link, message) => this.serveLink(from, link, message),
    Unlink: (from, _link, message) => this.serveUnlink(from, message),
    Exit: (from, _link, message) => this.serveExit(from, message),
    Monitor: (from, link, message) => this.serveMonitor(from, link, message),
    Demonitor: (from, _link, message) => this.serveDemonitor(from, message),
    Down: (from, _link, message) => this.serveDown(from, message),
    Info: (from, _link, message) => this.serveInfo(from, message)
  }
}
