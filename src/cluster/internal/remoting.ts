/**
 * Remoting: calls, casts, spawns and stops between nodes. The caller side keeps a
 * table of pending requests (each ends exactly once: reply, typed error, timeout,
 * or `NodeNotReachableError` the moment its node goes down; a late reply finds no
 * entry and is dropped). Requests from other nodes are served by `Serving`.
 */
import { Effect, Either, Exit } from "effect"
import {
  InvalidMessageError,
  MessageTooLargeError,
  NodeNotReachableError,
  RemoteCallTimeoutError,
  RemoteHandlerError,
  RemoteServerNotRunningError,
  RemoteSpawnInitError,
  RemoteSpawnTimeoutError
} from "../../errors.js"
import type { CallError } from "../../errors.js"
import type { ExitReason } from "../../ExitReason.js"
import { bounded, describe } from "../../internal/handler.js"
import type { ProcessTable } from "../../internal/process.js"
import type { TimerEntry } from "../../internal/timers.js"
import * as Typed from "../../internal/typed.js"
import { resultOf, schemaOf } from "../../internal/typed.js"
import type { NodeId } from "../../NodeId.js"
import type { SpawnError } from "../../RemoteSpawn.js"
import type { ServerRef, SpawnResult } from "../../ServerRef.js"
import type { PayloadCodec } from "../../wire/Codec.js"
import type { DeclaredFailure, RequestMessage } from "../../wire/RequestProtocol.js"
import { REPORTED } from "../Link.js"
import type { SendResult } from "../Link.js"
import type { Handlers, Links } from "./dispatch.js"
import type { NodeMetrics } from "./metrics.js"
import { PendingRequests } from "./pending.js"
import type { Pending } from "./pending.js"
import { MAX_WIRE_TIMEOUT_MS, NO_REPLY } from "./serving.js"
import type { Serving, SpawnRequest } from "./serving.js"

/** More than a `Stop` frame adds around its reason and id (tag, call id, field names). */
const STOP_ENVELOPE_BYTES = 64

/** A send refused for size: the caller's typed error. */
const tooLarge = (sent: SendResult): sent is Either.Left<MessageTooLargeError, void> =>
  Either.isLeft(sent) && sent.left._tag === "MessageTooLargeError"

/**
 * A ref from untyped code may lack its id: refused here, on the caller, instead of
 * sending a message the target cannot read.
 */
const hasId = (ref: ServerRef): boolean => typeof ref.id === "string"

/** What remoting is built from. */
export interface RemotingDeps {
  readonly self: NodeId
  readonly links: Links
  readonly table: ProcessTable
  readonly serving: Serving
  readonly codec: PayloadCodec
  readonly metrics: NodeMetrics
}

/**
 * The longest deadline a remote call waits without an interruption canceler. Up to it an
 * interrupted call's entry (a few hundred bytes) may outlive its caller until the deadline;
 * past it (a call with no deadline, say) the entry goes with the interruption.
 */
const UNCANCELLED_CALL_MAX_MS = 60_000

/** The remoting of one node. */
export class Remoting {
  private readonly self: NodeId
  private readonly links: Links
  private readonly table: ProcessTable
  private readonly serving: Serving
  private readonly codec: PayloadCodec
  private readonly metrics: NodeMetrics
  private readonly calls: PendingRequests<unknown, CallError>
  private readonly stops: PendingRequests<void, RemoteServerNotRunningError | NodeNotReachableError>
  private readonly spawns: PendingRequests<SpawnResult, SpawnError>

  constructor(deps: RemotingDeps) {
    this.self = deps.self
    this.links = deps.links
    this.table = deps.table
    this.serving = deps.serving
    this.codec = deps.codec
    this.metrics = deps.metrics
    const timers = deps.table.timers
    this.calls = new PendingRequests(timers)
    this.stops = new PendingRequests(timers)
    // A spawn given up by its caller is given up on the target too: it stops what it started.
    this.spawns = new PendingRequests(
      timers,
      (spawnId, entry) => this.links.linkTo(entry.nodeId)?.send({ _tag: "SpawnAbandoned", spawnId })
    )
  }

  /** Requests waiting for an answer (calls, stops, spawns). */
  pendingCount(): number {
    return this.calls.size + this.stops.size + this.spawns.size
  }

  // ---- caller side ----------------------------------------------------------------------------

  /** Calls a process on another node. */
  call(ref: ServerRef, msg: unknown, timeoutMs: number): Effect.Effect<unknown, CallError> {
    return Effect.async<unknown, CallError>((resume) => {
      if (!hasId(ref)) {
        return resume(Exit.fail(new RemoteServerNotRunningError({ serverId: String(ref.id), nodeId: ref.nodeId })))
      }
      const link = this.links.linkTo(ref.nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId: ref.nodeId })))
      const payload = this.encodeMessage(ref, msg)
      if (Either.isLeft(payload)) return resume(Exit.fail(payload.left))
      const callId = this.calls.nextId()
      const sent = link.send({
        _tag: "Call",
        callId,
        serverId: ref.id,
        timeoutMs: Math.min(timeoutMs, MAX_WIRE_TIMEOUT_MS),
        payload: payload.right
      }, REPORTED)
      // Opened after the send: an answer cannot arrive before this callback returns. A
      // closed link leaves the request to the node-down that follows and fails it.
      if (tooLarge(sent)) return resume(Exit.fail(sent.left))
      const cancel = this.calls.open(callId, ref.nodeId, ref.id, resume, timeoutMs, callTimedOut, resultOf(msg))
      // No canceler for a call with a short deadline: with one, `Effect.async` wraps the wait
      // in interruption handling that costs ~1.8 µs and ~1 KB per call (measured). Its entry,
      // if the caller is interrupted, stays until its reply (dropped, as a late one is) or its
      // deadline; the server serves the call either way, as Erlang's does for a caller that died.
      return timeoutMs > UNCANCELLED_CALL_MAX_MS ? cancel : undefined
    })
  }

  /**
   * Casts to a process on another node. Dropped (and counted) when the node is not
   * connected; waits while the link's outbox is full.
   */
  cast(ref: ServerRef, msg: unknown): Effect.Effect<void, MessageTooLargeError | InvalidMessageError> {
    return Effect.suspend((): Effect.Effect<void, MessageTooLargeError | InvalidMessageError> => {
      if (!hasId(ref)) {
        return Effect.fail(
          new InvalidMessageError({ serverId: String(ref.id), nodeId: ref.nodeId, message: "the ref has no server id" })
        )
      }
      const link = this.links.linkTo(ref.nodeId)
      if (link === undefined) {
        this.metrics.castsDropped.unsafeUpdate(1, [])
        return Effect.void
      }
      const payload = this.encodeMessage(ref, msg)
      if (Either.isLeft(payload)) return Effect.fail(payload.left)
      const sent = link.send({ _tag: "Cast", serverId: ref.id, payload: payload.right }, REPORTED)
      if (Either.isLeft(sent)) {
        if (tooLarge(sent)) return Effect.fail(sent.left)
        this.metrics.castsDropped.unsafeUpdate(1, [])
        return Effect.void
      }
      // Backpressure after queuing: a sender past the outbox's high-water mark waits here
      // for room, so a flood of casts holds at most one frame per sender beyond the mark.
      return Effect.catchAll(link.writable, () => Effect.sync(() => this.metrics.castsDropped.unsafeUpdate(1, [])))
    })
  }

  /**
   * A message's bytes: one that carries its schema (a `Schema.TaggedRequest`, a
   * `Schema.Class` instance) goes in its encoded form, so the receiver can decode it
   * back into the class, transforms and brands included.
   */
  private encodeMessage(ref: ServerRef, msg: unknown): Either.Either<Uint8Array, InvalidMessageError> {
    const schema = schemaOf(msg)
    let wire = msg
    if (schema !== undefined) {
      const encoded = Typed.encode(schema, msg)
      if (Either.isLeft(encoded)) {
        return Either.left(
          new InvalidMessageError({
            serverId: ref.id,
            nodeId: ref.nodeId,
            message: `the message does not fit its schema: ${Typed.problem(encoded.left)}`
          })
        )
      }
      wire = encoded.right
    }
    return Either.mapLeft(this.codec.encodeEither(wire), (error) =>
      new InvalidMessageError({
        serverId: ref.id,
        nodeId: ref.nodeId,
        message: `cannot encode the message: ${error.message}`
      }))
  }

  /** Stops a process on another node and waits until it has terminated. */
  stop(ref: ServerRef, reason: ExitReason): Effect.Effect<void, RemoteServerNotRunningError | NodeNotReachableError> {
    return Effect.async<void, RemoteServerNotRunningError | NodeNotReachableError>((resume) => {
      if (!hasId(ref)) {
        return resume(Exit.fail(new RemoteServerNotRunningError({ serverId: String(ref.id), nodeId: ref.nodeId })))
      }
      const link = this.links.linkTo(ref.nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId: ref.nodeId })))
      const callId = this.stops.nextId()
      const sent = link.send(this.stopMessage(callId, ref.id, reason, link.maxFrameBytes))
      // Only an id longer than any frame gets here; no process has such an id.
      if (tooLarge(sent)) {
        return resume(Exit.fail(new RemoteServerNotRunningError({ serverId: ref.id, nodeId: ref.nodeId })))
      }
      // No deadline: like a local stop, it waits for terminate; a node going down ends it.
      return this.stops.open(callId, ref.nodeId, ref.id, resume, Infinity, neverTimesOut)
    })
  }

  /**
   * A `Stop` that fits `limit`. A reason is any value (`{ error }`, `{ conflict }`): one
   * too large to send goes as the error's name and message, or a bounded name.
   */
  private stopMessage(callId: number, serverId: string, reason: ExitReason, limit: number): RequestMessage {
    const encode = (r: unknown) => Either.getOrElse(this.codec.encodeEither(r), () => this.codec.encode("normal"))
    let encoded = encode(reason)
    if (encoded.length + serverId.length * 3 + STOP_ENVELOPE_BYTES > limit && typeof reason === "object") {
      encoded = encode("error" in reason ? { error: describe(reason.error) } : { conflict: bounded(reason.conflict) })
    }
    return { _tag: "Stop", callId, serverId, reason: encoded }
  }

  /** Spawns a process from a registered behavior on `nodeId` (this node included). */
  spawn(behaviorName: string, nodeId: NodeId, request: SpawnRequest): Effect.Effect<SpawnResult, SpawnError> {
    if (nodeId === this.self) return this.spawnHere(behaviorName, request)
    return Effect.async<SpawnResult, SpawnError>((resume) => {
      const link = this.links.linkTo(nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      const args = this.codec.encodeEither(request.args)
      if (Either.isLeft(args)) {
        return resume(
          Exit.fail(
            new RemoteSpawnInitError({
              behaviorName,
              nodeId,
              message: `cannot encode the init arguments: ${args.left.message}`
            })
          )
        )
      }
      const spawnId = this.spawns.nextId()
      const sent = link.send({
        _tag: "Spawn",
        spawnId,
        behaviorName,
        ...(request.name !== undefined ? { name: request.name } : {}),
        registration: request.registration,
        initTimeoutMs: Math.min(request.initTimeoutMs, MAX_WIRE_TIMEOUT_MS),
        args: args.right,
        ...(request.linkTo !== undefined ? { linkTo: request.linkTo.id } : {})
      }, REPORTED)
      if (tooLarge(sent)) return resume(Exit.fail(sent.left))
      // Placement sees this spawn on that node until its heartbeats can (LoadBalancer).
      const ended = this.links.spawnSent(nodeId)
      const answered = (exit: Exit.Exit<SpawnResult, SpawnError>) => {
        ended(Exit.isSuccess(exit))
        resume(exit)
      }
      const cancel = this.spawns.open(spawnId, nodeId, behaviorName, answered, request.timeoutMs, spawnTimedOut)
      return Effect.zipRight(cancel, Effect.sync(() => ended(false)))
    })
  }

  /**
   * A spawn aimed at this node: served by the same code as a spawn from another
   * node, with the caller's timeout on this node's timer wheel. Timing out or being
   * interrupted gives the spawn up, so it leaves no process and no name behind.
   */
  private spawnHere(behaviorName: string, request: SpawnRequest): Effect.Effect<SpawnResult, SpawnError> {
    return Effect.async<SpawnResult, SpawnError>((resume) => {
      // The deadline is armed only once the spawn is pending, but its completion may come first.
      const deadline: { timer?: TimerEntry | undefined } = {}
      const task = this.serving.spawnHere(behaviorName, request, (exit) => {
        this.table.timers.cancel(deadline.timer)
        // Linked once it started, in the step that answers: a spawn that failed takes no one down.
        if (Exit.isSuccess(exit) && request.linkTo !== undefined) {
          this.table.links.link(exit.value.serverId, request.linkTo)
        }
        resume(exit)
      })
      if (task === undefined) return
      const timer = this.table.timers.schedule(request.timeoutMs, () => {
        task.cancel()
        resume(
          Exit.fail(new RemoteSpawnTimeoutError({ behaviorName, nodeId: this.self, timeoutMs: request.timeoutMs }))
        )
      })
      deadline.timer = timer
      return Effect.sync(() => {
        this.table.timers.cancel(timer)
        task.cancel()
      })
    })
  }

  /** A node went down: every request to it fails at once, and the spawns it asked for are given up. */
  nodeDown(nodeId: NodeId): void {
    const error = new NodeNotReachableError({ nodeId })
    this.calls.failNode(nodeId, error)
    this.stops.failNode(nodeId, error)
    this.spawns.failNode(nodeId, error)
    this.serving.callerDown(nodeId)
  }

  // ---- the request sub-protocol ----------------------------------------------------------------

  /** Handlers of every message of the request sub-protocol, both sides. */
  readonly handlers: Handlers<RequestMessage["_tag"]> = {
    Call: (_from, link, message) => this.serving.serveCall(link, message),
    Cast: (from, _link, message) => this.serving.serveCast(from, message),
    Spawn: (from, link, message) => this.serving.serveSpawn(from, link, message),
    SpawnAbandoned: (from, _link, message) => this.serving.abandon(from, message.spawnId),
    Stop: (_from, link, message) => this.serving.serveStop(link, message),
    Reply: (from, _link, message) => {
      const entry = this.calls.take(message.callId, from)
      if (entry === undefined) return
      this.metrics.callLatencyMs.unsafeUpdate(this.table.timers.now() - entry.startedAt, [])
      const value = this.codec.decodeEither(message.payload)
      if (Either.isLeft(value)) {
        return entry.resume(Exit.fail(
          new InvalidMessageError({
            serverId: entry.subject,
            nodeId: from,
            message: `cannot decode the reply: ${value.left.message}`
          })
        ))
      }
      if (entry.result === undefined) return entry.resume(Exit.succeed(value.right))
      const reply = Typed.decode(entry.result.success, value.right)
      entry.resume(
        Either.isRight(reply) ? Exit.succeed(reply.right) : Exit.fail(
          new InvalidMessageError({
            serverId: entry.subject,
            nodeId: from,
            message: `the reply does not fit its schema: ${Typed.problem(reply.left)}`
          })
        )
      )
    },
    CallFailed: (from, _link, message) => {
      const entry = this.calls.take(message.callId, from)
      if (entry === undefined) return
      const error = message.error
      entry.resume(
        Exit.fail(
          error._tag === "DeclaredFailure" ? declaredFailure(this.codec, entry, from, error) as CallError : error
        )
      )
    },
    Stopped: (from, _link, message) => this.stops.take(message.callId, from)?.resume(Exit.void),
    StopFailed: (from, _link, message) => this.stops.take(message.callId, from)?.resume(Exit.fail(message.error)),
    Spawned: (from, link, message) => {
      const entry = this.spawns.take(message.spawnId, from)
      if (entry !== undefined) return entry.resume(Exit.succeed({ serverId: message.serverId, nodeId: from }))
      // A late answer to a spawn we gave up on: stop it, so no orphan is left behind; a
      // link it made on its way must not take the caller's process down with it.
      const orphan = { id: message.serverId, nodeId: from }
      this.table.links.forgetPartner(orphan)
      link.send({ _tag: "Stop", callId: NO_REPLY, serverId: message.serverId, reason: this.codec.encode("shutdown") })
    },
    SpawnFailed: (from, _link, message) => this.spawns.take(message.spawnId, from)?.resume(Exit.fail(message.error))
  }
}

/** A failure a typed request declared, decoded into the error itself; a caller without its schema gets a `RemoteHandlerError`. */
const declaredFailure = (
  codec: PayloadCodec,
  entry: Pending<unknown, CallError>,
  from: NodeId,
  failure: typeof DeclaredFailure.Type
): unknown => {
  const handlerError = new RemoteHandlerError({
    serverId: entry.subject,
    nodeId: from,
    name: failure.name,
    message: failure.message
  })
  if (entry.result === undefined) return handlerError
  const value = codec.decodeEither(failure.payload)
  const why = (reason: string) =>
    new InvalidMessageError({
      serverId: entry.subject,
      nodeId: from,
      message: `the declared error ${bounded(failure.name)} does not fit its schema: ${reason}`
    })
  if (Either.isLeft(value)) return why(value.left.message)
  return Either.match(Typed.decode(entry.result.failure, value.right), {
    onLeft: (error) => why(Typed.problem(error)),
    onRight: (error) => error
  })
}

const callTimedOut = (entry: { readonly nodeId: NodeId; readonly subject: string }, timeoutMs: number) =>
  new RemoteCallTimeoutError({ serverId: entry.subject, nodeId: entry.nodeId, timeoutMs })

const spawnTimedOut = (entry: { readonly nodeId: NodeId; readonly subject: string }, timeoutMs: number) =>
  new RemoteSpawnTimeoutError({ behaviorName: entry.subject, nodeId: entry.nodeId, timeoutMs })

/** For requests without a deadline: their timeout never fires. */
const neverTimesOut = (): never => {
  throw new Error("a request without a deadline timed out")
}
