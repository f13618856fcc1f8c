/**
 * A behavior for the spawn matrix: its `init` answers the way its arguments say
 * (a plain value, a Promise or an Effect; success, failure or slow) and counts its
 * runs by key, so a test can tell that `init` ran exactly once.
 */
import { Effect } from "effect"
import { GenServer } from "../../src/index.js"

/** How `init` answers. */
export type InitKind = "sync" | "promise" | "effect"

/** What `init` does: succeed at once, fail, or take `slowMs` before succeeding. */
export type InitOutcome = "ok" | "fail" | "slow"

/** The single `init` argument of the probe. */
export interface ProbeArgs {
  readonly key: string
  readonly kind: InitKind
  readonly outcome: InitOutcome
  readonly slowMs?: number
}

/** Default length of a slow init. */
export const SLOW_INIT_MS = 1000

/**
 * Builds a probe. `delay` makes a slow Promise init wait (real timers on a real
 * node, a test-controlled gate in simulation); a slow Effect init sleeps on the
 * node's Clock.
 */
export const makeProbe = (delay: (ms: number) => Promise<void>) => {
  const runs = new Map<string, number>()
  const terminated: Array<string> = []
  const behavior = GenServer.behavior({
    init: (args: ProbeArgs) => {
      runs.set(args.key, (runs.get(args.key) ?? 0) + 1)
      const ms = args.slowMs ?? SLOW_INIT_MS
      const failure = new Error(`init of ${args.key} failed`)
      switch (args.kind) {
        case "sync":
          if (args.outcome === "fail") throw failure
          return args.key
        case "promise":
          return args.outcome === "ok"
            ? Promise.resolve(args.key)
            : args.outcome === "fail"
            ? Promise.reject(failure)
            : delay(ms).then(() => args.key)
        case "effect":
          return args.outcome === "ok"
            ? Effect.succeed(args.key)
            : args.outcome === "fail"
            ? Effect.fail(failure)
            : Effect.as(Effect.sleep(ms), args.key)
      }
    },
    handleCall: (_: "key", key: string) => [key, key] as const,
    handleCast: (_: unknown, key: string) => key,
    terminate: (_reason, key: string) => void terminated.push(key)
  })
  return { behavior, runs, terminated }
}

/**
 * Handlers that answer with rejected Promises (call, cast, terminate) and an init
 * that rejects when asked to: none of it may take the node down.
 */
export const rejecting = GenServer.behavior({
  init: (reject: boolean = false) => (reject ? Promise.reject(new Error("init rejected")) : Promise.resolve(0)),
  handleCall: (msg: "reject" | "ping", n: number) =>
    msg === "reject" ? Promise.reject(new Error("call rejected")) : Promise.resolve(["pong", n] as const),
  handleCast: (_: "reject", _n: number) => Promise.reject(new Error("cast rejected")),
  terminate: () => Promise.reject(new Error("terminate rejected"))
})
