/**
 * A peer link: one transport connection after the handshake, carrying typed wire
 * messages between two identified nodes. The handshake (docs/wire.md, "Handshake")
 * is a numbered state machine:
 *
 *   1. both sides send `Hello` (protocol, version, node id, incarnation, auth mode, frame
 *      limit, a fresh 32-byte nonce when a cookie is configured);
 *   2. each checks the peer's `Hello`: protocol and version equal, same auth mode, a
 *      valid id that is not its own (and, for the dialer, the id it dialed);
 *   3. with a cookie, the dialer sends `Proof` = HMAC-SHA256(cookie, "dialer" | both
 *      Hellos as sent); the acceptor verifies it in constant time and only then sends
 *      its own (`"acceptor"` | the same transcript), which the dialer verifies;
 *   4. only now may the peer claim the pair's slot (`admit`); each sends `Welcome`, and
 *      the link is up when it has sent one and received one.
 *
 * Any failed check sends `Reject` with the reason and closes the connection. A
 * handshake not complete within the deadline is closed. After it, the peer's
 * identity is bound to the link: messages carry no sender field to forge.
 */
import { Duration, Effect, Either, FiberSet, Option } from "effect"
import type { Redacted, Scope } from "effect"
import { MessageTooLargeError } from "../errors.js"
import type { NodeId } from "../NodeId.js"
import type { CloseInfo, Connection, SendOptions } from "../transport/Transport.js"
import { ConnectionClosedError } from "../transport/Transport.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../wire/Frame.js"
import * as Protocol from "../wire/Protocol.js"
import type { WireMessage } from "../wire/Protocol.js"
import { RECORD_OVERHEAD_BYTES, RecordOpener, RecordSealer } from "../wire/Record.js"
import type { SessionKeys } from "../wire/Record.js"
import * as Auth from "./internal/auth.js"
import type { NodeMetrics } from "./internal/metrics.js"

/** A node's identity on the wire. */
export interface PeerIdentity {
  readonly nodeId: NodeId
  readonly incarnation: string
  /** A hidden node: a tool connected to this one, not a member of the cluster (`ClusterConfig.hidden`). */
  readonly hidden?: boolean | undefined
}

/** What the handshake needs to know about this node. */
export interface HandshakeConfig {
  readonly self: PeerIdentity
  readonly cookie: Option.Option<Redacted.Redacted<string>>
  readonly handshakeTimeout: Duration.DurationInput
  /** Which end of the connection this node is: the dialer proves first. */
  readonly role: Auth.Role
  /** For a dialed connection: the node we meant to reach. */
  readonly expected?: NodeId | undefined
  /**
   * Called once the peer's `Hello` passed every check and (with a cookie) its proof
   * verified: a reason refuses the peer (a duplicate connection, say), `undefined` admits it.
   */
  readonly admit?: ((peer: PeerIdentity) => string | undefined) | undefined
  /** Counts frames and bytes both ways, when given. */
  readonly metrics?: NodeMetrics | undefined
  /** The largest frame this node accepts; told to the peer in `Hello`. */
  readonly maxFrameBytes?: number | undefined
}

/**
 * The handshake failed; the connection is closed and `reason` was logged. `routine`
 * marks the refusals of the one-link-per-pair rule, which are normal operation
 * (logged at debug level, not as warnings).
 */
export class HandshakeFailed {
  readonly _tag = "HandshakeFailed"
  constructor(
    readonly reason: string,
    readonly routine = false
  ) {}
  get message(): string {
    return `handshake failed: ${this.reason}`
  }
}

/** Refusals the admission rule makes in normal operation (a duplicate link, a node leaving). */
const ROUTINE_REFUSALS = ["simultaneous dial", "already connected", "already accepting", "node is shutting down"]
const isRoutine = (reason: string) => ROUTINE_REFUSALS.some((prefix) => reason.startsWith(prefix))

/**
 * Frames an unauthenticated peer may have queued before the handshake ends. A
 * handshake is at most three frames each way; more is a peer not speaking it.
 */
const MAX_PENDING_HANDSHAKE_FRAMES = 8

/** How a message is sent on a link. */
export interface LinkSendOptions extends SendOptions {
  /**
   * The caller hands a refusal to user code as its typed error (a call, cast, spawn or
   * reply too large): the link does not log it as well.
   */
  readonly reported?: boolean | undefined
}

/** Invalid messages from one link between two log lines about them (the first is logged). */
const INVALID_LOG_EVERY = 1000

/** Options for control traffic: ahead of queued data. */
export const URGENT: LinkSendOptions = { urgent: true }

/** Options for a request or answer whose refusal its caller reports. */
export const REPORTED: LinkSendOptions = { reported: true }

/** What {@link Link.send} did: queued, or why not. */
export type SendResult = Either.Either<void, MessageTooLargeError | ConnectionClosedError>

const SENT: SendResult = Either.void

/** An established link. */
export interface Link {
  readonly peer: PeerIdentity
  readonly remoteAddress: string
  /**
   * The largest frame that may be sent on this link: the smaller of both sides' limits
   * (the peer would have to close the link for a larger one).
   */
  readonly maxFrameBytes: number
  /**
   * Encodes and queues a message without waiting (urgent ones ahead of data). A message
   * over `maxFrameBytes` is not sent: it is returned as `MessageTooLargeError`, which a
   * request made by user code turns into its typed failure (`reported`), and logged
   * otherwise. A closed link returns `ConnectionClosedError`.
   */
  readonly send: (message: WireMessage, options?: LinkSendOptions) => SendResult
  /** Completes once the link's outbox has room (backpressure for producers such as casts). */
  readonly writable: Effect.Effect<void, ConnectionClosedError>
  /** Installs the receiver of inbound messages; messages that arrived earlier are delivered first. */
  readonly receive: (handler: (message: WireMessage) => void) => void
  /** The clock time (ms) at which bytes last arrived. */
  readonly lastActivity: () => number
  readonly close: (reason: string) => Effect.Effect<void>
  readonly closed: Effect.Effect<CloseInfo>
  readonly connection: Connection
}

/**
 * Runs the handshake over a fresh connection and returns the link. On failure the
 * connection is closed, the reason logged with the remote address, and the effect
 * fails with {@link HandshakeFailed}. The link lives in the current scope: the reader
 * and whatever the link starts belong to it, and closing it closes the connection.
 */
export const establish = (
  connection: Connection,
  config: HandshakeConfig
): Effect.Effect<Link, HandshakeFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const fibers = yield* FiberSet.make()
    // Added after the set, so it runs first: the reader then ends with the connection.
    yield* Effect.addFinalizer(() => connection.close("link closed"))
    const run = yield* FiberSet.runtime(fibers)<never>()
    let lastActivity = clock.unsafeCurrentTimeMillis()
    // Handshake frames wait here until the handshake fiber takes them.
    const pending: Array<Uint8Array> = []
    let waiter: ((frame: Uint8Array) => void) | undefined
    let open = false
    let handler: ((message: WireMessage) => void) | undefined
    const early: Array<WireMessage> = []
    let violation: string | undefined
    // Once the peer has proved itself, what it sends right after its Welcome (while this
    // side finishes its last step) is link traffic, not an unauthenticated flood.
    let proven = false

    const protocolViolation = (reason: string) => {
      if (violation !== undefined) return
      violation = reason
      run(
        Effect.logWarning("closing connection: bad input").pipe(
          Effect.annotateLogs({ remote: connection.remoteAddress, reason }),
          Effect.zipRight(connection.close(reason))
        )
      )
    }

    const onFrame = (frame: Uint8Array) => {
      if (!open) {
        if (waiter !== undefined) {
          const w = waiter
          waiter = undefined
          w(frame)
        } else if (!proven && pending.length >= MAX_PENDING_HANDSHAKE_FRAMES) {
          protocolViolation("too many frames before the handshake completed")
        } else pending.push(frame)
        return
      }
      deliver(frame)
    }
    const metrics = config.metrics
    // With a cookie, set at the end of the handshake: every later frame is a record.
    let keys: SessionKeys | undefined
    let opener: RecordOpener | undefined
    const deliver = (frame: Uint8Array) => {
      if (violation !== undefined) return
      if (opener === undefined) return deliverMessage(frame)
      const refused = opener.open(frame, deliverMessage)
      if (refused !== undefined) protocolViolation(refused)
    }
    const deliverMessage = (frame: Uint8Array) => {
      if (violation !== undefined) return
      if (metrics !== undefined) {
        metrics.framesIn.unsafeUpdate(1, [])
        metrics.bytesIn.unsafeUpdate(frame.length, [])
      }
      const decoded = Protocol.decode(frame)
      if (Either.isLeft(decoded)) {
        const error = decoded.left
        if (error.kind === "unreadable" || (error.tag !== undefined && Protocol.ANSWER_TAGS.has(error.tag))) {
          return protocolViolation(`malformed message: ${error.message}`)
        }
        return invalidMessage(error.message)
      }
      const message = decoded.right
      if (handler === undefined) early.push(message)
      else handler(message)
    }
    // A readable frame that is no known message costs only itself: logged for the first one
    // and then once per INVALID_LOG_EVERY, so a peer cannot flood the log either.
    let invalid = 0
    const invalidMessage = (reason: string) => {
      if (invalid++ % INVALID_LOG_EVERY !== 0) return
      run(
        Effect.logWarning("dropped a message that is not one this node knows").pipe(
          Effect.annotateLogs({ remote: connection.remoteAddress, reason, dropped: invalid })
        )
      )
    }
    const onActivity = () => {
      lastActivity = clock.unsafeCurrentTimeMillis()
    }
    yield* FiberSet.run(fibers, connection.run(onFrame, onActivity))

    /** The next handshake message, with its frame's bytes (the transcript holds them). */
    const next: Effect.Effect<{ readonly message: WireMessage; readonly frame: Uint8Array }, HandshakeFailed> = Effect
      .flatMap(
        Effect.async<Uint8Array>((resume) => {
          const frame = pending.shift()
          if (frame !== undefined) return resume(Effect.succeed(frame))
          waiter = (f) => resume(Effect.succeed(f))
          return Effect.sync(() => {
            waiter = undefined
          })
        }),
        (frame) =>
          Either.match(Protocol.decode(frame), {
            onLeft: (error) => Effect.fail(new HandshakeFailed(`malformed handshake message: ${error.message}`)),
            onRight: (message) =>
              message._tag === "Reject"
                ? Effect.fail(
                  new HandshakeFailed(`peer rejected the connection: ${message.reason}`, isRoutine(message.reason))
                )
                : Effect.succeed({ message, frame })
          })
      )
    const sendBytes = (frame: Uint8Array) => Effect.sync(() => connection.offer(frame, URGENT))
    const send = (message: WireMessage) => sendBytes(Protocol.encode(message))
    const refuse = (reason: string, routine = false): Effect.Effect<never, HandshakeFailed> =>
      Effect.zipRight(send({ _tag: "Reject", reason }), Effect.fail(new HandshakeFailed(reason, routine)))
    const expect = <Tag extends WireMessage["_tag"]>(tag: Tag) =>
      Effect.flatMap(next, ({ frame, message }) =>
        message._tag === tag
          ? Effect.succeed({ message: message as Extract<WireMessage, { _tag: Tag }>, frame })
          : refuse(`expected ${tag}, got ${message._tag}`))
    const role = config.role

    const handshake = Effect.gen(function*() {
      const auth = Option.isSome(config.cookie) ? "hmac-sha256" : "none"
      // Step 1.
      const myHello = Protocol.encode({
        _tag: "Hello",
        protocol: Protocol.PROTOCOL_NAME,
        version: Protocol.PROTOCOL_VERSION,
        nodeId: config.self.nodeId,
        incarnation: config.self.incarnation,
        auth,
        challenge: auth === "none" ? new Uint8Array(0) : Auth.challenge(),
        ...(config.maxFrameBytes !== undefined ? { maxFrameBytes: config.maxFrameBytes } : {}),
        ...(config.self.hidden === true ? { hidden: true } : {})
      })
      yield* sendBytes(myHello)
      // Step 2.
      const { frame: theirHello, message: hello } = yield* expect("Hello")
      if (hello.version !== Protocol.PROTOCOL_VERSION) {
        return yield* refuse(
          `protocol version ${hello.version} is not supported (this node speaks ${Protocol.PROTOCOL_VERSION})`
        )
      }
      if (hello.auth !== auth) {
        return yield* refuse(
          auth === "none"
            ? "peer requires a cookie and this node has none"
            : "this node requires a cookie and the peer has none"
        )
      }
      if (hello.nodeId === config.self.nodeId) return yield* refuse("peer claims this node's own id")
      if (config.expected !== undefined && hello.nodeId !== config.expected) {
        return yield* refuse(`dialed ${config.expected} but reached ${hello.nodeId}`)
      }
      // Over TLS a node may only be who its certificate says.
      const secured = connection.secured
      if (secured !== undefined && !secured.peerNames.includes(hello.nodeId.slice(0, hello.nodeId.lastIndexOf(":")))) {
        return yield* refuse(`the peer's certificate does not name ${hello.nodeId}`)
      }
      // Step 3: the dialer proves first; the acceptor proves only to a dialer that has.
      const cookie = config.cookie
      if (Option.isSome(cookie)) {
        if (hello.challenge.length !== Auth.CHALLENGE_BYTES) return yield* refuse("malformed challenge")
        const [dialerHello, acceptorHello] = role === "dialer" ? [myHello, theirHello] : [theirHello, myHello]
        const other: Auth.Role = role === "dialer" ? "acceptor" : "dialer"
        const mine = () => send({ _tag: "Proof", mac: Auth.proof(cookie.value, role, dialerHello, acceptorHello) })
        const verify = Effect.gen(function*() {
          const { message: theirs } = yield* expect("Proof")
          const expected = Auth.proof(cookie.value, other, dialerHello, acceptorHello)
          if (!Auth.timingSafeEqual(theirs.mac, expected)) return yield* refuse("cookie mismatch")
        })
        if (role === "dialer") {
          yield* mine()
          yield* verify
        } else {
          yield* verify
          yield* mine()
        }
        keys = Auth.sessionKeys(cookie.value, dialerHello, acceptorHello)
      }
      // Step 4: only a peer that proved itself may claim the pair's slot.
      const identity: PeerIdentity = {
        nodeId: hello.nodeId,
        incarnation: hello.incarnation,
        ...(hello.hidden === true ? { hidden: true } : {})
      }
      const refusal = config.admit?.(identity)
      if (refusal !== undefined) return yield* refuse(refusal, true)
      proven = true
      yield* send({ _tag: "Welcome" })
      yield* expect("Welcome")
      const peerLimit = Math.min(config.maxFrameBytes ?? Infinity, hello.maxFrameBytes ?? Infinity)
      // TLS already authenticates every byte: records would buy nothing twice.
      if (keys === undefined || secured !== undefined) return { identity, maxFrameBytes: peerLimit }
      // Step 5: everything after the Welcomes travels in authenticated records.
      const [outKey, inKey] = role === "dialer"
        ? [keys.dialerToAcceptor, keys.acceptorToDialer]
        : [keys.acceptorToDialer, keys.dialerToAcceptor]
      const sealer = new RecordSealer(outKey, peerLimit === Infinity ? DEFAULT_MAX_FRAME_BYTES : peerLimit)
      connection.transformFrom((frames) => sealer.seal(frames))
      opener = new RecordOpener(inKey)
      return { identity, maxFrameBytes: peerLimit - RECORD_OVERHEAD_BYTES }
    })

    const closedEarly = Effect.flatMap(
      connection.closed,
      (info) => Effect.fail(new HandshakeFailed(`connection closed during the handshake: ${info.reason}`))
    )
    const agreed = yield* Effect.raceFirst(handshake, closedEarly).pipe(
      Effect.timeoutFail({
        duration: config.handshakeTimeout,
        onTimeout: () =>
          new HandshakeFailed(`handshake not completed within ${Duration.format(config.handshakeTimeout)}`)
      }),
      Effect.tapError((error) =>
        (error.routine
          ? Effect.logDebug("duplicate connection refused; closing it")
          : Effect.logWarning("handshake failed; closing connection")).pipe(
            Effect.annotateLogs({ remote: connection.remoteAddress, reason: error.reason }),
            Effect.zipRight(connection.close(error.reason))
          )
      )
    )
    // Frames that arrived behind the last handshake message belong to the link.
    open = true
    for (const frame of pending.splice(0)) deliver(frame)

    const counted = (frame: Uint8Array) => {
      if (metrics !== undefined) {
        metrics.framesOut.unsafeUpdate(1, [])
        metrics.bytesOut.unsafeUpdate(frame.length, [])
      }
      return frame
    }
    const peer = agreed.identity
    const maxFrameBytes = agreed.maxFrameBytes
    const oversized = (message: WireMessage, bytes: number, reported: boolean): SendResult => {
      if (!reported) {
        run(
          Effect.logError("dropped an outgoing message over the frame limit").pipe(
            Effect.annotateLogs({ peer: peer.nodeId, message: message._tag, bytes, limit: maxFrameBytes })
          )
        )
      }
      return Either.left(new MessageTooLargeError({ bytes, limit: maxFrameBytes }))
    }
    const link: Link = {
      peer,
      remoteAddress: connection.remoteAddress,
      maxFrameBytes,
      connection,
      send: (message, options) => {
        const frame = Protocol.encode(message)
        if (frame.length > maxFrameBytes) return oversized(message, frame.length, options?.reported === true)
        return connection.offer(counted(frame), options)
          ? SENT
          : Either.left(new ConnectionClosedError({ reason: "link closed" }))
      },
      writable: connection.writable,
      receive: (h) => {
        handler = h
        for (const message of early.splice(0)) h(message)
      },
      lastActivity: () => lastActivity,
      close: (reason) => connection.close(reason),
      closed: connection.closed
    }
    return link
  })
