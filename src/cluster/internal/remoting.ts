/**
 * Remoting: calls, casts, spawns and stops between nodes. The caller side keeps a
 * table of pending requests (each ends exactly once: reply, typed error, timeout,
 * or `NodeNotReachableError` the moment its node goes down; a late reply finds no
 * entry and is dropped). Requests from other nodes are served by `Serving`.
 */
import { Effect, Either, Exit, Runtime } from "effect"
import type { Service as BehaviorRegistryService } from "../../BehaviorRegistry.js"
import {
  InvalidMessageError,
  MessageTooLargeError,
  NodeNotReachableError,
  RemoteCallTimeoutError,
  RemoteServerNotRunningError,
  RemoteSpawnInitError,
  RemoteSpawnTimeoutError
} from "../../errors.js"
import type { CallError, GlobalNameConflictError } from "../../errors.js"
import { bounded, describe } from "../../internal/handler.js"
import type { ExitReason, ProcessTable } from "../../internal/process.js"
import type { TimerEntry } from "../../internal/timers.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef, SpawnResult } from "../../ServerRef.js"
import type { PayloadCodec } from "../../wire/Codec.js"
import * as Protocol from "../../wire/Protocol.js"
import type { WireMessage } from "../../wire/Protocol.js"
import type { Link } from "../Link.js"
import type { Membership } from "../Membership.js"
import type { NodeMetrics } from "./metrics.js"
import { MAX_WIRE_TIMEOUT_MS, NO_REPLY, Serving } from "./serving.js"
import type { SpawnError, SpawnRequest } from "./serving.js"

export type { GlobalNames, SpawnError, SpawnRequest } from "./serving.js"

interface CallPending {
  readonly kind: "call" | "stop"
  readonly nodeId: NodeId
  readonly serverId: string
  /** Answers are checked against the request kind's error union by the Schema of the wire; any of them may arrive. */
  readonly resume: (exit: Exit.Exit<unknown, Protocol.CallFailure>) => void
  readonly startedAt: number
  timer: TimerEntry | undefined
}

interface SpawnPending {
  readonly kind: "spawn"
  readonly nodeId: NodeId
  readonly behaviorName: string
  readonly resume: (exit: Exit.Exit<SpawnResult, SpawnError>) => void
  timer: TimerEntry | undefined
}

type Pending = CallPending | SpawnPending

/** The remoting of one node. */
export class Remoting {
  private seq = 0
  private readonly pending = new Map<number, Pending>()
  /** Requests from other nodes. */
  readonly serving: Serving
  registryRouter: ((from: NodeId, message: WireMessage) => void) | undefined = undefined

  constructor(
    private readonly self: NodeId,
    private readonly membership: Membership,
    private readonly table: ProcessTable,
    registry: BehaviorRegistryService,
    private readonly codec: PayloadCodec,
    private readonly metrics: NodeMetrics,
    runtime: Runtime.Runtime<never>
  ) {
    this.serving = new Serving(self, table, registry, codec, metrics, runtime)
    membership.setRouter((from, link, message) => this.route(from, link, message))
    membership.onDown((nodeId) => this.nodeDown(nodeId))
  }

  /** Requests waiting for an answer (calls, stops, spawns). */
  pendingCount(): number {
    return this.pending.size
  }

  private nextId(): number {
    // Wraps before 2^31 so ids stay small integers on the wire; 0 is reserved.
    this.seq = this.seq >= 0x7fff_ffff ? 1 : this.seq + 1
    return this.seq
  }

  private now(): number {
    return this.table.timers.now()
  }

  // ---- caller side ----------------------------------------------------------------------------

  /** Calls a process on another node. */
  call(ref: ServerRef, msg: unknown, timeoutMs: number): Effect.Effect<unknown, CallError> {
    return Effect.async<unknown, CallError>((resume) => {
      const link = this.membership.linkTo(ref.nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId: ref.nodeId })))
      const payload = this.codec.encodeEither(msg)
      if (Either.isLeft(payload)) {
        return resume(
          Exit.fail(new InvalidMessageError({ serverId: ref.id, nodeId: ref.nodeId, message: `cannot encode the message: ${payload.left.message}` }))
        )
      }
      const callId = this.nextId()
      const frame = Protocol.encode({
        _tag: "Call",
        callId,
        serverId: ref.id,
        timeoutMs: Math.min(timeoutMs, MAX_WIRE_TIMEOUT_MS),
        payload: payload.right
      })
      if (frame.length > link.maxFrameBytes) {
        return resume(Exit.fail(new MessageTooLargeError({ bytes: frame.length, limit: link.maxFrameBytes })))
      }
      return this.await(callId, "call", ref.nodeId, ref.id, resume, timeoutMs, () => link.offerFrame(frame))
    })
  }

  /**
   * Registers a pending call-like request, sends it, and arms its timeout (unless
   * `timeoutMs` is infinite). Returns the canceler for `Effect.async`.
   */
  private await(
    callId: number,
    kind: "call" | "stop",
    nodeId: NodeId,
    serverId: string,
    resume: (exit: Exit.Exit<any, any>) => void,
    timeoutMs: number,
    send: () => void
  ): Effect.Effect<void> {
    const entry: CallPending = { kind, nodeId, serverId, resume, startedAt: this.now(), timer: undefined }
    this.pending.set(callId, entry)
    entry.timer = this.table.timers.schedule(timeoutMs, () => {
      if (this.pending.delete(callId)) resume(Exit.fail(new RemoteCallTimeoutError({ serverId, nodeId, timeoutMs })))
    })
    send()
    return Effect.sync(() => {
      if (this.pending.delete(callId)) this.table.timers.cancel(entry.timer)
    })
  }

  /**
   * Casts to a process on another node. Dropped (and counted) when the node is not
   * connected; waits while the link's outbox is full.
   */
  cast(ref: ServerRef, msg: unknown): Effect.Effect<void, MessageTooLargeError | InvalidMessageError> {
    return Effect.suspend((): Effect.Effect<void, MessageTooLargeError | InvalidMessageError> => {
      const link = this.membership.linkTo(ref.nodeId)
      if (link === undefined) {
        this.metrics.castsDropped.unsafeUpdate(1, [])
        return Effect.void
      }
      const payload = this.codec.encodeEither(msg)
      if (Either.isLeft(payload)) {
        return Effect.fail(
          new InvalidMessageError({ serverId: ref.id, nodeId: ref.nodeId, message: `cannot encode the message: ${payload.left.message}` })
        )
      }
      const frame = Protocol.encode({ _tag: "Cast", serverId: ref.id, payload: payload.right })
      if (frame.length > link.maxFrameBytes) {
        return Effect.fail(new MessageTooLargeError({ bytes: frame.length, limit: link.maxFrameBytes }))
      }
      return Effect.catchAll(link.sendFrame(frame), () => Effect.sync(() => this.metrics.castsDropped.unsafeUpdate(1, [])))
    })
  }

  /**
   * Sends a request built around a fresh call id to `nodeId` and waits for its
   * answer (`RegistryAck` or `CallFailed`), like a call: timeout, node down and late
   * answers are handled the same way.
   */
  request(
    nodeId: NodeId,
    serverId: string,
    build: (callId: number) => WireMessage,
    timeoutMs: number
  ): Effect.Effect<void, CallError | GlobalNameConflictError> {
    return Effect.async<void, CallError | GlobalNameConflictError>((resume) => {
      const link = this.membership.linkTo(nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      const callId = this.nextId()
      return this.await(callId, "call", nodeId, serverId, resume, timeoutMs, () => link.offer(build(callId)))
    })
  }

  /** Stops a process on another node and waits until it has terminated. */
  stop(ref: ServerRef, reason: ExitReason): Effect.Effect<void, RemoteServerNotRunningError | NodeNotReachableError> {
    return Effect.async<void, RemoteServerNotRunningError | NodeNotReachableError>((resume) => {
      const link = this.membership.linkTo(ref.nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId: ref.nodeId })))
      const callId = this.nextId()
      const frame = this.stopFrame(callId, ref.id, reason, link.maxFrameBytes)
      // Only an id longer than any frame gets here; no process has such an id.
      if (frame === undefined) return resume(Exit.fail(new RemoteServerNotRunningError({ serverId: ref.id, nodeId: ref.nodeId })))
      // No deadline: like a local stop, it waits for terminate; a node going down ends it.
      return this.await(callId, "stop", ref.nodeId, ref.id, resume, Infinity, () => link.offerFrame(frame))
    })
  }

  /**
   * A `Stop` frame that fits `limit`. A reason is any value (`{ error }`, `{ conflict }`):
   * one too large to send goes as the error's name and message, or a bounded name.
   */
  private stopFrame(callId: number, serverId: string, reason: ExitReason, limit: number): Uint8Array | undefined {
    const frameOf = (r: unknown) =>
      Protocol.encode({
        _tag: "Stop",
        callId,
        serverId,
        reason: Either.getOrElse(this.codec.encodeEither(r), () => this.codec.encode("normal"))
      })
    let frame = frameOf(reason)
    if (frame.length > limit && typeof reason === "object") {
      frame = frameOf("error" in reason ? { error: describe(reason.error) } : { conflict: bounded(reason.conflict) })
    }
    return frame.length > limit ? undefined : frame
  }

  /** Spawns a process from a registered behavior on `nodeId` (this node included). */
  spawn(behaviorName: string, nodeId: NodeId, request: SpawnRequest): Effect.Effect<SpawnResult, SpawnError> {
    if (nodeId === this.self) return this.spawnHere(behaviorName, request)
    return Effect.async<SpawnResult, SpawnError>((resume) => {
      const link = this.membership.linkTo(nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      const args = this.codec.encodeEither(request.args)
      if (Either.isLeft(args)) {
        return resume(
          Exit.fail(new RemoteSpawnInitError({ behaviorName, nodeId, message: `cannot encode the init arguments: ${args.left.message}` }))
        )
      }
      const spawnId = this.nextId()
      const frame = Protocol.encode({
        _tag: "Spawn",
        spawnId,
        behaviorName,
        ...(request.name !== undefined ? { name: request.name } : {}),
        registration: request.registration,
        initTimeoutMs: Math.min(request.initTimeoutMs, MAX_WIRE_TIMEOUT_MS),
        args: args.right
      })
      // Checked here, like a call: over the limit, the target would have to close the link.
      if (frame.length > link.maxFrameBytes) {
        return resume(Exit.fail(new MessageTooLargeError({ bytes: frame.length, limit: link.maxFrameBytes })))
      }
      const entry: Pending = { kind: "spawn", nodeId, behaviorName, resume, timer: undefined }
      this.pending.set(spawnId, entry)
      entry.timer = this.table.timers.schedule(request.timeoutMs, () => {
        if (!this.pending.delete(spawnId)) return
        this.abandon(nodeId, spawnId)
        resume(Exit.fail(new RemoteSpawnTimeoutError({ behaviorName, nodeId, timeoutMs: request.timeoutMs })))
      })
      link.offerFrame(frame)
      return Effect.sync(() => {
        if (!this.pending.delete(spawnId)) return
        this.table.timers.cancel(entry.timer)
        this.abandon(nodeId, spawnId)
      })
    })
  }

  /**
   * A spawn aimed at this node: served by the same code as a spawn from another
   * node, with the caller's timeout on this node's timer wheel. Timing out or being
   * interrupted gives the spawn up, so it leaves no process and no name behind.
   */
  private spawnHere(behaviorName: string, request: SpawnRequest): Effect.Effect<SpawnResult, SpawnError> {
    return Effect.async<SpawnResult, SpawnError>((resume) => {
      let timer: TimerEntry | undefined
      const task = this.serving.spawnHere(behaviorName, request, (exit) => {
        this.table.timers.cancel(timer)
        resume(exit)
      })
      if (task === undefined) return
      timer = this.table.timers.schedule(request.timeoutMs, () => {
        task.cancel()
        resume(Exit.fail(new RemoteSpawnTimeoutError({ behaviorName, nodeId: this.self, timeoutMs: request.timeoutMs })))
      })
      return Effect.sync(() => {
        this.table.timers.cancel(timer)
        task.cancel()
      })
    })
  }

  /** Tells the target we gave up: it stops what it started for us, whether still starting or done. */
  private abandon(nodeId: NodeId, spawnId: number): void {
    this.membership.linkTo(nodeId)?.offer({ _tag: "SpawnAbandoned", spawnId })
  }

  /** Fails every request pending on a node that went down. */
  private nodeDown(nodeId: NodeId): void {
    for (const [id, entry] of this.pending) {
      if (entry.nodeId !== nodeId) continue
      this.pending.delete(id)
      this.table.timers.cancel(entry.timer)
      entry.resume(Exit.fail(new NodeNotReachableError({ nodeId })))
    }
    // Spawns it asked for and that are still starting: nobody will take them.
    this.serving.callerDown(nodeId)
  }

  // ---- routing ------------------------------------------------------------------------------

  private route(from: NodeId, link: Link, message: WireMessage): void {
    switch (message._tag) {
      case "Call":
        return this.serving.serveCall(link, message)
      case "Cast":
        return this.serving.serveCast(from, message)
      case "Reply": {
        const entry = this.take(message.callId, "call")
        if (entry === undefined) return
        const value = this.codec.decodeEither(message.payload)
        this.metrics.callLatencyMs.unsafeUpdate(this.now() - entry.startedAt, [])
        return entry.resume(
          Either.isRight(value)
            ? Exit.succeed(value.right)
            : Exit.fail(new InvalidMessageError({ serverId: entry.serverId, nodeId: from, message: `cannot decode the reply: ${value.left.message}` }))
        )
      }
      case "CallFailed": {
        const entry = this.take(message.callId, "call") ?? this.take(message.callId, "stop")
        return entry?.resume(Exit.fail(message.error))
      }
      case "Stopped":
        return this.take(message.callId, "stop")?.resume(Exit.void)
      case "RegistryAck":
        return this.take(message.callId, "call")?.resume(Exit.void)
      case "Stop":
        return this.serving.serveStop(link, message)
      case "Spawn":
        return this.serving.serveSpawn(from, link, message)
      case "Spawned": {
        const entry = this.take(message.spawnId, "spawn")
        if (entry !== undefined) return entry.resume(Exit.succeed({ serverId: message.serverId, nodeId: from }))
        // A late answer to a spawn we gave up on: stop it, so no orphan is left behind.
        link.offer({ _tag: "Stop", callId: NO_REPLY, serverId: message.serverId, reason: this.codec.encode("shutdown") })
        return
      }
      case "SpawnFailed":
        return this.take(message.spawnId, "spawn")?.resume(Exit.fail(message.error))
      case "SpawnAbandoned":
        return this.serving.abandon(from, message.spawnId)
      default:
        return this.registryRouter?.(from, message)
    }
  }

  private take(id: number, kind: "call" | "stop"): CallPending | undefined
  private take(id: number, kind: "spawn"): SpawnPending | undefined
  private take(id: number, kind: Pending["kind"]): Pending | undefined {
    const entry = this.pending.get(id)
    if (entry === undefined || entry.kind !== kind) return undefined
    this.pending.delete(id)
    this.table.timers.cancel(entry.timer)
    return entry
  }
}
