/**
 * The serving side of remoting: requests from other nodes handed to this node's
 * process table (through its callback API, so serving a call costs no fiber),
 * spawns started from the behavior registry, and messages validated against a
 * behavior's schemas before its handlers see them.
 */
import { Cause, Effect, Either, Exit, Option, Schema } from "effect"
import type { Runtime } from "effect"
import type { RegisteredBehavior, Service as BehaviorRegistryService } from "../../BehaviorRegistry.js"
import {
  BehaviorNotFoundError,
  InvalidMessageError,
  RemoteSpawnInitError,
  RemoteSpawnRegistrationError,
  SpawnQuotaError
} from "../../errors.js"
import type {
  GenServerInitError,
  GlobalNameConflictError,
  NameAlreadyRegisteredError,
  RemoteServerNotRunningError
} from "../../errors.js"
import type { ExitReason } from "../../ExitReason.js"
import { bounded } from "../../internal/handler.js"
import type { ProcessTable } from "../../internal/process.js"
import { declares, resultOf } from "../../internal/typed.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef, SpawnResult } from "../../ServerRef.js"
import type { PayloadCodec } from "../../wire/Codec.js"
import * as Protocol from "../../wire/Protocol.js"
import type { MessageOf } from "../../wire/Protocol.js"
import { REPORTED } from "../Link.js"
import type { Link } from "../Link.js"
import { declaredFailure, inbound, outboundReply } from "./messages.js"
import type { NodeMetrics } from "./metrics.js"
import { ServedSpawn } from "./servedSpawn.js"

/** Options of a spawn, with defaults applied. */
export interface SpawnRequest {
  readonly name: string | undefined
  readonly registration: "local" | "global" | "none"
  readonly initTimeoutMs: number
  readonly timeoutMs: number
  readonly args: ReadonlyArray<unknown>
  /** The process to link the new one with once it started (the caller's, on its node). */
  readonly linkTo?: ServerRef | undefined
}

/** The errors of a spawn served on this node (the caller adds the network's and its timeout). */
export type LocalSpawnError = BehaviorNotFoundError | RemoteSpawnInitError | RemoteSpawnRegistrationError

/** The global registry as spawns see it (installed by the GlobalRegistry). */
export interface GlobalNames {
  /** Registers a global name for a just-spawned process. */
  readonly register: (
    name: string,
    ref: ServerRef
  ) => Effect.Effect<void, GlobalNameConflictError | RemoteServerNotRunningError>
  /** Whether `name` is short enough to replicate to every peer (see `MAX_ENTRY_BYTES`). */
  readonly fits: (name: string) => boolean
  /** The node holding `name`, if anyone does: a spawn for a taken name fails before `init` runs. */
  readonly holder: (name: string) => NodeId | undefined
}

/** A spawn being served; `cancel` gives it up (the caller timed out, abandoned it, or went down). */
export interface SpawnTask {
  readonly cancel: () => void
}

/** The largest timeout a `Call` carries: a 31-bit integer of milliseconds (~24 days), i.e. "no timeout". */
export const MAX_WIRE_TIMEOUT_MS = 2 ** 31 - 1

/** At most one "dropped invalid casts" log line per second: bad input must not flood the logs. */
const INVALID_CAST_LOG_INTERVAL_MS = 1000

/** `callId` 0 on a `Stop` asks for no answer (used to stop a late spawn nobody waits for). */
export const NO_REPLY = 0

const ExitReasonSchema = Schema.Union(
  Schema.Literal("normal", "shutdown", "noproc", "noconnection"),
  Schema.Struct({ error: Schema.Unknown }),
  Schema.Struct({ conflict: Schema.String })
)
const decodeExitReason = Schema.decodeUnknownOption(ExitReasonSchema)

/** What the serving side is built from. */
export interface ServingDeps {
  readonly self: NodeId
  readonly table: ProcessTable
  readonly behaviors: BehaviorRegistryService
  readonly codec: PayloadCodec
  readonly metrics: NodeMetrics
  /** Global names for spawns with `registration: 'global'`. */
  readonly globalNames: GlobalNames
  /** Runs an effect started by a callback, owned by the node (interrupted when it closes). */
  readonly fork: (effect: Effect.Effect<unknown, unknown>) => void
  /**
   * What spawned behaviors run with: the program's runtime (its logger and level), not the
   * node's, with the node's own services (read when a spawn starts: they exist once the node is built).
   */
  readonly processRuntime: () => Runtime.Runtime<never>
  /** Processes one other node may have running (or starting) here. */
  readonly maxProcessesPerPeer: number
}

/** The serving side of one node. */
export class Serving {
  /** Spawns this node is serving for other nodes and that have not answered yet, by `from|spawnId`. */
  private readonly serving = new Map<string, { readonly from: NodeId; readonly task: SpawnTask }>()
  /** Processes each other node has running or starting here, for its quota. */
  private readonly perPeer = new Map<NodeId, number>()
  /** Who spawned each process spawned for another node. */
  private readonly spawnedBy = new Map<string, NodeId>()
  private readonly maxProcessesPerPeer: number
  private invalidCasts = 0
  private invalidCastLoggedAt = -Infinity
  /** Global names that spawns on this node are starting under (in `init` or registering). */
  readonly startingGlobal = new Set<string>()
  private readonly self: NodeId
  private readonly table: ProcessTable
  private readonly behaviors: BehaviorRegistryService
  private readonly codec: PayloadCodec
  private readonly metrics: NodeMetrics
  private readonly globalNames: GlobalNames
  private readonly processRuntime: () => Runtime.Runtime<never>
  private readonly log: (effect: Effect.Effect<unknown, unknown>) => void

  constructor(deps: ServingDeps) {
    this.self = deps.self
    this.table = deps.table
    this.behaviors = deps.behaviors
    this.codec = deps.codec
    this.metrics = deps.metrics
    this.globalNames = deps.globalNames
    this.processRuntime = deps.processRuntime
    this.log = deps.fork
    this.maxProcessesPerPeer = deps.maxProcessesPerPeer
  }

  private release(from: NodeId): void {
    const n = (this.perPeer.get(from) ?? 1) - 1
    if (n > 0) this.perPeer.set(from, n)
    else this.perPeer.delete(from)
  }

  /** A process ended: if another node spawned it, that node's quota gets it back. */
  processEnded(serverId: string): void {
    const from = this.spawnedBy.get(serverId)
    if (from === undefined) return
    this.spawnedBy.delete(serverId)
    this.release(from)
  }

  private now(): number {
    return this.table.timers.now()
  }

  /** The caller gave up on a spawn: give up what it started (a spawn already answered is stopped by the caller). */
  abandon(from: NodeId, spawnId: number): void {
    const key = `${from}|${spawnId}`
    const entry = this.serving.get(key)
    if (entry === undefined) return
    this.serving.delete(key)
    entry.task.cancel()
    this.release(from)
  }

  /** A node went down: nobody will take the spawns it asked for and that are still starting. */
  callerDown(nodeId: NodeId): void {
    for (const [key, entry] of this.serving) {
      if (entry.from !== nodeId) continue
      this.serving.delete(key)
      entry.task.cancel()
      this.release(nodeId)
    }
  }

  serveCall(link: Link, message: MessageOf<"Call">): void {
    const { callId, serverId } = message
    const decoded = this.codec.decodeEither(message.payload)
    if (Either.isLeft(decoded)) {
      return this.callFailed(
        link,
        callId,
        new InvalidMessageError({
          serverId,
          nodeId: this.self,
          message: `cannot decode the message: ${decoded.left.message}`
        })
      )
    }
    const behavior = this.table.resolve(serverId)?.behavior as RegisteredBehavior | undefined
    const schemas = behavior?.schemas
    let msg = decoded.right
    if (schemas?.call !== undefined) {
      const valid = inbound(schemas.call, msg)
      if (Either.isLeft(valid)) {
        return this.callFailed(
          link,
          callId,
          new InvalidMessageError({ serverId, nodeId: this.self, message: valid.left })
        )
      }
      msg = valid.right
    }
    const result = resultOf(msg)
    this.table.callWith(serverId, msg, message.timeoutMs, (exit) => {
      if (Exit.isFailure(exit)) {
        const error = Option.getOrThrow(Cause.failureOption(exit.cause))
        return this.callFailed(
          link,
          callId,
          result !== undefined && declares(result, error)
            ? declaredFailure(this.self, this.codec, serverId, result, error)
            : error
        )
      }
      const reply = outboundReply(this.self, serverId, schemas?.reply, result, exit.value)
      if (Either.isLeft(reply)) return this.callFailed(link, callId, reply.left)
      const payload = this.codec.encodeEither(reply.right)
      if (Either.isLeft(payload)) {
        return this.callFailed(
          link,
          callId,
          new InvalidMessageError({
            serverId,
            nodeId: this.self,
            message: `cannot encode the reply: ${payload.left.message}`
          })
        )
      }
      const sent = link.send({ _tag: "Reply", callId, payload: payload.right }, REPORTED)
      // The caller is told why its reply never came; this node's operator is told whose reply it was.
      if (Either.isLeft(sent) && sent.left._tag === "MessageTooLargeError") {
        this.callFailed(link, callId, sent.left)
        this.log(
          Effect.logWarning("a reply is over the frame limit; the call failed with MessageTooLargeError").pipe(
            Effect.annotateLogs({
              node: this.self,
              peer: link.peer.nodeId,
              serverId,
              bytes: sent.left.bytes,
              limit: sent.left.limit
            })
          )
        )
      }
    })
  }

  private callFailed(link: Link, callId: number, error: Protocol.CallFailure): void {
    const sent = link.send({ _tag: "CallFailed", callId, error }, REPORTED)
    // A declared error too large for the caller's frames: the caller is told so, never left waiting.
    if (Either.isLeft(sent) && sent.left._tag === "MessageTooLargeError") {
      link.send({ _tag: "CallFailed", callId, error: sent.left })
      this.log(
        Effect.logWarning("an error answer is over the frame limit; the call failed with MessageTooLargeError").pipe(
          Effect.annotateLogs({
            node: this.self,
            peer: link.peer.nodeId,
            bytes: sent.left.bytes,
            limit: sent.left.limit
          })
        )
      )
    }
  }

  serveCast(from: NodeId, message: MessageOf<"Cast">): void {
    const decoded = this.codec.decodeEither(message.payload)
    const behavior = this.table.resolve(message.serverId)?.behavior as RegisteredBehavior | undefined
    const castSchema = behavior?.schemas?.cast
    const msg: Either.Either<unknown, string> = Either.isLeft(decoded)
      ? Either.left(`cannot decode the message: ${decoded.left.message}`)
      : castSchema === undefined
      ? Either.right(decoded.right)
      : inbound(castSchema, decoded.right)
    if (Either.isLeft(msg)) {
      this.metrics.castsDropped.unsafeUpdate(1, [])
      // A flood of bad casts must not become a flood of log lines: one per second, with the count.
      this.invalidCasts++
      const now = this.now()
      if (now - this.invalidCastLoggedAt < INVALID_CAST_LOG_INTERVAL_MS) return
      const dropped = this.invalidCasts
      this.invalidCasts = 0
      this.invalidCastLoggedAt = now
      return this.log(
        Effect.logWarning("dropped invalid casts").pipe(
          Effect.annotateLogs({ peer: from, serverId: message.serverId, reason: msg.left, dropped })
        )
      )
    }
    if (!this.table.cast(message.serverId, msg.right)) this.metrics.castsDropped.unsafeUpdate(1, [])
  }

  serveStop(link: Link, message: MessageOf<"Stop">): void {
    const reason = Either.match(this.codec.decodeEither(message.reason), {
      onLeft: () => "normal" as ExitReason,
      onRight: (u) => Option.getOrElse(decodeExitReason(u), () => "normal" as ExitReason)
    })
    this.log(
      this.table.stop(message.serverId, reason).pipe(
        Effect.match({
          onFailure: (error) => {
            if (message.callId !== NO_REPLY) link.send({ _tag: "StopFailed", callId: message.callId, error })
          },
          onSuccess: () => {
            if (message.callId !== NO_REPLY) link.send({ _tag: "Stopped", callId: message.callId })
          }
        })
      )
    )
  }

  serveSpawn(from: NodeId, link: Link, message: MessageOf<"Spawn">): void {
    const { behaviorName, spawnId } = message
    const args = this.codec.decodeEither(message.args)
    if (Either.isLeft(args) || !Array.isArray(args.right)) {
      return this.spawnFailed(
        link,
        spawnId,
        new RemoteSpawnInitError({ behaviorName, nodeId: this.self, message: "the init arguments cannot be decoded" })
      )
    }
    const request: SpawnRequest = {
      name: message.name,
      registration: message.registration,
      initTimeoutMs: message.initTimeoutMs,
      timeoutMs: MAX_WIRE_TIMEOUT_MS,
      args: args.right
    }
    const running = this.perPeer.get(from) ?? 0
    if (running >= this.maxProcessesPerPeer) {
      return this.spawnFailed(
        link,
        spawnId,
        new SpawnQuotaError({ nodeId: this.self, limit: this.maxProcessesPerPeer })
      )
    }
    // Counted from the request on, so spawns still starting count too.
    this.perPeer.set(from, running + 1)
    const key = `${from}|${spawnId}`
    const task = this.spawnHere(behaviorName, request, (exit) => {
      this.serving.delete(key)
      if (Exit.isSuccess(exit)) {
        this.spawnedBy.set(exit.value.serverId, from)
        // Before the answer, on the same link: the caller holds the link before it learns the id.
        if (message.linkTo !== undefined) {
          this.table.links.link(exit.value.serverId, { id: message.linkTo, nodeId: from })
        }
        link.send({ _tag: "Spawned", spawnId, serverId: exit.value.serverId })
      } else {
        this.release(from)
        this.spawnFailed(link, spawnId, Option.getOrThrow(Cause.failureOption(exit.cause)))
      }
    })
    if (task !== undefined) this.serving.set(key, { from, task })
  }

  private spawnFailed(link: Link, spawnId: number, error: Protocol.SpawnFailure): void {
    link.send({ _tag: "SpawnFailed", spawnId, error })
  }

  private spawnError(
    behaviorName: string,
    error: GenServerInitError | NameAlreadyRegisteredError
  ): RemoteSpawnInitError | RemoteSpawnRegistrationError {
    return error._tag === "GenServerInitError"
      ? new RemoteSpawnInitError({ behaviorName, nodeId: this.self, message: error.message })
      : new RemoteSpawnRegistrationError({
        behaviorName,
        nodeId: this.self,
        name: error.name,
        message: `the name '${bounded(error.name)}' is already registered on ${this.self}`
      })
  }

  private globalClash(behaviorName: string, name: string, holder: NodeId): RemoteSpawnRegistrationError {
    return new RemoteSpawnRegistrationError({
      behaviorName,
      nodeId: this.self,
      name,
      message: `the global name '${bounded(name)}' is already registered (held on ${holder})`
    })
  }

  /**
   * Starts a registered behavior on this node with the spawn's registration. Spawns
   * from other nodes and spawns aimed at this node both come here, so they answer
   * alike. `init` runs once; `done` gets the outcome exactly once, unless the task is
   * cancelled first: then a start still in `init` is given up (its name free at once)
   * and a process already started is stopped, so a spawn nobody takes leaves nothing
   * behind. `undefined` means `done` was already called.
   */
  spawnHere(
    behaviorName: string,
    request: SpawnRequest,
    done: (exit: Exit.Exit<SpawnResult, LocalSpawnError>) => void
  ): SpawnTask | undefined {
    const behavior = this.behaviors.get(behaviorName)
    if (Option.isNone(behavior)) {
      done(Exit.fail(new BehaviorNotFoundError({ behaviorName, nodeId: this.self })))
      return undefined
    }
    const globalName = request.registration === "global" ? request.name : undefined
    const global = globalName === undefined ? undefined : this.globalNames
    // As Erlang's `{global, Name}` starts: a taken name fails before `init` runs.
    // A spawn of this node already starting under the name holds it too, so two such spawns do not both run `init`.
    const holder = globalName === undefined
      ? undefined
      : this.startingGlobal.has(globalName)
      ? this.self
      : global?.holder(globalName)
    if (holder !== undefined) {
      done(Exit.fail(this.globalClash(behaviorName, globalName!, holder)))
      return undefined
    }
    if (global !== undefined && globalName !== undefined && !global.fits(globalName)) {
      done(Exit.fail(
        new RemoteSpawnRegistrationError({
          behaviorName,
          nodeId: this.self,
          name: bounded(globalName),
          message: `the global name '${bounded(globalName)}' is too long to replicate to every node`
        })
      ))
      return undefined
    }
    if (global !== undefined && globalName !== undefined) this.startingGlobal.add(globalName)
    const task = new ServedSpawn(this, behaviorName, global === undefined ? undefined : globalName, global, done)
    task.starting = this.table.startWith(
      behavior.value,
      request.registration === "local" ? request.name : undefined,
      request.args,
      request.initTimeoutMs,
      this.processRuntime(),
      (exit) => task.started(exit)
    )
    return task.finished ? undefined : task
  }

  /** @internal Runs a spawn's global registration and hands its outcome to `task`. */
  registerGlobally(task: ServedSpawn, global: GlobalNames, name: string, ref: ServerRef): void {
    const { behaviorName } = task
    const fail = (reason: ExitReason, error: LocalSpawnError) =>
      Effect.zipRight(
        Effect.ignore(this.table.stop(ref.id, reason)),
        Effect.sync(() => task.finish(Exit.fail(error)))
      )
    this.log(
      global.register(name, ref).pipe(
        Effect.matchCauseEffect({
          onFailure: (cause) => {
            const failure = Cause.failureOption(cause)
            if (Option.isNone(failure)) {
              // Interrupted (the node is shutting down) or a defect: the process must not outlive its spawn.
              return fail(
                "shutdown",
                new RemoteSpawnInitError({
                  behaviorName,
                  nodeId: this.self,
                  message: "interrupted while registering its global name"
                })
              )
            }
            const error = failure.value
            return error._tag === "GlobalNameConflictError"
              ? fail({ conflict: name }, this.globalClash(behaviorName, name, error.nodeId))
              : fail(
                "shutdown",
                new RemoteSpawnRegistrationError({
                  behaviorName,
                  nodeId: this.self,
                  name,
                  message: `the process ended before its global name '${bounded(name)}' was registered`
                })
              )
          },
          onSuccess: () =>
            Effect.suspend(() =>
              task.cancelled
                ? Effect.ignore(this.table.stop(ref.id, "shutdown"))
                : Effect.sync(() => task.finish(Exit.succeed({ serverId: ref.id, nodeId: this.self })))
            )
        }),
        Effect.ensuring(Effect.sync(() => this.startingGlobal.delete(name)))
      )
    )
  }

  /** @internal The spawn error for a failed local start. */
  startFailed(behaviorName: string, exit: Exit.Failure<ServerRef, GenServerInitError | NameAlreadyRegisteredError>) {
    return this.spawnError(behaviorName, Option.getOrThrow(Cause.failureOption(exit.cause)))
  }
}
