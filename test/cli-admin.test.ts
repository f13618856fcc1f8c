import { describe, expect, it } from "@effect/vitest"
import { runNode, useChildren } from "./support/child.js"

useChildren()

const COOKIE = "admin-test-cookie"

/** Runs `noex-effect` with `args`, as an operator would, with the cluster's cookie in the environment. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  runNode(["bin/noex-effect.mjs", ...args], { NO_COLOR: "1", NOEX_COOKIE: COOKIE, ...env })

/** Runs an admin command to its end: its exit code and what it printed on stdout. */
const admin = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const run = cli(args, env)
  const code = await run.exited
  return { code, stdout: run.stdout(), output: run.output() }
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

describe("noex-effect admin commands against a running cluster (CLI)", () => {
  it("lists nodes, spawns, lists processes and names, and calls by ref and by global name, as a hidden node", async () => {
    const a = cli(["node", "--name", "a", "--port", "0", "--behaviors", "test/fixtures/behaviors.ts"])
    const [, aId] = await a.waitFor(/node (a@127\.0\.0\.1:\d+) is up/)
    const b = cli(["node", "--name", "b", "--port", "0", "--seeds", aId!])
    const [, bId] = await b.waitFor(/node (b@127\.0\.0\.1:\d+) is up/)
    await a.waitFor(new RegExp(`node up: ${escape(bId!)}`))

    const nodes = await admin(["nodes", "--node", aId!])
    expect(nodes.code).toBe(0)
    expect(nodes.stdout).toMatch(new RegExp(`^NODE +PROCESSES +UPTIME\\n${escape(aId!)} +0 .*\\n${escape(bId!)} +0 `))
    expect(nodes.stdout).not.toContain("noex-admin")

    // NOEX_SEEDS names the node to ask when --node does not.
    const spawned = await admin(["spawn", "counter", aId!, "--name", "c1"], { NOEX_SEEDS: bId! })
    expect(spawned.code).toBe(0)
    const [, refText, serverId] = spawned.stdout.match(new RegExp(`^(${escape(aId!)}/(\\S+))\\n$`))!
    const local = await admin(["spawn", "echo", aId!, "--name", "e1", "--registration", "local", "--args", "[]"])
    expect(local.code).toBe(0)

    const processes = await admin(["processes", aId!])
    expect(processes.code).toBe(0)
    expect(processes.stdout).toMatch(new RegExp(`${escape(serverId!)} +global:c1 +counter +0`))
    expect(processes.stdout).toMatch(/ e1 +echo +0/)
    const json = JSON.parse((await admin(["processes", aId!, "--json", "--limit", "1"])).stdout)
    expect(json.total).toBe(2)
    expect(json.processes).toHaveLength(1)

    // b's replica holds a's name; a global ref asked of b is called on a.
    const names = await admin(["names", "--node", bId!])
    expect(names.stdout).toMatch(new RegExp(`c1 +${escape(serverId!)} +${escape(aId!)}`))
    const byRef = await admin(["call", refText!, "\"get\""])
    expect([byRef.code, byRef.stdout]).toEqual([0, "0\n"])
    const byName = await admin(["call", "global:c1", "{\"any\":\"message\"}", "--node", bId!])
    expect([byName.code, byName.stdout]).toEqual([0, "0\n"])
    const echoed = await admin(["call", `${aId}/e1`, "{\"a\":[1,2,{\"b\":null}]}"])
    expect(echoed.stdout).toBe("{\"a\":[1,2,{\"b\":null}]}\n")

    // The tools were never members: no node event, no member count on either node; the log shows them.
    expect(a.output()).not.toMatch(/node up: noex-admin/)
    expect(b.output()).not.toMatch(/node up: noex-admin/)
    expect(a.output()).toMatch(/message="hidden node up".*peer=noex-admin-/)
    expect((await admin(["nodes", "--node", bId!, "--json"])).stdout).not.toContain("noex-admin")
  })

  it("fails in one line: exit 1 for what the cluster refused, exit 2 for a command line that cannot run", async () => {
    const a = cli(["node", "--name", "a", "--port", "0", "--behaviors", "test/fixtures/behaviors.ts"])
    const [, aId] = await a.waitFor(/node (a@127\.0\.0\.1:\d+) is up/)

    const wrongCookie = await admin(["nodes", "--node", aId!, "--timeout", "1 second"], { NOEX_COOKIE: "wrong" })
    expect(wrongCookie.code).toBe(1)
    expect(wrongCookie.output).toMatch(/noex-effect: cannot reach a@.* within 1s \(.*--cookie/)
    const missing = await admin(["call", `${aId}/nobody`, "1"])
    expect(missing.code).toBe(1)
    expect(missing.output).toMatch(/noex-effect: .*nobody/)
    const unknownBehavior = await admin(["spawn", "nothing", aId!])
    expect(unknownBehavior.code).toBe(1)
    expect(unknownBehavior.output).toContain("nothing")

    for (
      const [args, text] of [
        [["call", "nonsense", "1"], "a ref is <nodeId>/<serverId or name> or global:<name>"],
        [["call", `${aId}/x`, "{not json"], "the message is not JSON"],
        [["processes"], "usage: noex-effect processes <nodeId>"],
        [["names"], "no node to ask: --node <nodeId> or NOEX_ADMIN_NODE"],
        [["spawn", "counter", aId!, "--registration", "everywhere"], "--registration takes local, global or none"],
        [["processes", aId!, "--limit=-5"], "--limit takes a positive integer"],
        [["nodes", "--node", aId!, "--timeout", "soon"], "--timeout takes a duration"]
      ] as const
    ) {
      const run = await admin(args, { NOEX_SEEDS: "" })
      expect(run.code, args.join(" ")).toBe(2)
      expect(run.output.trim().split("\n")).toEqual([expect.stringContaining(text)])
    }
  })

  it("documents each command and its options in --help, and lists the commands in the binary's --help", async () => {
    const top = await admin(["--help"])
    for (const name of ["node", "nodes", "processes", "names", "call", "spawn"]) {
      expect(top.stdout).toMatch(new RegExp(`^  ${name} +\\S`, "m"))
    }
    for (const name of ["nodes", "processes", "names", "call", "spawn"]) {
      const help = await admin([name, "--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain(`Usage: noex-effect ${name}`)
      for (const flag of ["--node", "--cookie", "--timeout", "--tls-cert", "NOEX_ADMIN_NODE"]) {
        expect(help.stdout).toContain(flag)
      }
    }
    expect((await admin(["spawn", "--help"])).stdout).toContain("--registration")
  })
})
