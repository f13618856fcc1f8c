/**
 * A far node of the supervision benchmark, run as its own OS process. argv[2] is JSON:
 * `{ seed, name, supervisor?, stableAfter?, groupMembers? }`. It joins the cluster
 * through `seed`, runs distributed supervisor `supervisor` (children: the `worker`
 * behavior) when one is named, puts `groupMembers` idle processes in process group
 * "bench.group", and listens with a raw `node:net` server whose connections do nothing:
 * the bench holds one to time how soon a peer notices this process's death. Prints
 * `{ nodeId, rawPort, pid }` as one JSON line, then serves until killed.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as net from "node:net"
import {
  BehaviorRegistry,
  Cluster,
  DistributedSupervisor,
  GenServer,
  ProcessGroups,
  TcpTransport
} from "../../src/node.js"

/** The children's behavior (the bench registers the same): idle. */
const worker = GenServer.behavior({
  init: () => null,
  handleCall: (_: unknown, s: null) => [s, s] as const,
  handleCast: (_: unknown, s: null) => s
})

/** The group whose lookups the bench measures. */
const GROUP = "bench.group"

interface Options {
  readonly seed: string
  readonly name: string
  readonly supervisor?: string
  readonly stableAfter?: number
  readonly groupMembers?: number
}

const options = JSON.parse(process.argv[2]!) as Options

const raw = net.createServer((socket) => socket.on("error", () => {}))

const main = Effect.gen(function*() {
  const rawPort = yield* Effect.promise(() =>
    new Promise<number>((resolve) => raw.listen(0, "127.0.0.1", () => resolve((raw.address() as net.AddressInfo).port)))
  )
  const cluster = yield* Cluster.Cluster
  if (options.supervisor !== undefined) {
    yield* DistributedSupervisor.start(
      options.supervisor,
      options.stableAfter === undefined ? {} : { stableAfter: options.stableAfter }
    )
  }
  for (let i = 0; i < (options.groupMembers ?? 0); i++) {
    yield* ProcessGroups.join(GROUP, yield* GenServer.start(worker))
  }
  console.log(JSON.stringify({ nodeId: cluster.localNodeId, rawPort, pid: process.pid }))
  return yield* Effect.never
})

process.on("SIGINT", () => process.exit(0))
Effect.runFork(
  Effect.scoped(main).pipe(
    Effect.provide(
      Cluster.layer({ nodeName: options.name, port: 0, seeds: [options.seed] }).pipe(
        Layer.provide(BehaviorRegistry.layer({ worker })),
        Layer.provide(TcpTransport.layer)
      )
    ),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
