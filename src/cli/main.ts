/**
 * Entry of the `noex-effect` binary. `--version` answers before Effect is loaded
 * (loading it is most of a start); every other command runs through `Run`.
 */
import * as fs from "node:fs"

const [first] = process.argv.slice(2)
if (first === "--version" || first === "-v") {
  const text = fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")
  process.stdout.write(`${(JSON.parse(text) as { version: string }).version}\n`)
} else {
  const { run } = await import("./Run.js")
  run(process.argv.slice(2))
}
