/**
 * Every TypeScript snippet of the docs (`docs/*.md` and README.md, each ```ts block) is
 * extracted and typechecked against the package's sources, so a renamed function, a
 * changed signature or a wrong option in the docs fails the suite. A snippet that starts
 * with `// name.ts` is written under that name, so snippets of one page can import each
 * other as the page says; a fragment (no imports) gets the page's usual imports and the
 * free names of `fixtures/snippets/prelude.ts`, and its `yield*` / `await` lines are
 * wrapped in `Effect.gen` / an async function. Blocks fenced ```ts signature are shapes,
 * not code, and are skipped.
 *
 * Then every snippet runs, each in its own OS process through tsx, as a reader would run
 * it: the snippets of one page side by side (a page's node-b serves while its node-a
 * calls it), with the page's port numbers mapped to free ports, and the free names live
 * (`fixtures/snippets/live.ts`: `targetNode` is a real node, `ref` a real process; a
 * wrapped fragment runs, to its end, as a node linked to it). The fence says what running
 * means: ```ts runs something and must exit 0; ```ts defines only defines (evaluating it
 * is its run; a snippet that runs nothing must be marked so); ```ts serves must still be
 * serving, without an error logged, once the rest of its page is done. Some must also
 * print what the page says they print. Snippets that are vitest tests run under vitest.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const out = path.join(root, "test", ".snippets")
const run = promisify(execFile)

/**
 * How a snippet runs, from its fence: ```ts must run something (a program, or a fragment
 * of `yield*` / `await` lines); ```ts defines only defines (a layer, a behavior, an Effect
 * the page runs elsewhere), so running it evaluates the module; ```ts serves runs until
 * the rest of its page is done.
 */
type Kind = "runs" | "defines" | "serves"

interface Snippet {
  readonly page: string
  readonly line: number
  readonly code: string
  readonly kind: Kind
}

const pages = [
  "README.md",
  ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)
]

const snippetsOf = (page: string): Array<Snippet> => {
  const lines = fs.readFileSync(path.join(root, page), "utf8").split("\n")
  const found: Array<Snippet> = []
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```ts(?: (defines|serves))?$/.exec(lines[i]!.trim())
    if (fence === null) continue
    const start = i + 1
    let end = start
    while (end < lines.length && !lines[end]!.startsWith("```")) end++
    found.push({ page, line: start + 1, code: lines.slice(start, end).join("\n"), kind: (fence[1] as Kind) ?? "runs" })
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
  `import * as Prelude from "../../fixtures/snippets/prelude.js"`,
  `import type { ServerRef } from "noex-effect"`
]

/** The file a snippet becomes: named by its `// name.ts` line, or by its page and line. */
const fileOf = (s: Snippet, index: number): { readonly name: string; readonly source: string; readonly kind: Kind } => {
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
  return { name, source: [`// ${s.page}:${s.line}`, ...effectImport, ...head, body, ""].join("\n"), kind: s.kind }
}

/** Whether the snippet declares or imports `name` itself. */
const defines = (code: string, name: string) =>
  new RegExp(`\\b(?:const|let|class|function)\\s+${name}\\b|\\{[^}]*\\b${name}\\b[^}]*\\}\\s*(?:=|from)`).test(code)

/** Free loopback ports, one per port number a page writes. */
const freePorts = async (count: number): Promise<Array<number>> => {
  const net = await import("node:net")
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<import("node:net").Server>((resolve) => {
        const server = net.createServer()
        server.listen(0, "127.0.0.1", () => resolve(server))
      }))
  )
  const ports = servers.map((server) => (server.address() as import("node:net").AddressInfo).port)
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

/** The well-known ports the docs write (4369 and up): each is mapped to a free one when a page runs. */
const DOC_PORT = /\b43[6-9]\d\b/g

/** How long a page's snippets get: a serving one still running then is stopped, the others must have exited 0. */
const PAGE_RUN_MS = 25_000

/** What some snippets must print, beyond exiting cleanly. */
const expectedOutput: Record<string, RegExp> = {
  "docs_getting-started_md/node-a.ts": /counter on b@127\.0\.0\.1:\d+ says 15/,
  "docs_cluster_md/snippet-0-line-10.ts": /I am a@127\.0\.0\.1:\d+/
}

/** What a failure looks like in a serving snippet's output: a log at ERROR or FATAL, an error's name. */
const FAILURE = /level=(ERROR|FATAL)|\b\w*Error\b/

/** What a snippet that runs something contains: a fragment's body, a run of an Effect or a Promise, a test. */
const RUNS_SOMETHING =
  /^export const snippet = |\.run(Promise|Fork|Main|Sync)\(|Effect\.runPromise|\bawait \w|\bit(\.\w+)?\(/m

/** Every child a run starts: killed after the test, whatever happened to it. */
const children = new Set<import("node:child_process").ChildProcess>()
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

interface Ran {
  readonly file: string
  readonly kind: Kind
  readonly code: number | null
  /** Stopped by the runner: a serving snippet at its page's end, or one that ran past the deadline. */
  readonly stopped: boolean
  readonly output: string
}

interface Running {
  readonly file: string
  readonly kind: Kind
  readonly output: () => string
  readonly exited: boolean
  readonly stop: () => void
  readonly ran: Promise<Ran>
}

/** Starts one generated file (`node --import tsx`, or vitest for a test). */
const start = (file: string, kind: Kind, env: Record<string, string>): Running => {
  const vitest = file.endsWith(".vitest.ts")
  const args = vitest
    ? [
      path.join(root, "node_modules", "vitest", "vitest.mjs"),
      "run",
      "--config",
      path.join(out, "vitest.config.ts"),
      file
    ]
    : ["--import", "tsx", file]
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  let output = ""
  child.stdout.on("data", (d) => (output += d))
  child.stderr.on("data", (d) => (output += d))
  let stopped = false
  let exited = false
  const ran = new Promise<Ran>((resolve) =>
    child.once("exit", (code) => {
      exited = true
      children.delete(child)
      resolve({ file: path.relative(out, file), kind, code, stopped, output })
    })
  )
  return {
    file: path.relative(out, file),
    kind,
    output: () => output,
    get exited() {
      return exited
    },
    stop: () => {
      if (exited) return
      stopped = true
      child.kill("SIGTERM")
      setTimeout(() => child.kill("SIGKILL"), 5_000).unref()
    },
    ran
  }
}

/** Polls until `done` holds or `ms` passed. */
const until = async (done: () => boolean, ms: number): Promise<void> => {
  const started = Date.now()
  while (!done() && Date.now() - started < ms) await new Promise((resolve) => setTimeout(resolve, 50))
}

/** Whether a snippet's run is what its kind promises. */
const failure = (r: Ran): string | undefined => {
  const expected = expectedOutput[r.file.replace(/\/run\//, "/")]
  if (expected !== undefined && !expected.test(r.output)) return `its output lacks ${expected}`
  if (r.kind === "serves") return FAILURE.test(r.output) ? "it failed while serving" : undefined
  if (r.stopped) return `it was still running after ${PAGE_RUN_MS} ms`
  return r.code === 0 ? undefined : `exit ${r.code}`
}

/** A page's snippets, written for running: live free names, free ports, the fragment run at the end. */
const runVariants = async (
  page: string
): Promise<{ readonly files: Array<{ readonly file: string; readonly kind: Kind }>; readonly behaviors: string }> => {
  const dir = path.join(out, page.replace(/[/.]/g, "_"), "run")
  fs.mkdirSync(dir, { recursive: true })
  const snippets = snippetsOf(page).map((s, i) => fileOf(s, i))
  const numbers = Array.from(new Set(snippets.flatMap((f) => f.source.match(DOC_PORT) ?? [])))
  const ports = new Map(numbers.map((n, i) => [n, i] as const))
  const free = await freePorts(numbers.length)
  // The page's modules that define behaviors (and run nothing): the live node serves them, as the page's node would.
  const behaviors: Array<string> = []
  const files = snippets.map(({ kind, name, source }) => {
    // Such a module is what the live prelude imports: it must not import the prelude back (top-level
    // awaits in a cycle never settle). Names it seemed to leave free are its own parameters.
    const definesBehaviors = /^export const \w+ = GenServer\.(behavior|typedBehavior)\(/m.test(source) &&
      !/\.run(Promise|Fork|Main|Sync)\b/.test(source)
    const own = definesBehaviors
      ? source.split("\n").filter((l) => !/fixtures\/snippets\/prelude\.js|= Prelude\.\w+$/.test(l)).join("\n")
      : source
    const live = own.includes("fixtures/snippets/prelude.js")
    let code = own
      .replace("../../fixtures/snippets/prelude.js", "../../../fixtures/snippets/live.js")
      .replace(DOC_PORT, (n) => String(free[ports.get(n)!]))
    // A fragment marked as only defining is evaluated, not called (its lines need a network of its own).
    const fragment = /^export const snippet = /m.test(code) && kind !== "defines"
    if (live) code += `await Prelude.finish(${fragment ? "snippet" : ""})\n`
    // A fragment with its own imports runs as node "a" beside the live target too.
    else if (fragment) code += `await (await import("../../../fixtures/snippets/live.js")).finish(snippet)\n`
    const file = path.join(dir, /from "@effect\/vitest"/.test(code) ? name.replace(/\.ts$/, ".vitest.ts") : name)
    fs.writeFileSync(file, code)
    if (definesBehaviors) behaviors.push(file)
    return { file, kind }
  })
  return { files, behaviors: behaviors.join(",") }
}

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
        exclude: ["./**/run/**"]
      })
    )
    const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
    const result = await run(process.execPath, [tsc, "-p", path.join(out, "tsconfig.json"), "--noEmit"], {
      cwd: root
    }).then(() => "", (e: { stdout?: string }) => e.stdout ?? String(e))
    expect(result).toBe("")
  }, 120_000)

  it("every ```ts snippet of the docs runs: exits 0, or serves without an error until its page is done", async () => {
    fs.mkdirSync(out, { recursive: true })
    // Vitest tests among the snippets resolve the package to its sources, as tsx does through tsconfig's paths.
    fs.writeFileSync(
      path.join(out, "vitest.config.ts"),
      [
        `import { defineConfig } from "vitest/config"`,
        `export default defineConfig({`,
        `  resolve: { alias: [`,
        `    { find: /^noex-effect\\/node$/, replacement: ${JSON.stringify(path.join(root, "src/node.ts"))} },`,
        `    { find: /^noex-effect\\/promise$/, replacement: ${JSON.stringify(path.join(root, "src/promise.ts"))} },`,
        `    { find: /^noex-effect$/, replacement: ${JSON.stringify(path.join(root, "src/index.ts"))} }`,
        `  ] },`,
        // As this repository's own tests: a simulated minute of TestClock steps takes seconds of CPU.
        `  test: { include: ["**/*.vitest.ts"], root: ${JSON.stringify(out)}, testTimeout: 60_000 }`,
        `})`,
        ``
      ].join("\n")
    )
    // A snippet marked to run must run something: one that only defines is marked so.
    const idle = pages.flatMap((page) =>
      snippetsOf(page).map((snippet, i) => ({ snippet, file: fileOf(snippet, i) })).filter(({ file, snippet }) =>
        snippet.kind === "runs" && !RUNS_SOMETHING.test(file.source)
      ).map(({ snippet }) => `${snippet.page}:${snippet.line} runs nothing: mark it \`\`\`ts defines`)
    )
    expect(idle).toEqual([])
    const ran: Array<Ran> = []
    // Two pages at a time: each runs several node processes, and the machine has two cores.
    const queue = [...pages]
    const worker = async () => {
      for (let page = queue.shift(); page !== undefined; page = queue.shift()) {
        const { behaviors, files } = await runVariants(page)
        const running = files.map(({ file, kind }) => start(file, kind, { SNIPPET_BEHAVIORS: behaviors }))
        // The page is done when every snippet that ends has ended and every serving one printed what it
        // must; serving ones are stopped then, and anything still running at the deadline too.
        await until(() =>
          running.every((r) =>
            r.exited ||
            (r.kind === "serves" && (expectedOutput[r.file.replace(/\/run\//, "/")]?.test(r.output()) ?? true))
          ), PAGE_RUN_MS)
        for (const r of running) r.stop()
        ran.push(...(await Promise.all(running.map((r) => r.ran))))
      }
    }
    await Promise.all([worker(), worker()])
    expect(ran.length).toBeGreaterThan(15)
    const failed = ran.flatMap((r) => {
      const why = failure(r)
      return why === undefined ? [] : [`${r.file} (${why}):\n${r.output}`]
    })
    expect(failed).toEqual([])
  }, 240_000)
})
