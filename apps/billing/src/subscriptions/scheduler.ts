// The scheduler fiber: a cycle of `Billing.runScheduler` every BILLING_SCHEDULER_INTERVAL
// (jittered, so replicas started together spread out), and again at once while a cycle comes back full. Each
// cycle claims its rows with FOR UPDATE SKIP LOCKED, so N replicas running this never handle a row twice.
// `POST /admin/v1/billing/run` runs the same cycle by hand.
import { BillingConfig } from "@kassa/platform/config"
import { Effect, Layer, Schedule } from "effect"
import { Billing, schedulerBatch } from "./service.ts"

export const BillingScheduler = Layer.effectDiscard(Effect.gen(function*() {
  const { schedulerInterval } = yield* BillingConfig
  const billing = yield* Billing
  yield* billing.runScheduler.pipe(
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
