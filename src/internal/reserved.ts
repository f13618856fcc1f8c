/**
 * Names reserved for the runtime's own processes (a process-group scope, the cluster lock, a
 * distributed supervisor's instance). Reserved, not just uncounted: a user process (or a
 * peer's spawn) holding `noex.pg.jobs` before the scope starts would take that scope's place.
 */
export const SYSTEM_PREFIX = "noex."

/** Whether `name` is one only the runtime may take. */
export const isReserved = (name: string): boolean => name.startsWith(SYSTEM_PREFIX)
