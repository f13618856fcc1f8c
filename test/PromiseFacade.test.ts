/**
 * noex-effect/promise: the guide's own code, with only its import lines changed,
 * runs across OS processes; errors are thrown as their classes.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Facade from "../src/promise.js"
import { runNode, useChildren } from "./support/child.js"

useChildren()

/** Runs a TypeScript program with tsx, as `npx tsx file` would. */
const run = (file: string, env: Record<string, string> = {}) => runNode(["--import", "tsx", file], env)

describe("noex-effect/promise runs the guide's code", () => {
  it("runs the guide's worker pool across three OS processes: 6 workers, 100 tasks", async () => {
    const w1 = run("test/guide/worker-node.ts", { NODE_NAME: "worker1" })
    const w2 = run("test/guide/worker-node.ts", { NODE_NAME: "worker2" })
    const [, id1] = await w1.waitFor(/READY (\S+)/)
    const [, id2] = await w2.waitFor(/READY (\S+)/)
    const coordinator = run("test/guide/coordinator.ts", { SEEDS: `${id1},${id2}` })
    await coordinator.waitFor(/Initialized 6 workers/)
    const [stats] = await coordinator.waitFor(/Worker stats: \[[^\]]*\]/s)
    const counts = Array.from(stats!.matchAll(/taskCount: (\d+)/g), (m) => Number(m[1]))
    expect(counts).toHaveLength(6)
    expect(counts.reduce((a, b) => a + b, 0)).toBe(100)
    // The workers printed what they processed (the guide's console.log in handleCast).
    await new Promise((r) => setTimeout(r, 200))
    expect((w1.output() + w2.output()).match(/Processing task task-\d+/g)).toHaveLength(100)
  })

  it("runs the guide's smart call/cast helpers on a local and a remote ref", async () => {
    const w = run("test/guide/worker-node.ts", { NODE_NAME: "worker1" })
    const [, id] = await w.waitFor(/READY (\S+)/)
    const smart = run("test/guide/smart-call.ts", { SEEDS: id! })
    await smart.waitFor(/local worker stats: 3/)
    await smart.waitFor(/remote worker stats: 3/)
    expect(await smart.exited).toBe(0)
  })
})

describe("noex-effect/promise errors and instances", () => {
  it("throws the library's error classes, usable with instanceof", async () => {
    const node = Facade.createNode()
    expect(() => node.Cluster.getLocalNodeId()).toThrow(Facade.ClusterNotStartedError)
    node.BehaviorRegistry.register("counter", {
      init: () => 0,
      handleCall: (_: unknown, s: number) => [s, s] as const,
      handleCast: (_: unknown, s: number) => s
    })
    expect(() =>
      node.BehaviorRegistry.register("counter", {
        init: () => 0,
        handleCall: (_: unknown, s: number) => [s, s] as const,
        handleCast: (_: unknown, s: number) => s
      })
    ).toThrow(Facade.BehaviorRegistrationError)
    await node.Cluster.start({ nodeName: "solo", port: 0 })
    try {
      const self = node.Cluster.getLocalNodeId()
      await expect(node.RemoteSpawn.spawn("nope", self)).rejects.toBeInstanceOf(Facade.BehaviorNotFoundError)
      await expect(node.RemoteSpawn.spawn("counter", "ghost@127.0.0.1:1")).rejects.toBeInstanceOf(
        Facade.NodeNotReachableError
      )
      const { serverId } = await node.RemoteSpawn.spawn("counter", self)
      expect(await node.RemoteCall.call({ id: serverId, nodeId: self }, "get")).toBe(0)
      await expect(node.RemoteCall.call({ id: "missing", nodeId: self }, "get")).rejects.toBeInstanceOf(
        Facade.RemoteServerNotRunningError
      )
      await node.GlobalRegistry.register("only", { id: serverId, nodeId: self })
      expect(node.GlobalRegistry.whereis("only")).toEqual({ id: serverId, nodeId: self })
      expect(node.GlobalRegistry.isRegistered("nothing")).toBe(false)
      expect(node.GenServer._getRefById(serverId)).toEqual({ id: serverId, nodeId: self })
      expect(node.GenServer._getRefById("missing")).toBeUndefined()
      const error = await node.RemoteCall.call({ id: "missing", nodeId: self }, "get").catch((e: unknown) => e)
      expect(error).toBeInstanceOf(Error)
      expect((error as Facade.RemoteServerNotRunningError).serverId).toBe("missing")
    } finally {
      await node.Cluster.stop()
    }
  })
})

describe("noex-effect/promise start and stop", () => {
  it("stops a node that is still starting once it has started: no listener is left behind", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as net.AddressInfo
        probe.close(() => resolve(port))
      })
    })
    const node = Facade.createNode()
    const started = node.Cluster.start({ nodeName: "early", port })
    await expect(node.Cluster.start({ nodeName: "twice", port: 0 })).rejects.toBeInstanceOf(
      Facade.ClusterAlreadyStartedError
    )
    await node.Cluster.stop()
    await started
    expect(() => node.Cluster.getLocalNodeId()).toThrow(Facade.ClusterNotStartedError)
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1")
      socket.once("connect", () => (socket.destroy(), resolve(false)))
      socket.once("error", () => resolve(true))
    })
    expect(refused).toBe(true)
  })
})

describe("noex-effect/promise waiting for a cluster", () => {
  it("awaitNodes resolves once the seeds are connected, onNodeUp passes a NodeInfo, a taken port throws TransportError", async () => {
    const b = Facade.createNode()
    const a = Facade.createNode()
    await b.Cluster.start({ nodeName: "b", port: 0 })
    try {
      const seen: Array<Facade.NodeInfo> = []
      b.Cluster.onNodeUp((node) => void seen.push(node))
      await expect(b.Cluster.awaitNodes({ count: 1, timeout: 200 })).rejects.toBeInstanceOf(
        Facade.AwaitNodesTimeoutError
      )
      const bId = b.Cluster.getLocalNodeId()
      await a.Cluster.start({ nodeName: "a", port: 0, seeds: [bId] })
      const nodes = await a.Cluster.awaitNodes({ ids: [bId], timeout: 30_000 })
      expect(nodes.map((n) => n.id)).toEqual([bId])
      const aId = a.Cluster.getLocalNodeId()
      await b.Cluster.awaitNodes({ ids: [aId], timeout: 30_000 })
      await expect.poll(() => seen.length, { timeout: 30_000 }).toBe(1)
      expect(seen[0]).toMatchObject({ id: aId, host: "127.0.0.1", status: "connected" })
      const clash = Facade.createNode()
      const port = Number(bId.slice(bId.lastIndexOf(":") + 1))
      await expect(clash.Cluster.start({ nodeName: "c", port })).rejects.toBeInstanceOf(Facade.TransportError)
    } finally {
      await a.Cluster.stop()
      await b.Cluster.stop()
    }
  })
})

describe("noex-effect/promise failures", () => {
  it("RemoteMonitor sends a remote process's Down to the monitoring process's handleInfo; RemoteLink shares a fate", async () => {
    const b = Facade.createNode()
    const a = Facade.createNode()
    const member = {
      init: () => [] as Array<unknown>,
      handleCall: (_: "seen", seen: Array<unknown>) => [seen, seen] as const,
      handleCast: (_: unknown, seen: Array<unknown>) => seen,
      handleInfo: (msg: unknown, seen: Array<unknown>) => [...seen, msg]
    }
    b.BehaviorRegistry.register("member", member)
    await b.Cluster.start({ nodeName: "b", port: 0 })
    try {
      const bId = b.Cluster.getLocalNodeId()
      await a.Cluster.start({ nodeName: "a", port: 0, seeds: [bId] })
      await a.Cluster.awaitNodes({ ids: [bId], timeout: 30_000 })
      const watcher = await a.GenServer.start(member)
      const spawned = await a.RemoteSpawn.spawn("member", bId)
      const target = { id: spawned.serverId, nodeId: spawned.nodeId }
      const m = await a.RemoteMonitor.monitor(watcher, target)
      expect(m.monitoredRef).toEqual(target)
      // The Monitor frame went first on the same link: the stop cannot overtake it.
      await a.GenServer.stop(target, "shutdown")
      await expect.poll(() => a.GenServer.call<Array<unknown>>(watcher, "seen"), { timeout: 10_000 }).toEqual([
        { _tag: "Down", monitorId: m.monitorId, ref: target, reason: "shutdown" }
      ])
      // A link: the remote partner's error exit takes the local one down.
      const partner = await a.GenServer.start(member)
      const other = await a.RemoteSpawn.spawn("member", bId)
      const otherRef = { id: other.serverId, nodeId: other.nodeId }
      const linked = await a.RemoteLink.link(partner, otherRef)
      expect(linked).toMatchObject({ ref1: partner, ref2: otherRef })
      const partnerDown = await a.GenServer.monitor(watcher, partner)
      await a.GenServer.stop(otherRef, { error: new Error("gone") })
      await expect.poll(() => a.GenServer._getRefById(partner.id), { timeout: 10_000 }).toBeUndefined()
      const seen = await a.GenServer.call<Array<{ monitorId: number; reason: unknown }>>(watcher, "seen")
      expect(seen.find((d) => d.monitorId === partnerDown.monitorId)?.reason).toEqual({
        error: { name: "Error", message: "gone" }
      })
      // demonitor: no Down; unlink: no shared fate; send: an info message for handleInfo.
      const quiet = await a.RemoteSpawn.spawn("member", bId)
      const quietRef = { id: quiet.serverId, nodeId: quiet.nodeId }
      const dropped = await a.RemoteMonitor.demonitor(await a.RemoteMonitor.monitor(watcher, quietRef))
      expect(dropped).toBeUndefined()
      const loose = await a.GenServer.start(member)
      await a.RemoteLink.unlink(await a.RemoteLink.link(loose, quietRef))
      a.GenServer.send(watcher, { hello: "there" })
      await a.GenServer.stop(quietRef, { error: new Error("quiet") })
      await expect.poll(async () => (await a.GenServer.call<Array<unknown>>(watcher, "seen")).length, {
        timeout: 10_000
      })
        .toBe(3)
      expect((await a.GenServer.call<Array<unknown>>(watcher, "seen"))[2]).toEqual({ hello: "there" })
      expect(a.GenServer._getRefById(loose.id)).toBeDefined()
    } finally {
      await a.Cluster.stop()
      await b.Cluster.stop()
    }
  })
})

describe("noex-effect/promise signals", () => {
  const cases = [
    { signal: "SIGTERM", own: false },
    { signal: "SIGINT", own: false },
    { signal: "SIGTERM", own: true }
  ] as const
  for (const { own, signal } of cases) {
    const who = own ? "the program's own handler awaiting Cluster.stop()" : "the facade"
    it(`on ${signal}, ${who} stops the node gracefully: terminate runs, exit 0, the peer sees graceful_shutdown`, async () => {
      const b = Facade.createNode()
      await b.Cluster.start({ nodeName: "b", port: 0, handleSignals: false })
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "noex-facade-"))
      try {
        const downs: Array<string> = []
        b.Cluster.onNodeDown((_id, reason) => void downs.push(reason))
        const terminated = path.join(dir, "terminated")
        const child = run("test/fixtures/facade-node.ts", {
          SEED: b.Cluster.getLocalNodeId(),
          TERMINATED_FILE: terminated,
          OWN_HANDLER: own ? "1" : "0"
        })
        const [, childId] = await child.waitFor(/up (\S+)/)
        await b.Cluster.awaitNodes({ ids: [childId!], timeout: 30_000 })
        child.child.kill(signal)
        expect(await child.exited).toBe(0)
        expect(fs.existsSync(terminated)).toBe(true)
        await expect.poll(() => downs, { timeout: 30_000 }).toEqual(["graceful_shutdown"])
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
        await b.Cluster.stop()
      }
    })
  }
})

describe("noex-effect/promise, many nodes in one process", () => {
  it("twelve nodes handling signals raise no MaxListenersExceededWarning, and leave the listener limit as they found it", async () => {
    const warnings: Array<string> = []
    const onWarning = (warning: Error) => void warnings.push(warning.name)
    process.on("warning", onWarning)
    const limit = process.getMaxListeners()
    const before = process.listenerCount("SIGTERM")
    const nodes = Array.from({ length: 12 }, () => Facade.createNode())
    try {
      for (const [i, node] of nodes.entries()) await node.Cluster.start({ nodeName: `many${i}`, port: 0 })
      expect(process.listenerCount("SIGTERM")).toBe(before + 12)
    } finally {
      for (const node of nodes) await node.Cluster.stop()
      process.off("warning", onWarning)
    }
    // Emitted on the next tick when it is emitted at all.
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings).not.toContain("MaxListenersExceededWarning")
    expect(process.listenerCount("SIGTERM")).toBe(before)
    expect(process.getMaxListeners()).toBe(limit)
  })
})
