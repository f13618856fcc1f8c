/**
 * The supervision examples, each run as its own OS process (`node --import tsx`), as a
 * reader would run it: exit 0 and the key lines printed.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const run = (file: string) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", `examples/${file}`], { cwd: root, timeout: 60_000 })

describe("supervision examples", () => {
  it("supervised-pool.ts keeps six workers across a graceful leave, with no failed call by id", async () => {
    const { stdout } = await run("supervised-pool.ts")
    expect(stdout.match(/ChildStarted worker-\d on \w+/g)?.length).toBe(6)
    expect(stdout).toMatch(/Pool: 6 workers \(/)
    expect(stdout).toMatch(/Dispatched 60 tasks: /)
    expect(stdout).toMatch(/calls to worker-3 meanwhile: [1-9]\d*, failed: 0/)
    // After gamma left, the six run on alpha and beta only.
    const pools = stdout.split("\n").filter((l) => l.startsWith("Pool: 6 workers"))
    expect(pools).toHaveLength(2)
    expect(pools[1]).not.toContain("gamma")
    const moved = stdout.match(/ChildRestarted worker-\d: gamma -> (alpha|beta)/g) ?? []
    expect(moved.length).toBe(
      (pools[0]!.match(/gamma: (\d)/)?.[1] ?? "0") === "0" ? 0 : Number(pools[0]!.match(/gamma: (\d)/)![1])
    )
    expect(stdout.match(/worker-\d on (alpha|beta): \d+ tasks/g)?.length).toBe(6)
  }, 90_000)
})
