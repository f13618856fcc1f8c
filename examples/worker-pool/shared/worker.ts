// shared/worker.ts — the guide's worker behavior ("Complete Example: Worker Pool"),
// verbatim apart from the import line and one switch: `QUIET=1` silences the
// per-task log line (the demo's worker nodes run with it unless asked to be verbose).
import { type GenServerBehavior } from "noex-effect"

interface WorkerState {
  taskCount: number
}

type WorkerCall = { type: "get_stats" }

type WorkerCast = { type: "process_task"; taskId: string; data: unknown }

type WorkerReply = { taskCount: number }

export const workerBehavior: GenServerBehavior<
  WorkerState,
  WorkerCall,
  WorkerCast,
  WorkerReply
> = {
  init: () => ({
    taskCount: 0
  }),

  handleCall: (msg, state) => {
    switch (msg.type) {
      case "get_stats":
        return [{ taskCount: state.taskCount }, state]
    }
  },

  handleCast: (msg, state) => {
    switch (msg.type) {
      case "process_task": {
        if (process.env.QUIET !== "1") console.log(`Processing task ${msg.taskId}`)
        // Simulate work
        return { ...state, taskCount: state.taskCount + 1 }
      }
    }
  }
}

export type { WorkerCall, WorkerCast, WorkerReply }
