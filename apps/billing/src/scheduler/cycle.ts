// One scheduler cycle: expire what ran out, end periods (charge renewals and ended trials), dun past-due invoices,
// and send back stray payments. Rows are claimed with FOR UPDATE SKIP LOCKED in short transactions, so N replicas
// never handle one row at once; no transaction is open while payments is called. A charge is keyed by its invoice
// and attempt, so a replica that picks up a row another one was charging (or a run after a crash) replays the same
// charge instead of making a second; its outcome takes the one outcome path, which decides renewed or past due.
import type { SchedulerRun } from "@kassa/domain/billing"
import type { ServiceUnavailable } from "@kassa/domain/errors"
import { InvoiceId, type SubscriptionId } from "@kassa/domain/ids"
import { BillingConfig } from "../config.ts"
import { Outbox } from "@kassa/platform/outbox"
import { orUnavailable } from "@kassa/platform/validation"
import { Context, DateTime, Duration, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { derivedId, PaymentsGateway } from "../ledger/gateway.ts"
import { InvoicesRepo } from "../ledger/invoices.ts"
import { invoiceEvent, Lifecycle } from "../ledger/lifecycle.ts"
import { Outcomes } from "../ledger/outcomes.ts"
import { PaymentsRepo } from "../ledger/payments.ts"
import { firstPeriod } from "../ledger/period.ts"
import type { InvoiceWithLines, SubscriptionRow } from "../ledger/rows.ts"
import { SubscriptionsRepo } from "../ledger/subscriptions.ts"
import { CatalogCopy } from "../products/repo.ts"
import { Refunds } from "../refunds/service.ts"

/** Rows of one kind a cycle handles at most; a cycle that reaches it leaves more for the next. */
export const schedulerBatch = 100

const incompleteLifetime = Duration.hours(23)

export class SchedulerCycle extends Context.Service<SchedulerCycle, {
  readonly run: Effect.Effect<SchedulerRun, ServiceUnavailable>
}>()("billing/SchedulerCycle") {
  static readonly layer = Layer.effect(SchedulerCycle, Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const subscriptions = yield* SubscriptionsRepo
    const invoices = yield* InvoicesRepo
    const payments = yield* PaymentsRepo
    const catalog = yield* CatalogCopy
    const lifecycle = yield* Lifecycle
    const outcomes = yield* Outcomes
    const gateway = yield* PaymentsGateway
    const refunds = yield* Refunds
    const outbox = yield* Outbox
    const retryDelays = (yield* BillingConfig).dunningRetries.map(Duration.toMillis)
    const now = Effect.map(DateTime.now, DateTime.toDateUtc)

    const mustFind = (id: SubscriptionId) =>
      Effect.flatMap(subscriptions.findSubscription(id), Option.match({
        onNone: () => Effect.die(new Error(`subscription ${id} vanished`)),
        onSome: Effect.succeed
      }))

    /** Claims due rows so that N replicas never handle one at once (FOR UPDATE SKIP LOCKED, in the caller's tx). */
    const claimDue = (condition: ReturnType<typeof sql.and>) =>
      sql<{ readonly id: SubscriptionId }>`SELECT id FROM billing.subscriptions WHERE ${condition}
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

    const expireAtPeriodEnd = Effect.gen(function*() {
      const due = yield* claimDue(sql.and([
        sql`status IN ('active', 'past_due')`,
        sql`cancel_at_period_end`,
        sql`current_period_end <= ${yield* now}`
      ]))
      for (const { id } of due) {
        const subscription = yield* mustFind(id)
        // a past-due one owes nothing for a period it canceled
        yield* lifecycle.voidOpenInvoices(subscription)
        yield* lifecycle.change(subscription, { status: "expired", cancelAtPeriodEnd: false }, "subscription.expired")
      }
      return due.length
    }).pipe(sql.withTransaction)

    /** The invoice of the period starting at `start`, created once: its id is derived from (subscription, start). */
    const periodInvoice = (subscription: SubscriptionRow, start: Date) =>
      Effect.gen(function*() {
        const invoiceId = InvoiceId.make(derivedId("inv", subscription.id, start.toISOString()))
        const found = yield* invoices.findInvoice(invoiceId)
        if (Option.isSome(found)) return found.value
        const plan = yield* Effect.flatMap(catalog.findPlan(subscription.planId), Option.match({
          onNone: () => Effect.die(new Error(`plan ${subscription.planId} of subscription ${subscription.id} vanished`)),
          onSome: Effect.succeed
        }))
        const end = DateTime.toDateUtc(firstPeriod(DateTime.fromDateUnsafe(start), plan.interval, subscription.timeZone).end)
        const invoice = yield* invoices.insertInvoice({
          id: invoiceId,
          userId: subscription.userId,
          subscriptionId: subscription.id,
          status: "open",
          amount: plan.amount,
          currency: plan.currency,
          periodStart: start,
          periodEnd: end,
          lines: [{
            kind: "plan",
            description: `plan ${plan.id} (${plan.interval})`,
            planId: plan.id,
            periodStart: start,
            periodEnd: end,
            amount: plan.amount,
            currency: plan.currency,
            sourceId: null
          }]
        }, yield* now)
        yield* outbox.appendEvent({ type: "invoice.created", aggregateId: invoiceId, data: invoiceEvent(invoice) })
        return invoice
      })

    /**
     * Charges an invoice off-session on the default card under `key` and applies the outcome. Payments unreachable:
     * nothing changes, and the next cycle charges again under the same key (a replay if the first got through).
     */
    const chargeOffSession = (invoice: InvoiceWithLines, key: string) =>
      gateway.charge({
        idempotencyKey: key,
        invoiceId: invoice.row.id,
        userId: invoice.row.userId,
        amount: invoice.row.amount,
        currency: invoice.row.currency,
        offSession: true
      }).pipe(
        Effect.flatMap(outcomes.apply),
        Effect.as("charged" as const),
        Effect.catchTag("PaymentInProgress", () => Effect.succeed("charged" as const)),
        // no card to charge: nothing reached the provider
        Effect.catchTag("NoPaymentMethod", () => Effect.succeed("no_payment_method" as const))
      )

    /** A renewal that could not even be attempted (no saved card) fails like a declined one: past due. */
    const noPaymentMethod = (invoice: InvoiceWithLines) =>
      Effect.gen(function*() {
        const subscription = yield* subscriptions.findSubscription(invoice.row.subscriptionId, { lock: true })
        if (Option.isNone(subscription) || (subscription.value.status !== "active" && subscription.value.status !== "trialing")) return
        yield* lifecycle.change(subscription.value, { status: "past_due", failureCode: "no_payment_method" }, "subscription.past_due", [{
          type: "invoice.payment_failed",
          aggregateId: invoice.row.id,
          data: invoiceEvent(invoice, { paymentId: null, failureCode: "no_payment_method" })
        }])
      }).pipe(sql.withTransaction)

    /**
     * A trial or a paid period that ended: canceled at period end → expired; otherwise the next period is invoiced
     * (reserve, in a short transaction) and charged on the default card (call), and the outcome decides (apply):
     * active for the new period (`subscription.activated` after a trial, `.renewed` after a paid period), or
     * `past_due` when the charge failed, where dunning takes over.
     */
    const endPeriod = (id: SubscriptionId) =>
      Effect.gen(function*() {
        const reserved = yield* Effect.gen(function*() {
          const at = yield* now
          const claimed = yield* claimDue(sql.and([
            sql`id = ${id}`,
            sql`status IN ('trialing', 'active')`,
            sql`current_period_end <= ${at}`
          ]))
          if (claimed.length === 0) return "none" as const
          const subscription = yield* mustFind(id)
          if (subscription.cancelAtPeriodEnd) {
            yield* lifecycle.change(subscription, { status: "expired", cancelAtPeriodEnd: false }, "subscription.expired")
            return "expired" as const
          }
          return yield* periodInvoice(subscription, subscription.currentPeriodEnd ?? at)
        }).pipe(sql.withTransaction)
        if (reserved === "none") return false
        if (reserved === "expired") return true
        const charged = yield* chargeOffSession(reserved, `billing:${reserved.row.id}:period-start`)
        if (charged === "no_payment_method") yield* noPaymentMethod(reserved)
        return true
      })

    /**
     * Dunning for one past-due subscription, due when its open invoice has had n charges and the n-th retry delay
     * (from the period's start) has passed: charged again; once every retry has failed, the invoice becomes
     * uncollectible and the subscription is canceled (access revoked). A charge still pending decides by its outcome.
     */
    const dun = (id: SubscriptionId) =>
      Effect.gen(function*() {
        const reserved = yield* Effect.gen(function*() {
          const claimed = yield* claimDue(sql.and([sql`id = ${id}`, sql`status = 'past_due'`]))
          if (claimed.length === 0) return "none" as const
          const subscription = yield* mustFind(id)
          const invoice = (yield* invoices.invoicesOf(id)).find((i) =>
            i.row.status === "open" && i.row.periodStart.getTime() === subscription.currentPeriodEnd?.getTime())
          if (invoice === undefined) return "none" as const
          const charges = yield* payments.paymentsOf(invoice.row.id)
          if (charges.some((p) => p.status === "pending" || p.status === "unknown")) return "none" as const
          const at = yield* now
          const n = charges.length
          if (n > retryDelays.length) {
            yield* invoices.updateInvoice(invoice.row.id, { status: "uncollectible" }, at)
            yield* lifecycle.change(subscription, { status: "canceled" }, "subscription.canceled", [
              { type: "invoice.uncollectible", aggregateId: invoice.row.id, data: invoiceEvent(invoice) }
            ])
            return "canceled" as const
          }
          // (re-checked here: another replica may have retried it since it was selected)
          if (n > 0 && at.getTime() < invoice.row.periodStart.getTime() + retryDelays[n - 1]!) return "none" as const
          return { invoice, attempt: n }
        }).pipe(sql.withTransaction)
        if (typeof reserved === "string") return reserved
        // keyed by the attempt: a replica that counted the same charges sends the same charge
        yield* chargeOffSession(reserved.invoice, `billing:${reserved.invoice.row.id}:retry:${reserved.attempt}`)
        return "retried" as const
      })

    // one subscription's failure (a bug, or the database gone mid-cycle) is logged and leaves it for the next cycle;
    // it does not stop the others
    const isolated = <A, E>(id: SubscriptionId, step: Effect.Effect<A, E>, skipped: A) =>
      Effect.catchCause(step, (cause) =>
        Effect.as(Effect.logError("scheduler step failed", cause).pipe(Effect.annotateLogs({ subscriptionId: id })), skipped))

    const run = Effect.gen(function*() {
      const expiredIncomplete = yield* expireIncomplete
      // before renewals and dunning: a period canceled at its end is neither renewed nor dunned
      const expiredAtPeriodEnd = yield* expireAtPeriodEnd
      const at = yield* now
      // trials end whatever the cancel flag (a canceled trial just expires); a canceled paid period is expireAtPeriodEnd's
      const ended = yield* sql<{ readonly id: SubscriptionId; readonly status: SubscriptionRow["status"] }>`
        SELECT id, status FROM billing.subscriptions
        WHERE (status = 'trialing' OR (status = 'active' AND NOT cancel_at_period_end)) AND current_period_end <= ${at}
        ORDER BY current_period_end LIMIT ${schedulerBatch}`
      let trialsEnded = 0
      let renewals = 0
      for (const { id, status } of ended) {
        if (yield* isolated(id, endPeriod(id), false)) status === "trialing" ? trialsEnded++ : renewals++
      }
      // due: no charge yet, every retry spent (to cancel), or the n-th retry's delay passed (the array is 1-based)
      const dunning = yield* sql<{ readonly id: SubscriptionId }>`
        SELECT s.id FROM billing.subscriptions s
        JOIN billing.invoices i ON i.subscription_id = s.id AND i.status = 'open' AND i.period_start = s.current_period_end
        CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM billing.payments p WHERE p.invoice_id = i.id) c
        WHERE s.status = 'past_due' AND (c.n = 0 OR c.n > ${retryDelays.length}
          OR i.period_start + (${`{${retryDelays.join(",")}}`}::float8[])[c.n] * interval '1 millisecond' <= ${at})
        ORDER BY s.current_period_end LIMIT ${schedulerBatch}`
      let dunningRetries = 0
      let canceledUnpaid = 0
      for (const { id } of dunning) {
        const outcome = yield* isolated(id, dun(id), "none" as const)
        if (outcome === "retried") dunningRetries++
        if (outcome === "canceled") canceledUnpaid++
      }
      const strayRefunds = yield* refunds.returnStrays(schedulerBatch)
      return { expiredIncomplete, trialsEnded, expiredAtPeriodEnd, renewals, dunningRetries, canceledUnpaid, strayRefunds }
    }).pipe(orUnavailable)

    return SchedulerCycle.of({ run })
  }))
}
