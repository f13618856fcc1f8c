import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Cluster, RemoteSpawn } from "../src/index.js"
import type { NodeId } from "../src/index.js"
import { runNode, useChildren } from "./support/child.js"
import { asNode } from "./support/tester.js"

useChildren()

/** Starts `noex-effect` with `args`, as a user would. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  runNode(["bin/noex-effect.mjs", ...args], { NO_COLOR: "1", ...env })

describe("noex-effect node (CLI)", () => {
  it("documents every flag and the environment variable Cluster.layerFromEnv reads for it in --help", async () => {
    const help = cli(["node", "--help"])
    expect(await help.exited).toBe(0)
    const flags = [
      "--name",
      "--host",
      "--advertise-host",
      "--port",
      "--seeds",
      "--cookie",
      "--heartbeat-interval",
      "--heartbeat-miss-threshold",
      "--reconnect-backoff-min",
      "--reconnect-backoff-max",
      "--max-frame-bytes",
      "--handshake-timeout",
      "--forget-after",
      "--mailbox-limit",
      "--max-processes-per-peer",
      "--behaviors"
    ]
    for (const text of [...flags, ...Object.values(Cluster.envNames), "NOEX_BEHAVIORS"]) {
      expect(help.output()).toContain(text)
    }
  })

  it("reads every setting from the same environment variables as Cluster.layerFromEnv; a flag overrides its variable", async () => {
    // A frame limit below the minimum, only in the environment: refused, naming the field.
    const small = cli(["node", "--name", "a", "--port", "0"], { NOEX_MAX_FRAME_BYTES: "100" })
    expect(await small.exited).not.toBe(0)
    expect(small.output()).toContain("maxFrameBytes")
    // A duration in Effect's syntax, as layerFromEnv takes it; the flag wins over the variable.
    const ok = cli(["node", "--name", "a", "--port", "0", "--max-frame-bytes", "8192"], {
      NOEX_MAX_FRAME_BYTES: "100",
      NOEX_HEARTBEAT_INTERVAL: "250 millis"
    })
    await ok.waitFor(/node a@127\.0\.0\.1:\d+ is up/)
    ok.child.kill("SIGTERM")
    expect(await ok.exited).toBe(0)
    const badEnv = cli(["node", "--name", "a", "--port", "0"], { NOEX_HEARTBEAT_INTERVAL: "often" })
    expect(await badEnv.exited).not.toBe(0)
    expect(badEnv.output()).toContain("NOEX_HEARTBEAT_INTERVAL")
    const badFlag = cli(["node", "--name", "a", "--port", "0", "--handshake-timeout", "soon"])
    expect(await badFlag.exited).not.toBe(0)
    expect(badFlag.output()).toContain("--handshake-timeout takes a duration")
    const nameless = cli(["node", "--port", "0"])
    expect(await nameless.exited).not.toBe(0)
    expect(nameless.output()).toContain("--name or NOEX_NODE_NAME")
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

  it("stays up when a remote spawn's init rejects", async () => {
    const a = cli(["node", "--name", "a", "--port", "0", "--behaviors", "test/fixtures/behaviors.ts"])
    const [, aId] = await a.waitFor(/node (a@127\.0\.0\.1:\d+) is up/)
    const error = await asNode([aId!], Effect.flip(RemoteSpawn.spawn("rejecting", aId! as NodeId)))
    expect(error).toMatchObject({ _tag: "RemoteSpawnInitError", message: "init rejected" })
    expect(await asNode([aId!], Effect.map(RemoteSpawn.spawn("counter", aId! as NodeId), (r) => r.nodeId))).toBe(aId)
    a.child.kill("SIGTERM")
    expect(await a.exited).toBe(0)
  })

  it("logs to stderr, never stdout, at the level of --log-level or NOEX_LOG_LEVEL", async () => {
    const info = cli(["node", "--name", "a", "--port", "0"])
    const [, aId] = await info.waitFor(/node (a@127\.0\.0\.1:\d+) is up/)
    expect(info.output()).toMatch(/level=INFO .*node started/)
    // Above info, a node that joins a says nothing of its start; a sees it come up, so it did start.
    const quiet = [
      cli(["node", "--name", "b", "--port", "0", "--seeds", aId!, "--log-level", "warn"]),
      cli(["node", "--name", "c", "--port", "0", "--seeds", aId!], { NOEX_LOG_LEVEL: "error" })
    ]
    await info.waitFor(/node up: b@/)
    await info.waitFor(/node up: c@/)
    for (const node of quiet) {
      node.child.kill("SIGTERM")
      expect(await node.exited).toBe(0)
      expect(node.output()).not.toContain("level=INFO")
    }
    info.child.kill("SIGTERM")
    expect(await info.exited).toBe(0)
    expect(info.stdout()).toBe("")
    const bad = cli(["node", "--name", "d", "--port", "0", "--log-level", "loud"])
    expect(await bad.exited).toBe(2)
    expect(bad.output()).toContain("NOEX_LOG_LEVEL")
  })
})
