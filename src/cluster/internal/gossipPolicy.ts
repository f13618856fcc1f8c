/**
 * What gossip may make this node do. A peer's gossip names members for this node to
 * dial, and a hostile or confused peer could name thousands, or addresses anywhere: so
 * a member is dialed only within the cap on known peers, inside `allowedHosts` when it
 * is set, and by host name only when the configuration says names may be resolved; and
 * dials start no faster than {@link DIALS_PER_SECOND}, however many members arrive.
 */
import { Duration, Effect } from "effect"
import * as net from "node:net"
import { validateParts } from "../../internal/nodeIdFormat.js"
import { NodeId } from "../../NodeId.js"

/**
 * Dials started per second once the burst is spent. 100/s: a node joining a cluster of
 * a hundred meshes at once (the burst), and a gossip frame naming a thousand members costs
 * ten seconds of dials at a pace any machine takes, not a thousand sockets at once.
 */
export const DIALS_PER_SECOND = 100

/** Dials that may start at once before the rate applies: a whole cluster of 100. */
export const DIAL_BURST = 100

/** Why a gossiped member is not dialed; each kind is logged once per node. */
export type Refusal = "cap" | "notAllowed" | "name"

const messages: Record<Refusal, string> = {
  cap: "ignoring gossiped members: this node knows as many peers as it allows",
  notAllowed: "ignoring a gossiped member outside allowedHosts",
  name:
    "ignoring a gossiped member named by host name: set resolveGossipedNames (or list the name in allowedHosts) to dial it"
}

const validHost = (host: string) => validateParts("x", host, 1) === undefined

const unbracket = (host: string) => host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host

/** Whether `host` is an IP address rather than a name to resolve. */
export const isIpLiteral = (host: string): boolean => net.isIP(unbracket(host)) !== 0

/** An allow-list of hosts: CIDRs, addresses, names, and `*.suffix` for every name under a domain. */
export class HostRule {
  private readonly blocks = new net.BlockList()
  private readonly names = new Set<string>()
  private readonly suffixes: Array<string> = []

  private constructor() {}

  /** Parses the entries; `Left` names the first one that is none of the forms. */
  static parse(entries: ReadonlyArray<string>): HostRule | string {
    const rule = new HostRule()
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase()
      const [address, bits, extra] = entry.split("/")
      const ip = unbracket(address ?? "")
      const family = net.isIP(ip)
      if (family !== 0 && extra === undefined) {
        const type = family === 4 ? "ipv4" : "ipv6"
        if (bits === undefined) rule.blocks.addAddress(ip, type)
        else {
          const prefix = Number(bits)
          if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) return `"${raw}": bad prefix length`
          rule.blocks.addSubnet(ip, prefix, type)
        }
      } else if (entry.startsWith("*.") && validHost(entry.slice(2))) rule.suffixes.push(entry.slice(1))
      else if (validHost(entry) && !entry.includes("/")) rule.names.add(entry)
      else return `"${raw}" is not a CIDR, an address, a host name or *.domain`
    }
    return rule
  }

  /** Whether `host` (as in a NodeId) is on the list. */
  allows(host: string): boolean {
    const ip = unbracket(host)
    const family = net.isIP(ip)
    if (family !== 0) return this.blocks.check(ip, family === 4 ? "ipv4" : "ipv6")
    return this.namesHost(host)
  }

  /** Whether the list names `host` itself (a name, or a name under a listed domain). */
  namesHost(host: string): boolean {
    const name = host.toLowerCase()
    return this.names.has(name) || this.suffixes.some((suffix) => name.endsWith(suffix))
  }
}

/** Decides which gossiped members are dialed, and paces every dial. */
export class GossipPolicy {
  private readonly logged = new Set<Refusal>()
  private tokens = DIAL_BURST
  private refilledAt: number

  constructor(
    /** Peers this node may know before gossip adds no more (`maxKnownPeers`). */
    private readonly maxKnownPeers: number,
    private readonly rule: HostRule | undefined,
    /** Host names in gossip are dialed (resolved) only when this is set or the rule names them. */
    private readonly resolveNames: boolean,
    /** Whether the transport resolves names at all (the in-memory network does not: names are just keys there). */
    private readonly transportResolves: boolean,
    private readonly now: () => number
  ) {
    this.refilledAt = now()
  }

  /** Why a member named by gossip is not to be dialed, or `undefined`. */
  refusal(nodeId: NodeId, known: boolean, knownCount: number): Refusal | undefined {
    if (!known && knownCount >= this.maxKnownPeers) return "cap"
    const host = NodeId.components(nodeId).host
    if (this.rule !== undefined && !this.rule.allows(host)) return "notAllowed"
    if (this.transportResolves && !this.resolveNames && !isIpLiteral(host) && this.rule?.namesHost(host) !== true) {
      return "name"
    }
    return undefined
  }

  /** The warning for a refusal the first time this kind happens on this node, `undefined` after. */
  warning(refusal: Refusal, nodeId: NodeId): Effect.Effect<void> | undefined {
    if (this.logged.has(refusal)) return undefined
    this.logged.add(refusal)
    return Effect.logWarning(messages[refusal]).pipe(
      Effect.annotateLogs({
        member: nodeId,
        limit: this.maxKnownPeers,
        note: "logged once; later ones are ignored quietly"
      })
    )
  }

  /**
   * Waits for the turn of a dial to a member only gossip vouches for (seeds and nodes this
   * node has reached dial freely): a token bucket of {@link DIAL_BURST} refilled at
   * {@link DIALS_PER_SECOND}, on the Clock (so TestClock paces it). A dial past the burst
   * reserves the next free slot and sleeps until it; with a burst's worth already waiting,
   * it gets no turn (`false`: the dial counts as failed and backs off), so the wait stays
   * under a second however much a peer gossips.
   */
  readonly permit: Effect.Effect<boolean> = Effect.suspend(() => {
    const now = this.now()
    this.tokens = Math.min(DIAL_BURST, this.tokens + ((now - this.refilledAt) * DIALS_PER_SECOND) / 1000)
    this.refilledAt = now
    if (this.tokens <= 1 - DIAL_BURST) return Effect.succeed(false)
    this.tokens -= 1
    if (this.tokens >= 0) return Effect.succeed(true)
    return Effect.as(Effect.sleep(Duration.millis((-this.tokens * 1000) / DIALS_PER_SECOND)), true)
  })
}
