/** Starts a bench helper script as a child OS process and reads the JSON line it prints first. */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { createInterface } from "node:readline"

/** Runs `script` with tsx; resolves with the child and its first JSON line. */
export const startChild = <A>(script: string, args: ReadonlyArray<string> = []) =>
  new Promise<{ child: ChildProcess; info: A }>((resolve, reject) => {
    // BENCH_CHILD_NODE_OPTIONS (e.g. "--cpu-prof") profiles the far end too.
    const extra = (process.env.BENCH_CHILD_NODE_OPTIONS ?? "").split(" ").filter((s) => s.length > 0)
    const child = spawn(process.execPath, [...extra, "--import", "tsx", script, ...args], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    const lines = createInterface({ input: child.stdout! })
    const onLine = (line: string) => {
      if (!line.startsWith("{")) return
      lines.off("line", onLine)
      resolve({ child, info: JSON.parse(line) as A })
    }
    lines.on("line", onLine)
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)))
    process.once("exit", () => child.kill(process.env.BENCH_CHILD_NODE_OPTIONS ? "SIGINT" : "SIGKILL"))
  })
