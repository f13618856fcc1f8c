/**
 * The global registry replica of one node. Every node holds the whole table; each
 * name is owned by the node its process runs on, and only that node changes it:
 * it broadcasts `RegistryRegister` / `RegistryUnregister` to every peer, and sends
 * its own entries in full (`RegistrySync`) to each node that comes up. A replica
 * accepts entries from a link only for that link's node (identity is bound to the
 * connection), drops the names of a node that goes down, and resolves two live
 * entries for one name (possible only after a partition, or two registrations racing)
 * with one rule every node applies alike: the lower Lamport sequence wins, then the
 * lower NodeId. No wall clock is involved.
 */
import { Effect, Exit, Option, PubSub, Stream } from "effect"
import {
  GlobalNameConflictError,
  MessageTooLargeError,
  NodeNotReachableError,
  RemoteServerNotRunningError
} from "../../errors.js"
import type { ConflictStrategy, NameConflict, RegistryEvent } from "../../GlobalRegistry.js"
import type { ProcessTable } from "../../internal/process.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"
import type { MessageOf, WireMessage } from "../../wire/Protocol.js"
import type { RegistryFailure, RegistryMessage } from "../../wire/RegistryProtocol.js"
import type { Link } from "../Link.js"
import type { Handlers, Links } from "./dispatch.js"
import { PendingRequests } from "./pending.js"
import {
  entryBytes,
  entrySize,
  MAX_ENTRY_BYTES,
  refOf,
  SERVER_ID_CHARS,
  SortedEntries,
  winnerOf
} from "./registryEntries.js"
import type { Entry } from "./registryEntries.js"
import type { GlobalNames } from "./serving.js"

/**
 * The largest Lamport seq taken from a peer. A clock advances by one per registration,
 * so 2^48 (2.8·10^14 registrations) is never reached honestly. A peer's larger seq would
 * push this node's clock toward 2^53, and every frame it sent after that would be
 * refused by every receiver: such an entry is dropped and logged, never applied.
 */
export const MAX_REGISTRY_SEQ = 2 ** 48

/**
 * How far a peer's seq may move this node's clock: half the bound, so what this node
 * registers after (one increment each) stays under `MAX_REGISTRY_SEQ` for 2^47 more
 * registrations, and its peers never drop it.
 */
const CLOCK_CEILING = MAX_REGISTRY_SEQ / 2

/** How long a registration forwarded to another node may take. */
const FORWARD_TIMEOUT_MS = 5000

/** A forwarded registration got no answer in time (taken as done, see `forward`). */
class ForwardTimeout {
  readonly _tag = "ForwardTimeout"
}

/** What a replica is built from. */
export interface ReplicaDeps {
  readonly self: NodeId
  readonly incarnation: string
  readonly links: Links
  readonly table: ProcessTable
  readonly events: PubSub.PubSub<RegistryEvent>
  readonly strategy: ConflictStrategy
  /** Runs an effect started by a callback, owned by the node (interrupted when it closes). */
  readonly fork: (effect: Effect.Effect<unknown, unknown>) => void
}

/** The replica of one node. */
export class Replica {
  private readonly entries = new SortedEntries<Entry>()
  /** Local server id → the global names it holds. */
  private readonly owned = new Map<string, Set<string>>()
  private clock = 0
  /** Names listed so far by a peer's `RegistrySync` that has more frames to come. */
  private readonly syncing = new Map<NodeId, Set<string>>()
  /**
   * Conflicts this node resolved itself against a peer's process: by the loser's node, the
   * name and the losing server id. The loser's `RegistryUnregister` then reports nothing
   * new. At most one per node and name (a newer loss of the same name replaces it), so a
   * peer can grow it no further than the names it can lose.
   */
  private readonly resolved = new Map<NodeId, Map<string, string>>()

  private readonly self: NodeId
  private readonly incarnation: string
  private readonly links: Links
  private readonly table: ProcessTable
  readonly events: PubSub.PubSub<RegistryEvent>
  /** `events` as a stream: each run subscribes anew. */
  readonly eventStream: Stream.Stream<RegistryEvent>
  private readonly strategy: ConflictStrategy
  private readonly run: (effect: Effect.Effect<unknown, unknown>) => void
  /** Registrations forwarded to the node that owns the process, waiting for its answer. */
  private readonly forwarded: PendingRequests<void, RegistryFailure | NodeNotReachableError | ForwardTimeout>

  constructor(deps: ReplicaDeps) {
    this.self = deps.self
    this.incarnation = deps.incarnation
    this.links = deps.links
    this.table = deps.table
    this.events = deps.events
    this.eventStream = Stream.fromPubSub(deps.events)
    this.strategy = deps.strategy
    this.run = deps.fork
    this.forwarded = new PendingRequests(deps.table.timers)
  }

  /** Global names as spawns see them: a spawned process is local, so it is registered here. */
  readonly globalNames: GlobalNames = {
    register: (name, ref) => Effect.suspend(() => this.registerLocal(name, ref.id)),
    holder: (name) => this.entries.get(name)?.nodeId,
    fits: (name) => entryBytes(name, "0".repeat(SERVER_ID_CHARS), this.self) <= MAX_ENTRY_BYTES
  }

  // ---- reads ----------------------------------------------------------------------------------

  whereis(name: string): Option.Option<ServerRef> {
    const entry = this.entries.get(name)
    return entry === undefined ? Option.none() : Option.some(refOf(entry))
  }

  names(): Array<string> {
    return Array.from(this.entries.keys())
  }

  /** The whole table, for tests and diagnostics: name → ref, sorted by name. */
  snapshot(): Array<readonly [string, ServerRef]> {
    return this.page(0, Infinity)
  }

  /** `limit` entries from the `offset`-th by name, and how many there are: costs the page, not the table. */
  page(offset: number, limit: number): Array<readonly [string, ServerRef]> {
    return this.entries.sorted().slice(offset, offset + limit).map((e) => [e.name, refOf(e)] as const)
  }

  /** How many names the table holds. */
  get size(): number {
    return this.entries.size
  }

  /** The global names a process of this node holds. */
  namesOf(serverId: string): ReadonlyArray<string> {
    const names = this.owned.get(serverId)
    return names === undefined ? [] : Array.from(names)
  }

  // ---- writes ---------------------------------------------------------------------------------

  /** Registers `name` for `ref`; a ref on another node is registered by that node. */
  register(
    name: string,
    ref: ServerRef
  ): Effect.Effect<
    void,
    GlobalNameConflictError | RemoteServerNotRunningError | NodeNotReachableError | MessageTooLargeError
  > {
    // A ref from untyped code may lack its id: refused here rather than sent unreadable.
    if (typeof ref.id !== "string") {
      return Effect.fail(new RemoteServerNotRunningError({ serverId: String(ref.id), nodeId: ref.nodeId }))
    }
    // Refused on the caller: a name too long to replicate would be registered here and seen nowhere else.
    const bytes = entryBytes(name, ref.id, ref.nodeId)
    if (bytes > MAX_ENTRY_BYTES) return Effect.fail(new MessageTooLargeError({ bytes, limit: MAX_ENTRY_BYTES }))
    if (ref.nodeId !== this.self) return this.forward(ref.nodeId, "register", name, ref.id)
    return Effect.suspend(() => this.registerLocal(name, ref.id))
  }

  private registerLocal(
    name: string,
    id: string
  ): Effect.Effect<void, GlobalNameConflictError | RemoteServerNotRunningError> {
    const proc = this.table.resolve(id)
    if (proc === undefined || !proc.alive || proc.stopReason !== undefined) {
      return Effect.fail(new RemoteServerNotRunningError({ serverId: id, nodeId: this.self }))
    }
    const current = this.entries.get(name)
    if (current !== undefined) {
      if (current.nodeId === this.self && current.serverId === proc.id) return Effect.void
      return Effect.fail(new GlobalNameConflictError({ name, nodeId: current.nodeId }))
    }
    const entry: Entry = {
      name,
      serverId: proc.id,
      nodeId: this.self,
      incarnation: this.incarnation,
      seq: ++this.clock
    }
    this.entries.set(name, entry)
    this.own(entry)
    this.broadcast({ _tag: "RegistryRegister", entry })
    return PubSub.publish(this.events, { _tag: "Registered", name, ref: refOf(entry) })
  }

  /** Removes `name`; the owner node does it and tells everyone. A name not registered is a no-op. */
  unregister(name: string): Effect.Effect<void, NodeNotReachableError> {
    return Effect.suspend(() => {
      const entry = this.entries.get(name)
      if (entry === undefined) return Effect.void
      if (entry.nodeId !== this.self) {
        return this.forward(entry.nodeId, "unregister", name, entry.serverId).pipe(
          Effect.catchIf((e): e is RegistryFailure => e._tag !== "NodeNotReachableError", () => Effect.void)
        )
      }
      return this.removeOwn(entry)
    })
  }

  /**
   * Asks the node owning a process to register or unregister a name for it, and waits
   * for its answer. Past {@link FORWARD_TIMEOUT_MS} the request is taken as done: the
   * owner's broadcast, not this answer, is what makes the name visible.
   */
  private forward(
    nodeId: NodeId,
    op: "register" | "unregister",
    name: string,
    serverId: string
  ): Effect.Effect<void, RegistryFailure | NodeNotReachableError> {
    return Effect.async<void, RegistryFailure | NodeNotReachableError | ForwardTimeout>((resume) => {
      const link = this.links.linkTo(nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      const callId = this.forwarded.nextId()
      const cancel = this.forwarded.open(
        callId,
        nodeId,
        serverId,
        resume,
        FORWARD_TIMEOUT_MS,
        () => new ForwardTimeout()
      )
      link.send({ _tag: "RegistryRequest", callId, op, name, serverId })
      return cancel
    }).pipe(Effect.catchTag("ForwardTimeout", () => Effect.void))
  }

  private removeOwn(entry: Entry): Effect.Effect<void> {
    if (this.entries.get(entry.name) !== entry) return Effect.void
    this.entries.delete(entry.name)
    this.disown(entry)
    this.broadcast({ _tag: "RegistryUnregister", name: entry.name, serverId: entry.serverId })
    return PubSub.publish(this.events, { _tag: "Unregistered", name: entry.name, ref: refOf(entry) })
  }

  private own(entry: Entry): void {
    let names = this.owned.get(entry.serverId)
    if (names === undefined) this.owned.set(entry.serverId, names = new Set())
    names.add(entry.name)
  }

  private disown(entry: Entry): void {
    const names = this.owned.get(entry.serverId)
    if (names === undefined) return
    names.delete(entry.name)
    if (names.size === 0) this.owned.delete(entry.serverId)
  }

  /** A local process ended: the names it held are gone everywhere. */
  processEnded(serverId: string): void {
    const names = this.owned.get(serverId)
    if (names === undefined) return
    for (const name of Array.from(names)) {
      const entry = this.entries.get(name)
      if (entry !== undefined && entry.nodeId === this.self && entry.serverId === serverId) {
        this.run(this.removeOwn(entry))
      }
    }
    this.owned.delete(serverId)
  }

  // ---- replication ----------------------------------------------------------------------------

  private broadcast(message: WireMessage): void {
    for (const nodeId of this.links.connectedIds()) this.links.linkTo(nodeId)?.send(message)
  }

  /** Sends this node's own names to a node that came up, in frames that fit the link's limit. */
  private sync(nodeId: NodeId): void {
    const link = this.links.linkTo(nodeId)
    if (link === undefined) return
    // Half the limit per frame leaves room for the envelope and for the estimate below.
    const budget = link.maxFrameBytes / 2
    let chunk: Array<Entry> = []
    let bytes = 0
    for (const entry of this.entries.values()) {
      if (entry.nodeId !== this.self) continue
      const size = entrySize(entry)
      if (size > budget) {
        this.run(
          Effect.logError("a global name is too long to replicate; peers will not see it").pipe(
            Effect.annotateLogs({ node: this.self, peer: nodeId, bytes: size, limit: link.maxFrameBytes })
          )
        )
        continue
      }
      if (bytes + size > budget) {
        link.send({ _tag: "RegistrySync", entries: chunk, more: true })
        chunk = []
        bytes = 0
      }
      chunk.push(entry)
      bytes += size
    }
    link.send({ _tag: "RegistrySync", entries: chunk })
  }

  private dropNode(nodeId: NodeId): void {
    this.syncing.delete(nodeId)
    this.resolved.delete(nodeId)
    for (const entry of Array.from(this.entries.values())) {
      if (entry.nodeId !== nodeId) continue
      this.entries.delete(entry.name)
      this.publish({ _tag: "Unregistered", name: entry.name, ref: refOf(entry) })
    }
  }

  // ---- the registry sub-protocol -------------------------------------------------------------

  /** Handlers of every message of the registry sub-protocol. A peer speaks only for its own names. */
  readonly handlers: Handlers<RegistryMessage["_tag"]> = {
    RegistryRegister: (from, _link, message) => {
      if (message.entry.nodeId === from) this.apply(message.entry)
    },
    RegistrySync: (from, _link, message) => {
      let listed = this.syncing.get(from)
      if (listed === undefined) this.syncing.set(from, listed = new Set())
      for (const entry of message.entries) {
        if (entry.nodeId !== from) continue
        listed.add(entry.name)
        this.apply(entry)
      }
      if (message.more === true) return
      this.syncing.delete(from)
      // What we still hold for that node and it no longer lists is stale.
      for (const entry of Array.from(this.entries.values())) {
        if (entry.nodeId === from && !listed.has(entry.name)) {
          this.entries.delete(entry.name)
          this.publish({ _tag: "Unregistered", name: entry.name, ref: refOf(entry) })
        }
      }
    },
    RegistryUnregister: (from, _link, message) => {
      const entry = this.entries.get(message.name)
      const winner = message.winner
      const losses = this.resolved.get(from)
      const reported = losses?.get(message.name) === message.serverId
      losses?.delete(message.name)
      if (
        winner !== undefined && winner.nodeId !== from && entry?.nodeId === winner.nodeId &&
        entry.serverId === winner.serverId
      ) {
        // The loser gave the name up for the entry held here. If this node never saw the
        // losing entry (the loser resolved the conflict before it told us of it), this is
        // where it learns of the conflict. (A node that holds neither entry yet learns of it
        // only if the winner's entry arrives first.)
        if (!reported) {
          this.publish({
            _tag: "ConflictResolved",
            name: message.name,
            winner: refOf(entry),
            loser: { id: message.serverId, nodeId: from }
          })
        }
        return
      }
      if (entry === undefined || entry.nodeId !== from || entry.serverId !== message.serverId) return
      this.entries.delete(message.name)
      this.publish(
        winner === undefined
          ? { _tag: "Unregistered", name: entry.name, ref: refOf(entry) }
          : {
            _tag: "ConflictResolved",
            name: entry.name,
            winner: { id: winner.serverId, nodeId: winner.nodeId },
            loser: refOf(entry)
          }
      )
    },
    RegistryRequest: (_from, link, message) => this.serveRequest(link, message),
    RegistryAck: (from, _link, message) => this.forwarded.take(message.callId, from)?.resume(Exit.void),
    RegistryFailed: (from, _link, message) =>
      this.forwarded.take(message.callId, from)?.resume(Exit.fail(message.error))
  }

  /** A node came up: send it this node's own names. */
  nodeUp(nodeId: NodeId): void {
    this.sync(nodeId)
  }

  /** A node went down: its names disappear, and registrations forwarded to it fail. */
  nodeDown(nodeId: NodeId): void {
    this.forwarded.failNode(nodeId, new NodeNotReachableError({ nodeId }))
    this.dropNode(nodeId)
  }

  private serveRequest(link: Link, message: MessageOf<"RegistryRequest">): void {
    const effect = message.op === "register"
      ? this.registerLocal(message.name, message.serverId)
      : Effect.suspend(() => {
        const entry = this.entries.get(message.name)
        return entry !== undefined && entry.nodeId === this.self ? this.removeOwn(entry) : Effect.void
      })
    this.run(
      effect.pipe(
        Effect.match({
          onFailure: (error) => void link.send({ _tag: "RegistryFailed", callId: message.callId, error }),
          onSuccess: () => void link.send({ _tag: "RegistryAck", callId: message.callId })
        })
      )
    )
  }

  /** Takes in a peer's entry, resolving a conflict with the one held. */
  private apply(entry: Entry): void {
    if (entry.seq > MAX_REGISTRY_SEQ) {
      this.run(
        Effect.logWarning("dropped a peer's registration with a wild Lamport seq").pipe(
          Effect.annotateLogs({ node: this.self, peer: entry.nodeId, name: entry.name, seq: entry.seq })
        )
      )
      return
    }
    this.clock = Math.max(this.clock, Math.min(entry.seq, CLOCK_CEILING))
    const current = this.entries.get(entry.name)
    if (current === undefined) {
      this.entries.set(entry.name, entry)
      return this.publish({ _tag: "Registered", name: entry.name, ref: refOf(entry) })
    }
    if (current.nodeId === entry.nodeId && current.serverId === entry.serverId) {
      this.entries.set(entry.name, entry)
      return
    }
    const winner = winnerOf(current, entry)
    const loser = winner === current ? entry : current
    this.entries.set(entry.name, winner)
    this.publish({ _tag: "ConflictResolved", name: entry.name, winner: refOf(winner), loser: refOf(loser) })
    if (loser.nodeId === this.self) return this.lose(loser, winner)
    let losses = this.resolved.get(loser.nodeId)
    if (losses === undefined) this.resolved.set(loser.nodeId, losses = new Map())
    losses.set(loser.name, loser.serverId)
  }

  /** This node owns the losing process: unregister it everywhere, then apply the strategy. */
  private lose(loser: Entry, winner: Entry): void {
    this.disown(loser)
    this.broadcast({
      _tag: "RegistryUnregister",
      name: loser.name,
      serverId: loser.serverId,
      winner: { serverId: winner.serverId, nodeId: winner.nodeId }
    })
    const conflict: NameConflict = { name: loser.name, winner: refOf(winner), loser: refOf(loser) }
    const strategy = this.strategy
    const effect: Effect.Effect<void, unknown> = strategy === "keep"
      ? Effect.void
      : strategy === "stop"
      ? Effect.ignore(this.table.stop(loser.serverId, { conflict: loser.name }))
      : Effect.suspend(() => strategy(conflict))
    this.run(
      effect.pipe(
        Effect.catchAllCause((cause) =>
          Effect.logWarning("global name conflict strategy failed", cause).pipe(
            Effect.annotateLogs({ node: this.self, name: loser.name })
          )
        )
      )
    )
  }

  private publish(event: RegistryEvent): void {
    this.run(PubSub.publish(this.events, event))
  }
}
