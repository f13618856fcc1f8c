/**
 * The cluster with every node its own OS process, talking TCP on 127.0.0.1: join
 * through gossip, death by SIGKILL, a frozen node (SIGSTOP / SIGCONT), graceful stop,
 * and a flood that must not fool the failure detector. Timings come from the
 * children's `Date.now()` on the event lines, so they do not include pipe latency.
 *
 * The machine may be a loaded 2-core CI runner: bounds carry generous slack, and the
 * join latency is printed rather than asserted.
 */
import { describe, expect, it } from "vitest"
import {
  connectedIds,
  establishedConnectionsAmong,
  eventually,
  pidAlive,
  portOf,
  startedPids,
  startNodeProcess,
  useNodeProcesses
} from "./support/processes.js"
import type { NodeEventLine, NodeProcess, NodeProcessConfig } from "./support/processes.js"

useNodeProcesses()

const TEST_TIMEOUT = 90_000

const isUp = (peer: NodeProcess, since = 0) => (e: NodeEventLine) =>
  e.event === "NodeUp" && e.nodeId === peer.id && e.at >= since
const isDown = (peer: NodeProcess, since = 0) => (e: NodeEventLine) =>
  e.event === "NodeDown" && e.nodeId === peer.id && e.at >= since
const downs = (node: NodeProcess) => node.events.filter((e) => e.event === "NodeDown")
const sorted = (nodes: ReadonlyArray<NodeProcess>) => nodes.map((n) => n.id).sort()
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Every node connected to every other one, as each of them reports it. */
const fullMesh = (nodes: ReadonlyArray<NodeProcess>, timeoutMs = 10_000) =>
  eventually(
    async () => {
      for (const node of nodes) {
        const expected = sorted(nodes.filter((n) => n !== node))
        if (JSON.stringify(await connectedIds(node)) !== JSON.stringify(expected)) return false
      }
      return true
    },
    timeoutMs,
    "full mesh"
  )

/** A seedless, B seeds A, C seeds only B: the mesh closes through gossip. */
const startMesh3 = async (extra: Partial<NodeProcessConfig> = {}) => {
  const a = await startNodeProcess({ nodeName: "a", port: 0, seeds: [], ...extra })
  const b = await startNodeProcess({ nodeName: "b", port: 0, seeds: [a.id], ...extra })
  const c = await startNodeProcess({ nodeName: "c", port: 0, seeds: [b.id], ...extra })
  await fullMesh([a, b, c])
  return [a, b, c] as const
}

describe("Cluster over real OS processes (TCP, 127.0.0.1)", () => {
  it(
    "meshes three nodes through gossip (A seedless, B seeds A, C seeds only B), one NodeUp per pair and side",
    async () => {
      const a = await startNodeProcess({ nodeName: "a", port: 0, seeds: [] })
      const b = await startNodeProcess({ nodeName: "b", port: 0, seeds: [a.id] })
      const [aSeesB, bSeesA] = await Promise.all([a.waitFor(isUp(b)), b.waitFor(isUp(a))])
      const c = await startNodeProcess({ nodeName: "c", port: 0, seeds: [b.id] })
      const [bSeesC, cSeesB, aSeesC, cSeesA] = await Promise.all([
        b.waitFor(isUp(c)),
        c.waitFor(isUp(b)),
        a.waitFor(isUp(c)),
        c.waitFor(isUp(a))
      ])
      await fullMesh([a, b, c])
      // Let any duplicate connection or late flap show itself before counting.
      await delay(500)
      for (const node of [a, b, c]) {
        expect(downs(node)).toEqual([])
        expect(node.events.map((e) => e.nodeId).sort()).toEqual(sorted([a, b, c].filter((n) => n !== node)))
      }
      // Exactly one TCP connection per pair, as the kernel sees it (where /proc/net/tcp exists).
      const connections = establishedConnectionsAmong([a, b, c].map((n) => portOf(n.id)))
      if (connections !== undefined) expect(connections).toBe(3)
      const since = (from: number, e: NodeEventLine) => e.at - from
      console.log(
        [
          "join latency (child clocks, ms):",
          `  B joins A (B seeds A):  from B's join start  A sees B +${since(b.joinStartedAt, aSeesB)}, B sees A +${
            since(b.joinStartedAt, bSeesA)
          }` +
          `  | from B's ready line  A +${since(b.readyAt, aSeesB)}, B +${since(b.readyAt, bSeesA)}`,
          `  C joins B (C seeds B):  from C's join start  B sees C +${since(c.joinStartedAt, bSeesC)}, C sees B +${
            since(c.joinStartedAt, cSeesB)
          }` +
          `  | from C's ready line  B +${since(c.readyAt, bSeesC)}, C +${since(c.readyAt, cSeesB)}`,
          `  C meets A via gossip:   from C's join start  A sees C +${since(c.joinStartedAt, aSeesC)}, C sees A +${
            since(c.joinStartedAt, cSeesA)
          }`
        ].join("\n")
      )
    },
    TEST_TIMEOUT
  )

  it(
    "reports connection_closed on the others within 1 s of a SIGKILL",
    async () => {
      // Default heartbeat (1 s × 5): only the closed socket can explain a fast NodeDown.
      const [a, b, c] = await startMesh3()
      const killedAt = Date.now()
      c.kill("SIGKILL")
      const [aDown, bDown] = await Promise.all([a.waitFor(isDown(c)), b.waitFor(isDown(c))])
      const exit = await c.exited
      expect(exit.signal).toBe("SIGKILL")
      console.log(`SIGKILL → NodeDown connection_closed: A +${aDown.at - killedAt} ms, B +${bDown.at - killedAt} ms`)
      for (const down of [aDown, bDown]) {
        expect(down.reason).toBe("connection_closed")
        expect(down.at - killedAt).toBeLessThan(1000)
      }
      // A and B stay connected to each other.
      expect(await connectedIds(a)).toEqual([b.id])
      expect(await connectedIds(b)).toEqual([a.id])
      expect(downs(a).filter((e) => e.nodeId === b.id)).toEqual([])
    },
    TEST_TIMEOUT
  )

  it(
    "reports heartbeat_timeout for a SIGSTOPped node within interval × threshold + one interval, and NodeUp after SIGCONT",
    async () => {
      const intervalMs = 200
      const threshold = 5
      const [a, b, c] = await startMesh3({ heartbeatInterval: intervalMs, heartbeatMissThreshold: threshold })
      const stoppedAt = Date.now()
      c.kill("SIGSTOP")
      let resumed = false
      try {
        const [aDown, bDown] = await Promise.all([a.waitFor(isDown(c), 15_000), b.waitFor(isDown(c), 15_000)])
        const contAt = Date.now()
        c.kill("SIGCONT")
        resumed = true
        // Silence for interval × threshold, noticed at the next tick; slack for a loaded 2-core machine.
        const bound = intervalMs * threshold + intervalMs + 2000
        console.log(
          `SIGSTOP → NodeDown heartbeat_timeout: A +${aDown.at - stoppedAt} ms, B +${bDown.at - stoppedAt} ms ` +
            `(nominal ${intervalMs * threshold}..${intervalMs * threshold + intervalMs} ms, asserted ≤ ${bound} ms)`
        )
        for (const down of [aDown, bDown]) {
          expect(down.reason).toBe("heartbeat_timeout")
          // Not before the silence could have lasted interval × threshold (the last bytes came at most ~one interval before the stop).
          expect(down.at - stoppedAt).toBeGreaterThanOrEqual(intervalMs * (threshold - 1) - 100)
          expect(down.at - stoppedAt).toBeLessThanOrEqual(bound)
        }
        // A and B kept each other.
        expect(downs(a).filter((e) => e.nodeId === b.id)).toEqual([])
        expect(downs(b).filter((e) => e.nodeId === a.id)).toEqual([])
        // Resumed: the others see C up again, and C sees them up again.
        const [aUp, bUp, cUpA, cUpB] = await Promise.all([
          a.waitFor(isUp(c, contAt), 15_000),
          b.waitFor(isUp(c, contAt), 15_000),
          c.waitFor(isUp(a, contAt), 15_000),
          c.waitFor(isUp(b, contAt), 15_000)
        ])
        console.log(
          `SIGCONT → NodeUp again: A +${aUp.at - contAt} ms, B +${bUp.at - contAt} ms; C sees A +${
            cUpA.at - contAt
          } ms, B +${cUpB.at - contAt} ms; ` +
            `C's events after resume: ${
              JSON.stringify(
                c.events.filter((e) => e.at >= contAt).map((e) =>
                  `${e.event} ${e.nodeId.split("@")[0]} ${e.reason ?? ""}`.trim()
                )
              )
            }`
        )
        await fullMesh([a, b, c])
      } finally {
        // Whatever happened, never leave a frozen child behind (cleanup SIGKILLs it too).
        if (!resumed) c.kill("SIGCONT")
      }
    },
    TEST_TIMEOUT
  )

  it(
    "reports graceful_shutdown on the others when a node that dialed them is stopped, and the node exits 0",
    async () => {
      // C seeds both A and B, so C's links are the ones C dialed; A and B meet through gossip.
      const a = await startNodeProcess({ nodeName: "a", port: 0, seeds: [] })
      const b = await startNodeProcess({ nodeName: "b", port: 0, seeds: [] })
      const c = await startNodeProcess({ nodeName: "c", port: 0, seeds: [a.id, b.id] })
      await fullMesh([a, b, c])
      const stoppedAt = Date.now()
      const exit = await c.stopGracefully()
      expect(exit).toEqual({ code: 0, signal: null })
      const [aDown, bDown] = await Promise.all([a.waitFor(isDown(c)), b.waitFor(isDown(c))])
      console.log(
        `stop (dialing node) → NodeDown ${aDown.reason}/${bDown.reason}: A +${aDown.at - stoppedAt} ms, B +${
          bDown.at - stoppedAt
        } ms`
      )
      expect(aDown.reason).toBe("graceful_shutdown")
      expect(bDown.reason).toBe("graceful_shutdown")
      // A departed node that said goodbye is not redialed; A and B stay together.
      await delay(500)
      expect(await connectedIds(a)).toEqual([b.id])
      expect(await connectedIds(b)).toEqual([a.id])
      expect(downs(a).filter((e) => e.nodeId === b.id)).toEqual([])
    },
    TEST_TIMEOUT
  )

  it(
    "reports graceful_shutdown when a node that was dialed (a seed) is stopped",
    async () => {
      const a = await startNodeProcess({ nodeName: "a", port: 0, seeds: [] })
      const b = await startNodeProcess({ nodeName: "b", port: 0, seeds: [a.id] })
      await Promise.all([a.waitFor(isUp(b)), b.waitFor(isUp(a))])
      const stoppedAt = Date.now()
      const exit = await a.stopGracefully()
      expect(exit).toEqual({ code: 0, signal: null })
      const bDown = await b.waitFor(isDown(a))
      console.log(`stop (dialed node) → NodeDown ${bDown.reason}: B +${bDown.at - stoppedAt} ms`)
      expect(bDown.reason).toBe("graceful_shutdown")
    },
    TEST_TIMEOUT
  )

  it(
    "shuts a node down gracefully on SIGTERM, on SIGINT and when its stdin closes (the parent died)",
    async () => {
      const a = await startNodeProcess({ nodeName: "a", port: 0, seeds: [] })
      // Each of them dials A, so A hears their Goodbye on the links they own.
      const [term, int, orphan] = await Promise.all(
        ["term", "int", "orphan"].map((nodeName) => startNodeProcess({ nodeName, port: 0, seeds: [a.id] }))
      )
      // Settled first: no dial in flight when the signals land.
      await fullMesh([a, term, int, orphan])
      term.kill("SIGTERM")
      int.kill("SIGINT")
      orphan.closeStdin()
      const exits = await Promise.all([term.exited, int.exited, orphan.exited])
      const logs = [term, int, orphan].map((n) => `--- ${n.name} (${n.id}) stderr:\n${n.stderr.slice(-30).join("\n")}`)
        .join("\n")
      expect(exits, logs).toEqual([
        { code: 0, signal: null },
        { code: 0, signal: null },
        { code: 0, signal: null }
      ])
      const reasons = await Promise.all([term, int, orphan].map((n) => a.waitFor(isDown(n)).then((e) => e.reason)))
      expect(reasons).toEqual(["graceful_shutdown", "graceful_shutdown", "graceful_shutdown"])
    },
    TEST_TIMEOUT
  )

  it(
    "keeps both sides up while one floods the other (5 rounds × 5,000 frames of 1 KB, heartbeat 200 ms)",
    async () => {
      const config = { port: 0, heartbeatInterval: 200, heartbeatMissThreshold: 5 }
      const a = await startNodeProcess({ nodeName: "a", seeds: [], ...config })
      const b = await startNodeProcess({ nodeName: "b", seeds: [a.id], ...config })
      await Promise.all([a.waitFor(isUp(b)), b.waitFor(isUp(a))])
      const rounds: Array<{ offeredMs: number; drainedMs: number }> = []
      const started = performance.now()
      for (let round = 0; round < 5; round++) {
        const reply = await a.command({ cmd: "flood", to: b.id, count: 5000, bytes: 1024 })
        expect(reply.accepted).toBe(5000)
        rounds.push({ offeredMs: Number(reply.offeredMs), drainedMs: Number(reply.drainedMs) })
      }
      const floodMs = performance.now() - started
      await delay(1500)
      console.log(
        `flood A → B: 25,000 × 1 KB in ${floodMs.toFixed(0)} ms (${
          ((25_000 * 1024) / 1024 / 1024 / (floodMs / 1000)).toFixed(1)
        } MiB/s); ` +
          `per round offered/drained ms: ${
            rounds.map((r) => `${r.offeredMs.toFixed(0)}/${r.drainedMs.toFixed(0)}`).join(", ")
          }`
      )
      expect(downs(a)).toEqual([])
      expect(downs(b)).toEqual([])
      expect(a.events.filter(isUp(b))).toHaveLength(1)
      expect(b.events.filter(isUp(a))).toHaveLength(1)
      expect(await connectedIds(a)).toEqual([b.id])
      expect(await connectedIds(b)).toEqual([a.id])
    },
    TEST_TIMEOUT
  )

  it("leaves no node process behind", () => {
    const pids = startedPids()
    for (const pid of pids) {
      let code: string | undefined
      try {
        process.kill(pid, 0)
      } catch (error) {
        code = (error as NodeJS.ErrnoException).code
      }
      expect({ pid, code }).toEqual({ pid, code: "ESRCH" })
      expect(pidAlive(pid)).toBe(false)
    }
  })
})
