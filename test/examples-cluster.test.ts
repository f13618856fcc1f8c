/**
 * Smoke tests of the cluster examples: each runs as a user would run it
 * (`node --import tsx examples/...` from the repository root, in its own OS process) and must
 * exit 0 having printed its key lines. The worker-pool demo is also interrupted with SIGINT
 * and must exit promptly without leaving a child process behind.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

interface Running {
  readonly pid: number
  /** Resolves with the first stdout line matching `pattern` (rejects if the process exits first). */
  readonly waitForLine: (pattern: RegExp) => Promise<string>
  readonly kill: (signal: NodeJS.Signals) => void
  readonly done: Promise<Run>
}

/** Starts an example; it is SIGKILLed if it outlives `timeoutMs`. */
const start = (file: string, timeoutMs = 60_000): Running => {
  const started = Date.now()
  const child = spawn(process.execPath, ["--import", "tsx", `examples/${file}`], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void; reject: (e: Error) => void }> = []
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    for (const w of [...waiters]) {
      const line = stdout.split("\n").find((l) => w.pattern.test(l))
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  })
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  const done = new Promise<Run>((resolve) =>
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      for (const w of waiters.splice(0)) {
        w.reject(new Error(`exited before printing ${w.pattern}\n${stdout}\n${stderr}`))
      }
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  )
  return {
    pid: child.pid!,
    waitForLine: (pattern) =>
      new Promise((resolve, reject) => {
        const line = stdout.split("\n").find((l) => pattern.test(l))
        if (line !== undefined) return resolve(line)
        if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`already exited:\n${stdout}`))
        waiters.push({ pattern, resolve, reject })
      }),
    kill: (signal) => void child.kill(signal),
    done
  }
}

/** Runs an example to completion and expects exit code 0. */
const runExample = async (file: string): Promise<Run> => {
  const run = await start(file).done
  if (run.code !== 0) {
    throw new Error(
      `${file} exited with ${run.code ?? run.signal}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`
    )
  }
  return run
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The pids an example printed for its child processes ("pid 1234"). */
const childPids = (stdout: string): Array<number> => Array.from(stdout.matchAll(/pid (\d+)/g), (m) => Number(m[1]))

const count = (text: string, pattern: RegExp) => (text.match(new RegExp(pattern.source, "g")) ?? []).length

describe("cluster examples", () => {
  it("worker-pool/main.ts runs the guide's pool on 3 nodes: 6 workers, 100 tasks", async () => {
    const { stdout } = await runExample("worker-pool/main.ts")
    expect(stdout).toContain("Initialized 6 workers")
    expect(stdout).toContain("submitted 100/100")
    expect(stdout).toMatch(
      /nodes: +3 \(coordinator@127\.0\.0\.1:\d+, worker1@127\.0\.0\.1:\d+, worker2@127\.0\.0\.1:\d+\)/
    )
    expect(count(stdout, /: 3 workers, tasks per worker/)).toBe(2)
    expect(stdout).toContain("total = 100 tasks processed by 6 workers")
    expect(count(stdout, /joined/)).toBe(2)
    expect(count(stdout, /left \(graceful_shutdown\)/)).toBe(2)
    expect(count(stdout, /exited: code 0/)).toBe(2)
    const pids = childPids(stdout.split("\n").find((l) => l.startsWith("child pids:"))!.replace(/(\d+)/g, "pid $1"))
    expect(pids).toHaveLength(2)
    for (const pid of pids) expect(isAlive(pid)).toBe(false)
  })

  it("worker-pool/main.ts stops on SIGINT right after its first progress lines, leaving no child behind", async () => {
    const demo = start("worker-pool/main.ts")
    // Printed as soon as the worker node processes are spawned: they are still starting.
    const pidsLine = await demo.waitForLine(/^child pids: /)
    const pids = pidsLine.replace("child pids: ", "").split(" ").map(Number)
    expect(pids).toHaveLength(2)
    const interruptedAt = Date.now()
    demo.kill("SIGINT")
    const run = await demo.done
    expect(Date.now() - interruptedAt).toBeLessThan(8000)
    expect(run.code).toBe(130)
    expect(run.stdout).toContain("Interrupted: stopping the worker nodes")
    expect(run.stdout).not.toContain("[3/5]")
    for (const pid of pids) expect(isAlive(pid)).toBe(false)
  })

  it("worker-pool/main.ts stops on SIGINT once the worker nodes joined, leaving no child behind", async () => {
    const demo = start("worker-pool/main.ts")
    const pids = (await demo.waitForLine(/^child pids: /)).replace("child pids: ", "").split(" ").map(Number)
    await demo.waitForLine(/ joined$/)
    const interruptedAt = Date.now()
    demo.kill("SIGINT")
    const run = await demo.done
    expect(Date.now() - interruptedAt).toBeLessThan(8000)
    // The rest of the demo takes a few hundred milliseconds: on a slow test runner it may have finished first.
    if (run.code === 0) expect(run.stdout).toContain("total = 100 tasks processed by 6 workers")
    else {
      expect(run.code).toBe(130)
      expect(run.stdout).toContain("Interrupted: stopping the worker nodes")
      // A worker node that had joined leaves gracefully (code 0); one still loading its
      // modules when SIGTERM came has no handler yet and ends by the signal. Either way it is gone.
      expect(run.stdout).toMatch(/worker1 \(pid \d+\) exited: (code 0|signal SIGTERM)/)
      expect(run.stdout).toMatch(/worker2 \(pid \d+\) exited: (code 0|signal SIGTERM)/)
    }
    for (const pid of pids) expect(isAlive(pid)).toBe(false)
  })

  it("load-balancing.ts places processes round-robin, on the least-loaded node, and locally with a fallback", async () => {
    const { stdout } = await runExample("load-balancing.ts")
    const placement = stdout.split("\n").find((l) => l.includes("placement:"))!
    expect(count(placement, /beta/)).toBe(3)
    expect(count(placement, /gamma/)).toBe(3)
    expect(stdout).toContain("counts seen by alpha: beta=7 gamma=3 -> spawned on gamma")
    expect(count(stdout, /-> spawned on gamma/)).toBeGreaterThanOrEqual(4) // the fifth, a tie, goes to the first in connection order
    expect(stdout).toContain("'worker' from alpha -> alpha")
    expect(stdout).toContain("'gpu-job' on alpha itself fails: BehaviorNotFoundError")
    expect(stdout).toMatch(/'gpu-job' from alpha -> gamma \(fell back; tried alpha, then .*gamma\)/)
  })

  it("global-singleton.ts starts exactly one leader with registerOrWhereis, and shows the guide's check-then-spawn racing", async () => {
    const { stdout } = await runExample("global-singleton.ts")
    const [locked, racy] = stdout.split("2. The guide's check-then-spawn")
    expect(racy).toBeDefined()
    // Section 1: one contender started the leader, the other two were answered its ref.
    expect(count(locked!, /: Became cluster leader \(process \S+\)/)).toBe(1)
    expect(count(locked!, /: Leader is on \w+@127\.0\.0\.1:\d+/)).toBe(3) // beta or alpha, gamma, and the latecomer
    const leader = /leader: (\w+@127\.0\.0\.1:\d+) \(process (\S+)\)/.exec(locked!)
    expect(leader).not.toBeNull()
    for (const line of locked!.split("\n").filter((l) => l.includes(": Leader is on "))) {
      expect(line.endsWith(leader![1]!)).toBe(true)
    }
    const views = locked!.split("\n").filter((l) => l.includes("whereis('cluster:leader') ->")).map((l) =>
      l.split("-> ")[1]
    )
    expect(views).toHaveLength(3)
    expect(new Set(views).size).toBe(1)
    expect(locked).toContain("every node agrees: yes")
    expect(locked).toMatch(/live leader processes: 1 \(/)
    expect(locked).toContain("ConflictResolved events: 0")
    expect(locked).not.toMatch(/terminated with reason/)
    expect(count(locked!, /calls the leader by name: it answers from /)).toBe(3)
    expect(locked).toMatch(/gamma: Leader is on \w+@127\.0\.0\.1:\d+\n\s*$/)
    // Section 2: every contender that registered a leader of its own but one was stopped with
    // { conflict }, and those refused at registration had theirs stopped by the spawn.
    expect(count(racy!, /: (registered a leader of its own|saw the leader on|refused at registration)/)).toBe(3)
    const registered = count(racy!, /registered a leader of its own/)
    const refused = count(racy!, /refused at registration/)
    expect(registered).toBeGreaterThanOrEqual(1)
    expect(count(racy!, /terminated with reason \{"conflict":"cluster:leader:racy"\}/)).toBe(registered - 1 + refused)
    expect(racy).toMatch(/one racy leader left, on \w+; every node agrees/)
  })

  it("node-failures.ts replaces the workers of a SIGKILLed node and the pool works again", async () => {
    const { stdout } = await runExample("node-failures.ts")
    expect(stdout).toContain("Pool: 4 workers (worker1: 2, worker2: 2)")
    expect(stdout).toMatch(/- worker2@127\.0\.0\.1:\d+ is down \(connection_closed\)/)
    expect(stdout).toMatch(/onNodeDown\(worker2, connection_closed\).*: dropped 2 workers, 2 left/)
    expect(count(stdout, /replacement \S+ spawned on worker1/)).toBe(2)
    expect(stdout).toMatch(/Pool: 4 workers \(worker1: 4\)/)
    expect(stdout).toContain("All 4 workers answer get_stats")
    for (const pid of childPids(stdout)) expect(isAlive(pid)).toBe(false)
  })

  it("failures.ts replaces a crashed worker and a SIGKILLed node's workers, each on its Down", async () => {
    const { stdout } = await runExample("failures.ts")
    expect(stdout).toMatch(/Down worker\d\/\S+: \{ error: disk full \}/)
    expect(count(stdout, /Down worker2\/\S+: noconnection, \d+ ms after the kill/)).toBeGreaterThanOrEqual(1)
    expect(stdout).toMatch(/Pool: worker1 worker1 worker1 worker1; all 4 workers answer/)
    expect(stdout).toContain("The pool replaced every dead worker on its Down")
    for (const pid of childPids(stdout)) expect(isAlive(pid)).toBe(false)
  })

  it("kv-store/main.ts stores values from one node and reads them intact from another", async () => {
    const { stdout } = await runExample("kv-store/main.ts")
    expect(count(stdout, /lookup\('kv:store'\) -> \S+ on n2/)).toBe(3)
    expect(stdout).toContain("6/6 values intact")
    expect(stdout).toContain(
      "joined instanceof Date = true, roles instanceof Set = true, typeof big = bigint, visits instanceof Map = true"
    )
    expect(stdout).toContain("n3 deletes 'big': true")
    expect(stdout).toContain("refused: RemoteSpawnRegistrationError")
  })

  it("bank-account/main.ts calls a typed account on another node and catches its declared errors by tag", async () => {
    const { stdout } = await runExample("bank-account/main.ts")
    expect(stdout).toContain("withdraw 2500 -> balance 7500")
    expect(stdout).toContain("withdraw 1000000 -> refused, InsufficientFunds { balance: 7500, requested: 1000000 }")
    expect(stdout).toContain("statement: a Statement = true, asOf a Date = true")
    expect(stdout).toContain("deposit after the freeze -> refused with AccountFrozen")
    expect(stdout).toContain("bank's audit log (3 lines)")
  })

  it("timeouts-and-errors.ts provokes and handles every error class", async () => {
    const { stdout } = await runExample("timeouts-and-errors.ts")
    for (
      const tag of [
        "NodeNotReachableError",
        "BehaviorNotFoundError",
        "RemoteSpawnTimeoutError",
        "RemoteSpawnInitError",
        "RemoteSpawnRegistrationError",
        "RemoteCallTimeoutError",
        "RemoteServerNotRunningError",
        "RemoteHandlerError",
        "InvalidMessageError",
        "MessageTooLargeError",
        "GlobalNameNotFoundError"
      ]
    ) {
      expect(stdout).toMatch(new RegExp(`^ok +${tag} `, "m"))
    }
    expect(stdout).not.toContain("EXPECTED")
    expect(stdout).toContain("Every error was the expected one")
  })
})
