/**
 * A worker node: registers the guide's `worker` behavior (so any node may spawn workers
 * here), joins the cluster through its seeds, and serves until SIGTERM or SIGINT, then
 * leaves gracefully (peers see `graceful_shutdown`, its workers terminate).
 *
 *   npx tsx examples/worker-pool/worker-node.ts <nodeName> [seed ...]
 *
 * Environment: `NOEX_COOKIE` (the cluster's shared secret; kept out of argv so `ps` does not
 * show it), `NOEX_PORT` (default 0: a free port), `SEEDS` (comma separated, when no seed is
 * given as an argument), `QUIET=1` (no line per processed task), `EXIT_ON_STDIN_END=1` (shut
 * down when stdin closes: set by a parent process, so the node ends if the parent dies).
 *
 * stdout: first one JSON line `{"type":"ready","nodeId":...,"pid":...}` once the node listens
 * (a parent reads its NodeId from it), then a line per node event and, unless `QUIET=1`, a line
 * per processed task.
 */
import { Config, Console, Effect, Option, Stream } from "effect"
import { Cluster } from "noex-effect"
import { nodeLayer, runExample } from "../support/nodes.js"
import { workerBehavior } from "./shared/worker.js"

const settings = Config.all({
  name: Config.string("NOEX_NODE_NAME").pipe(Config.withDefault("worker")),
  port: Config.integer("NOEX_PORT").pipe(Config.withDefault(0)),
  seeds: Config.string("SEEDS").pipe(Config.withDefault("")),
  cookie: Config.option(Config.redacted("NOEX_COOKIE"))
})

const workerNode = Effect.gen(function*() {
  const env = yield* settings
  const [argName, ...argSeeds] = process.argv.slice(2)
  const name = argName ?? env.name
  const seeds = argSeeds.length > 0 ? argSeeds : env.seeds.split(",").filter((s) => s.trim().length > 0)

  const serve = Effect.gen(function*() {
    const self = yield* Cluster.getLocalNodeId
    // Subscribe to node events before announcing readiness, so no join is missed.
    yield* Effect.forkScoped(
      Stream.runForEach(Cluster.nodeEvents, (event) =>
        event._tag === "NodeUp"
          ? Console.log(`node up: ${event.nodeId}`)
          : Console.log(`node down: ${event.nodeId} (${event.reason})`))
    )
    yield* Effect.yieldNow()
    yield* Console.log(JSON.stringify({ type: "ready", nodeId: self, pid: process.pid }))
    return yield* Effect.never
  })

  return yield* Effect.scoped(serve).pipe(
    Effect.provide(
      nodeLayer(name, {
        port: env.port,
        seeds,
        cookie: Option.getOrUndefined(env.cookie),
        behaviors: { worker: workerBehavior }
      })
    )
  )
})

if (process.env.EXIT_ON_STDIN_END === "1") {
  // The parent holds the other end of stdin: when it goes away, leave like on SIGTERM.
  process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"))
  process.stdin.on("error", () => process.kill(process.pid, "SIGTERM"))
  process.stdin.resume()
}

// A SIGTERM/SIGINT is this program's normal way to stop: exit 0 once the node has left.
runExample(workerNode, { interruptedExitCode: 0 })
