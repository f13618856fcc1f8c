/**
 * Why a process ended: `"normal"` (it was stopped), `"shutdown"` (its node is closing,
 * or a spawn it belonged to was given up), `{ error }` (a failure, with what failed),
 * or `{ conflict }` (it lost a global name after a partition healed).
 */
export type ExitReason = "normal" | "shutdown" | { readonly error: unknown } | { readonly conflict: string }
