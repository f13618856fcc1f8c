/**
 * A child Node process for tests that run programs as a user would: its output is
 * collected, `waitFor` polls it for a pattern, and `useChildren()` kills whatever a
 * test leaves running.
 */
import { afterEach } from "@effect/vitest"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"

const children = new Set<ChildProcess>()

/** Registers the cleanup: after each test, every child still running is SIGKILLed and awaited. */
export const useChildren = (): void => {
  afterEach(async () => {
    await Promise.all(
      Array.from(children, (child) =>
        child.exitCode === null && child.signalCode === null
          ? new Promise((resolve) => {
            child.once("exit", resolve)
            child.kill("SIGKILL")
          })
          : undefined)
    )
    children.clear()
  })
}

/** A running child. */
export interface Child {
  readonly child: ChildProcess
  /** Everything it printed so far (stdout and stderr). */
  readonly output: () => string
  /** What it printed on stdout alone. */
  readonly stdout: () => string
  /** The first match of `pattern` in its output, waiting up to `timeoutMs`. */
  readonly waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  /** Its exit code. */
  readonly exited: Promise<number | null>
}

/** Runs `node ...args` with extra environment variables. */
export const runNode = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Child => {
  const child = spawn(process.execPath, [...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  let output = ""
  let stdout = ""
  child.stdout!.on("data", (d) => {
    output += d
    stdout += d
  })
  child.stderr!.on("data", (d) => (output += d))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const started = Date.now()
      const check = () => {
        const match = output.match(pattern)
        if (match) return resolve(match)
        if (Date.now() - started > timeoutMs) {
          return reject(new Error(`no ${pattern} in the output of ${args.join(" ")}:\n${output}`))
        }
        setTimeout(check, 25)
      }
      check()
    })
  return { child, output: () => output, stdout: () => stdout, waitFor, exited }
}
