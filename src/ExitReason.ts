/**
 * Why a process ended: `"normal"` (it was stopped), `"shutdown"` (its node is closing,
 * or a spawn it belonged to was given up), `{ error }` (a failure, with what failed),
 * `{ conflict }` (it lost a global name after a partition healed), or, taken down by a
 * linked process, that process's reason: also `"noproc"` (the partner was not alive when
 * linked) or `"noconnection"` (the partner's node went down).
 */
export type ExitReason =
  | "normal"
  | "shutdown"
  | "noproc"
  | "noconnection"
  | { readonly error: unknown }
  | { readonly conflict: string }
