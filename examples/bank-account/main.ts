/**
 * A bank account across two nodes over TCP on 127.0.0.1, with a typed protocol
 * (`protocol.ts`): the `bank` node runs accounts, whose handlers need an `AuditLog`
 * service that the bank's registry layer provides; the `teller` node spawns an account
 * there and calls it with `Schema.TaggedRequest`s. The replies arrive typed (a number, a
 * `Statement` class with a Date), and the account's declared errors arrive as themselves:
 * the teller handles `InsufficientFunds` and `AccountFrozen` with `Effect.catchTags`.
 *
 *   npx tsx examples/bank-account/main.ts
 */
import { Console, Effect, Layer, Ref } from "effect"
import { BehaviorRegistry, Cluster, RemoteCall, RemoteSpawn } from "noex-effect"
import { TcpTransport } from "noex-effect/node"
import { ExampleError, runExample, waitUntil } from "../support/nodes.js"
import { account, AuditLog, Cents, Deposit, Freeze, GetStatement, Statement, Withdraw } from "./protocol.js"

const program = Effect.gen(function*() {
  const audit = yield* Ref.make<ReadonlyArray<string>>([])
  const AuditLogLive = Layer.succeed(AuditLog, {
    record: (line) => Ref.update(audit, (lines) => [...lines, line])
  })
  // The registry's layer needs what the account's handlers need: the AuditLog.
  const bankLayer = Cluster.layer({ nodeName: "bank", port: 0 }).pipe(
    Layer.provide(BehaviorRegistry.layer({ account }).pipe(Layer.provide(AuditLogLive))),
    Layer.provide(TcpTransport.layer)
  )
  const bank = yield* Layer.build(bankLayer)
  const bankId = yield* Cluster.getLocalNodeId.pipe(Effect.provide(bank))
  const tellerLayer = Cluster.layer({ nodeName: "teller", port: 0, seeds: [bankId] }).pipe(
    Layer.provide(BehaviorRegistry.layer()),
    Layer.provide(TcpTransport.layer)
  )
  const teller = yield* Layer.build(tellerLayer)

  yield* Effect.gen(function*() {
    yield* Cluster.awaitNodes({ ids: [bankId], timeout: "10 seconds" })
    const spawned = yield* RemoteSpawn.spawn("account", bankId, { args: ["ada"] })
    const ref = { id: spawned.serverId, nodeId: bankId }
    yield* Console.log(`teller opened an account for ada on bank (process ${spawned.serverId})`)

    const afterDeposit = yield* RemoteCall.call(ref, new Deposit({ amount: Cents.make(10_000) }))
    yield* Console.log(`deposit 10000 -> balance ${afterDeposit}`)
    const afterWithdraw = yield* RemoteCall.call(ref, new Withdraw({ amount: Cents.make(2_500) }))
    yield* Console.log(`withdraw 2500 -> balance ${afterWithdraw}`)

    const tooMuch = yield* RemoteCall.call(ref, new Withdraw({ amount: Cents.make(1_000_000) })).pipe(
      Effect.map((balance) => `balance ${balance}`),
      Effect.catchTags({
        InsufficientFunds: (e) =>
          Effect.succeed(`refused, InsufficientFunds { balance: ${e.balance}, requested: ${e.requested} }`),
        AccountFrozen: (e) => Effect.succeed(`refused, the account of ${e.owner} is frozen`)
      })
    )
    yield* Console.log(`withdraw 1000000 -> ${tooMuch}`)

    const statement = yield* RemoteCall.call(ref, new GetStatement())
    yield* Console.log(
      `statement: a Statement = ${statement instanceof Statement}, asOf a Date = ${statement.asOf instanceof Date}`
    )
    yield* Console.log(`  ${statement.line.replace(/as of .*/, "as of <now>")}`)

    yield* RemoteCall.cast(ref, new Freeze({ reason: "reported stolen" }))
    const frozen = yield* waitUntil(
      "the freeze to land",
      RemoteCall.call(ref, new Deposit({ amount: Cents.make(1) })).pipe(
        Effect.as(false),
        Effect.catchTag("AccountFrozen", () => Effect.succeed(true))
      )
    ).pipe(Effect.as("refused with AccountFrozen"))
    yield* Console.log(`deposit after the freeze -> ${frozen}`)
  }).pipe(Effect.provide(teller))

  const lines = yield* Ref.get(audit)
  yield* Console.log(`bank's audit log (${lines.length} lines): ${lines.join("; ")}`)
  if (lines.length !== 3) return yield* new ExampleError({ message: `expected 3 audit lines, got ${lines.length}` })
})

runExample(Effect.scoped(program))
