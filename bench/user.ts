/**
 * What users run, measured: the *built* package (dist/, built first) driven through its
 * public exports by plain Node programs (bench/user/: a ManagedRuntime, RemoteCall.call in
 * Effect.gen loops), two OS processes on 127.0.0.1; beside it in the same run a strict raw
 * node:net ping-pong (bench/user/raw.mjs, one write per frame) and, when `erl` is on the
 * machine, Erlang/OTP's gen_server over distribution (../shared/anchors/erlang-bench).
 * Three runs; each row prints the median, the spread and the ratios to raw and to Erlang.
 * Fan-in: 8 client processes on one server node, calls and casts.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

/** Runs to take the median of; `BENCH_USER_RUNS` overrides it for a quick look. */
const RUNS = Number(process.env.BENCH_USER_RUNS ?? 3)
const MEASURE_MS = 2000

/**
 * Warm-up of each single-client figure: the first figure of a run measured 0.67× the
 * next one's rate with 0.5 s (its code was still being optimized on a slow sitting).
 */
const WARMUP_MS = 2000
const FAN_IN = 8
const root = fileURLToPath(new URL("..", import.meta.url))
const here = (file: string) => fileURLToPath(new URL(`./user/${file}`, import.meta.url))
const ERLANG = fileURLToPath(new URL("../../shared/anchors/erlang-bench/run.sh", import.meta.url))

type Line = Record<string, number | string>

/**
 * How long fan-in clients warm up together, once all are connected, before their common
 * window: long enough for eight processes to optimize their code on two cores. A window
 * that opened at a fixed time after their start caught them still loading or compiling
 * (a sitting where each took ~5 s to load under that contention read 465 µs of CPU per call
 * with 8 s from the start, 316 µs with 6 s after all were connected, 135 µs — the single
 * client's — with 25 s from the start).
 */
const FAN_IN_WARMUP_MS = 15_000

/** How the clients of a fan-in measure: all in one window, opened once all are connected (`startAll`). */
const fanInOptions = (clients: number) => clients === 1 ? {} : { casts: 50_000, syncStart: true }

/** Opens the common window of fan-in clients once every one of them is connected. */
const startAll = async (clients: ReadonlyArray<ReturnType<typeof run>>) => {
  if (clients.length === 1) return
  await Promise.all(clients.map((c) => c.ready))
  const line = JSON.stringify({ startAt: Date.now() + FAN_IN_WARMUP_MS }) + "\n"
  for (const c of clients) c.child.stdin!.write(line)
}

/** Every child still running, killed however this process ends. */
const children = new Set<ReturnType<typeof spawn>>()
const killAll = () => {
  for (const child of children) child.kill("SIGKILL")
}
process.once("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => (killAll(), process.exit(130)))

/** A child's phase that takes longer than this is a hang: the bench fails instead of waiting. */
const PHASE_TIMEOUT_MS = 120_000

/**
 * Runs `args` with node and collects its JSON lines; `ready` resolves at the first, `done`
 * with all of them once it exited cleanly (it rejects on a crash, or after PHASE_TIMEOUT_MS).
 */
const run = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["pipe", "pipe", "inherit"] })
  children.add(child)
  const lines: Array<Line> = []
  let first!: (line: Line) => void
  let failed!: (error: Error) => void
  const ready = new Promise<Line>((resolve, reject) => ((first = resolve), (failed = reject)))
  createInterface({ input: child.stdout! }).on("line", (text) => {
    if (!text.startsWith("{")) return
    const line = JSON.parse(text) as Line
    if (lines.length === 0) first(line)
    lines.push(line)
  })
  const timer = setTimeout(() => child.kill("SIGKILL"), PHASE_TIMEOUT_MS)
  const done = new Promise<Array<Line>>((resolve, reject) =>
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      const why = new Error(`${args.join(" ")} ended with ${code ?? signal}`)
      failed(why)
      if (code === 0) resolve(lines)
      else reject(why)
    })
  )
  // Whoever awaits them sees the failure; a phase nobody awaits (a server killed at the end) is fine.
  ready.catch(() => {})
  done.catch(() => {})
  return { child, ready, done }
}

const byBench = (lines: ReadonlyArray<Line>) => new Map(lines.map((l) => [String(l.bench), l]))

const ours = async (benches: ReadonlyArray<string>, clients = 1) => {
  const server = run([here("server.mjs")])
  const { nodeId } = await server.ready
  try {
    const options = JSON.stringify({
      server: nodeId,
      benches,
      measureMs: MEASURE_MS,
      warmupMs: WARMUP_MS,
      ...fanInOptions(clients)
    })
    const started = Array.from({ length: clients }, () => run([here("client.mjs"), options]))
    await startAll(started)
    return await Promise.all(started.map((c) => c.done))
  } finally {
    server.child.kill("SIGKILL")
  }
}

const raw = async (benches: ReadonlyArray<string>, clients = 1) => {
  const server = run([here("raw.mjs"), "server"])
  const { port } = await server.ready
  try {
    const options = JSON.stringify({
      port,
      benches,
      measureMs: MEASURE_MS,
      warmupMs: WARMUP_MS,
      ...fanInOptions(clients)
    })
    const started = Array.from({ length: clients }, () => run([here("raw.mjs"), "client", options]))
    await startAll(started)
    return await Promise.all(started.map((c) => c.done))
  } finally {
    server.child.kill("SIGKILL")
  }
}

const hasErlang = spawnSync("sh", ["-c", "command -v erl"]).status === 0 && fs.existsSync(ERLANG)

const erlang = () => {
  const result = spawnSync("bash", [ERLANG], {
    env: {
      ...process.env,
      BENCH_ONLY: "seq,pipe,cast,spawn,spawn_c64,payload,payload_pipe",
      BENCH_MEASURE_MS: String(MEASURE_MS),
      BENCH_WARMUP_MS: String(WARMUP_MS)
    },
    encoding: "utf8",
    timeout: 300_000
  })
  const lines = result.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line)
  return new Map(lines.map((l) => [String(l.bench), l]))
}

/**
 * The total rate of several clients: calls summed over their common window (their starts
 * must lie within FAN_IN_START_SPREAD_MS), casts as all sent over the wall time from the
 * first start to the last end; their average CPU per op, and the server's CPU per op.
 */
const fanIn = (runs: ReadonlyArray<ReadonlyArray<Line>>, bench: string) => {
  const rows = runs.map((lines) => byBench(lines).get(bench))
  if (rows.some((r) => r === undefined)) throw new Error(`a fan-in client printed no ${bench} figure`)
  const all = rows as Array<Line>
  const starts = all.map((r) => Number(r.started_at))
  const spread = Math.max(...starts) - Math.min(...starts)
  if (bench !== "cast" && spread > FAN_IN_START_SPREAD_MS) {
    console.log(`  !! fan-in ${bench}: client windows started ${spread} ms apart; the sum is approximate`)
  }
  const per_sec = bench === "cast"
    ? all.reduce((a, r) => a + Number(r.sent), 0) /
      ((Math.max(...all.map((r) => Number(r.ended_at))) - Math.min(...starts)) / 1000)
    : all.reduce((a, r) => a + Number(r.per_sec), 0)
  const mean = (field: string) => all.reduce((a, r) => a + Number(r[field] ?? NaN), 0) / all.length
  // Every client read the one server's CPU over (about) the common window: its mean over all their calls.
  const server_cpu_us_per_op = mean("server_cpu_us") / all.reduce((a, r) => a + Number(r.ops ?? NaN), 0)
  return { per_sec, cpu_us_per_op: mean("cpu_us_per_op"), server_cpu_us_per_op }
}

/** How far apart the fan-in clients' windows may start before the sum of their rates is flagged. */
const FAN_IN_START_SPREAD_MS = 250

/** Says so when casts were dropped on the way (they must not count as sent fast). */
const checkDelivered = (lines: ReadonlyArray<Line>) => {
  for (const line of lines) {
    if (line.delivered !== undefined && Number(line.delivered) < Number(line.sent)) {
      console.log(`  !! ${line.bench}: ${line.delivered} of ${line.sent} casts arrived`)
    }
  }
}

type Figures = Record<string, number>

/** The per-op figures a client prints beside its rate. */
const PER_OP = ["p50_us", "p99_us", "p999_us", "cpu_us_per_op", "server_cpu_us_per_op"]

const oneRun = async (): Promise<{ ours: Figures; raw: Figures; erlang: Figures }> => {
  const benches = ["seq", "seq_promise", "pipe", "payload", "payload_pipe", "cast", "spawn", "spawn_c64"]
  const [mine] = await ours(benches)
  checkDelivered(mine!)
  const [theirs] = await raw(["seq", "pipe", "payload", "payload_pipe", "cast"])
  const m = byBench(mine!)
  const r = byBench(theirs!)
  const o: Figures = {}
  const b: Figures = {}
  for (const bench of benches) {
    const row = m.get(bench)
    if (row === undefined) continue
    o[bench] = Number(row.per_sec)
    for (const p of PER_OP) {
      if (row[p] !== undefined) o[`${bench} ${p}`] = Number(row[p])
    }
    const base = r.get(bench)
    if (base !== undefined) {
      b[bench] = Number(base.per_sec)
      for (const p of PER_OP) {
        if (base[p] !== undefined) b[`${bench} ${p}`] = Number(base[p])
      }
    }
  }
  o["start_to_nodeup_ms"] = Number(m.get("up")?.start_to_nodeup_ms)
  o["start_to_nodeup modules_loaded_ms"] = Number(m.get("up")?.modules_loaded_ms)
  const fanCalls = fanIn(await ours(["seq"], FAN_IN), "seq")
  const castClients = await ours(["cast"], FAN_IN)
  castClients.forEach(checkDelivered)
  const fanCasts = fanIn(castClients, "cast")
  const rawFanCalls = fanIn(await raw(["seq"], FAN_IN), "seq")
  const rawFanCasts = fanIn(await raw(["cast"], FAN_IN), "cast")
  o["fanin calls"] = fanCalls.per_sec
  o["fanin calls cpu_us_per_op"] = fanCalls.cpu_us_per_op
  o["fanin calls server_cpu_us_per_op"] = fanCalls.server_cpu_us_per_op
  o["fanin casts"] = fanCasts.per_sec
  b["fanin calls"] = rawFanCalls.per_sec
  b["fanin calls cpu_us_per_op"] = rawFanCalls.cpu_us_per_op
  b["fanin calls server_cpu_us_per_op"] = rawFanCalls.server_cpu_us_per_op
  b["fanin casts"] = rawFanCasts.per_sec
  const e: Figures = {}
  if (hasErlang) {
    for (const [bench, row] of erlang()) {
      const rate = row.calls_per_sec ?? row.msgs_per_sec ?? row.spawns_per_sec ?? row.per_sec
      if (rate !== undefined) e[bench] = Number(rate)
      if (row.p50_us !== undefined) e[`${bench} p50_us`] = Number(row.p50_us)
      if (row.p99_us !== undefined) e[`${bench} p99_us`] = Number(row.p99_us)
    }
  }
  return { ours: o, raw: b, erlang: e }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!
const fmt = (n: number | undefined) => n === undefined || Number.isNaN(n) ? "–" : Math.round(n).toLocaleString("en-US")

const main = async () => {
  console.log("building dist/ ...")
  const built = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" })
  if (built.status !== 0) throw new Error("build failed")
  const runs = []
  for (let i = 0; i < RUNS; i++) {
    const load = os.loadavg()[0]!.toFixed(2)
    runs.push({ ...(await oneRun()), load })
    console.log(`run ${i + 1} done (load average ${load})`)
  }
  console.log(`\n== user-shaped: built package, two OS processes; median of ${RUNS} runs [min–max] ==`)
  console.log(
    `load averages at the start of each run: ${runs.map((r) => r.load).join(", ")}; erlang: ${
      hasErlang ? "yes" : "not on this machine"
    }`
  )
  const keys = [
    "seq",
    "seq p50_us",
    "seq p99_us",
    "seq p999_us",
    "seq cpu_us_per_op",
    "seq server_cpu_us_per_op",
    "seq_promise",
    "seq_promise cpu_us_per_op",
    "pipe",
    "pipe p99_us",
    "pipe cpu_us_per_op",
    "pipe server_cpu_us_per_op",
    "cast",
    "spawn",
    "spawn_c64",
    "payload",
    "payload p99_us",
    "payload_pipe",
    "fanin calls",
    "fanin calls cpu_us_per_op",
    "fanin calls server_cpu_us_per_op",
    "fanin casts",
    "start_to_nodeup_ms",
    "start_to_nodeup modules_loaded_ms"
  ]
  console.log(
    `${"figure".padEnd(28)} ${"ours".padStart(10)} ${"[spread]".padStart(20)} ${"raw".padStart(10)} ${
      "÷ raw".padStart(7)
    } ${"erlang".padStart(10)} ${"÷ erl".padStart(7)}`
  )
  for (const key of keys) {
    const mine = runs.map((r) => r.ours[key]).filter((v): v is number => v !== undefined && !Number.isNaN(v))
    if (mine.length === 0) continue
    const rawValues = runs.map((r) => r.raw[key]).filter((v): v is number => v !== undefined)
    const erl = runs.map((r) => r.erlang[key]).filter((v): v is number => v !== undefined)
    const m = median(mine)
    const rv = rawValues.length > 0 ? median(rawValues) : undefined
    const ev = erl.length > 0 ? median(erl) : undefined
    const ratio = (base: number | undefined) => base === undefined ? "–" : `${(m / base).toFixed(2)}x`
    console.log(
      `${key.padEnd(28)} ${fmt(m).padStart(10)} ${
        `[${fmt(Math.min(...mine))}–${fmt(Math.max(...mine))}]`.padStart(20)
      } ${fmt(rv).padStart(10)} ${ratio(rv).padStart(7)} ${fmt(ev).padStart(10)} ${ratio(ev).padStart(7)}`
    )
  }
  console.log(
    "(rates per second; *_us latencies and CPU µs per op: lower is better, so their ratios read the other way)"
  )
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
