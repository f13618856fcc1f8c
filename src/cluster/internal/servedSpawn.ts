/**
 * One spawn served for another node: in `init`, registering its global name, or finished;
 * cancelled when its caller gives up. Its `Serving` finishes the start.
 */
import { Exit } from "effect"
import type { GenServerInitError, NameAlreadyRegisteredError } from "../../errors.js"
import type { PendingStart } from "../../internal/process.js"
import type { ServerRef, SpawnResult } from "../../ServerRef.js"
import type { GlobalNames, LocalSpawnError, Serving, SpawnTask } from "./serving.js"

/** One spawn served by {@link Serving.spawnHere}: in `init`, registering its global name, or finished. */
export class ServedSpawn implements SpawnTask {
  finished = false
  cancelled = false
  starting: PendingStart | undefined = undefined

  constructor(
    private readonly serving: Serving,
    readonly behaviorName: string,
    private readonly globalName: string | undefined,
    private readonly global: GlobalNames | undefined,
    private readonly done: (exit: Exit.Exit<SpawnResult, LocalSpawnError>) => void
  ) {}

  started(exit: Exit.Exit<ServerRef, GenServerInitError | NameAlreadyRegisteredError>): void {
    this.starting = undefined
    if (Exit.isFailure(exit)) {
      this.releaseGlobalName()
      return this.finish(Exit.fail(this.serving.startFailed(this.behaviorName, exit)))
    }
    const ref = exit.value
    if (this.global === undefined || this.globalName === undefined) {
      return this.finish(Exit.succeed({ serverId: ref.id, nodeId: ref.nodeId }))
    }
    this.serving.registerGlobally(this, this.global, this.globalName, ref)
  }

  finish(exit: Exit.Exit<SpawnResult, LocalSpawnError>): void {
    this.finished = true
    if (!this.cancelled) this.done(exit)
  }

  cancel(): void {
    if (this.cancelled || this.finished) return
    this.cancelled = true
    // Still in `init`: give it up. Registering its global name: stopped once that ends.
    if (this.starting !== undefined) {
      this.starting.cancel()
      this.starting = undefined
      this.releaseGlobalName()
    }
  }

  private releaseGlobalName(): void {
    if (this.globalName !== undefined) this.serving.startingGlobal.delete(this.globalName)
  }
}
