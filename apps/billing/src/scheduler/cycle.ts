// One scheduler cycle: expire what ran out, invoice what is due (invoicing.ts), charge what is due (charging.ts), and
// send back stray payments. Rows are claimed FOR UPDATE SKIP LOCKED or with leases in short transactions, so N
// replicas never handle one row at once, and no transaction is open while payments is called.
import type { SchedulerRun } from "@kassa/domain/billing-admin"
import type { ServiceUnavailable } from "@kassa/domain/errors"
import type { SubscriptionId } from "@kassa/domain/ids"
import { orUnavailable } from "@kassa/platform/validation"
import { Context, DateTime, Duration, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { Lifecycle } from "../ledger/lifecycle.ts"
import { SubscriptionsRepo } from "../ledger/subscriptions.ts"
import { Refunds } from "../refunds/service.ts"
import { Charging } from "./charging.ts"
import { Invoicing } from "./invoicing.ts"

/** Rows of one kind an expiry step handles at most; a cycle that reaches it leaves more for the next. */
export const schedulerBatch = 100

const incompleteLifetime = Duration.hours(23)

export class SchedulerCycle extends Context.Service<SchedulerCycle, {
  /** A whole cycle: expiries, invoicing, charging, stray refunds. */
  readonly run: Effect.Effect<SchedulerRun, ServiceUnavailable>
  /** Everything but charging (the charging fiber charges on its own). */
  readonly runWithoutCharging: Effect.Effect<SchedulerRun, ServiceUnavailable>
}>()("billing/SchedulerCycle") {
  static readonly layer = Layer.effect(
    SchedulerCycle,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const subscriptions = yield* SubscriptionsRepo
      const lifecycle = yield* Lifecycle
      const invoicing = yield* Invoicing
      const charging = yield* Charging
      const refunds = yield* Refunds
      const now = Effect.map(DateTime.now, DateTime.toDateUtc)

      const mustFind = (id: SubscriptionId) =>
        Effect.flatMap(
          subscriptions.findSubscription(id),
          Option.match({
            onNone: () => Effect.die(new Error(`subscription ${id} vanished`)),
            onSome: Effect.succeed
          })
        )

      /** Claims due rows so that N replicas never handle one at once (FOR UPDATE SKIP LOCKED, in the caller's tx). */
      const claimDue = (
        condition: ReturnType<typeof sql.and>
      ) => sql<{ readonly id: SubscriptionId }>`SELECT id FROM billing.subscriptions WHERE ${condition}
        ORDER BY created_at LIMIT ${schedulerBatch} FOR UPDATE SKIP LOCKED`

      const expireIncomplete = Effect.gen(function*() {
        const cutoff = new Date((yield* now).getTime() - Duration.toMillis(incompleteLifetime))
        const due = yield* claimDue(sql.and([sql`status = 'incomplete'`, sql`created_at <= ${cutoff}`]))
        for (const { id } of due) {
          const subscription = yield* mustFind(id)
          yield* lifecycle.voidOpenInvoices(subscription)
          yield* lifecycle.change(subscription, { status: "incomplete_expired" }, "subscription.expired")
        }
        return due.length
      }).pipe(sql.withTransaction)

      // a trial, an active or a past-due period set to cancel at its end, once it is over; a past-due one owes nothing
      // for a period it canceled, so its open invoice is voided
      const expireAtPeriodEnd = Effect.gen(function*() {
        const due = yield* claimDue(sql.and([
          sql`status IN ('trialing', 'active', 'past_due')`,
          sql`cancel_at_period_end`,
          sql`current_period_end <= ${yield* now}`
        ]))
        for (const { id } of due) {
          const subscription = yield* mustFind(id)
          yield* lifecycle.voidOpenInvoices(subscription)
          yield* lifecycle.change(subscription, { status: "expired", cancelAtPeriodEnd: false }, "subscription.expired")
        }
        return due.length
      }).pipe(sql.withTransaction)

      const cycle = (withCharging: boolean) =>
        Effect.gen(function*() {
          const expiredIncomplete = yield* expireIncomplete
          // before invoicing: a period canceled at its end is not renewed
          const expiredAtPeriodEnd = yield* expireAtPeriodEnd
          const invoiced = yield* invoicing.run
          const charged = withCharging
            ? yield* charging.run
            : { charged: 0, paid: 0, failed: 0, pending: 0, dunningRetries: 0, canceledUnpaid: 0 }
          const strayRefunds = yield* refunds.returnStrays(schedulerBatch)
          return { expiredIncomplete, expiredAtPeriodEnd, ...invoiced, ...charged, strayRefunds }
        }).pipe(orUnavailable)

      return SchedulerCycle.of({ run: cycle(true), runWithoutCharging: cycle(false) })
    })
  )
}
