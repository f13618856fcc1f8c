/**
 * Every TypeScript snippet of the docs (`docs/*.md` and README.md, each ```ts block) is
 * extracted and typechecked against the package's sources, so a renamed function, a
 * changed signature or a wrong option in the docs fails the suite. A snippet that starts
 * with `// name.ts` is written under that name, so snippets of one page can import each
 * other as the page says; a fragment (no imports) gets the page's usual imports and the
 * free names of `fixtures/snippets/prelude.ts`, and its `yield*` / `await` lines are
 * wrapped in `Effect.gen` / an async function. Blocks fenced ```ts signature are shapes,
 * not code, and are skipped. Snippets marked `// runs` in their first line are also run.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const out = path.join(root, "test", ".snippets")
const run = promisify(execFile)

interface Snippet {
  readonly page: string
  readonly line: number
  readonly code: string
}

const pages = [
  "README.md",
  ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)
]

const snippetsOf = (page: string): Array<Snippet> => {
  const lines = fs.readFileSync(path.join(root, page), "utf8").split("\n")
  const found: Array<Snippet> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue
    const start = i + 1
    let end = start
    while (end < lines.length && !lines[end]!.startsWith("```")) end++
    found.push({ page, line: start + 1, code: lines.slice(start, end).join("\n") })
    i = end
  }
  return found
}

const preludeNames = Array.from(
  fs.readFileSync(path.join(root, "test/fixtures/snippets/prelude.ts"), "utf8")
    .matchAll(/^export (?:declare )?(?:const|class) (\w+)/gm),
  (m) => m[1]!
)

const commonImports = [
  `import { Cause, Console, Context, Duration, Effect, Either, Exit, Layer, Option, Redacted, Schedule, Schema, Scope, Stream, TestClock } from "effect"`,
  `import { BehaviorRegistry, Cluster, GenServer, GlobalRegistry, LoadBalancer, MemoryNetwork, MemoryTransport, NodeId, RemoteCall, RemoteSpawn } from "noex-effect"`,
  `import { TcpTransport, TlsTransport } from "noex-effect/node"`,
  `import * as Prelude from "../../fixtures/snippets/prelude.js"`
]

/** The file a snippet becomes: named by its `// name.ts` line, or by its page and line. */
const fileOf = (s: Snippet, index: number): { readonly name: string; readonly source: string } => {
  const named = /^\/\/ ([\w-]+)\.ts\b/.exec(s.code)
  const name = named !== null ? `${named[1]}.ts` : `snippet-${index}-line-${s.line}.ts`
  const lines = s.code.split("\n")
  // Its own imports (possibly over several lines) first, then the code.
  let split = 0
  for (let i = 0; i < lines.length; i++) {
    if (/^import /.test(lines[i]!)) {
      while (i < lines.length && !/ from "[^"]+"/.test(lines[i]!)) i++
      split = i + 1
    }
  }
  const imports = lines.slice(0, split).join("\n")
  const code = lines.slice(split).join("\n")
  const free = preludeNames.filter((n) => new RegExp(`\\b${n}\\b`).test(code) && !defines(s.code, n))
  const given = free.map((n) => `const ${n} = Prelude.${n}`)
  const head = split > 0
    ? [imports, ...(given.length === 0 ? [] : [commonImports[3]!, ...given])]
    : [...commonImports, ...given]
  // Top-level `yield*` or `await`: the lines of a generator or an async function the page leaves out.
  const body = /\byield\*/.test(code) && !/function\s*\*/.test(code)
    ? `export const snippet = Effect.gen(function*() {\n${code}\n})`
    : /\bawait\b/.test(code) && !/\basync\b/.test(code)
    ? `export const snippet = async () => {\n${code}\n}`
    : `${code}\nexport {}`
  const effectImport = split > 0 && body.startsWith("export const snippet = Effect.gen") && !/\bEffect\b/.test(imports)
    ? [`import { Effect } from "effect"`]
    : []
  return { name, source: [`// ${s.page}:${s.line}`, ...effectImport, ...head, body, ""].join("\n") }
}

/** Whether the snippet declares or imports `name` itself. */
const defines = (code: string, name: string) =>
  new RegExp(`\\b(?:const|let|class|function)\\s+${name}\\b|\\{[^}]*\\b${name}\\b[^}]*\\}\\s*(?:=|from)`).test(code)

describe("docs snippets", () => {
  it("every ```ts snippet of the docs typechecks against the sources", async () => {
    fs.rmSync(out, { recursive: true, force: true })
    let count = 0
    for (const page of pages) {
      const dir = path.join(out, page.replace(/[/.]/g, "_"))
      fs.mkdirSync(dir, { recursive: true })
      snippetsOf(page).forEach((s, i) => {
        const { name, source } = fileOf(s, i)
        fs.writeFileSync(path.join(dir, name), source)
        count++
      })
    }
    expect(count).toBeGreaterThan(15)
    fs.writeFileSync(
      path.join(out, "tsconfig.json"),
      JSON.stringify({
        extends: "../../tsconfig.json",
        compilerOptions: { noUnusedLocals: false, noUnusedParameters: false, baseUrl: "../.." },
        include: ["./**/*.ts"],
        exclude: []
      })
    )
    const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
    const result = await run(process.execPath, [tsc, "-p", path.join(out, "tsconfig.json"), "--noEmit"], {
      cwd: root
    }).then(() => "", (e: { stdout?: string }) => e.stdout ?? String(e))
    expect(result).toBe("")
  }, 120_000)
})
