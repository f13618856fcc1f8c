/**
 * The two worker nodes of the pool examples (`node-failures.ts`, `failures.ts`): child
 * processes running `worker-pool/worker-node.ts`, joined to this node, their pids printed so
 * the tests can check that none is left behind.
 */
import { Console, Effect } from "effect"
import type { Scope } from "effect"
import { Cluster } from "noex-effect"
import type { NodeId } from "noex-effect"
import { spawnChildNode } from "./child-node.js"
import type { ChildNode } from "./child-node.js"
import { waitUntil } from "./nodes.js"

/** Two worker nodes seeded with this node, once both are connected. */
export const startWorkerNodes = (
  cookie: string
): Effect.Effect<
  { readonly nodes: readonly [ChildNode, ChildNode]; readonly ids: readonly [NodeId, NodeId] },
  unknown,
  Cluster.Cluster | Scope.Scope
> =>
  Effect.gen(function*() {
    const self = yield* Cluster.getLocalNodeId
    const children: Array<ChildNode> = []
    for (const name of ["worker1", "worker2"]) {
      children.push(
        yield* spawnChildNode({
          name,
          script: "examples/worker-pool/worker-node.ts",
          args: [name, self],
          env: { NOEX_COOKIE: cookie, QUIET: "1", EXIT_ON_STDIN_END: "1" }
        })
      )
    }
    const nodes = children as unknown as readonly [ChildNode, ChildNode]
    const ids = (yield* Effect.forEach(children, (c) => c.ready, { concurrency: "unbounded" })) as unknown as readonly [
      NodeId,
      NodeId
    ]
    yield* waitUntil(
      "the worker nodes to join",
      Effect.map(Cluster.getConnectedNodes, (connected) => ids.every((id) => connected.some((n) => n.id === id)))
    )
    yield* Console.log(`Worker nodes: ${ids[0]} (pid ${nodes[0].pid}), ${ids[1]} (pid ${nodes[1].pid})`)
    return { nodes, ids }
  })
