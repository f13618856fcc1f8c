import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck, Schema } from "effect"
import * as Errors from "../src/errors.js"
import { InvalidNodeIdError, NodeId, ServerRef } from "../src/index.js"

describe("NodeId", () => {
  it.effect("parses name@host:port for IPv4, bracketed IPv6 and hostnames", () =>
    Effect.gen(function*() {
      const v4 = yield* NodeId.parse("app1@127.0.0.1:4369")
      expect(NodeId.components(v4)).toEqual({ name: "app1", host: "127.0.0.1", port: 4369 })
      const v6 = yield* NodeId.parse("b_2@[::1]:65535")
      expect(NodeId.components(v6)).toEqual({ name: "b_2", host: "[::1]", port: 65535 })
      const named = yield* NodeId.parse("worker-3@db.internal.example:1")
      expect(NodeId.components(named).host).toBe("db.internal.example")
      expect(NodeId.make("app1", "127.0.0.1", 4369)).toBe(v4)
    }))

  it.effect("rejects malformed ids with InvalidNodeIdError saying why", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string]> = [
        ["app1", "missing '@'"],
        ["app1@127.0.0.1", "missing ':port'"],
        ["1app@127.0.0.1:4369", "name"],
        ["app@127.0.0.1:0", "port 0"],
        ["app@127.0.0.1:65536", "port 65536"],
        ["app@300.1.1.1:4369", "host"],
        ["app@::1:4369", "host"],
        ["app@bad_host:4369", "host"],
        [`${"a".repeat(65)}@h:1`, "name"],
        ["app@h:12x", "not a number"]
      ]
      for (const [value, reason] of cases) {
        const error = yield* Effect.flip(NodeId.parse(value))
        expect(error).toBeInstanceOf(InvalidNodeIdError)
        expect(error.value).toBe(value)
        expect(error.reason).toContain(reason)
      }
      expect(() => NodeId.make("app", "127.0.0.1", 0)).toThrow(InvalidNodeIdError)
    }))

  it.prop(
    "make and parse agree for every valid part",
    [
      FastCheck.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/),
      FastCheck.ipV4(),
      FastCheck.integer({ min: 1, max: 65535 })
    ],
    ([name, host, port]) => {
      const id = NodeId.make(name, host, port)
      expect(Either.getOrThrow(NodeId.parseEither(id))).toBe(id)
      expect(NodeId.components(id)).toEqual({ name, host, port })
    }
  )

  it("decodes through its Schema and refuses what does not parse", () => {
    const decode = Schema.decodeUnknownEither(NodeId.schema)
    expect(Either.isRight(decode("a@127.0.0.1:1"))).toBe(true)
    expect(Either.isLeft(decode("nope"))).toBe(true)
    expect(Either.isLeft(decode(42))).toBe(true)
    const ref = Schema.decodeUnknownEither(ServerRef.schema)({ id: "x.1", nodeId: "a@127.0.0.1:1" })
    expect(Either.isRight(ref)).toBe(true)
    expect(Either.isLeft(Schema.decodeUnknownEither(ServerRef.schema)({ id: 1, nodeId: "a@127.0.0.1:1" }))).toBe(true)
  })
})

describe("errors", () => {
  const node = NodeId.make("a", "127.0.0.1", 4369)
  const samples = [
    new Errors.NodeNotReachableError({ nodeId: node }),
    new Errors.BehaviorNotFoundError({ behaviorName: "worker", nodeId: node }),
    new Errors.RemoteSpawnTimeoutError({ behaviorName: "worker", nodeId: node, timeoutMs: 10 }),
    new Errors.RemoteSpawnInitError({ behaviorName: "worker", nodeId: node, message: "boom" }),
    new Errors.RemoteSpawnRegistrationError({ behaviorName: "worker", nodeId: node, name: "n", message: "taken" }),
    new Errors.RemoteCallTimeoutError({ serverId: "s", nodeId: node, timeoutMs: 5 }),
    new Errors.RemoteServerNotRunningError({ serverId: "s", nodeId: node }),
    new Errors.RemoteHandlerError({ serverId: "s", nodeId: node, name: "TypeError", message: "m" }),
    new Errors.InvalidMessageError({ serverId: "s", nodeId: node, message: "m" }),
    new Errors.MessageTooLargeError({ bytes: 20, limit: 10 }),
    new Errors.GlobalNameConflictError({ name: "n", nodeId: node }),
    new Errors.GlobalNameNotFoundError({ name: "n" }),
    new Errors.InvalidNodeIdError({ value: "v", reason: "r" }),
    new Errors.ClusterConfigError({ field: "port", reason: "r" }),
    new Errors.GenServerInitError({ message: "m" }),
    new Errors.NameAlreadyRegisteredError({ name: "n" })
  ]

  it("are tagged with their class name, carry a message, and survive a Schema round trip", () => {
    for (const error of samples) {
      const ctor = error.constructor as unknown as Schema.Schema<any, any>
      expect(error._tag).toBe(error.constructor.name)
      expect(error.message.length).toBeGreaterThan(0)
      expect(error).toBeInstanceOf(Error)
      const encoded = Schema.encodeSync(ctor)(error)
      const json = JSON.parse(JSON.stringify(encoded))
      const decoded = Schema.decodeUnknownSync(ctor)(json)
      expect(decoded).toBeInstanceOf(error.constructor)
      expect(decoded).toEqual(error)
    }
  })
})
