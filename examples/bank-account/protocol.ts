/**
 * The bank account's protocol, shared by the node that runs accounts and every node that
 * calls them: each request is a `Schema.TaggedRequest` that declares its reply and the
 * errors it may fail with. That one definition types the handlers on one side and the
 * calls on the other, and it is what both sides encode and decode with on the wire.
 */
import { Context, Effect, Schema } from "effect"
import { GenServer } from "noex-effect"

/** A positive amount of cents: the brand is checked wherever an amount is decoded. */
export const Cents = Schema.Int.pipe(Schema.positive(), Schema.brand("Cents"))
export type Cents = typeof Cents.Type

/** A withdrawal larger than the balance. */
export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Number,
  requested: Schema.Number
}) {
  override get message() {
    return `cannot withdraw ${this.requested} from a balance of ${this.balance}`
  }
}

/** Any request to an account that has been frozen. */
export class AccountFrozen extends Schema.TaggedError<AccountFrozen>()("AccountFrozen", { owner: Schema.String }) {}

/** Puts money in; answers the new balance. */
export class Deposit extends Schema.TaggedRequest<Deposit>()("Deposit", {
  failure: AccountFrozen,
  success: Schema.Number,
  payload: { amount: Cents }
}) {}

/** Takes money out; answers the new balance. */
export class Withdraw extends Schema.TaggedRequest<Withdraw>()("Withdraw", {
  failure: Schema.Union(InsufficientFunds, AccountFrozen),
  success: Schema.Number,
  payload: { amount: Cents }
}) {}

/** A statement: a class, with a Date, decoded as such on the caller's node. */
export class Statement extends Schema.Class<Statement>("Statement")({
  owner: Schema.String,
  balance: Schema.Number,
  asOf: Schema.Date
}) {
  get line() {
    return `${this.owner}: ${this.balance} cents as of ${this.asOf.toISOString()}`
  }
}

/** Asks for a statement. */
export class GetStatement extends Schema.TaggedRequest<GetStatement>()("GetStatement", {
  failure: Schema.Never,
  success: Statement,
  payload: {}
}) {}

/** Every request an account answers. */
export const AccountRequest = Schema.Union(Deposit, Withdraw, GetStatement)

/** A cast: freezes the account (a `Schema.TaggedClass`, so it arrives as one). */
export class Freeze extends Schema.TaggedClass<Freeze>()("Freeze", { reason: Schema.String }) {}

/** Where accounts record their movements: a service the account's handlers need. */
export class AuditLog extends Context.Tag("bank/AuditLog")<AuditLog, {
  readonly record: (line: string) => Effect.Effect<void>
}>() {}

interface Account {
  readonly owner: string
  readonly balance: number
  readonly frozen: boolean
}

const audited = <A>(line: string, answer: A) => Effect.flatMap(AuditLog, (log) => Effect.as(log.record(line), answer))

/** The account: one handler per request, each typed by its request. */
export const account = GenServer.typedBehavior({
  requests: AccountRequest,
  casts: Freeze,
  init: (owner: string): Account => ({ owner, balance: 0, frozen: false }),
  handlers: {
    Deposit: ({ amount }, state) =>
      state.frozen
        ? Effect.fail(new AccountFrozen({ owner: state.owner }))
        : audited(
          `deposit ${amount} to ${state.owner}`,
          [state.balance + amount, { ...state, balance: state.balance + amount }] as const
        ),
    Withdraw: ({ amount }, state) =>
      state.frozen
        ? Effect.fail(new AccountFrozen({ owner: state.owner }))
        : amount > state.balance
        ? Effect.fail(new InsufficientFunds({ balance: state.balance, requested: amount }))
        : audited(
          `withdraw ${amount} from ${state.owner}`,
          [state.balance - amount, { ...state, balance: state.balance - amount }] as const
        ),
    GetStatement: (_req, state) =>
      [new Statement({ owner: state.owner, balance: state.balance, asOf: new Date() }), state] as const
  },
  handleCast: (freeze, state) => audited(`freeze ${state.owner}: ${freeze.reason}`, { ...state, frozen: true })
})
