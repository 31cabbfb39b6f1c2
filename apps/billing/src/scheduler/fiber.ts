// The scheduler's fibers, in each billing replica: a cycle (expiries, invoicing, stray refunds) every
// BILLING_SCHEDULER_INTERVAL, jittered so replicas started together spread out, and again at once while one comes
// back full; and charging, which charges whatever is due as it falls due (looking at least every 5 s, and at once
// after a cycle invoiced something), so a slow provider never holds back invoicing. Rows are claimed with FOR UPDATE
// SKIP LOCKED or leases, so N replicas running this never handle one at once. `POST /admin/v1/billing/run` starts a
// whole cycle by hand.
import { BillingConfig } from "../config.ts"
import { Duration, Effect, Layer, Metric, Queue, Schedule } from "effect"
import { schedulerFailures } from "../metrics.ts"
import { Charging } from "./charging.ts"
import { SchedulerCycle, schedulerBatch } from "./cycle.ts"

export const BillingScheduler = Layer.effectDiscard(Effect.gen(function*() {
  const { schedulerInterval } = yield* BillingConfig
  const cycle = yield* SchedulerCycle
  const charging = yield* Charging
  const invoiced = yield* Queue.dropping<void>(1)
  yield* cycle.runWithoutCharging.pipe(
    Effect.tap((run) =>
      Object.values(run).some((n) => n > 0)
        ? Effect.logInfo("scheduler cycle").pipe(Effect.annotateLogs(run))
        : Effect.void
    ),
    Effect.tap((run) => run.renewals + run.trialsEnded > 0 ? Queue.offer(invoiced, undefined) : Effect.void),
    Effect.repeat({
      while: (run) => run.expiredIncomplete >= schedulerBatch || run.expiredAtPeriodEnd >= schedulerBatch
    }),
    // a failed cycle (database down, say) must not stop the loop: the next one picks up what it left
    Effect.catchCause((cause) =>
      Effect.andThen(Effect.logError("scheduler cycle failed", cause), Metric.update(schedulerFailures("cycle"), 1))
    ),
    Effect.schedule(Schedule.spaced(schedulerInterval).pipe(Schedule.jittered)),
    Effect.forkScoped
  )
  const idle = Duration.min(schedulerInterval, Duration.seconds(5))
  yield* charging.run.pipe(
    Effect.tap((run) =>
      run.charged > 0 ? Effect.logInfo("charged").pipe(Effect.annotateLogs({ ...run })) : Effect.void
    ),
    Effect.catchCause((cause) =>
      Effect.andThen(Effect.logError("charging failed", cause), Metric.update(schedulerFailures("charging"), 1))
    ),
    Effect.andThen(Effect.raceFirst(Queue.take(invoiced), Effect.sleep(idle))),
    Effect.forever,
    Effect.forkScoped
  )
}))
