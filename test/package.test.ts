/**
 * The package as users install it: `npm pack` (its `prepack` builds), then the tarball
 * installed from the registry into a scratch application that pins another effect 3.22.x.
 * One copy of effect, `tsc` clean under each module resolution users pick, and the
 * compiled application starts two nodes and calls across them.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const run = promisify(execFile)
const root = fileURLToPath(new URL("..", import.meta.url))
const fixture = path.join(root, "test/fixtures/package-app")
const tsc = path.join(root, "node_modules/typescript/bin/tsc")

/** An effect the application pins: a 3.22.x other than the one this repository tests with. */
const APP_EFFECT = "3.22.3"

/** A Node application's own types for Node, the ones this repository uses. */
const NODE_TYPES = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).devDependencies["@types/node"]

/** npm, from the registry (the only network CI has); its output is kept for a failure's message. */
const npm = (cwd: string, args: ReadonlyArray<string>) =>
  run("npm", [...args], { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1" } })

/** The settings each resolution needs beside it; all strict, all emitting nothing but the last. */
const resolutions = {
  node16: { module: "node16", moduleResolution: "node16" },
  nodenext: { module: "nodenext", moduleResolution: "nodenext" },
  bundler: { module: "esnext", moduleResolution: "bundler" },
  // The resolution before package exports, still the default of older setups: main, types, typesVersions.
  node10: { module: "esnext", moduleResolution: "node10" }
} as const

describe("the packed package", () => {
  it(
    "installs beside an app's own effect as one copy, typechecks under node16, nodenext, bundler and node10, and runs",
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "noex-effect-package-"))
      try {
        const packed = await npm(root, ["pack", "--pack-destination", dir, "--json"])
        const tarball = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0]!
        const shipped = tarball.files.map((f) => f.path)
        expect(shipped).toContain("dist/index.js")
        expect(shipped).toContain("dist/cli/main.js")
        expect(shipped.some((f) => f.startsWith("test/"))).toBe(false)

        const app = path.join(dir, "app")
        fs.mkdirSync(app)
        fs.writeFileSync(
          path.join(app, "package.json"),
          JSON.stringify({ name: "app", private: true, type: "module" })
        )
        fs.copyFileSync(path.join(fixture, "app.ts"), path.join(app, "app.ts"))
        await npm(app, [
          "install",
          "--no-audit",
          "--no-fund",
          `effect@${APP_EFFECT}`,
          `@types/node@${NODE_TYPES}`,
          path.join(dir, tarball.filename)
        ])

        // One effect: the app's, which noex-effect's peer range admits.
        const tree = JSON.parse((await npm(app, ["ls", "effect", "--all", "--json"])).stdout)
        const versions = new Set<string>()
        const walk = (node: { version?: string; dependencies?: Record<string, any> }, name?: string) => {
          if (name === "effect" && node.version) versions.add(node.version)
          for (const [child, value] of Object.entries(node.dependencies ?? {})) walk(value, child)
        }
        walk(tree)
        expect([...versions]).toEqual([APP_EFFECT])
        expect(fs.existsSync(path.join(app, "node_modules/noex-effect/node_modules/effect"))).toBe(false)
        // What a library user installs: noex-effect, effect (with its fast-check and pure-rand) and msgpackr.
        const installed = fs.readdirSync(path.join(app, "node_modules")).filter((name) => !name.startsWith("."))
        expect(fs.readdirSync(path.join(app, "node_modules/@types"))).toEqual(["node"])
        expect(installed).not.toContain("@effect")
        expect(installed).not.toContain("tsx")

        for (const [name, options] of Object.entries(resolutions)) {
          const config = {
            compilerOptions: {
              ...options,
              target: "ES2022",
              strict: true,
              exactOptionalPropertyTypes: true,
              skipLibCheck: false,
              types: ["node"],
              lib: ["ES2022"],
              noEmit: name !== "nodenext",
              outDir: "out"
            },
            files: ["app.ts"]
          }
          fs.writeFileSync(path.join(app, `tsconfig.${name}.json`), JSON.stringify(config))
          const checked = await run(process.execPath, [tsc, "-p", `tsconfig.${name}.json`], { cwd: app }).then(
            () => "",
            (error: { stdout?: string }) => `${name}: ${error.stdout ?? String(error)}`
          )
          expect(checked).toBe("")
        }

        const started = await run(process.execPath, ["out/app.js"], { cwd: app, timeout: 60_000 })
        expect(started.stdout).toContain("count 1")
        const version = await run(process.execPath, ["node_modules/.bin/noex-effect", "--version"], { cwd: app })
        expect(version.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    },
    300_000
  )
})
