/**
 * Runs every benchmark, each in its own Node process (clean heap, `--expose-gc`).
 * Pass names to run a subset: `npm run bench -- local codec`.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const all = ["local", "codec", "transport", "remote", "failures", "secure", "registry", "supervision", "user"]
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all
const dir = fileURLToPath(new URL(".", import.meta.url))
let failed = false
for (const name of chosen) {
  const file = `${dir}${name}.ts`
  const result = spawnSync(process.execPath, ["--expose-gc", "--max-old-space-size=8192", "--import", "tsx", file], {
    stdio: "inherit"
  })
  if (result.status !== 0) {
    console.error(`bench ${name} failed (exit ${result.status})`)
    failed = true
  }
}
process.exit(failed ? 1 : 0)
