import { Console, Effect, Stream } from "effect"
import { Cluster } from "noex-effect"
import { runExample, startNode, awaitMesh } from "../support/nodes.js"

runExample(Effect.scoped(Effect.gen(function* () {
  const b = yield* startNode("b")
  const a = yield* startNode("a", { seeds: [b.id] })
  yield* awaitMesh([a, b])
  yield* Effect.forkScoped(a.run(Stream.runForEach(Cluster.nodeEvents, (e) => Console.log("a sees", JSON.stringify(e)))))
  yield* Effect.yieldNow()
  yield* Console.log("closing b (a dialed b: b's side of the link is inbound)")
  yield* b.stop
  yield* Effect.sleep("300 millis")
  const c = yield* startNode("c")
  const d = yield* startNode("d", { seeds: [c.id] })
  yield* awaitMesh([c, d])
  yield* Effect.forkScoped(c.run(Stream.runForEach(Cluster.nodeEvents, (e) => Console.log("c sees", JSON.stringify(e)))))
  yield* Effect.yieldNow()
  yield* Console.log("closing d (d dialed c: d's side is outbound)")
  yield* d.stop
  yield* Effect.sleep("300 millis")
})))
