/**
 * The Transport service: how a node listens for and dials connections that carry
 * frames (whole messages, already cut out of the byte stream). The cluster speaks
 * only to this interface; `TcpTransport` (in `noex-effect/node`) implements it over
 * TCP and `MemoryTransport` over an in-process network for deterministic tests.
 */
import { Context, Duration, Effect, Schema } from "effect"
import type { Scope } from "effect"

/**
 * A `host:port` a node listens on or dials. `name` is the node's name: TCP ignores
 * it, the in-memory network needs it because simulated nodes may share host and port.
 */
export interface Address {
  readonly host: string
  readonly port: number
  readonly name: string
}

/**
 * Listening or dialing failed (address in use, connection refused, unreachable, ...).
 * `Authenticate`: the peer was reached but the transport's own authentication failed
 * (a TLS certificate refused either way), a configuration problem rather than a peer down.
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: Schema.Literal("Listen", "Dial", "Authenticate"),
  address: Schema.String,
  message: Schema.String
}) {}

/** The connection is closed: sends are refused. `reason` says who closed it and why. */
export class ConnectionClosedError extends Schema.TaggedError<ConnectionClosedError>()("ConnectionClosedError", {
  reason: Schema.String
}) {
  override get message() {
    return `connection closed: ${this.reason}`
  }
}

/** Why a connection ended. `Remote`: the peer or the network closed it; `Local`: we closed it. */
export interface CloseInfo {
  readonly by: "Local" | "Remote"
  readonly reason: string
}

/** How a frame or message is queued. */
export interface SendOptions {
  /** Ahead of queued data: control traffic that must not wait behind it. */
  readonly urgent?: boolean | undefined
}

/**
 * What a transport that protects the stream itself (TLS) proved about the peer: the
 * bytes are encrypted and authenticated, and the peer holds a certificate naming
 * `peerNames`, each `name@host` (a node id without its port).
 */
export interface Secured {
  readonly peerNames: ReadonlyArray<string>
}

/** One established link carrying frames both ways. */
export interface Connection {
  /** The peer's address as the transport sees it, for logs. */
  readonly remoteAddress: string
  /**
   * Set when the transport authenticated the peer and protects the bytes (TLS): the
   * handshake then refuses a peer whose id its certificate does not name, and sends no
   * records of its own on top. Absent for TCP and the in-memory network.
   */
  readonly secured?: Secured | undefined
  /**
   * Delivers every inbound frame to `onFrame`, synchronously and in order, until the
   * connection closes; completes with how it closed. Call it once. `onActivity` is told
   * whenever bytes arrive, even mid-frame, so a large frame in transit still counts as life.
   */
  readonly run: (
    onFrame: (frame: Uint8Array) => void,
    onActivity?: () => void
  ) => Effect.Effect<CloseInfo>
  /**
   * Queues a frame without waiting; `false` once closed. Frames are written in the order
   * offered, except that `urgent` ones (handshake, heartbeats) go ahead of queued data.
   * There is no bound here: a producer that can outrun the network (casts) waits on
   * `writable` after it, while replies produced by the reader never wait, so it never
   * stalls. A frame is never delivered before `offer` returns: callers register what
   * waits for the answer right after offering the request.
   */
  readonly offer: (frame: Uint8Array, options?: SendOptions) => boolean
  /**
   * Completes once the frames queued are under the high-water mark (at once when they
   * are): backpressure. Fails once the connection is closed.
   */
  readonly writable: Effect.Effect<void, ConnectionClosedError>
  /**
   * From now on every batch of frames is passed through `transform` before it is written
   * (a link seals its batches into authenticated records after the handshake); frames
   * offered before are written first, unchanged.
   */
  readonly transformFrom: (transform: (frames: ReadonlyArray<Uint8Array>) => ReadonlyArray<Uint8Array>) => void
  /** Bytes queued and not yet handed to the network. */
  readonly queuedBytes: () => number
  /** Closes the connection (queued frames are flushed first when possible); idempotent. */
  readonly close: (reason: string) => Effect.Effect<void>
  /** Completes when the connection has closed, with how. */
  readonly closed: Effect.Effect<CloseInfo>
}

/** A listening endpoint. */
export interface Listener {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: Address
  /**
   * Serves every inbound connection with `handler`, each in its own fiber, until the
   * surrounding scope closes. The connection is closed when its handler ends.
   */
  readonly serve: <R>(
    handler: (connection: Connection) => Effect.Effect<void, never, R>
  ) => Effect.Effect<never, never, R>
}

/** Options shared by listen and dial. */
export interface ConnectionOptions {
  /** Largest frame accepted or sent; checked from the length prefix before any allocation. */
  readonly maxFrameBytes: number
  /**
   * The longest a connection may stop reading its peer while its own answers to it pile
   * up (default `MAX_READ_PAUSE`, 1 s). The cluster keeps it within its heartbeat
   * interval, so a pause never looks like a silent peer.
   */
  readonly readPause?: Duration.Duration | undefined
}

/** How a node reaches other nodes. */
export interface Service {
  /** Binds `address`; the listener lives until the scope closes. */
  readonly listen: (
    address: Address,
    options: ConnectionOptions
  ) => Effect.Effect<Listener, TransportError, Scope.Scope>
  /**
   * Whether listening on `host` makes the node reachable from other machines (so a
   * cookie is required). TCP: any non-loopback host; the in-memory network: never.
   */
  readonly exposes: (host: string) => boolean
  /**
   * Whether every connection's peer proves who it is to the transport (TLS with client
   * certificates): a node may then bind a non-loopback host without a cookie.
   */
  readonly authenticatesPeers?: boolean | undefined
  /** Whether dialing a host name resolves it (TCP, TLS); the in-memory network does not (names are keys there). */
  readonly resolvesNames?: boolean | undefined
  /** Opens a connection to `address`; it is closed when the scope closes. */
  readonly dial: (
    address: Address,
    options: ConnectionOptions
  ) => Effect.Effect<Connection, TransportError, Scope.Scope>
}

/** The Transport service. */
export class Transport extends Context.Tag("noex-effect/Transport")<Transport, Service>() {}

/**
 * Bytes that may wait in one connection's outbox before `writable` holds a sender back.
 * 8 MiB: enough to keep a 10 Gbit link busy for several milliseconds, small enough that
 * a stalled peer costs each sender a bounded amount of memory.
 */
export const OUTBOX_HIGH_WATER_BYTES = 8 * 1024 * 1024

/**
 * The least number of bytes past which a connection whose socket has stopped taking
 * bytes is closed as a slow consumer. Producers of this node (casts) wait at the
 * high-water mark, so only what does not wait can pass it: replies to the peer's own
 * requests, and control traffic. Four times the mark is far beyond that for a peer that
 * reads at all, and bounds what one that never reads can cost. (At the mark the TCP
 * transport also stops reading the peer for up to a second, which pushes back on a peer
 * that asks faster than it reads; the pause is bounded so that two nodes waiting for each
 * other to read cannot wait forever.)
 */
export const OUTBOX_HARD_CAP_BYTES = 4 * OUTBOX_HIGH_WATER_BYTES

/**
 * The hard cap of a connection with frame limit `maxFrameBytes`: at least the high-water
 * mark plus four of the largest frames, so a few large answers produced in one turn never
 * reach it.
 */
export const outboxHardCap = (maxFrameBytes: number): number =>
  Math.max(OUTBOX_HARD_CAP_BYTES, OUTBOX_HIGH_WATER_BYTES + 4 * maxFrameBytes)

/**
 * The longest a connection stops reading its peer because its own answers to that peer
 * pile up, unless told a shorter one. One second: long enough for a burst of answers to
 * drain; the cluster lowers it to its heartbeat interval, since the peer's heartbeats wait
 * behind the pause and must not look like silence.
 */
export const MAX_READ_PAUSE = Duration.seconds(1)

/** The start of the close reason of a connection closed as a slow consumer. */
export const SLOW_CONSUMER = "slow consumer"
