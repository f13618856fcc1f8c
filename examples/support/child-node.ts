/**
 * A cluster node run as a child OS process (for examples where a node must die for real,
 * or where the guide shows separate programs). The child is a scoped resource: when the
 * scope closes — normally, on failure, or because Ctrl-C interrupted the example — it is
 * sent SIGTERM (a graceful shutdown), given a few seconds, then SIGKILLed, and its exit is
 * awaited, so no process is left behind.
 *
 * The child must print one JSON line `{"type":"ready","nodeId":...}` on stdout once it
 * listens (see `examples/worker-pool/worker-node.ts`); every other stdout line is handed to
 * `onOutput`. Its stdin is a pipe that the child may watch: the pipe closes if this process
 * dies without stopping it (for instance when it is SIGKILLed).
 */
import { Deferred, Effect, Exit } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { NodeId } from "noex-effect"
import { ExampleError } from "./nodes.js"

/** The repository root: children run from there, so `tsx` finds `tsconfig.json` and its `paths`. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/** How a child ended. */
export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A child process running a node. */
export interface ChildNode {
  readonly name: string
  readonly pid: number
  /** The node's id, once its ready line arrived; fails if it exits first or takes over `readyTimeout`. */
  readonly ready: Effect.Effect<NodeId, ExampleError>
  /** Completes when the process has exited. */
  readonly exited: Effect.Effect<ChildExit>
  /** Sends a signal, unless the process already exited. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

/** Options of {@link spawnChildNode}. */
export interface ChildNodeOptions {
  readonly name: string
  /** The script, relative to the repository root (run with `node --import tsx`). */
  readonly script: string
  readonly args?: ReadonlyArray<string>
  /** Extra environment variables (added to this process's environment). */
  readonly env?: Readonly<Record<string, string>>
  /** Every stdout line that is not the ready line. */
  readonly onOutput?: (line: string) => void
  /** How long the child may take to print its ready line. Default 20 s. */
  readonly readyTimeoutMs?: number
  /** How long a SIGTERMed child may take to exit before it is SIGKILLed. Default 5 s. */
  readonly stopTimeoutMs?: number
}

/** "code 0", "signal SIGKILL". */
export const describeExit = (e: ChildExit) => (e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`)

/**
 * Starts the child and returns at once (its pid is known); `child.ready` waits for its NodeId.
 * The child is stopped when the current scope closes.
 */
export const spawnChildNode = (options: ChildNodeOptions): Effect.Effect<ChildNode, never, Scope.Scope> =>
  Effect.gen(function*() {
    const exited = yield* Deferred.make<ChildExit>()
    const ready = yield* Deferred.make<NodeId, ExampleError>()
    const stopTimeoutMs = options.stopTimeoutMs ?? 5000

    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const proc = spawn(process.execPath, ["--import", "tsx", options.script, ...(options.args ?? [])], {
          cwd: repoRoot,
          env: { ...process.env, ...options.env },
          stdio: ["pipe", "pipe", "inherit"]
        })
        proc.once("exit", (code, signal) => {
          const info: ChildExit = { code, signal }
          Deferred.unsafeDone(exited, Exit.succeed(info))
          Deferred.unsafeDone(
            ready,
            Exit.fail(
              new ExampleError({ message: `${options.name} exited (${describeExit(info)}) before it was ready` })
            )
          )
        })
        proc.once(
          "error",
          (error) =>
            Deferred.unsafeDone(ready, Exit.fail(new ExampleError({ message: `${options.name}: ${error.message}` })))
        )
        proc.stdin?.on("error", () => {}) // the child may exit before we close its stdin
        readline.createInterface({ input: proc.stdout! }).on("line", (line) => {
          if (line.startsWith("{")) {
            try {
              const message = JSON.parse(line) as { type?: unknown; nodeId?: unknown }
              if (message.type === "ready" && typeof message.nodeId === "string") {
                Deferred.unsafeDone(
                  ready,
                  NodeId.parse(message.nodeId).pipe(Effect.mapError((e) => new ExampleError({ message: e.message })))
                )
                return
              }
            } catch {
              // not JSON after all: an ordinary output line
            }
          }
          options.onOutput?.(line)
        })
        return proc
      }),
      (proc) =>
        Effect.gen(function*() {
          const running = () => proc.exitCode === null && proc.signalCode === null
          if (running()) proc.kill("SIGTERM")
          const stopped = yield* Deferred.await(exited).pipe(Effect.timeout(stopTimeoutMs), Effect.option)
          if (stopped._tag === "None") {
            proc.kill("SIGKILL")
            yield* Deferred.await(exited)
          }
          proc.stdin?.destroy()
        })
    )

    return {
      name: options.name,
      pid: child.pid ?? -1,
      ready: Deferred.await(ready).pipe(
        Effect.timeoutFail({
          duration: options.readyTimeoutMs ?? 20_000,
          onTimeout: () => new ExampleError({ message: `${options.name} was not ready in time` })
        })
      ),
      exited: Deferred.await(exited),
      kill: (signal) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
        })
    }
  })
