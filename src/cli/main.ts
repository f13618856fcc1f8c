/**
 * Entry of the `noex-effect` binary. `NodeRuntime.runMain` turns SIGINT and SIGTERM
 * into interruption, so the node's scope closes and peers see `graceful_shutdown`.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { run } from "./NodeCommand.js"

run(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
