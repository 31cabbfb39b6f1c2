// The scheduler fiber: a cycle every BILLING_SCHEDULER_INTERVAL (jittered, so replicas started together spread
// out), and again at once while a cycle comes back full. Each cycle claims its rows with FOR UPDATE SKIP LOCKED, so
// N replicas running this never handle a row at once. `POST /admin/v1/billing/run` starts the same cycle by hand.
import { BillingConfig } from "../config.ts"
import { Effect, Layer, Schedule } from "effect"
import { SchedulerCycle, schedulerBatch } from "./cycle.ts"

export const BillingScheduler = Layer.effectDiscard(Effect.gen(function*() {
  const { schedulerInterval } = yield* BillingConfig
  const cycle = yield* SchedulerCycle
  yield* cycle.run.pipe(
    Effect.tap((run) =>
      Object.values(run).some((n) => n > 0) ? Effect.logInfo("scheduler cycle").pipe(Effect.annotateLogs(run)) : Effect.void
    ),
    Effect.repeat({ while: (run) => Math.max(...Object.values(run)) >= schedulerBatch }),
    // a failed cycle (database down, say) must not stop the loop: the next one picks up what it left
    Effect.catchCause((cause) => Effect.logError("scheduler cycle failed", cause)),
    Effect.schedule(Schedule.spaced(schedulerInterval).pipe(Schedule.jittered)),
    Effect.forkScoped
  )
}))
