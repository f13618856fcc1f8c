/**
 * One cluster node as its own OS process, for tests with real processes over TCP.
 *
 *   node --import tsx test/support/node-main.ts '{"nodeName":"a","port":0,"seeds":[]}'
 *
 * The argument is a JSON `ClusterConfig` (durations as Effect strings such as
 * `"200 millis"` or numbers of milliseconds). The process speaks newline-delimited
 * JSON:
 *
 * - stdout: `{"type":"ready","nodeId","incarnation","pid","joinStartedAt","at"}` once
 *   listening (seeds are being dialed by then), then one
 *   `{"type":"event","event":"NodeUp"|"NodeDown","nodeId","reason"?,"at"}` per node
 *   event, and one `{"type":"reply","id",...}` per command. `at` is `Date.now()`.
 *   A config that does not build prints `{"type":"error","message"}` and exits 2.
 * - stdin: commands `{"id":1,"cmd":"connected"}`, answered by a reply with the same
 *   id: `{"ok":true,...result}` or `{"ok":false,"error":"..."}`. Add a command by adding
 *   an entry to {@link commands}.
 *
 * Logs go to stderr only. The process shuts down gracefully (peers see
 * `graceful_shutdown`) and exits on the `stop` command, on SIGTERM/SIGINT and when
 * stdin closes (the parent died). Importing this module runs nothing.
 */
import { Cause, Context, Effect, Either, Exit, Layer, Logger, LogLevel, PubSub, Scope } from "effect"
import { Fiber, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { internalsOf } from "../../src/cluster/internal/node.js"
import { BehaviorRegistry, Cluster, Codec, NodeId } from "../../src/index.js"
import type { ClusterConfig, NodeEvent } from "../../src/index.js"
import { GenServer as GenServerModule, GlobalRegistry, RemoteSpawn } from "../../src/index.js"
import { DistributedSupervisor } from "../../src/index.js"
import { TcpTransport, TlsTransport } from "../../src/node.js"
import { makeProbe, rejecting } from "./probe.js"
import * as TestBehaviors from "./test-behaviors.js"

/** The services a node process runs effects with (commands that spawn or call use them). */
export type NodeServices = Cluster.ClusterServices

/** What a command handler gets. */
export interface NodeContext {
  readonly cluster: Cluster.Service
  /** The node's services: `Effect.provide(effect, node.context)` runs an effect as this node. */
  readonly context: Context.Context<NodeServices>
  /** Graceful shutdown of the node (idempotent); the process exits once the reply to the current command is written. */
  readonly shutdown: (exitCode: number) => Effect.Effect<void>
}

/** A command read from stdin. */
export interface Command {
  readonly id: number | string
  readonly cmd: string
  readonly [field: string]: unknown
}

/** Answers a command: the fields of the reply, or a failure (sent as `ok: false`). */
export type CommandHandler = (node: NodeContext, command: Command) => Effect.Effect<Record<string, unknown>, unknown>

/** The spawn-matrix probe, with real timers: its slow Promise init waits on `setTimeout`. */
const probe = makeProbe((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Behaviors this node registers before it accepts connections (for spawn commands). */
export const behaviors: Record<string, BehaviorRegistry.RegisteredBehavior> = {
  ...TestBehaviors.all,
  probe: probe.behavior,
  rejecting
}

const int = (value: unknown, fallback: number, field: string): Effect.Effect<number, string> =>
  value === undefined
    ? Effect.succeed(fallback)
    : typeof value === "number" && Number.isInteger(value) && value >= 0
    ? Effect.succeed(value)
    : Effect.fail(`${field} must be a non-negative integer, got ${JSON.stringify(value)}`)

const nodeIdField = (value: unknown, field: string): Effect.Effect<NodeId, string> =>
  typeof value === "string"
    ? Effect.mapError(NodeId.parse(value), (e) => `${field}: ${e.reason}`)
    : Effect.fail(`${field} must be a NodeId string`)

/** Distributed supervisors running here (`dsupStart`), by name: each in its own scope, with its events so far. */
const supervisors = new Map<
  string,
  { readonly scope: Scope.CloseableScope; readonly events: Array<Record<string, unknown>> }
>()

/** A background loop of calls by id (`dsupCallLoopStart`). */
interface CallLoop {
  stop: boolean
  calls: number
  readonly failures: Array<{ readonly at: number; readonly error: string }>
  readonly replies: Record<string, number>
  fiber: Fiber.RuntimeFiber<void> | undefined
}
const callLoops = new Map<number, CallLoop>()
/** Calls a loop makes between two turns of the event loop. */
const CALLS_PER_TURN = 16
/** One turn of the Node event loop (timers and I/O run), unlike `Effect.yieldNow`. */
const eventLoopTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})
/** Failures a call loop keeps (the first ones): enough to diagnose, bounded however long it fails. */
const MAX_LOOP_FAILURES = 100
let nextCallLoop = 1

const supervisorName = (command: Command): string => String(command.name ?? "pool")

/** A failed call as a line: its tag and message. */
const callFailure = (error: unknown): string =>
  `${String((error as { _tag?: unknown })?._tag)}: ${String((error as { message?: unknown })?.message)}`

/** The command table: `cmd` → handler. */
export const commands: Record<string, CommandHandler> = {
  // ---- distributed supervisors (DistributedSupervisor.ts) ----------------------------------

  /**
   * Starts distributed supervisor `name` (default "pool") here in a scope of its own, kept
   * until `dsupStop` closes it (a handoff) or the process ends; records its child events
   * (each with `at`, this process's `Date.now()`) for `dsupEvents`. Options: `partition`,
   * `handoffTimeout` and `stableAfter` (ms).
   */
  dsupStart: (node, command) =>
    Effect.gen(function*() {
      const name = supervisorName(command)
      if (supervisors.has(name)) return yield* Effect.fail(`supervisor ${name} runs here already`)
      const options: DistributedSupervisor.Options = {
        partition: command.partition as DistributedSupervisor.Options["partition"],
        ...(command.handoffTimeout === undefined ? {} : { handoffTimeout: Number(command.handoffTimeout) }),
        ...(command.stableAfter === undefined ? {} : { stableAfter: Number(command.stableAfter) })
      }
      const scope = yield* Scope.make()
      const ref = yield* Scope.extend(DistributedSupervisor.start(name, options), scope).pipe(
        Effect.provide(node.context),
        Effect.tapErrorCause(() => Scope.close(scope, Exit.void))
      )
      const events: Array<Record<string, unknown>> = []
      yield* Effect.forkIn(
        Stream.runForEach(
          DistributedSupervisor.events(name),
          (event) => Effect.sync(() => void events.push({ ...event, at: Date.now() }))
        ).pipe(Effect.provide(node.context), Effect.ignore),
        scope
      )
      // Let the forked stream subscribe before anything can happen to the supervisor.
      yield* Effect.yieldNow()
      supervisors.set(name, { scope, events })
      return { ref }
    }),

  /** Closes supervisor `name`'s scope here: its children are handed to the other members first. */
  dsupStop: (_node, command) =>
    Effect.gen(function*() {
      const name = supervisorName(command)
      const running = supervisors.get(name)
      if (running === undefined) return yield* Effect.fail(`no supervisor ${name} runs here`)
      supervisors.delete(name)
      const started = performance.now()
      yield* Scope.close(running.scope, Exit.void)
      return { ms: performance.now() - started }
    }),

  /** Closes every supervisor's scope (handing their children over), then shuts down gracefully and exits 0. */
  dsupShutdown: (node) =>
    Effect.gen(function*() {
      for (const [name, running] of Array.from(supervisors)) {
        supervisors.delete(name)
        yield* Scope.close(running.scope, Exit.void)
      }
      yield* node.shutdown(0)
      return { stopped: true }
    }),

  /**
   * Starts child `child` (its id; `behavior`, `args`, `restart`) of supervisor `name`;
   * answers where it runs. (`id` is the command's own: the reply is matched by it.)
   */
  dsupStartChild: (node, command) =>
    Effect.map(
      DistributedSupervisor.startChild(supervisorName(command), {
        id: String(command.child),
        behavior: String(command.behavior ?? "located"),
        args: (command.args as ReadonlyArray<unknown> | undefined) ?? [String(command.child)],
        restart: command.restart as DistributedSupervisor.Restart | undefined
      }),
      (ref) => ({ ref })
    ).pipe(Effect.provide(node.context)),

  /** Starts one child per id of `ids` (`behavior`, default "located", its id as the argument), in order; answers their refs by id. */
  dsupStartChildren: (node, command) =>
    Effect.gen(function*() {
      const name = supervisorName(command)
      const refs: Record<string, unknown> = {}
      for (const id of command.ids as ReadonlyArray<string>) {
        refs[id] = yield* DistributedSupervisor.startChild(name, {
          id,
          behavior: String(command.behavior ?? "located"),
          args: [id]
        })
      }
      return { refs }
    }).pipe(Effect.provide(node.context)),

  /** Every child supervisor `name` knows here: `{ id, ref | null, behavior, restart }`, by id. */
  dsupWhichChildren: (node, command) =>
    Effect.map(DistributedSupervisor.whichChildren(supervisorName(command)), (children) => ({
      children: children.map((c) => ({ ...c, ref: Option.getOrNull(c.ref) }))
    })).pipe(Effect.provide(node.context)),

  /** `countChildren` and `members` of supervisor `name`, as this node sees them. */
  dsupCount: (node, command) =>
    Effect.gen(function*() {
      const name = supervisorName(command)
      const counts = yield* DistributedSupervisor.countChildren(name)
      const members = yield* DistributedSupervisor.members(name)
      return { ...counts, members }
    }).pipe(Effect.provide(node.context)),

  /** Calls child `child` (its id) of supervisor `name` by id (`msg`, default "where"; `timeout` ms). */
  dsupCall: (node, command) =>
    Effect.map(
      DistributedSupervisor.call(supervisorName(command), String(command.child), command.msg ?? "where", {
        timeout: Number(command.timeout ?? 5000)
      }),
      (reply) => ({ reply })
    ).pipe(Effect.provide(node.context)),

  /** Calls each child of `ids` once by id (`msg`, default "where"): the replies by id, and the failures by id. */
  dsupCallEach: (node, command) =>
    Effect.gen(function*() {
      const name = supervisorName(command)
      const replies: Record<string, unknown> = {}
      const failures: Record<string, string> = {}
      for (const id of command.ids as ReadonlyArray<string>) {
        const result = yield* Effect.either(
          DistributedSupervisor.call(name, id, command.msg ?? "where", { timeout: Number(command.timeout ?? 5000) })
        )
        if (Either.isRight(result)) replies[id] = result.right
        else failures[id] = callFailure(result.left)
      }
      return { replies, failures }
    }).pipe(Effect.provide(node.context)),

  /**
   * Starts a loop of sequential calls by id to child `child` of supervisor `name` (`msg`,
   * default "where"; `timeout` ms per call, default 5000), in the background until
   * `dsupCallLoopStop`; answers its `loop` handle.
   */
  dsupCallLoopStart: (node, command) =>
    Effect.gen(function*() {
      const name = supervisorName(command)
      const id = String(command.child)
      const msg = command.msg ?? "where"
      const timeout = Number(command.timeout ?? 5000)
      const loop: CallLoop = { stop: false, calls: 0, failures: [], replies: {}, fiber: undefined }
      const handle = nextCallLoop++
      callLoops.set(handle, loop)
      loop.fiber = yield* Effect.forkDaemon(
        Effect.gen(function*() {
          while (!loop.stop) {
            const result = yield* Effect.either(DistributedSupervisor.call(name, id, msg, { timeout }))
            loop.calls++
            if (Either.isRight(result)) {
              const key = JSON.stringify(result.right)
              loop.replies[key] = (loop.replies[key] ?? 0) + 1
            } else {
              if (loop.failures.length < MAX_LOOP_FAILURES) {
                loop.failures.push({ at: Date.now(), error: callFailure(result.left) })
              }
              // A call that fails at once must not spin this process.
              yield* Effect.sleep("1 millis")
            }
            // A call to a child on this node is answered synchronously and never yields the
            // fiber (nor does Effect.yieldNow let I/O in for long enough): without a turn of
            // the event loop now and then, this node would stop reading stdin and its sockets,
            // and its peers would declare it down (heartbeat_timeout).
            if (loop.calls % CALLS_PER_TURN === 0) yield* eventLoopTurn
          }
        }).pipe(Effect.provide(node.context))
      )
      return { loop: handle }
    }),

  /** What a call loop did so far: `calls`, `failures` (`{ at, error }`), `replies` (JSON of each reply → count). */
  dsupCallLoopPeek: (_node, command) =>
    Effect.gen(function*() {
      const loop = callLoops.get(Number(command.loop))
      if (loop === undefined) return yield* Effect.fail(`no call loop ${String(command.loop)}`)
      return { calls: loop.calls, failures: [...loop.failures], replies: { ...loop.replies } }
    }),

  /** Stops a call loop once its current call is answered; answers what it did, as `dsupCallLoopPeek`. */
  dsupCallLoopStop: (_node, command) =>
    Effect.gen(function*() {
      const handle = Number(command.loop)
      const loop = callLoops.get(handle)
      if (loop === undefined) return yield* Effect.fail(`no call loop ${String(command.loop)}`)
      loop.stop = true
      if (loop.fiber !== undefined) yield* Fiber.await(loop.fiber)
      callLoops.delete(handle)
      return { calls: loop.calls, failures: loop.failures, replies: loop.replies }
    }),

  /** Supervisor `name`'s child events here since `dsupStart`, each with `at` (`Date.now()`). */
  dsupEvents: (_node, command) =>
    Effect.gen(function*() {
      const running = supervisors.get(supervisorName(command))
      if (running === undefined) return yield* Effect.fail(`no supervisor ${supervisorName(command)} runs here`)
      return { events: [...running.events] }
    }),

  /** The ids of the connected nodes. */
  connected: (node) =>
    Effect.map(node.cluster.getConnectedNodes, (nodes) => ({ nodes: nodes.map((n) => n.id).sort() })),

  /** Starts a counter here and registers it globally as `name`. */
  register: (node, command) =>
    Effect.gen(function*() {
      const name = String(command.name)
      const ref = yield* GenServerModule.start(TestBehaviors.counter)
      yield* GlobalRegistry.register(name, ref)
      return { ref }
    }).pipe(Effect.provide(node.context)),

  /** The ref registered globally as `name`, or null. */
  whereis: (node, command) =>
    Effect.map(GlobalRegistry.whereis(String(command.name)), (ref) => ({ ref: ref._tag === "Some" ? ref.value : null }))
      .pipe(
        Effect.provide(node.context)
      ),

  /** Every globally registered name. */
  names: (node) =>
    Effect.map(GlobalRegistry.getNames, (names) => ({ names: [...names].sort() })).pipe(Effect.provide(node.context)),

  /** The guide's singleton pattern: become `name` unless someone already is. */
  contend: (node, command) =>
    Effect.gen(function*() {
      const name = String(command.name)
      if (yield* GlobalRegistry.isRegistered(name)) return { leader: false }
      const result = yield* Effect.either(
        RemoteSpawn.spawn("counter", node.cluster.localNodeId, { name, registration: "global" })
      )
      return { leader: result._tag === "Right" }
    }).pipe(Effect.provide(node.context)),

  /** How often the probe's `init` ran for each key, and the keys whose state `terminate` saw. */
  initRuns: () => Effect.succeed({ runs: Object.fromEntries(probe.runs), terminated: [...probe.terminated] }),

  /** The local process registered under `name` here, or null. */
  whereisLocal: (node, command) =>
    Effect.map(
      GenServerModule.whereis(String(command.name)),
      (ref) => ({ ref: ref._tag === "Some" ? ref.value : null })
    ).pipe(
      Effect.provide(node.context)
    ),

  /** What this node keeps for monitors and links: every table is empty once they all ended. */
  failureTables: (node) =>
    Effect.sync(() => {
      const { signals, table } = internalsOf(node.cluster)
      return { ...signals.size, monitors: table.monitors.size, links: table.links.size }
    }),

  /** Live processes on this node. */
  processCount: (node) =>
    Effect.map(GenServerModule.processCount, (count) => ({ count })).pipe(Effect.provide(node.context)),

  /** Graceful shutdown, then exit 0 (after this reply). */
  stop: (node) => Effect.as(node.shutdown(0), { stopped: true }),

  /**
   * Offers `count` casts of `bytes` zero bytes to a process nobody runs on node `to`
   * (the receiver drops them: they only load the link), as fast as the outbox takes
   * them, then waits until the socket has taken every byte. `payload: "codec"` sends a
   * well-formed payload (a `Uint8Array` of `bytes` through the payload codec) instead of
   * raw zeros, so the receiver drops it as a cast to an unknown process rather than as
   * an undecodable one.
   */
  flood: (node, command) =>
    Effect.gen(function*() {
      const to = yield* nodeIdField(command.to, "to")
      const count = yield* int(command.count, 1000, "count")
      const bytes = yield* int(command.bytes, 1024, "bytes")
      const kind = command.payload ?? "raw"
      if (kind !== "raw" && kind !== "codec") return yield* Effect.fail(`payload must be "raw" or "codec"`)
      const link = internalsOf(node.cluster).membership.linkTo(to)
      if (link === undefined) return yield* Effect.fail(`not connected to ${to}`)
      const codec = kind === "codec" ? Codec.make() : undefined
      const payload = () => (codec === undefined ? new Uint8Array(bytes) : codec.encode(new Uint8Array(bytes)))
      const started = performance.now()
      let accepted = 0
      for (let i = 0; i < count; i++) {
        if (Either.isRight(link.send({ _tag: "Cast", serverId: "nobody", payload: payload() }))) accepted++
      }
      const offeredMs = performance.now() - started
      // The reply means the frames are on the wire (or the link closed).
      while (
        link.connection.queuedBytes() > 0 &&
        internalsOf(node.cluster).membership.linkTo(to) === link &&
        performance.now() - started < 30_000
      ) {
        yield* Effect.sleep("2 millis")
      }
      return { offered: count, accepted, offeredMs, drainedMs: performance.now() - started }
    })
}

const write = (line: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(line) + "\n")
}

const eventLine = (event: NodeEvent): Record<string, unknown> =>
  event._tag === "NodeUp"
    ? { type: "event", event: "NodeUp", nodeId: event.nodeId, at: Date.now() }
    : { type: "event", event: "NodeDown", nodeId: event.nodeId, reason: event.reason, at: Date.now() }

/** Logs to stderr, so stdout carries only protocol lines. */
const stderrLogger = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))

const logLevel = (): LogLevel.LogLevel => {
  const wanted = process.env["NOEX_TEST_LOG_LEVEL"]
  return LogLevel.allLevels.find((l) => l.label.toLowerCase() === wanted?.toLowerCase()) ?? LogLevel.Info
}

/** What keeps the process alive (for the report of a shutdown that hangs). */
const describeHandles = (): string => {
  const handles = (process as unknown as { _getActiveHandles?: () => Array<unknown> })._getActiveHandles?.() ?? []
  return handles
    .map((h) => {
      const socket = h as {
        constructor?: { name?: string }
        localPort?: number
        remotePort?: number
        listening?: boolean
        destroyed?: boolean
      }
      const name = socket.constructor?.name ?? typeof h
      if (name === "Socket" && socket.remotePort !== undefined) {
        return `Socket(${socket.localPort}->${socket.remotePort}${socket.destroyed ? ", destroyed" : ""})`
      }
      if (name === "Server") return `Server(listening=${String(socket.listening)})`
      return name
    })
    .join(", ")
}

/** Hard bound on a graceful shutdown (over the runtime's 5 s grace for `terminate` handlers): past it the node exits 1 and lists its open handles. */
const SHUTDOWN_DEADLINE_MS = 8000

/** Runs the node described by `config` until told to stop. */
export const main = (config: ClusterConfig): void => {
  const layers = Layer.merge(stderrLogger, Logger.minimumLogLevel(logLevel()))
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromiseExit(Effect.provide(effect, layers))
  const scope = Effect.runSync(Scope.make())
  let node: NodeContext | undefined
  let exiting: Promise<void> | undefined
  let exitCode: number | undefined

  /** Graceful shutdown once; the process exits when it is done (or at the deadline). */
  const shutdown = (code: number): Promise<void> => {
    exitCode ??= code
    if (exiting === undefined) {
      setTimeout(() => {
        process.stderr.write(
          `node-main: graceful shutdown took over ${SHUTDOWN_DEADLINE_MS} ms; exiting. Open handles: ${describeHandles()}\n`
        )
        process.exit(1)
      }, SHUTDOWN_DEADLINE_MS).unref()
      exiting = run(Scope.close(scope, Exit.void)).then(() => undefined)
    }
    return exiting
  }
  const exitNow = () => void shutdown(0).then(() => process.exit(exitCode ?? 0))

  const dispatch = async (line: string): Promise<void> => {
    if (line.trim().length === 0) return
    let command: Command
    try {
      command = JSON.parse(line) as Command
    } catch (error) {
      return write({ type: "reply", id: null, ok: false, error: `malformed command: ${String(error)}` })
    }
    const id = command.id ?? null
    const handler = typeof command.cmd === "string" && Object.hasOwn(commands, command.cmd)
      ? commands[command.cmd]
      : undefined
    if (handler === undefined) {
      return write({ type: "reply", id, ok: false, error: `unknown command ${JSON.stringify(command.cmd)}` })
    }
    if (node === undefined) return write({ type: "reply", id, ok: false, error: "node is not ready" })
    let stopping = false
    const context: NodeContext = {
      ...node,
      shutdown: (code) =>
        Effect.promise(() => {
          stopping = true
          return shutdown(code)
        })
    }
    const exit = await run(Effect.suspend(() => handler(context, command)))
    if (Exit.isSuccess(exit)) write({ type: "reply", id, ok: true, ...exit.value })
    else {
      const failure = Cause.failureOption(exit.cause)
      const error = failure._tag === "Some"
        ? typeof failure.value === "string"
          ? failure.value
          : String((failure.value as { message?: unknown })?.message ?? JSON.stringify(failure.value))
        : Cause.pretty(exit.cause)
      write({ type: "reply", id, ok: false, error })
    }
    if (stopping) process.exit(exitCode ?? 0)
  }

  // Stdin first: a parent that dies while the node starts must still end it.
  const input = readline.createInterface({ input: process.stdin, terminal: false })
  input.on("line", (line) => void dispatch(line))
  input.on("close", exitNow)
  process.once("SIGTERM", exitNow)
  process.once("SIGINT", exitNow)

  const joinStartedAt = Date.now()
  // TLS when the environment names a certificate (NOEX_TLS_CERT_FILE), as the CLI does.
  const tls = Effect.runSync(TlsTransport.enabledInEnv)
  const layer = Cluster.layer(config).pipe(
    Layer.provide(BehaviorRegistry.layer(behaviors)),
    Layer.provide(tls ? TlsTransport.layerFromEnv : TcpTransport.layer)
  )
  const start = Effect.gen(function*() {
    const context = yield* Layer.buildWithScope(layer, scope)
    const cluster = Context.get(context, Cluster.Cluster)
    // Subscribe before yielding to anything, so no event after the build is missed.
    const subscription = yield* Scope.extend(PubSub.subscribe(internalsOf(cluster).membership.events), scope)
    yield* Effect.forkIn(
      Effect.forever(Effect.flatMap(subscription.take, (event) => Effect.sync(() => write(eventLine(event))))),
      scope
    )
    node = { cluster, context, shutdown: (code) => Effect.promise(() => shutdown(code)) }
    write({
      type: "ready",
      nodeId: cluster.localNodeId,
      incarnation: cluster.incarnation,
      pid: process.pid,
      joinStartedAt,
      at: Date.now()
    })
  })
  void run(start).then((exit) => {
    if (Exit.isFailure(exit)) {
      write({ type: "error", message: Cause.pretty(exit.cause) })
      process.exit(2)
    }
  })
}

const isEntryPoint = (): boolean => {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  const raw = process.argv[2]
  let config: ClusterConfig
  try {
    if (raw === undefined) throw new Error("expected one argument: the node's ClusterConfig as JSON")
    config = JSON.parse(raw) as ClusterConfig
  } catch (error) {
    write({ type: "error", message: String(error) })
    process.exit(2)
  }
  main(config)
}
