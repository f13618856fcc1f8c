import { expect, it } from "vitest"
import { startNodeProcess, useNodeProcesses } from "./support/processes.js"
useNodeProcesses()
it("signals before the mesh settles", async () => {
  for (let round = 0; round < 4; round++) {
    const a = await startNodeProcess({ nodeName: "a", port: 0, seeds: [] })
    const nodes = await Promise.all(["term", "int", "orphan"].map((nodeName) => startNodeProcess({ nodeName, port: 0, seeds: [a.id] })))
    await Promise.all(nodes.map((n) => a.waitFor((e) => e.event === "NodeUp" && e.nodeId === n.id)))
    nodes[0]!.kill("SIGTERM"); nodes[1]!.kill("SIGINT"); nodes[2]!.closeStdin()
    const exits = await Promise.all(nodes.map((n) => n.exited))
    const bad = nodes.filter((_, i) => exits[i]!.code !== 0)
    for (const n of bad) console.log(`--- ${n.name} ${n.id} ${JSON.stringify(await n.exited)}\n${n.stderr.join("\n")}`)
    if (bad.length > 0) console.log(`other ports: ${nodes.map((n) => n.name + "=" + n.id).join(" ")} a=${a.id}\n--- a:\n${a.stderr.slice(-20).join("\n")}`)
    a.kill("SIGKILL"); await a.exited
    expect(bad.length).toBe(0)
  }
}, 120000)
