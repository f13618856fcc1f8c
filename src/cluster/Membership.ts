/**
 * Membership: the one owner of this node's connection state (as Erlang's
 * net_kernel). It accepts and dials connections, runs the handshake, keeps exactly
 * one link per peer, detects failures, gossips members so every node connects to
 * every other, and emits `NodeUp` / `NodeDown` from its own transitions only.
 *
 * - Join: seeds are dialed at start and redialed with jittered exponential backoff.
 * - One link per pair: a node receiving a dial from a peer it is itself dialing keeps
 *   the connection dialed by the smaller NodeId and refuses the other; both sides
 *   apply the same rule, so they agree. A new incarnation (a restarted node) replaces
 *   the old link only once the old one said Goodbye or went silent for
 *   `LIVE_LINK_SILENCE_INTERVALS` heartbeat intervals: a claim alone cannot cut a live node.
 * - Failure: a closed socket is `connection_closed` at once; no bytes for
 *   `heartbeatInterval × heartbeatMissThreshold` is `heartbeat_timeout`; a `Goodbye`
 *   before the close is `graceful_shutdown`.
 * - Forgetting: a non-seed node down for `forgetAfter` is no longer redialed (one only
 *   heard of through gossip and never reached: after `GOSSIPED_FORGET_AFTER_MS`).
 */
import { Duration, Effect, Either, FiberSet, PubSub, Runtime } from "effect"
import type { Scope } from "effect"
import { NodeId } from "../NodeId.js"
import type { CloseInfo, Connection, Listener, Service as TransportService } from "../transport/Transport.js"
import type { HandshakeMessage } from "../wire/HandshakeProtocol.js"
import type { MembershipMessage } from "../wire/MembershipProtocol.js"
import type { ResolvedConfig } from "./ClusterConfig.js"
import { boundedDial } from "./internal/dial.js"
import type { Dispatch, Handlers } from "./internal/dispatch.js"
import { GossipPolicy, HostRule } from "./internal/gossipPolicy.js"
import type { NodeMetrics } from "./internal/metrics.js"
import {
  admission,
  dialAddress,
  dialFailed,
  downReason,
  forgetAfterMs,
  membersFor,
  Peer,
  redialDelay,
  spawnSentTo
} from "./internal/peer.js"
import * as Link from "./Link.js"
import type { NodeDownReason, NodeEvent, NodeInfo } from "./NodeEvent.js"

export {
  GOSSIPED_FORGET_AFTER_MS,
  LIVE_LINK_SILENCE_INTERVALS,
  MAX_KNOWN_PEERS,
  MAX_REPORTED_PROCESSES,
  MAX_REPORTED_UPTIME_MS
} from "./internal/peer.js"

/** Heartbeat ticks between periodic gossip rounds: repairs a mesh after a lost gossip, cheaply. */
const GOSSIP_EVERY_TICKS = 5

/** What membership is built from. */
export interface MembershipDeps {
  readonly self: Link.PeerIdentity
  readonly config: ResolvedConfig
  readonly transport: TransportService
  readonly events: PubSub.PubSub<NodeEvent>
  readonly metrics: NodeMetrics
  readonly fibers: FiberSet.FiberSet<any, any>
  readonly runtime: Runtime.Runtime<never>
  /** Live local processes, for heartbeats. */
  readonly processCount: () => number
  readonly now: () => number
}

/** How the rest of the node hears from membership; given at `start`, once everything is built. */
export interface MembershipWiring {
  /** Every message that arrives on a link, with the peer the link is bound to. */
  readonly dispatch: Dispatch
  /** Run synchronously when a node comes up, before `NodeUp` is published. */
  readonly onUp: ReadonlyArray<(nodeId: NodeId) => void>
  /** Run synchronously when a node goes down, before `NodeDown` is published. */
  readonly onDown: ReadonlyArray<(nodeId: NodeId) => void>
}

/** The membership of one node. */
export class Membership {
  private readonly peers = new Map<NodeId, Peer>()
  /** Inbound handshakes admitted and not yet finished, by peer: while one runs we do not dial that peer. */
  private readonly accepting = new Map<NodeId, number>()
  private closing = false
  private readonly policy: GossipPolicy
  private wiring: MembershipWiring = { dispatch: () => {}, onUp: [], onDown: [] }
  private readonly startedAt: number
  readonly self: Link.PeerIdentity
  readonly events: PubSub.PubSub<NodeEvent>
  private readonly config: ResolvedConfig
  private readonly transport: TransportService
  private readonly metrics: NodeMetrics
  private readonly fibers: FiberSet.FiberSet<any, any>
  private readonly runtime: Runtime.Runtime<never>
  private readonly processCount: () => number
  private readonly now: () => number

  constructor(deps: MembershipDeps) {
    this.self = deps.self
    this.events = deps.events
    this.config = deps.config
    this.transport = deps.transport
    this.metrics = deps.metrics
    this.fibers = deps.fibers
    this.runtime = deps.runtime
    this.processCount = deps.processCount
    this.now = deps.now
    this.startedAt = deps.now()
    const rule = deps.config.allowedHosts === undefined ? undefined : HostRule.parse(deps.config.allowedHosts)
    this.policy = new GossipPolicy(
      deps.config.maxKnownPeers,
      // Validated with the configuration: a string here cannot happen.
      typeof rule === "string" ? undefined : rule,
      deps.config.resolveGossipedNames,
      deps.transport.resolvesNames === true,
      deps.now
    )
  }

  /** The current link to `nodeId`, if connected. */
  linkTo(nodeId: NodeId): Link.Link | undefined {
    return this.peers.get(nodeId)?.link
  }

  /** Counts a spawn sent to `nodeId` in its `processCount` until its heartbeats show it (see `Peer.spawnSent`). */
  spawnSent(nodeId: NodeId): (placed: boolean) => void {
    return spawnSentTo(this.peers.get(nodeId))
  }

  /** The incarnation of a connected node. */
  incarnationOf(nodeId: NodeId): string | undefined {
    const peer = this.peers.get(nodeId)
    return peer?.link === undefined ? undefined : peer.incarnation
  }

  /** Peers known: connected, dialing, or remembered as down. */
  knownPeerCount(): number {
    return this.peers.size
  }

  /** Whether `nodeId` is a connected member. */
  isConnected(nodeId: NodeId): boolean {
    return this.peers.get(nodeId)?.member === true
  }

  /** The members connected now (hidden nodes are linked, not members). */
  connectedIds(): Array<NodeId> {
    return Array.from(this.peers.values()).filter((peer) => peer.member).map((peer) => peer.nodeId)
  }

  /** What `getConnectedNodes` answers: the members connected now, with their figures. */
  connectedNodes(): Array<NodeInfo> {
    const now = this.now()
    return Array.from(this.peers.values()).filter((peer) => peer.member).map((peer) => peer.info(now))
  }

  // ---- start and stop ------------------------------------------------------------------------

  /** Serves inbound connections (forked into the scope) and starts dialing the seeds. */
  start(listener: Listener, wiring: MembershipWiring): Effect.Effect<void, never, Scope.Scope> {
    return Effect.gen(this, function*() {
      this.wiring = wiring
      yield* Effect.forkScoped(listener.serve((connection) => this.accept(connection)))
      for (const seed of this.config.seeds) {
        if (seed === this.self.nodeId) continue
        this.ensureDialer(this.peer(seed, true))
      }
    })
  }

  /** Graceful shutdown: every peer is told `Goodbye`, then every link is closed. */
  shutdown(): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      this.closing = true
      const links = Array.from(this.peers.values()).flatMap((p) => (p.link === undefined ? [] : [p.link]))
      for (const link of links) link.send({ _tag: "Goodbye" }, Link.URGENT)
      yield* Effect.forEach(links, (link) => link.close("graceful shutdown"), { discard: true })
    })
  }

  // ---- connections --------------------------------------------------------------------------

  private handshakeConfig(expected?: NodeId): Link.HandshakeConfig {
    return {
      self: this.self,
      cookie: this.config.cookie,
      handshakeTimeout: this.config.handshakeTimeout,
      role: expected === undefined ? "acceptor" : "dialer",
      expected,
      admit: (peer) => this.admit(peer, expected === undefined ? "in" : "out"),
      metrics: this.metrics,
      maxFrameBytes: this.config.maxFrameBytes
    }
  }

  /** The one-link-per-pair rule (`admission`), checked once the peer's `Hello` passed and its proof verified. */
  private admit(identity: Link.PeerIdentity, direction: "in" | "out"): string | undefined {
    if (this.closing) return "node is shutting down"
    return admission(this.peers.get(identity.nodeId), identity, direction, {
      self: this.self.nodeId,
      accepting: (this.accepting.get(identity.nodeId) ?? 0) > 0,
      now: this.now(),
      heartbeatIntervalMs: Duration.toMillis(this.config.heartbeatInterval)
    })
  }

  private accept(connection: Connection): Effect.Effect<void> {
    let admitted: NodeId | undefined
    const config: Link.HandshakeConfig = {
      ...this.handshakeConfig(),
      admit: (peer) => {
        const refusal = this.admit(peer, "in")
        if (refusal === undefined) {
          admitted = peer.nodeId
          this.accepting.set(peer.nodeId, (this.accepting.get(peer.nodeId) ?? 0) + 1)
        }
        return refusal
      }
    }
    const done = Effect.sync(() => {
      if (admitted === undefined) return
      const left = (this.accepting.get(admitted) ?? 1) - 1
      if (left > 0) this.accepting.set(admitted, left)
      else this.accepting.delete(admitted)
      admitted = undefined
    })
    return Link.establish(connection, config).pipe(
      // Released before the link is installed, in the same step: nothing can dial in between.
      Effect.ensuring(done),
      Effect.flatMap((link) => this.supervise(link)),
      Effect.catchAll(() => Effect.void),
      // The link's scope: it ends when the link is no longer supervised.
      Effect.scoped
    )
  }

  private peer(nodeId: NodeId, seed = false): Peer {
    let peer = this.peers.get(nodeId)
    if (peer === undefined) {
      peer = new Peer(nodeId, seed)
      this.peers.set(nodeId, peer)
    }
    return peer
  }

  private ensureDialer(peer: Peer): void {
    if (peer.dialer !== undefined || this.closing || peer.link !== undefined) return
    const fiber = Runtime.runFork(this.runtime, this.dialLoop(peer))
    FiberSet.unsafeAdd(this.fibers, fiber)
    peer.dialer = fiber
    fiber.addObserver(() => {
      if (peer.dialer === fiber) peer.dialer = undefined
    })
  }

  /** Dials `peer` until connected, supervising each link it makes; backs off between attempts. */
  private dialLoop(peer: Peer): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      let failures = 0
      let lastRefusal: string | undefined
      for (;;) {
        if (this.closing || peer.link !== undefined) return
        if (
          peer.downSince !== undefined && !peer.seed &&
          this.now() - peer.downSince >= forgetAfterMs(peer, this.config.forgetAfter)
        ) {
          if (this.peers.get(peer.nodeId) === peer) this.peers.delete(peer.nodeId)
          yield* Effect.logDebug("forgetting a node that stayed down").pipe(Effect.annotateLogs({ peer: peer.nodeId }))
          return
        }
        if ((this.accepting.get(peer.nodeId) ?? 0) > 0) {
          // The peer is dialing us right now: let that handshake decide, then look again.
          yield* Effect.sleep(yield* redialDelay(this.config.reconnectBackoff, 0))
          continue
        }
        // Only gossip vouches for a node never reached: its dials are paced, others' are not.
        if (!peer.seed && peer.incarnation === undefined && !(yield* this.policy.permit)) {
          yield* Effect.sleep(yield* redialDelay(this.config.reconnectBackoff, ++failures))
          continue
        }
        if (this.closing || peer.link !== undefined) return
        peer.attempting = true
        const outcome = yield* Effect.either(
          Effect.scoped(
            Effect.gen(this, function*() {
              const connection = yield* boundedDial(this.transport, dialAddress(peer.nodeId), this.config)
              const link = yield* Link.establish(connection, this.handshakeConfig(peer.nodeId))
              peer.attempting = false
              failures = 0
              yield* this.supervise(link)
            })
          )
        )
        peer.attempting = false
        if (Either.isLeft(outcome)) {
          const failed = dialFailed(outcome.left, peer.nodeId, ++failures, lastRefusal)
          lastRefusal = failed.lastRefusal
          yield* failed.log
        }
        if (peer.goodbye && !peer.seed) return
        yield* Effect.sleep(yield* redialDelay(this.config.reconnectBackoff, failures))
      }
    }).pipe(Effect.annotateLogs({ node: this.self.nodeId }))
  }

  /** Installs an established link as the peer's current one and watches it until it closes. */
  private supervise(link: Link.Link): Effect.Effect<void> {
    return Effect.scoped(
      Effect.gen(this, function*() {
        const peer = this.peer(link.peer.nodeId)
        // How the link closed, once it has: the finalizer reads it for the down reason.
        const ended: { info?: CloseInfo } = {}
        const previous = peer.link
        const restarted = previous !== undefined && peer.incarnation !== link.peer.incarnation
        // The old incarnation goes down as what it was (a restart may change hidden to member or back).
        const wasHidden = peer.hidden
        if (this.closing) return yield* link.close("node is shutting down")
        // Installing the link and arming the report of its end are one step: an interruption
        // in between (the node closing) would leave a dead link installed and unreported.
        yield* Effect.uninterruptible(Effect.gen(this, function*() {
          peer.link = link
          peer.incarnation = link.peer.incarnation
          peer.hidden = link.peer.hidden === true
          peer.goodbye = false
          peer.timedOut = false
          peer.downSince = undefined
          peer.lastHeartbeatAt = this.now()
          // However the watch ends (the link closed, or the node closing interrupts it), the
          // link's end is reported: requests waiting on the peer fail, its names go.
          yield* Effect.addFinalizer(() => this.linkEnded(peer, link, ended.info))
          if (previous !== undefined) {
            // The old link is no longer current: its close will not be reported.
            this.fork(previous.close(restarted ? "peer restarted" : "replaced by a newer connection"))
            if (restarted) yield* this.emitDown(peer.nodeId, "connection_closed", wasHidden)
          }
          const dispatch = this.wiring.dispatch
          link.receive((message) => dispatch(peer.nodeId, link, message))
          if (previous === undefined || restarted) yield* this.emitUp(peer.nodeId, peer.hidden)
          this.sendHeartbeat(link)
          this.gossip(link)
        }))
        yield* Effect.forkScoped(this.heartbeats(peer, link))
        ended.info = yield* link.closed
      })
    )
  }

  private linkEnded(peer: Peer, link: Link.Link, closedWith: CloseInfo | undefined): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (peer.link !== link) return Effect.void
      peer.link = undefined
      peer.downSince = this.now()
      return Effect.zipRight(
        this.emitDown(peer.nodeId, downReason(peer, closedWith), peer.hidden),
        Effect.sync(() => {
          // A peer that dialed in named its own address: redialing it obeys the same host
          // rules as gossip, or it could point this node anywhere.
          // Not redialed, it would never be forgotten either (the dial loop forgets): forget it now.
          // A hidden node (a tool) is not redialed: it connects again if it wants to. A hidden node
          // itself redials its seeds only.
          const hidden = peer.hidden || this.config.hidden
          if (!peer.seed && (hidden || this.policy.refusal(peer.nodeId, true, 0) !== undefined)) {
            this.peers.delete(peer.nodeId)
          } else if (!this.closing && (!peer.goodbye || peer.seed)) this.ensureDialer(peer)
        })
      )
    })
  }

  // ---- the membership and handshake sub-protocols ---------------------------------------------

  /** Handlers of the membership messages, and of handshake messages arriving after the handshake. */
  readonly handlers: Handlers<MembershipMessage["_tag"] | HandshakeMessage["_tag"]> = {
    Heartbeat: (from, link, message) => {
      const peer = this.peers.get(from)
      if (peer !== undefined && peer.link === link) peer.heartbeat(message, this.now())
    },
    Gossip: (_from, _link, message) => {
      // A hidden node connects to its seeds only (Erlang's hidden nodes do not join the mesh).
      if (this.config.hidden) return
      for (const member of message.members) this.learn(member.nodeId, member.incarnation)
    },
    Goodbye: (from, link) => {
      const peer = this.peers.get(from)
      if (peer !== undefined && peer.link === link) peer.goodbye = true
    },
    Hello: (_from, link, message) => this.lateHandshake(link, message),
    Proof: (_from, link, message) => this.lateHandshake(link, message),
    Welcome: (_from, link, message) => this.lateHandshake(link, message),
    Reject: (_from, link, message) => this.lateHandshake(link, message)
  }

  private lateHandshake(link: Link.Link, message: HandshakeMessage): void {
    this.fork(link.close(`handshake message ${message._tag} after the handshake`))
  }

  /** Runs an effect started by a callback, owned by the node. */
  private fork(effect: Effect.Effect<unknown>): void {
    FiberSet.unsafeAdd(this.fibers, Runtime.runFork(this.runtime, effect))
  }

  /** A member named by gossip: dial it unless it is connected, or it said goodbye in that incarnation. */
  private learn(nodeId: NodeId, incarnation: string): void {
    if (nodeId === this.self.nodeId || this.closing) return
    const known = this.peers.get(nodeId)
    // Gossip from a peer that has not yet seen the departure must not bring a departed node back.
    if (known !== undefined && known.goodbye && known.incarnation === incarnation) return
    if (known?.seed !== true) {
      const refusal = this.policy.refusal(nodeId, known !== undefined, this.peers.size)
      if (refusal !== undefined) {
        const warning = this.policy.warning(refusal, nodeId)
        if (warning !== undefined) this.fork(Effect.annotateLogs(warning, { node: this.self.nodeId }))
        return
      }
    }
    const peer = known ?? this.peer(nodeId)
    if (peer.link !== undefined) return
    // Someone sees it alive: (re)start the forgetting clock of a node we reached before. One
    // never reached keeps the clock of when it was first named, so a peer that keeps naming
    // it cannot keep it dialed (once forgotten, a later gossip brings it back for another round).
    if (peer.incarnation !== undefined || peer.downSince === undefined) peer.downSince = this.now()
    this.ensureDialer(peer)
  }

  private sendHeartbeat(link: Link.Link): void {
    link.send({
      _tag: "Heartbeat",
      processCount: this.processCount(),
      uptimeMs: Math.max(0, Math.round(this.now() - this.startedAt))
    }, Link.URGENT)
  }

  private gossip(link: Link.Link): void {
    if (this.config.hidden || link.peer.hidden === true) return
    link.send({ _tag: "Gossip", members: membersFor(this.peers.values(), link) }, Link.URGENT)
  }

  /** Heartbeats and the failure detector of one link: any bytes received count as life. */
  private heartbeats(peer: Peer, link: Link.Link): Effect.Effect<void> {
    const intervalMs = Duration.toMillis(this.config.heartbeatInterval)
    const deadMs = intervalMs * this.config.heartbeatMissThreshold
    let tick = 0
    return Effect.gen(this, function*() {
      for (;;) {
        yield* Effect.sleep(this.config.heartbeatInterval)
        if (peer.link !== link) return
        if (this.now() - link.lastActivity() >= deadMs) {
          peer.timedOut = true
          yield* Effect.logWarning("peer missed its heartbeats; closing the link").pipe(
            Effect.annotateLogs({
              node: this.self.nodeId,
              peer: peer.nodeId,
              silentMs: this.now() - link.lastActivity()
            })
          )
          return yield* link.close("heartbeat timeout")
        }
        this.sendHeartbeat(link)
        if (++tick % GOSSIP_EVERY_TICKS === 0) this.gossip(link)
      }
    })
  }

  private emitUp(nodeId: NodeId, hidden: boolean): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      if (hidden) return yield* this.hiddenEvent(nodeId, "up")
      this.metrics.connectedNodes.unsafeUpdate(this.connectedIds().length, [])
      for (const hook of this.wiring.onUp) hook(nodeId)
      // Tell everyone else about the newcomer, so the mesh closes without waiting for a gossip round.
      for (const peer of this.peers.values()) {
        if (peer.link !== undefined && peer.nodeId !== nodeId) this.gossip(peer.link)
      }
      yield* Effect.logInfo("node up").pipe(Effect.annotateLogs({ node: this.self.nodeId, peer: nodeId }))
      yield* PubSub.publish(this.events, { _tag: "NodeUp", nodeId })
    })
  }

  private emitDown(nodeId: NodeId, reason: NodeDownReason, hidden: boolean): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      if (hidden) return yield* this.hiddenEvent(nodeId, "down", reason)
      this.metrics.connectedNodes.unsafeUpdate(this.connectedIds().length, [])
      for (const hook of this.wiring.onDown) hook(nodeId)
      yield* Effect.logInfo("node down").pipe(Effect.annotateLogs({ node: this.self.nodeId, peer: nodeId, reason }))
      yield* PubSub.publish(this.events, { _tag: "NodeDown", nodeId, reason })
    })
  }

  /**
   * A hidden node came or went: the components hear of it (its requests end), the program's
   * node events do not; the log does, at the level of node events, so no tool is unseen.
   */
  private hiddenEvent(nodeId: NodeId, event: "up" | "down", reason?: NodeDownReason): Effect.Effect<void> {
    for (const hook of event === "up" ? this.wiring.onUp : this.wiring.onDown) hook(nodeId)
    return Effect.logInfo(`hidden node ${event}`).pipe(
      Effect.annotateLogs({ node: this.self.nodeId, peer: nodeId, ...(reason === undefined ? {} : { reason }) })
    )
  }
}
