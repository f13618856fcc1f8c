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

/** A counter as a facade user writes one: plain values, no Effect. */
const counter = {
  init: (start: unknown = 0) => Number(start),
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: "inc", n: number) => n + 1
}

/** Two facade nodes on loopback, `a` seeded with `b`, each seeing the other; `counter` registered on both. */
const pair = async (): Promise<{ a: Facade.PromiseNode; b: Facade.PromiseNode; stop: () => Promise<void> }> => {
  const b = Facade.createNode()
  const a = Facade.createNode()
  for (const node of [a, b]) node.BehaviorRegistry.register("counter", counter)
  await b.Cluster.start({ nodeName: "b", port: 0, handleSignals: false })
  const bId = b.Cluster.getLocalNodeId()
  await a.Cluster.start({ nodeName: "a", port: 0, seeds: [bId], handleSignals: false })
  await a.Cluster.awaitNodes({ ids: [bId], timeout: 30_000 })
  await b.Cluster.awaitNodes({ ids: [a.Cluster.getLocalNodeId()], timeout: 30_000 })
  return { a, b, stop: async () => void (await Promise.all([a.Cluster.stop(), b.Cluster.stop()])) }
}

describe("noex-effect/promise Supervisor", () => {
  it("starts children, restarts a crashed one, and manages them with startChild, terminateChild, restartChild, deleteChild", async () => {
    const node = Facade.createNode()
    node.BehaviorRegistry.register("counter", counter)
    await node.Cluster.start({ nodeName: "sup", port: 0, handleSignals: false })
    try {
      const sup = await node.Supervisor.start({
        strategy: "one_for_one",
        children: [
          { id: "hits", start: counter, args: [5] },
          node.Supervisor.child("nested", { strategy: "one_for_all", children: [{ id: "inner", start: "counter" }] })
        ]
      })
      const [hits, nested] = await node.Supervisor.whichChildren(sup)
      expect(hits).toMatchObject({ id: "hits", restart: "permanent", status: "running", type: "worker" })
      expect(nested).toMatchObject({ id: "nested", status: "running", type: "supervisor" })
      expect(await node.GenServer.call(hits!.ref!, "get")).toBe(5)
      // A crash: the supervisor starts it again, from its spec.
      await node.GenServer.stop(hits!.ref!, { error: new Error("boom") })
      const restarted = async () => {
        const ref = (await node.Supervisor.whichChildren(sup))[0]?.ref
        return ref !== undefined && ref.id !== hits!.ref!.id
      }
      await expect.poll(restarted, { timeout: 10_000 }).toBe(true)
      expect(await node.Supervisor.countChildren(sup)).toEqual({ specs: 2, active: 2, supervisors: 1, workers: 1 })

      const extra = await node.Supervisor.startChild(sup, { id: "extra", start: "counter", restart: "transient" })
      expect(await node.GenServer.call(extra, "get")).toBe(0)
      await expect(node.Supervisor.startChild(sup, { id: "extra", start: counter })).rejects.toBeInstanceOf(
        Facade.ChildAlreadyExistsError
      )
      await node.Supervisor.terminateChild(sup, "extra")
      expect((await node.Supervisor.whichChildren(sup))[2]).toMatchObject({
        id: "extra",
        ref: undefined,
        status: "stopped"
      })
      const again = await node.Supervisor.restartChild(sup, "extra")
      expect(again.id).not.toBe(extra.id)
      await expect(node.Supervisor.deleteChild(sup, "extra")).rejects.toMatchObject({
        _tag: "ChildRunningError",
        id: "extra",
        status: "running"
      })
      await node.Supervisor.terminateChild(sup, "extra", { timeout: 5_000 })
      await node.Supervisor.deleteChild(sup, "extra")
      const missing = await node.Supervisor.terminateChild(sup, "extra").catch((e: unknown) => e)
      expect(missing).toBeInstanceOf(Facade.ChildNotFoundError)
      expect((missing as Facade.ChildNotFoundError).id).toBe("extra")

      // A child that cannot start fails the start with the child named; a named supervisor's name is free again.
      const failing = { ...counter, init: () => Promise.reject(new Error("no db")) }
      const refused = node.Supervisor.start({
        strategy: "one_for_one",
        name: "app",
        children: [{ id: "db", start: failing }]
      })
      await expect(refused).rejects.toBeInstanceOf(Facade.SupervisorStartError)
      await expect(refused).rejects.toMatchObject({ childId: "db" })
      expect(node.GenServer._getRefById("app")).toBeUndefined()
      expect(() => node.Supervisor.spec({ strategy: "one_for_one", backoff: { initial: -1 } })).toThrow(
        Facade.SupervisorStartError
      )
    } finally {
      await node.Cluster.stop()
    }
  })

  it("a backoff given in ms delays restarts; once its retries are spent the supervisor exits with BackoffExhaustedError", async () => {
    const node = Facade.createNode()
    await node.Cluster.start({ nodeName: "backoff", port: 0, handleSignals: false })
    try {
      const watcher = await node.GenServer.start({
        init: () => [] as Array<unknown>,
        handleCall: (_: "seen", seen: Array<unknown>) => [seen, seen] as const,
        handleCast: (_: unknown, seen: Array<unknown>) => seen,
        handleInfo: (msg: unknown, seen: Array<unknown>) => [...seen, msg]
      })
      const sup = await node.Supervisor.start({
        strategy: "one_for_one",
        maxRestarts: 10,
        backoff: { initial: 200, retries: 1 },
        children: [{ id: "c", start: counter }]
      })
      await node.GenServer.monitor(watcher, sup)
      const first = (await node.Supervisor.whichChildren(sup))[0]!.ref!
      await node.GenServer.stop(first, { error: new Error("once") })
      await expect.poll(async () => (await node.Supervisor.whichChildren(sup))[0]?.status, { timeout: 10_000 }).toBe(
        "restarting"
      )
      await expect.poll(async () => (await node.Supervisor.whichChildren(sup))[0]?.status, { timeout: 10_000 }).toBe(
        "running"
      )
      const second = (await node.Supervisor.whichChildren(sup))[0]!.ref!
      await node.GenServer.stop(second, { error: new Error("twice") })
      await expect.poll(() => node.GenServer.call<Array<unknown>>(watcher, "seen"), { timeout: 10_000 }).toHaveLength(1)
      const [down] = await node.GenServer.call<Array<{ reason: { error: { name: string } } }>>(watcher, "seen")
      expect(down!.reason.error.name).toBe("BackoffExhaustedError")
    } finally {
      await node.Cluster.stop()
    }
  })
})

describe("noex-effect/promise DistributedSupervisor", () => {
  it("spreads children over its members, calls them by id from any node, and hands them over when a node stops", async () => {
    const { a, b, stop } = await pair()
    try {
      const aId = a.Cluster.getLocalNodeId()
      const bId = b.Cluster.getLocalNodeId()
      expect(() => a.DistributedSupervisor.events("pool", () => {})).toThrow(Facade.DistributedSupervisorNotFoundError)
      await expect(a.DistributedSupervisor.whichChildren("pool")).rejects.toBeInstanceOf(
        Facade.DistributedSupervisorNotFoundError
      )
      // "availability": of two members, the one left when the other goes is no majority of them.
      const onA = await a.DistributedSupervisor.start("pool", { partition: "availability" })
      expect(onA).toMatchObject({ name: "pool", ref: { nodeId: aId } })
      await b.DistributedSupervisor.start("pool", { partition: "availability", handoffTimeout: 10_000 })
      const events: Array<Facade.ChildEvent> = []
      const off = a.DistributedSupervisor.events("pool", (event) => void events.push(event))
      for (const node of [a, b]) {
        await expect.poll(() => node.DistributedSupervisor.members("pool"), { timeout: 10_000 }).toEqual(
          [aId, bId].sort()
        )
      }
      const ids = Array.from({ length: 16 }, (_, i) => `c${i}`)
      for (const id of ids) await a.DistributedSupervisor.startChild("pool", { id, behavior: "counter", args: [7] })
      await expect(a.DistributedSupervisor.startChild("pool", { id: "c0", behavior: "counter" })).rejects
        .toBeInstanceOf(
          Facade.ChildAlreadyStartedError
        )
      await expect.poll(async () => (await b.DistributedSupervisor.countChildren("pool")).active, { timeout: 10_000 })
        .toBe(16)
      expect(await b.DistributedSupervisor.call<number>("pool", "c3", "get")).toBe(7)
      const children = await b.DistributedSupervisor.whichChildren("pool")
      expect(children.map((c) => c.id)).toEqual([...ids].sort())
      const onB = children.filter((c) => c.ref?.nodeId === bId).map((c) => c.id)
      expect(onB.length).toBeGreaterThan(0)
      expect(await a.DistributedSupervisor.whereis("pool", onB[0]!)).toMatchObject({ nodeId: bId })

      await a.DistributedSupervisor.terminateChild("pool", "c0")
      expect(await a.DistributedSupervisor.whereis("pool", "c0")).toBeUndefined()
      await expect(a.DistributedSupervisor.terminateChild("pool", "c0")).rejects.toBeInstanceOf(
        Facade.DistributedChildNotFoundError
      )

      // b stops: its children start on a first, and are found there by id.
      const stopped = Date.now()
      await b.Cluster.stop()
      // The handoff was done before b went: it did not wait out its timeout.
      expect(Date.now() - stopped).toBeLessThan(8_000)
      const moved = (e: Facade.ChildEvent) => e._tag === "ChildRestarted" && e.from === bId && e.to === aId
      await expect.poll(() => events.filter(moved).map((e) => e.id).sort(), { timeout: 10_000 }).toEqual(
        onB.filter((id) => id !== "c0").sort()
      )
      expect(events.some((e) => e._tag === "ChildStarted")).toBe(true)
      expect(await a.DistributedSupervisor.call<number>("pool", onB.find((id) => id !== "c0")!, "get")).toBe(7)
      expect(await a.DistributedSupervisor.countChildren("pool")).toEqual({ specs: 15, active: 15 })
      off()
      await onA.stop()
      await expect(a.DistributedSupervisor.members("pool")).rejects.toBeInstanceOf(
        Facade.DistributedSupervisorNotFoundError
      )
    } finally {
      await stop()
    }
  })
})

describe("noex-effect/promise ProcessGroups", () => {
  it("members joined on one node are seen on the other; changes reach a subscriber until it unsubscribes", async () => {
    const { a, b, stop } = await pair()
    try {
      const events: Array<Facade.GroupEvent> = []
      const off = b.ProcessGroups.subscribe((event) => void events.push(event))
      const w1 = await a.GenServer.start(counter)
      const w2 = await b.GenServer.start(counter)
      const here: Array<Facade.GroupEvent> = []
      const offHere = a.ProcessGroups.subscribe((event) => void here.push(event))
      // Subscribed as the call returns: the join on the next line is seen.
      await a.ProcessGroups.join("workers", w1)
      await expect.poll(() => here, { timeout: 10_000 }).toEqual([
        { _tag: "Joined", scope: "default", group: "workers", refs: [w1] }
      ])
      offHere()
      await a.ProcessGroups.join("workers", w2) // a ref on b: b joins it
      await expect.poll(() => b.ProcessGroups.members("workers"), { timeout: 10_000 }).toHaveLength(2)
      expect(await a.ProcessGroups.localMembers("workers")).toEqual([w1])
      expect(await b.ProcessGroups.localMembers("workers")).toEqual([w2])
      expect(await a.ProcessGroups.whichGroups()).toEqual(["workers"])
      await a.ProcessGroups.join("jobs", [w1], { scope: "batch" })
      expect(await a.ProcessGroups.whichGroups({ scope: "batch" })).toEqual(["jobs"])
      expect(await a.ProcessGroups.whichGroups()).toEqual(["workers"])

      await a.ProcessGroups.leave("workers", w1)
      await expect.poll(() => b.ProcessGroups.members("workers"), { timeout: 10_000 }).toEqual([w2])
      const seen = () => events.map((e) => `${e._tag} ${e.scope}/${e.group} ${e.refs.map((r) => r.id).join()}`).sort()
      await expect.poll(seen, { timeout: 10_000 }).toEqual(
        [`Joined default/workers ${w1.id}`, `Joined default/workers ${w2.id}`, `Left default/workers ${w1.id}`].sort()
      )
      off()
      await b.ProcessGroups.leave("workers", w2)
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(events).toHaveLength(3)

      await a.GenServer.stop(w1)
      await expect(a.ProcessGroups.join("workers", w1)).rejects.toBeInstanceOf(Facade.RemoteServerNotRunningError)
    } finally {
      await stop()
    }
  })
})

describe("noex-effect/promise GlobalRegistry.registerOrWhereis", () => {
  it("two nodes at once: start runs once, both get its ref; a start that rejects rejects with its own error", async () => {
    const { a, b, stop } = await pair()
    try {
      const started: Array<string> = []
      const startOn = (node: Facade.PromiseNode) => () => {
        started.push(node.Cluster.getLocalNodeId())
        return node.GenServer.start(counter)
      }
      const [fromA, fromB] = await Promise.all([
        a.GlobalRegistry.registerOrWhereis("singleton", startOn(a)),
        b.GlobalRegistry.registerOrWhereis("singleton", startOn(b))
      ])
      expect(started).toHaveLength(1)
      expect(fromB).toEqual(fromA)
      expect(a.GlobalRegistry.whereis("singleton")).toEqual(fromA)
      expect(await b.GenServer.call(fromB, "get")).toBe(0)
      // Registered already: start is not called.
      expect(await b.GlobalRegistry.registerOrWhereis("singleton", startOn(b))).toEqual(fromA)
      expect(started).toHaveLength(1)

      const refused = new Error("not now")
      await expect(a.GlobalRegistry.registerOrWhereis("other", () => Promise.reject(refused))).rejects.toBe(refused)
      await expect(
        a.GlobalRegistry.registerOrWhereis("broken", () =>
          a.GenServer.start({
            ...counter,
            init: () => {
              throw new Error("x")
            }
          }))
      ).rejects.toBeInstanceOf(Facade.GenServerInitError)
      expect(a.GlobalRegistry.isRegistered("other")).toBe(false)
    } finally {
      await stop()
    }
  })
})
