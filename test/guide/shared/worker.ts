// shared/worker.ts — the guide's "Complete Example: Worker Pool", verbatim but for the import line.
import { type GenServerBehavior } from "noex-effect/promise"

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
        console.log(`Processing task ${msg.taskId}`)
        // Simulate work
        return { ...state, taskCount: state.taskCount + 1 }
      }
    }
  }
}
