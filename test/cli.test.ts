import { afterEach, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"

const children = new Set<ChildProcess>()
afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL")
      await new Promise((r) => child.once("exit", r))
    }
  }
  children.clear()
})

/** Starts `noex-effect` with `args`; collects its output. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, ["bin/noex-effect.mjs", ...args], {
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  let output = ""
  child.stdout!.on("data", (d) => (output += d))
  child.stderr!.on("data", (d) => (output += d))
  const waitFor = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const started = Date.now()
      const check = () => {
        const match = output.match(pattern)
        if (match) return resolve(match)
        if (Date.now() - started > timeoutMs) return reject(new Error(`no ${pattern} in:\n${output}`))
        setTimeout(check, 25)
      }
      check()
    })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { child, waitFor, exited, output: () => output }
}

describe("noex-effect node (CLI)", () => {
  it("documents every flag and its environment variable in --help", async () => {
    const help = cli(["node", "--help"])
    expect(await help.exited).toBe(0)
    for (const text of ["--name", "NOEX_NODE_NAME", "--host", "NOEX_HOST", "--advertise-host", "NOEX_ADVERTISE_HOST", "--port", "NOEX_PORT", "--seeds", "NOEX_SEEDS", "--cookie", "NOEX_COOKIE", "--heartbeat-interval", "NOEX_HEARTBEAT_INTERVAL_MS", "--heartbeat-miss-threshold", "NOEX_HEARTBEAT_MISS_THRESHOLD", "--behaviors", "NOEX_BEHAVIORS"]) {
      expect(help.output()).toContain(text)
    }
  })

  it("starts nodes that join, log node events, load behaviors, and stop gracefully on SIGTERM and SIGINT", async () => {
    const a = cli(["node", "--name", "a", "--port", "0", "--behaviors", "test/fixtures/behaviors.ts"])
    const [, aId] = await a.waitFor(/node (a@127\.0\.0\.1:\d+) is up; behaviors: (.*)/)
    expect(a.output()).toMatch(/behaviors: counter, echo\b/)
    // b reads its settings from the environment.
    const b = cli(["node"], { NOEX_NODE_NAME: "b", NOEX_PORT: "0", NOEX_SEEDS: aId! })
    const [, bId] = await b.waitFor(/node (b@127\.0\.0\.1:\d+) is up/)
    await a.waitFor(new RegExp(`node up: ${bId!.replace(/\./g, "\\.")}`))
    await b.waitFor(new RegExp(`node up: ${aId!.replace(/\./g, "\\.")}`))
    b.child.kill("SIGTERM")
    expect(await b.exited).toBe(0)
    await a.waitFor(/node down: b@.* \(graceful_shutdown\)/)
    a.child.kill("SIGINT")
    expect(await a.exited).toBe(0)
    expect(a.output()).toContain("shutting down gracefully")
  })

  it("refuses an invalid configuration with the field and the fix", async () => {
    const bad = cli(["node", "--name", "a", "--host", "0.0.0.0", "--advertise-host", "10.1.2.3", "--port", "0"])
    expect(await bad.exited).not.toBe(0)
    expect(bad.output()).toContain("set a cookie")
  })
})
