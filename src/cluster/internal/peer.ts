/**
 * What membership knows of one peer, and the limits on what peers can make it believe
 * or do: how many peers gossip can add, how long a gossiped node is dialed, which
 * heartbeat figures are believed.
 */
import { Duration, Effect, Random } from "effect"
import type { Fiber } from "effect"
import { NodeId } from "../../NodeId.js"
import { SLOW_CONSUMER } from "../../transport/Transport.js"
import type { Address, CloseInfo } from "../../transport/Transport.js"
import type * as Link from "../Link.js"
import type { NodeDownReason, NodeInfo } from "../NodeEvent.js"

/**
 * The default of `maxKnownPeers`: peers this node knows (connected, dialing, or remembered
 * as down) before gossip can add no more. A full mesh of 1,000 nodes is far past what one heartbeat per peer per second
 * suits; the cap is what stops one hostile gossip frame from making the node dial
 * thousands of addresses at once. Seeds are always known.
 */
export const MAX_KNOWN_PEERS = 1000

/**
 * How long a node only heard of through gossip, and never reached, is dialed: 10 s is two
 * handshake timeouts and several dials with the default backoff, enough for a node that
 * exists; a gossiped address that never answers stops costing dials, and while the node
 * lives its peers' next gossip brings it back.
 */
export const GOSSIPED_FORGET_AFTER_MS = 10_000

/**
 * The largest process count a peer's heartbeat is believed with: 2^32 processes at
 * ~500 bytes each would be 2 TiB of heap, beyond any node.
 */
export const MAX_REPORTED_PROCESSES = 2 ** 32

/** The longest uptime a peer's heartbeat is believed with: a century. */
export const MAX_REPORTED_UPTIME_MS = 100 * 365 * 24 * 3600 * 1000

/** What one peer looks like to this node. */
export class Peer {
  link: Link.Link | undefined = undefined
  incarnation: string | undefined = undefined
  attempting = false
  dialer: Fiber.RuntimeFiber<void> | undefined = undefined
  downSince: number | undefined = undefined
  goodbye = false
  timedOut = false
  /** A hidden node (a tool): linked, but not a member. */
  hidden = false
  processCount = 0
  /** Spawns this node sent there that have not been answered yet. */
  spawnsInFlight = 0
  /** Spawns placed there since its last heartbeat, which may not count them yet. */
  spawnsUnheard = 0
  lastHeartbeatAt = 0
  peerUptimeMs = 0
  constructor(
    readonly nodeId: NodeId,
    readonly seed: boolean
  ) {}

  /** A heartbeat arrived at `now`: life, and the peer's figures unless they are past any real node's. */
  heartbeat(message: { readonly processCount: number; readonly uptimeMs: number }, now: number): void {
    this.lastHeartbeatAt = now
    // Figures past any real node are not believed (LoadBalancer.leastLoaded reads them).
    if (message.processCount > MAX_REPORTED_PROCESSES || message.uptimeMs > MAX_REPORTED_UPTIME_MS) return
    this.heard()
    this.processCount = message.processCount
    this.peerUptimeMs = message.uptimeMs
  }

  /** Linked and a member (a hidden node is linked, not a member). */
  get member(): boolean {
    return this.link !== undefined && !this.hidden
  }

  /** What `getConnectedNodes` tells of this peer at `now`. */
  info(now: number): NodeInfo {
    const { host, port } = NodeId.components(this.nodeId)
    return {
      id: this.nodeId,
      host,
      port,
      status: "connected",
      processCount: this.processCount + this.spawnsInFlight + this.spawnsUnheard,
      lastHeartbeatAt: this.lastHeartbeatAt,
      uptimeMs: this.peerUptimeMs + Math.max(0, now - this.lastHeartbeatAt)
    }
  }

  /**
   * Counts a spawn sent to this peer until its heartbeats can show it; the returned
   * function ends it (`placed`: the peer answered with a process). A heartbeat that
   * arrives after the answer was, as a rule, sent after it, so it counts the process:
   * `heard` then clears what was placed. Heartbeats jump a congested outbox, so one may
   * overtake an answer: that process is then counted twice until the next heartbeat, an
   * overcount of at most one interval (placement errs towards spreading).
   */
  spawnSent(): (placed: boolean) => void {
    this.spawnsInFlight++
    const link = this.link
    let open = true
    return (placed) => {
      if (!open) return
      open = false
      this.spawnsInFlight--
      if (placed && this.link === link) this.spawnsUnheard++
    }
  }

  /** A heartbeat arrived: its count includes every process placed before it. */
  heard(): void {
    this.spawnsUnheard = 0
  }
}

/**
 * How long a node that is down is still dialed: `forgetAfter`, or less for one only
 * heard of through gossip and never reached (no incarnation seen on a link).
 */
export const forgetAfterMs = (peer: Peer, forgetAfter: Duration.Duration): number => {
  const configured = Duration.toMillis(forgetAfter)
  return peer.incarnation === undefined ? Math.min(configured, GOSSIPED_FORGET_AFTER_MS) : configured
}

/** Jittered exponential backoff after `failures` failed dials: min·2^(n-1), capped at max, times a factor in [0.5, 1). */
export const redialDelay = (
  backoff: { readonly min: Duration.Duration; readonly max: Duration.Duration },
  failures: number
): Effect.Effect<Duration.Duration> => {
  const min = Duration.toMillis(backoff.min)
  const max = Duration.toMillis(backoff.max)
  const base = Math.min(max, min * 2 ** Math.max(0, Math.min(failures - 1, 30)))
  return Effect.map(Random.next, (r) => Duration.millis(Math.max(1, Math.round(base * (0.5 + r / 2)))))
}

/**
 * Heartbeat intervals of silence after which a link counts as dead for a new incarnation
 * of its node. A live link carries a heartbeat every interval; two without any bytes is
 * no GC pause, and short enough that a node restarted behind a half-open connection
 * rejoins in about two intervals instead of waiting for the failure detector (five).
 */
export const LIVE_LINK_SILENCE_INTERVALS = 2

/** What the admission rule needs to know besides the peer. */
export interface AdmissionContext {
  readonly self: NodeId
  /** An inbound handshake from this node is already admitted and not done. */
  readonly accepting: boolean
  readonly now: number
  readonly heartbeatIntervalMs: number
}

/**
 * The one-link-per-pair rule: why a handshake from `identity` is refused, or `undefined`.
 * Only one handshake per pair may be in flight at a time: an inbound one that is admitted
 * blocks our own dials to that node until it ends, and when both sides dial at once the
 * connection dialed by the smaller NodeId is kept. A live link refuses a second one from
 * the same incarnation, and one from a new incarnation while the old link still shows
 * life (bytes within `LIVE_LINK_SILENCE_INTERVALS` heartbeats).
 */
export const admission = (
  peer: Peer | undefined,
  identity: Link.PeerIdentity,
  direction: "in" | "out",
  context: AdmissionContext
): string | undefined => {
  if (peer !== undefined && peer.link !== undefined) {
    if (peer.incarnation === identity.incarnation) return "already connected"
    // A restarted node replaces its old link only once that link is found dead: one
    // claim of a new incarnation, even proven, must not cut a node that is alive.
    const silentMs = context.now - peer.link.lastActivity()
    if (!peer.goodbye && silentMs < LIVE_LINK_SILENCE_INTERVALS * context.heartbeatIntervalMs) {
      return `incarnation ${identity.incarnation} refused: the link to incarnation ${peer.incarnation} is alive (${silentMs} ms since its last bytes)`
    }
  }
  if (context.accepting) return "already accepting a connection from this node"
  if (direction === "in" && peer !== undefined && peer.attempting && context.self < identity.nodeId) {
    return "simultaneous dial: keeping the connection dialed by the smaller node id"
  }
  return undefined
}

/** Where `nodeId` is dialed: its host, port and name. */
export const dialAddress = (nodeId: NodeId): Address => {
  const { host, name, port } = NodeId.components(nodeId)
  return { host, port, name }
}

/** The end of a spawn to a node this one does not know: nothing to count. */
const ignoreSpawn = (_placed: boolean): void => {}

/** Counts a spawn sent to `peer` (see `Peer.spawnSent`); a node not known counts nothing. */
export const spawnSentTo = (peer: Peer | undefined): (placed: boolean) => void => peer?.spawnSent() ?? ignoreSpawn

/** Why `peer`'s link ended: what it said (`Goodbye`), what this node saw (silence, a slow reader), or a close. */
export const downReason = (peer: Peer, closedWith: CloseInfo | undefined): NodeDownReason =>
  peer.goodbye
    ? "graceful_shutdown"
    : peer.timedOut
    ? "heartbeat_timeout"
    : closedWith?.by === "Local" && closedWith.reason.startsWith(SLOW_CONSUMER)
    ? "slow_consumer"
    : "connection_closed"

/** The members gossiped on `link`: the other members connected now (never a hidden node). */
export const membersFor = (
  peers: Iterable<Peer>,
  link: Link.Link
): Array<{ readonly nodeId: NodeId; readonly incarnation: string }> => {
  const members = []
  for (const peer of peers) {
    if (peer.member && peer.link !== link && peer.incarnation !== undefined) {
      members.push({ nodeId: peer.nodeId, incarnation: peer.incarnation })
    }
  }
  return members
}

/**
 * The log of a failed dial: a refused certificate is a configuration problem an operator
 * must see, once per cause (`lastRefusal`); a peer that is simply not there yet is routine.
 */
export const dialFailed = (
  error: { readonly _tag: string; readonly message: string; readonly reason?: unknown },
  nodeId: NodeId,
  attempt: number,
  lastRefusal: string | undefined
): { readonly log: Effect.Effect<void>; readonly lastRefusal: string | undefined } => {
  const refused = error._tag === "TransportError" && error.reason === "Authenticate"
  const log = refused && error.message !== lastRefusal ? Effect.logWarning : Effect.logDebug
  return {
    log: log(refused ? "dial refused by the transport's authentication" : "dial failed").pipe(
      Effect.annotateLogs({ peer: nodeId, reason: error.message, attempt })
    ),
    lastRefusal: refused ? error.message : lastRefusal
  }
}
