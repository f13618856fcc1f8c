/**
 * Typed protocols end to end: `Schema.TaggedRequest` messages cross the wire encoded
 * and arrive decoded (classes, transforms, brands), replies come back as their declared
 * type, and declared failures reach the caller as themselves, on a remote ref and a
 * local one alike.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref, Schema } from "effect"
import { GenServer, MemoryNetwork, RemoteCall, RemoteSpawn } from "../src/index.js"
import type { ServerRef } from "../src/index.js"
import { flush, settle, simId, startNode } from "./support/sim.js"

const Amount = Schema.Number.pipe(Schema.positive(), Schema.brand("Amount"))

class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Number,
  requested: Schema.Number
}) {}

class AccountFrozen extends Schema.TaggedError<AccountFrozen>()("AccountFrozen", {}) {}

class Statement extends Schema.Class<Statement>("Statement")({ balance: Schema.Number, asOf: Schema.Date }) {
  get summary() {
    return `${this.balance} at ${this.asOf.toISOString()}`
  }
}

class Deposit extends Schema.TaggedRequest<Deposit>()("Deposit", {
  failure: AccountFrozen,
  success: Schema.Number,
  payload: { amount: Amount, at: Schema.Date }
}) {}

class Withdraw extends Schema.TaggedRequest<Withdraw>()("Withdraw", {
  failure: Schema.Union(InsufficientFunds, AccountFrozen),
  success: Schema.Number,
  payload: { amount: Amount }
}) {}

class GetStatement extends Schema.TaggedRequest<GetStatement>()("GetStatement", {
  failure: Schema.Never,
  success: Statement,
  payload: {}
}) {}

/** A request whose handler fails with an error it did not declare. */
class Close extends Schema.TaggedRequest<Close>()("Close", {
  failure: Schema.Never,
  success: Schema.Void,
  payload: {}
}) {}

class Freeze extends Schema.TaggedClass<Freeze>()("Freeze", { at: Schema.Date }) {}

const AccountRequest = Schema.Union(Deposit, Withdraw, GetStatement, Close)

interface Account {
  readonly balance: number
  readonly frozen: boolean
}

const account = GenServer.typedBehavior({
  requests: AccountRequest,
  casts: Freeze,
  init: (): Account => ({ balance: 0, frozen: false }),
  handlers: {
    Deposit: (req, state) => {
      if (state.frozen) return Effect.fail(new AccountFrozen())
      const balance = state.balance + req.amount
      return Effect.succeed([balance, { ...state, balance }] as const)
    },
    Withdraw: (req, state) => {
      if (state.frozen) return Effect.fail(new AccountFrozen())
      if (req.amount > state.balance) {
        return Effect.fail(new InsufficientFunds({ balance: state.balance, requested: req.amount }))
      }
      return Effect.succeed([state.balance - req.amount, { ...state, balance: state.balance - req.amount }] as const)
    },
    GetStatement: (_req, state) =>
      [new Statement({ balance: state.balance, asOf: new Date(Date.UTC(2026, 0, 1)) }), state] as const,
    // A failure no request declares is a defect here: the caller gets RemoteHandlerError, as from any handler.
    Close: () => Effect.die(new Error("closing is not supported"))
  },
  handleCast: (_msg, state) => ({ ...state, frozen: true })
})

const amount = Amount.make

/** The scenario, against a ref that is remote or local: the same outcomes either way. */
const bank = (
  call: <A, E>(effect: Effect.Effect<A, E, RemoteCall.RemoteCall>) => Effect.Effect<A, E>,
  ref: ServerRef
) =>
  Effect.gen(function*() {
    // The reply type is the request's: a number, with no cast.
    const balance: number = yield* call(
      RemoteCall.call(ref, new Deposit({ amount: amount(100), at: new Date(Date.UTC(2026, 5, 1)) }))
    )
    expect(balance).toBe(100)
    // A declared failure arrives as itself, so catchTag sees it.
    const refused = yield* call(
      RemoteCall.call(ref, new Withdraw({ amount: amount(250) })).pipe(
        Effect.catchTag("InsufficientFunds", (e) => Effect.succeed(`short by ${e.requested - e.balance}`))
      )
    )
    expect(refused).toBe("short by 150")
    const failure = yield* call(Effect.flip(RemoteCall.call(ref, new Withdraw({ amount: amount(250) }))))
    expect(failure).toBeInstanceOf(InsufficientFunds)
    expect(failure).toMatchObject({ _tag: "InsufficientFunds", balance: 100, requested: 250 })
    // The reply is decoded into its class: a getter of the class works.
    const statement = yield* call(RemoteCall.call(ref, new GetStatement()))
    expect(statement).toBeInstanceOf(Statement)
    expect(statement.summary).toBe("100 at 2026-01-01T00:00:00.000Z")
    // An error the request did not declare is the handler's fault, as for any call.
    const closed = yield* call(Effect.flip(RemoteCall.call(ref, new Close())))
    expect(closed).toMatchObject({ _tag: "RemoteHandlerError", name: "Error", message: "closing is not supported" })
    // A cast of a Schema class arrives as the class, its Date decoded.
    yield* call(RemoteCall.cast(ref, new Freeze({ at: new Date() })))
    const frozen = yield* call(
      RemoteCall.call(ref, new Withdraw({ amount: amount(1) })).pipe(
        Effect.retry({ while: (e) => e._tag === "InsufficientFunds", times: 3 }),
        Effect.flip
      )
    )
    expect(frozen).toBeInstanceOf(AccountFrozen)
  })

describe("typed protocols", () => {
  it.scoped("a TaggedRequest's reply and declared errors cross the wire as themselves; messages arrive decoded", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", {})
      const b = yield* startNode(net, "b", { behaviors: { account }, seeds: [simId("a")] })
      yield* settle(200)
      const spawned = yield* a.run(RemoteSpawn.spawn("account", b.id))
      const ref = { id: spawned.serverId, nodeId: b.id }
      yield* bank((effect) => a.run(effect), ref)
    }))

  it.scoped("the same scenario on a local ref gives the same outcomes", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { behaviors: { account } })
      const ref = yield* a.run(GenServer.start(account))
      yield* bank((effect) => a.run(effect), ref)
    }))

  it.scoped("handlers receive class instances with their transforms applied", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const probe = GenServer.behavior({
        init: () => null,
        handleCall: (req: Deposit, state: null) =>
          Effect.as(
            Ref.update(
              seen,
              (s) => [...s, `${req instanceof Deposit} ${req.at instanceof Date} ${req.at.getUTCFullYear()}`]
            ),
            [req.amount, state] as const
          ),
        handleCast: (msg: Freeze, state: null) =>
          Effect.as(Ref.update(seen, (s) => [...s, `${msg instanceof Freeze} ${msg.at instanceof Date}`]), state),
        schemas: { call: Deposit, cast: Freeze }
      })
      const a = yield* startNode(net, "a", {})
      const b = yield* startNode(net, "b", { behaviors: { probe }, seeds: [simId("a")] })
      yield* settle(200)
      const spawned = yield* a.run(RemoteSpawn.spawn("probe", b.id))
      const ref = { id: spawned.serverId, nodeId: b.id }
      expect(yield* a.run(RemoteCall.call(ref, new Deposit({ amount: amount(5), at: new Date(Date.UTC(2030, 1, 1)) }))))
        .toBe(5)
      yield* a.run(RemoteCall.cast(ref, new Freeze({ at: new Date() })))
      yield* flush
      expect(yield* Ref.get(seen)).toEqual(["true true 2030", "true true"])
    }))

  it.scoped("an untyped caller gets RemoteHandlerError for a declared failure, and InvalidMessageError for a bad message", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", {})
      const b = yield* startNode(net, "b", { behaviors: { account }, seeds: [simId("a")] })
      yield* settle(200)
      const spawned = yield* a.run(RemoteSpawn.spawn("account", b.id))
      const ref = { id: spawned.serverId, nodeId: b.id }
      // A plain object in the encoded form is decoded as well (a Date as its ISO string).
      expect(yield* a.run(RemoteCall.call(ref, { _tag: "Deposit", amount: 10, at: "2026-06-01T00:00:00.000Z" }))).toBe(
        10
      )
      const untyped = yield* a.run(Effect.flip(RemoteCall.call(ref, { _tag: "Withdraw", amount: 50 })))
      expect(untyped).toMatchObject({ _tag: "RemoteHandlerError", name: "InsufficientFunds" })
      const invalid = yield* a.run(Effect.flip(RemoteCall.call(ref, { _tag: "Withdraw", amount: -5 })))
      expect(invalid._tag).toBe("InvalidMessageError")
      expect(invalid.message).toContain("Expected a positive number, actual -5")
      // The process goes on.
      expect(yield* a.run(RemoteCall.call(ref, new Withdraw({ amount: amount(10) })))).toBe(0)
    }))

  it.effect("types: the reply and error channel come from the request", () =>
    Effect.gen(function*() {
      const ref: ServerRef = yield* GenServer.start(account)
      const withdraw = GenServer.call(ref, new Withdraw({ amount: amount(1) }))
      // Only the declared errors and the call's own are in the channel: catching one that is not there does not compile.
      // @ts-expect-error AccountClosed is not a failure of Withdraw
      const wrong = Effect.catchTag(withdraw, "AccountClosed", () => Effect.succeed(0))
      expect(wrong).toBeDefined()
      const caught: Effect.Effect<number, unknown, GenServer.GenServerRuntime> = Effect.catchTags(withdraw, {
        InsufficientFunds: (e) => Effect.succeed(e.balance),
        AccountFrozen: () => Effect.succeed(-1)
      })
      expect(yield* caught).toBe(0)
      // A handler must answer its request's reply and fail only with what it declared.
      GenServer.typedBehavior({
        requests: Withdraw,
        init: () => 0,
        handlers: {
          // @ts-expect-error Withdraw answers a number, not a string
          Withdraw: (_req, state) => ["no", state] as const
        }
      })
      GenServer.typedBehavior({
        requests: Withdraw,
        init: () => 0,
        handlers: {
          // @ts-expect-error Withdraw does not declare Error
          Withdraw: () => Effect.fail(new Error("undeclared"))
        }
      })
      // An untyped message keeps today's typing.
      const untyped: Effect.Effect<string, unknown, GenServer.GenServerRuntime> = GenServer.call<string>(ref, "x")
      expect(untyped).toBeDefined()
    }).pipe(Effect.provide(GenServer.layer)))
})

/** A declared error whose `message` getter throws: user code the serving side must not let escape. */
class Unprintable extends Schema.TaggedError<Unprintable>()("Unprintable", {}) {
  override get message(): string {
    throw new Error("the message getter threw")
  }
}

/** A declared error as large as its field: over a small frame limit. */
class Huge extends Schema.TaggedError<Huge>()("Huge", { blob: Schema.String }) {}

/** A request whose payload's filter reports with a message that throws. */
const Checked = Schema.Number.pipe(Schema.filter((n) => n > 0, {
  message: () => {
    throw new Error("the filter's message threw")
  }
}))

class Risky extends Schema.TaggedRequest<Risky>()("Risky", {
  failure: Schema.Union(Unprintable, Huge),
  success: Schema.Number,
  payload: { mode: Schema.Literal("ok", "unprintable", "huge"), n: Checked }
}) {}

const risky = GenServer.typedBehavior({
  requests: Risky,
  init: () => 0,
  handlers: {
    Risky: ({ mode, n }, calls) =>
      mode === "unprintable"
        ? Effect.fail(new Unprintable())
        : mode === "huge"
        ? Effect.fail(new Huge({ blob: "x".repeat(20_000) }))
        : Effect.succeed([n + calls, calls + 1] as const)
  }
})

describe("typed protocols: user code that throws, answers too large", () => {
  it.scoped("an error whose message throws, a filter whose report throws and an error over the frame limit each fail that call with a typed error; the process and the link go on", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { maxFrameBytes: 8192 })
      const b = yield* startNode(net, "b", { behaviors: { risky }, seeds: [simId("a")] })
      yield* settle(500)
      const spawned = yield* a.run(RemoteSpawn.spawn("risky", b.id))
      const ref: ServerRef = { id: spawned.serverId, nodeId: b.id }
      const call = (mode: "ok" | "unprintable" | "huge", n = 1) =>
        Effect.fork(a.run(Effect.either(RemoteCall.call(ref, new Risky({ mode, n }, true), { timeout: 5_000 }))))
      const answer = <A, E>(fiber: import("effect").Fiber.RuntimeFiber<A, E>) =>
        Effect.zipRight(settle(200), fiber.await).pipe(Effect.flatten)

      const unprintable = yield* answer(yield* call("unprintable"))
      expect(unprintable._tag === "Left" && unprintable.left._tag).toBe("Unprintable")
      // The caller is told at once, not at its deadline: the answer does not fit its frames.
      const huge = yield* answer(yield* call("huge"))
      expect(huge._tag === "Left" && huge.left._tag).toBe("MessageTooLargeError")
      // A value its own filter refuses (with a report that throws) is refused on the caller, typed.
      const refused = yield* answer(yield* call("ok", -1))
      expect(refused._tag === "Left" && refused.left._tag).toBe("InvalidMessageError")
      // The same process answers the next call, over the same link.
      const ok = yield* answer(yield* call("ok", 5))
      expect(ok._tag === "Right" && ok.right).toBe(5)
      expect(a.events.filter((e) => e._tag === "NodeDown")).toEqual([])
    }))
})
