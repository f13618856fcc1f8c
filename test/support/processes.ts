/**
 * Cluster nodes as real OS processes (see `node-main.ts`), for tests over TCP on
 * 127.0.0.1. `startNodeProcess(config)` spawns one node and resolves once it listens;
 * its NodeId comes from the ready line (use port 0 and seed later nodes with earlier
 * ids). Every child is tracked: call `useNodeProcesses()` at the top of a test file so
 * no child outlives its test (leftovers are SIGKILLed, stopped ones included, and
 * their exit awaited), and the worker kills what is left if it exits.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { afterAll, afterEach } from "vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const script = path.join(root, "test/support/node-main.ts")

/** A node's configuration as `node-main.ts` takes it (a JSON `ClusterConfig`). */
export interface NodeProcessConfig {
  readonly nodeName: string
  readonly host?: string
  readonly port?: number
  readonly seeds?: ReadonlyArray<string>
  readonly cookie?: string
  /** Milliseconds, or an Effect duration string such as `"200 millis"`. */
  readonly heartbeatInterval?: number | string
  readonly heartbeatMissThreshold?: number
  readonly handshakeTimeout?: number | string
  readonly forgetAfter?: number | string
  readonly reconnectBackoff?: { readonly min: number | string; readonly max: number | string }
  readonly maxFrameBytes?: number
}

/** A node event as the child printed it; `at` is the child's `Date.now()`. */
export interface NodeEventLine {
  readonly type: "event"
  readonly event: "NodeUp" | "NodeDown"
  readonly nodeId: string
  readonly reason?: "connection_closed" | "heartbeat_timeout" | "graceful_shutdown"
  readonly at: number
}

/** A reply to a command: `ok` plus the command's fields, or `error`. */
export interface Reply {
  readonly type: "reply"
  readonly id: number | string | null
  readonly ok: boolean
  readonly error?: string
  readonly [field: string]: unknown
}

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface NodeProcess {
  /** The node's id, `name@127.0.0.1:port`. */
  readonly id: string
  readonly name: string
  readonly pid: number
  readonly incarnation: string
  /** Child clock (ms) just before the node began to listen and dial its seeds. */
  readonly joinStartedAt: number
  /** Child clock (ms) when it printed the ready line. */
  readonly readyAt: number
  /** Every node event so far, in order (live: grows as lines arrive). */
  readonly events: Array<NodeEventLine>
  /** The last stderr lines (logs), for diagnosing failures. */
  readonly stderr: Array<string>
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>
  /** Whether the process has exited. */
  readonly hasExited: () => boolean
  /** The first event (already seen or future) matching `predicate`; rejects after `timeoutMs`. */
  readonly waitFor: (predicate: (event: NodeEventLine) => boolean, timeoutMs?: number) => Promise<NodeEventLine>
  /** Sends a command (an `id` is added) and resolves with its reply; rejects if `ok` is false or the child exits. */
  readonly command: (
    command: { readonly cmd: string; readonly [field: string]: unknown },
    timeoutMs?: number
  ) => Promise<Reply>
  /** Sends a signal (default SIGTERM) unless the process has exited. Cleanup SIGKILLs, which ends a SIGSTOPped child too. */
  readonly kill: (signal?: NodeJS.Signals) => void
  /** Closes the child's stdin, as the parent's death would: the child shuts down gracefully and exits. */
  readonly closeStdin: () => void
  /** The `stop` command: graceful shutdown; resolves with the exit once the process is gone. */
  readonly stopGracefully: (timeoutMs?: number) => Promise<ExitInfo>
}

/** Children not yet known to have exited. */
const live = new Map<number, { child: ChildProcess; exited: Promise<ExitInfo> }>()
/** Every pid started in this worker. */
const started: Array<number> = []

/** The pids of every node process started in this worker. */
export const startedPids = (): ReadonlyArray<number> => started.slice()

/** Whether a process with this pid exists (`process.kill(pid, 0)` does not throw ESRCH). */
export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/** SIGKILLs every child still running (stopped ones too: SIGKILL ends a stopped process) and awaits their exit. */
export const killAllNodeProcesses = async (): Promise<void> => {
  const entries = Array.from(live.values())
  for (const { child } of entries) {
    try {
      child.kill("SIGKILL")
    } catch {
      // already gone
    }
  }
  await Promise.all(entries.map((e) => e.exited))
}

process.once("exit", () => {
  for (const { child } of live.values()) {
    try {
      child.kill("SIGKILL")
    } catch {
      // already gone
    }
  }
})

/** Registers the cleanup hooks for the calling test file. */
export const useNodeProcesses = (): void => {
  afterEach(killAllNodeProcesses, 20_000)
  afterAll(killAllNodeProcesses, 20_000)
}

const STDERR_LINES = 400

const tail = (lines: ReadonlyArray<string>, n = 40) => lines.slice(-n).join("\n")

/** How the node process itself is run. */
export interface StartOptions {
  /** Extra flags for `node` (e.g. `--unhandled-rejections=strict`). */
  readonly nodeFlags?: ReadonlyArray<string>
  /** Environment variables over the test's own (e.g. `NOEX_TLS_CERT_FILE`). */
  readonly env?: Readonly<Record<string, string>>
}

/** Spawns a node process and resolves once it is listening. */
export const startNodeProcess = (
  config: NodeProcessConfig,
  readyTimeoutMs = 30_000,
  options: StartOptions = {}
): Promise<NodeProcess> =>
  new Promise<NodeProcess>((resolve, reject) => {
    const args = [...(options.nodeFlags ?? []), "--import", "tsx", script, JSON.stringify(config)]
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env }
    })
    if (child.pid === undefined) {
      // spawn failed synchronously; the error event follows.
      child.once("error", (error) => reject(error))
      return
    }
    const pid = child.pid
    started.push(pid)
    const events: Array<NodeEventLine> = []
    const stderr: Array<string> = []
    const replies = new Map<number | string, { resolve: (r: Reply) => void; reject: (e: Error) => void }>()
    const watchers = new Set<() => void>()
    let exitInfo: ExitInfo | undefined
    let ready = false
    let nextId = 1

    const exited = new Promise<ExitInfo>((done) => {
      // "close", not "exit": every line the child printed has been read by then.
      child.once("close", (code, signal) => {
        exitInfo = { code, signal }
        live.delete(pid)
        const why = new Error(
          `node ${config.nodeName} (pid ${pid}) exited (code ${code}, signal ${signal})\n${tail(stderr)}`
        )
        for (const pending of replies.values()) pending.reject(why)
        replies.clear()
        for (const w of watchers) w()
        if (!ready) reject(why)
        done(exitInfo)
      })
    })
    live.set(pid, { child, exited })
    child.on("error", (error) => stderr.push(`spawn error: ${error.message}`))
    // A child that died leaves a broken pipe; writing to it must not crash the test worker.
    child.stdin!.on("error", () => {})

    readline.createInterface({ input: child.stderr! }).on("line", (line) => {
      stderr.push(line)
      if (stderr.length > STDERR_LINES) stderr.splice(0, stderr.length - STDERR_LINES)
    })

    const readyTimer = setTimeout(() => {
      if (ready) return
      child.kill("SIGKILL")
      reject(new Error(`node ${config.nodeName} was not ready within ${readyTimeoutMs} ms\n${tail(stderr)}`))
    }, readyTimeoutMs)

    const waitFor: NodeProcess["waitFor"] = (predicate, timeoutMs = 10_000) =>
      new Promise<NodeEventLine>((resolveWait, rejectWait) => {
        let checked = 0
        const check = (): boolean => {
          for (; checked < events.length; checked++) {
            if (predicate(events[checked]!)) {
              finish()
              resolveWait(events[checked]!)
              return true
            }
          }
          if (exitInfo !== undefined) {
            finish()
            rejectWait(
              new Error(`node ${config.nodeName} exited while waiting for an event; events: ${JSON.stringify(events)}`)
            )
            return true
          }
          return false
        }
        const timer = setTimeout(() => {
          finish()
          rejectWait(
            new Error(
              `node ${config.nodeName}: no matching event within ${timeoutMs} ms; events: ${JSON.stringify(events)}\n${
                tail(stderr)
              }`
            )
          )
        }, timeoutMs)
        const finish = () => {
          clearTimeout(timer)
          watchers.delete(watcher)
        }
        const watcher = () => void check()
        if (!check()) watchers.add(watcher)
      })

    const command: NodeProcess["command"] = (cmd, timeoutMs = 30_000) =>
      new Promise<Reply>((resolveReply, rejectReply) => {
        if (exitInfo !== undefined) return rejectReply(new Error(`node ${config.nodeName} has exited`))
        const id = nextId++
        const timer = setTimeout(() => {
          replies.delete(id)
          rejectReply(new Error(`node ${config.nodeName}: no reply to ${JSON.stringify(cmd)} within ${timeoutMs} ms`))
        }, timeoutMs)
        replies.set(id, {
          resolve: (reply) => {
            clearTimeout(timer)
            if (reply.ok) resolveReply(reply)
            else rejectReply(new Error(`node ${config.nodeName}: ${cmd.cmd} failed: ${reply.error}`))
          },
          reject: (error) => {
            clearTimeout(timer)
            rejectReply(error)
          }
        })
        child.stdin!.write(JSON.stringify({ ...cmd, id }) + "\n")
      })

    const onLine = (line: string) => {
      let message: { readonly type?: unknown; readonly [k: string]: unknown }
      try {
        message = JSON.parse(line)
      } catch {
        stderr.push(`stdout (not JSON): ${line}`)
        return
      }
      switch (message.type) {
        case "ready": {
          ready = true
          clearTimeout(readyTimer)
          resolve({
            id: String(message["nodeId"]),
            name: config.nodeName,
            pid,
            incarnation: String(message["incarnation"]),
            joinStartedAt: Number(message["joinStartedAt"]),
            readyAt: Number(message["at"]),
            events,
            stderr,
            exited,
            hasExited: () => exitInfo !== undefined,
            waitFor,
            command,
            kill: (signal = "SIGTERM") => {
              if (exitInfo === undefined) child.kill(signal)
            },
            closeStdin: () => void child.stdin!.end(),
            stopGracefully: async (timeoutMs = 10_000) => {
              await command({ cmd: "stop" }, timeoutMs)
              return exited
            }
          })
          return
        }
        case "event":
          events.push(message as unknown as NodeEventLine)
          for (const w of Array.from(watchers)) w()
          return
        case "reply": {
          const id = message["id"] as number | string
          const pending = replies.get(id)
          replies.delete(id)
          pending?.resolve(message as unknown as Reply)
          return
        }
        case "error":
          stderr.push(`error: ${String(message["message"])}`)
          return
        default:
          stderr.push(`stdout (unknown): ${line}`)
      }
    }
    readline.createInterface({ input: child.stdout! }).on("line", onLine)
  })

/** The connected node ids of a node, sorted. */
export const connectedIds = async (node: NodeProcess): Promise<ReadonlyArray<string>> =>
  (await node.command({ cmd: "connected" })).nodes as ReadonlyArray<string>

/** Polls until `condition` holds; rejects with `message` after `timeoutMs`. */
export const eventually = async (
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  message = "condition"
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`${message} did not hold within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** The port of a NodeId `name@host:port`. */
export const portOf = (nodeId: string): number => Number(nodeId.slice(nodeId.lastIndexOf(":") + 1))

/**
 * Established IPv4 TCP connections among the given listening ports, counted once per
 * connection (both ends are on this machine), from `/proc/net/tcp`; `undefined` where
 * that file does not exist (not Linux).
 */
export const establishedConnectionsAmong = (listenPorts: ReadonlyArray<number>): number | undefined => {
  let table: string
  try {
    table = fs.readFileSync("/proc/net/tcp", "utf8")
  } catch {
    return undefined
  }
  const ports = new Set(listenPorts)
  let ends = 0
  for (const row of table.split("\n").slice(1)) {
    const fields = row.trim().split(/\s+/)
    if (fields.length < 4 || fields[3] !== "01") continue // 01 = ESTABLISHED
    const local = parseInt(fields[1]!.split(":")[1]!, 16)
    const remote = parseInt(fields[2]!.split(":")[1]!, 16)
    // One end of a node-to-node connection is on a listening port: the acceptor's local one, or the dialer's remote one.
    if (ports.has(local) || ports.has(remote)) ends++
  }
  return ends / 2
}
