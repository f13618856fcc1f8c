/**
 * The public operations are traced (`Effect.fn`): an installed tracer sees one span per
 * call, cast, spawn, register and stop, named after the function, and parented to the
 * user's own span. Simulated nodes on the in-memory network.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Tracer } from "effect"
import { GenServer, GlobalRegistry, MemoryNetwork as Net, RemoteCall, RemoteSpawn } from "../src/index.js"
import { settle, simId, startNode } from "./support/sim.js"

const counter = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", s: number) => [s, s] as const,
  handleCast: (_: "inc", s: number) => s + 1
})

describe("tracing", () => {
  it.scoped("gives every public operation a span named after it, under the caller's span, when a tracer is installed", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors: { counter } })
      const b = yield* startNode(net, "b", { behaviors: { counter }, seeds: [simId("a")] })
      yield* settle(200, 25)
      const native = yield* Effect.tracer
      const spans: Array<{ name: string; parent: string | undefined }> = []
      const recording = Tracer.make({
        span: (name, parent, ...rest) => {
          spans.push({
            name,
            parent: Option.match(parent, {
              onNone: () => undefined,
              onSome: (p) => (p._tag === "Span" ? p.name : undefined)
            })
          })
          return native.span(name, parent, ...rest)
        },
        context: (f) => f()
      })
      yield* a.run(
        Effect.gen(function*() {
          const spawned = yield* RemoteSpawn.spawn("counter", b.id)
          const ref = { id: spawned.serverId, nodeId: spawned.nodeId }
          yield* RemoteCall.cast(ref, "inc")
          expect(yield* RemoteCall.call(ref, "get")).toBe(1)
          yield* GenServer.cast(ref, "inc")
          expect(yield* GenServer.call(ref, "get")).toBe(2)
          yield* GlobalRegistry.register("counter", ref)
          yield* GenServer.stop(ref)
        }).pipe(Effect.withSpan("user"), Effect.withTracer(recording))
      )
      expect(spans.filter((s) => s.name !== "user")).toEqual(
        [
          "RemoteSpawn.spawn",
          "RemoteCall.cast",
          "RemoteCall.call",
          "GenServer.cast",
          "GenServer.call",
          "GlobalRegistry.register",
          "GenServer.stop"
        ].map((name) => ({ name, parent: "user" }))
      )
    }))
})
