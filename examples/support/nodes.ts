/**
 * Small helpers shared by the cluster examples (not part of the library):
 *
 * - `runExample` runs an example's main Effect with Node's signal handling: Ctrl-C
 *   (SIGINT) or SIGTERM interrupts it, so every scope closes (nodes leave gracefully,
 *   child processes are stopped) before the process exits.
 * - `startNode` builds one cluster node inside the current process, in its own scope, so a
 *   single-file example can run several nodes side by side over real TCP on 127.0.0.1.
 * - `awaitMesh` waits for a full mesh (`Cluster.awaitNodes` on each node); `waitUntil`
 *   polls until another condition holds (a name replicated), with a deadline instead of a
 *   fixed sleep.
 */
import { NodeRuntime } from "@effect/platform-node"
import {
  Cause,
  Console,
  Context,
  Data,
  Effect,
  ExecutionStrategy,
  Exit,
  Layer,
  Logger,
  LogLevel,
  Schedule,
  Scope
} from "effect"
import type { Duration } from "effect"
import { BehaviorRegistry, Cluster } from "noex-effect"
import type { ClusterConfig, NodeId } from "noex-effect"
import { TcpTransport } from "noex-effect/node"

/** Something an example expected did not happen. */
export class ExampleError extends Data.TaggedError("ExampleError")<{ readonly message: string }> {}

/** Options of {@link runExample}. */
export interface RunOptions {
  /** Exit code when a signal (SIGINT/SIGTERM) interrupted the program. Default 130, as a shell reports Ctrl-C. */
  readonly interruptedExitCode?: number
}

/**
 * Runs an example. Library logs go to stderr, from level `Error` only (the example prints
 * what it does itself; `LOG_LEVEL=info` shows them all). SIGINT/SIGTERM interrupt the program
 * and run every finalizer. The process exits 0 on success, 1 on failure (the cause is
 * printed on stderr) and `interruptedExitCode` after a signal.
 */
export const runExample = <E>(program: Effect.Effect<void, E>, options: RunOptions = {}): void => {
  // The first SIGINT/SIGTERM interrupts the program (NodeRuntime.runMain's handler). Later ones
  // (a terminal's Ctrl-C reaches a whole process group, then a parent may also send SIGTERM)
  // must not kill the process in the middle of its graceful shutdown: they are ignored, and a
  // deadline bounds the shutdown instead.
  let signalled = false
  const onSignal = () => {
    if (signalled) return
    signalled = true
    setTimeout(() => {
      process.stderr.write("shutdown took over 15 s; exiting\n")
      process.exit(1)
    }, 15_000).unref()
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  runMainQuiet(program, options)
}

/** The library's own log level: `LOG_LEVEL=info` (or debug, warning, ...) shows its logs; default `error`. */
const libraryLogLevel = (): LogLevel.LogLevel => {
  const wanted = process.env["LOG_LEVEL"]?.toLowerCase().replace(/^warning$/, "warn")
  return LogLevel.allLevels.find((l) => l.label.toLowerCase() === wanted) ?? LogLevel.Error
}

const runMainQuiet = <E>(program: Effect.Effect<void, E>, options: RunOptions): void =>
  NodeRuntime.runMain(
    program.pipe(
      Effect.tapErrorCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Console.error(`\nThe example failed:\n${Cause.pretty(cause)}`)
      ),
      // Library logs go to stderr, so stdout is the example's own account of what happened.
      Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))),
      Logger.withMinimumLogLevel(libraryLogLevel())
    ),
    {
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit) => {
        const code = Exit.isSuccess(exit)
          ? 0
          : Cause.isInterruptedOnly(exit.cause)
          ? (options.interruptedExitCode ?? 130)
          : 1
        process.exit(code)
      }
    }
  )

/** A cluster node running inside this process. */
export interface LocalNode {
  readonly name: string
  readonly id: NodeId
  readonly context: Context.Context<Cluster.ClusterServices>
  /** Runs an effect as this node (provides its Cluster, RemoteSpawn, RemoteCall, GlobalRegistry, ...). */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, Exclude<R, Cluster.ClusterServices>>
  /** Graceful shutdown of this node alone: peers see `graceful_shutdown`, its processes terminate. */
  readonly stop: Effect.Effect<void>
}

/** Options of {@link startNode}: a `ClusterConfig` (port 0 by default) plus the behaviors to register. */
export type NodeOptions = Omit<ClusterConfig, "nodeName"> & {
  readonly behaviors?: Readonly<Record<string, BehaviorRegistry.RegisteredBehavior>>
}

/** The layer of one node over TCP: its behaviors registered before it accepts connections. */
export const nodeLayer = (name: string, options: NodeOptions = {}) => {
  const { behaviors = {}, ...config } = options
  return Cluster.layer({ nodeName: name, port: 0, ...config }).pipe(
    Layer.provide(BehaviorRegistry.layer(behaviors)),
    Layer.provide(TcpTransport.layer)
  )
}

/**
 * Starts a node in this process, in a scope of its own (a child of the current scope): it
 * stops when the current scope closes, or earlier with `node.stop`.
 */
export const startNode = (name: string, options: NodeOptions = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const context = yield* Layer.buildWithScope(nodeLayer(name, options), scope)
    const node: LocalNode = {
      name,
      id: Context.get(context, Cluster.Cluster).localNodeId,
      context,
      run: (effect) => Effect.provide(effect, context) as any,
      stop: Scope.close(scope, Exit.void)
    }
    return node
  })

/** Polls `check` every 20 ms until it answers true; fails with `ExampleError` after `timeout`. */
export const waitUntil = <E, R>(
  what: string,
  check: Effect.Effect<boolean, E, R>,
  timeout: Duration.DurationInput = "10 seconds"
): Effect.Effect<void, E | ExampleError, R> =>
  check.pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("20 millis") }),
    Effect.asVoid,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new ExampleError({ message: `timed out waiting for ${what}` })
    })
  )

/** The ids of the nodes `node` is connected to. */
export const connectedIds = (node: LocalNode) =>
  node.run(Effect.map(Cluster.getConnectedNodes, (nodes) => nodes.map((n) => n.id)))

/** Waits until every node is connected to every other one (a full mesh): `Cluster.awaitNodes` on each. */
export const awaitMesh = (nodes: ReadonlyArray<LocalNode>, timeout: Duration.DurationInput = "10 seconds") =>
  Effect.forEach(nodes, (node) => node.run(Cluster.awaitNodes({ ids: nodes.map((n) => n.id), timeout })), {
    concurrency: "unbounded",
    discard: true
  })

/** `name@127.0.0.1:port` → `name`, for compact output. */
export const short = (nodeId: string): string => nodeId.split("@")[0] ?? nodeId
