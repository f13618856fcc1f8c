import { Console, Effect, Stream } from "effect"
import { Cluster } from "noex-effect"
import { runExample, startNode, awaitMesh } from "../support/nodes.js"

runExample(Effect.scoped(Effect.gen(function* () {
  const co = yield* startNode("coordinator")
  const w1 = yield* startNode("worker1", { seeds: [co.id] })
  const w2 = yield* startNode("worker2", { seeds: [co.id] })
  yield* awaitMesh([co, w1, w2])
  for (const n of [co, w1]) yield* Effect.forkScoped(n.run(Stream.runForEach(Cluster.nodeEvents, (e) => Console.log(n.name, "sees", JSON.stringify(e)))))
  yield* Effect.yieldNow()
  yield* Console.log("closing worker2")
  yield* w2.stop
  yield* Effect.sleep("300 millis")
})))
