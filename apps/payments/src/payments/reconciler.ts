// The reconciler: a fiber that, every PAYMENTS_RECONCILE_INTERVAL, asks the provider about payments left
// `pending` or `unknown` and resends refunds it has not confirmed. Each one is asked on its own bounded
// schedule (PAYMENTS_RECONCILE_SCHEDULE: 1 min, 5 min, 1 h, then daily) and leased while being asked, so
// replicas never ask about the same payment at once.
import { PaymentsConfig } from "../config.ts"
import { DateTime, Duration, Effect, Layer, Schedule } from "effect"
import { RefundsRepo } from "./refunds-repo.ts"
import { PaymentsRepo } from "./repo.ts"
import { Settlement } from "./settlement.ts"

const lease = Duration.minutes(5)
const batchSize = 50

/** One sweep over everything due now; returns how many payments and refunds it looked at. */
export const reconcileDue = Effect.gen(function*() {
  const repo = yield* PaymentsRepo
  const refundsRepo = yield* RefundsRepo
  const settlement = yield* Settlement
  const now = yield* DateTime.now
  const due = yield* repo.reconcile.claimDue(now, lease, batchSize)
  yield* Effect.forEach(due, settlement.reconcile, { concurrency: 4, discard: true })
  const refunds = yield* refundsRepo.reconcile.claimDue(now, lease, batchSize)
  yield* Effect.forEach(refunds, settlement.reconcileRefund, { concurrency: 4, discard: true })
  return due.length + refunds.length
}).pipe(Effect.withSpan("Reconciler.sweep"))

export const ReconcilerLive = Layer.effectDiscard(Effect.gen(function*() {
  const config = yield* PaymentsConfig
  const context = yield* Effect.context<PaymentsRepo | RefundsRepo | Settlement>()
  yield* reconcileDue.pipe(
    Effect.provide(context),
    // one failed sweep (database down, say) must not stop the loop
    Effect.catchCause((cause) => Effect.logError("reconciler sweep failed", cause)),
    Effect.schedule(Schedule.spaced(config.reconcileInterval)),
    Effect.forkScoped
  )
}))
