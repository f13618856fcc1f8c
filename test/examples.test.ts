import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { promisify } from "node:util"

const exec = promisify(execFile)

/** Runs an example as a user would (`npx tsx examples/<file>`), in its own OS process. */
const runExample = (file: string) =>
  exec(process.execPath, ["--import", "tsx", `examples/${file}`], { timeout: 60_000, killSignal: "SIGKILL" })

describe("examples", () => {
  it("local-counter.ts runs and reports every step", async () => {
    const { stdout } = await runExample("local-counter.ts")
    expect(stdout).toContain("then called get by name: 25")
    expect(stdout).toContain("Starting a second 'visits' fails: NameAlreadyRegisteredError")
    expect(stdout).toContain("RemoteHandlerError (division by zero)")
    expect(stdout).toContain("fails with RemoteCallTimeoutError")
    expect(stdout).toContain("terminate(\"normal\") with final count 25")
    expect(stdout).toContain("fails with RemoteServerNotRunningError; live processes: 0")
  })
})
