/**
 * TlsTransport across real OS processes, configured from the environment as an
 * operator would (NOEX_TLS_*): three nodes with certificates of one CA mesh through
 * gossip and call each other; a node with a certificate of another CA never joins.
 */
import { afterAll, describe, expect, it } from "vitest"
import { TlsTransport } from "../src/node.js"
import { certDir, issue, makeCa } from "./support/certs.js"
import type { Issued } from "./support/certs.js"
import { connectedIds, eventually, startNodeProcess, useNodeProcesses } from "./support/processes.js"

useNodeProcesses()
const scratch = certDir()
afterAll(() => scratch.cleanup())

const ca = makeCa(scratch.dir, "ca")
const env = (cert: Issued, trust: Issued = ca) => ({
  env: {
    [TlsTransport.envNames.cert]: cert.certFile,
    [TlsTransport.envNames.key]: cert.keyFile,
    [TlsTransport.envNames.ca]: trust.certFile
  }
})

describe("TlsTransport over real OS processes", () => {
  it("meshes three nodes over TLS and refuses a fourth whose certificate another CA signed", async () => {
    const names = ["a", "b", "c"] as const
    const certs = Object.fromEntries(names.map((n) => [n, issue(scratch.dir, ca, n, [`${n}@127.0.0.1`])]))
    const a = await startNodeProcess({ nodeName: "a", port: 0 }, 30_000, env(certs.a!))
    const b = await startNodeProcess({ nodeName: "b", port: 0, seeds: [a.id] }, 30_000, env(certs.b!))
    const c = await startNodeProcess({ nodeName: "c", port: 0, seeds: [b.id] }, 30_000, env(certs.c!))
    await eventually(
      async () => (await connectedIds(c)).length === 2 && (await connectedIds(a)).length === 2,
      15_000,
      "a TLS mesh of three"
    )
    // A global name registered on c reaches a over TLS.
    await c.command({ cmd: "register", name: "over-tls" })
    await eventually(async () => (await a.command({ cmd: "whereis", name: "over-tls" })).ref !== null, 15_000, "name")

    const otherCa = makeCa(scratch.dir, "other-ca")
    const d = await startNodeProcess(
      { nodeName: "d", port: 0, seeds: [a.id] },
      30_000,
      env(issue(scratch.dir, otherCa, "d", ["d@127.0.0.1"]), otherCa)
    )
    // d's dial fails in the TLS handshake, and d warns of it: a refused certificate is a configuration problem.
    await eventually(
      async () => d.stderr.some((line) => line.includes("dial refused by the transport's authentication")),
      15_000,
      "d refused"
    )
    expect(await connectedIds(d)).toEqual([])
    expect(await connectedIds(a)).not.toContain(d.id)
  }, 90_000)
})
