#!/usr/bin/env node
// The noex-effect command line: the compiled CLI in dist/. In this repository's own
// checkout (it has a tsconfig.json, which the package does not ship) the TypeScript
// sources run through tsx instead, so a stale dist/ is never what its tests exercise.
import * as fs from "node:fs"

if (fs.existsSync(new URL("../tsconfig.json", import.meta.url))) {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/cli/main.ts")
} else {
  await import("../dist/cli/main.js")
}
