/**
 * Runs a bench program as a node of this process against `node-server.ts` in another OS
 * process (an echo, a counter and an idle behavior, and raw `node:net` baselines), then
 * stops it; exits 1 on failure.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import { fileURLToPath } from "node:url"
import { BehaviorRegistry, Cluster, TcpTransport } from "../../src/node.js"
import type { NodeId } from "../../src/node.js"
import { startChild } from "./child.js"

/** What `node-server.ts` prints once listening. */
export interface NodeServer {
  readonly nodeId: NodeId
  readonly rawPort: number
  readonly sinkPort: number
}

/** Runs `program` against a fresh node server and reports its failure as the exit code. */
export const runAgainstNodeServer = (
  program: (server: NodeServer) => Effect.Effect<void, unknown, Cluster.ClusterServices>
): void => {
  const main = async () => {
    const { child, info } = await startChild<NodeServer>(fileURLToPath(new URL("./node-server.ts", import.meta.url)))
    try {
      await Effect.runPromise(
        program(info).pipe(
          Effect.provide(
            Cluster.layer({ nodeName: "client", port: 0, seeds: [info.nodeId] }).pipe(
              Layer.provide(BehaviorRegistry.layer({})),
              Layer.provide(TcpTransport.layer)
            )
          ),
          Logger.withMinimumLogLevel(LogLevel.Warning)
        )
      )
    } finally {
      // SIGINT lets a profiled child write its profile.
      child.kill(process.env.BENCH_CHILD_NODE_OPTIONS ? "SIGINT" : "SIGKILL")
    }
  }
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
