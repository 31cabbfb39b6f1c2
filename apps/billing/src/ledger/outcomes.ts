// The one path every payment outcome takes into billing — the synchronous answer of a charge or a refund, payments'
// callback (which carries the provider's webhooks and its reconciler's findings), a scheduler's charge — and the
// one place its consequences are decided: the invoice paid or not, the subscription activated, renewed, past due
// or ended, access granted or revoked, and the events of all that. An outcome that is not ahead of what billing
// holds changes nothing, so each consequence happens once however often and in whatever order outcomes arrive.
import { OutcomePending } from "@kassa/domain/billing"
import type { ServiceUnavailable } from "@kassa/domain/errors"
import type { Payment, PaymentStatus } from "@kassa/domain/payments"
import { orUnavailable } from "@kassa/platform/validation"
import { Outbox } from "@kassa/platform/outbox"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { firstPeriod } from "./period.ts"
import { InvoicesRepo } from "./invoices.ts"
import { invoiceEvent, Lifecycle } from "./lifecycle.ts"
import { PaymentsRepo } from "./payments.ts"
import type { InvoiceWithLines, PaymentRow, RepoError, SubscriptionRow } from "./rows.ts"
import { SubscriptionsRepo } from "./subscriptions.ts"

// How far a payment status is along its lifecycle; `succeeded` replaces `failed`, as in payments.
const progress: Record<PaymentStatus, number> = {
  pending: 0,
  unknown: 0,
  failed: 1,
  canceled: 1,
  succeeded: 2,
  partially_refunded: 3,
  refunded: 4
}
const isPaid = (status: PaymentStatus) => progress[status] >= 2

/** Statuses whose outcome is not known yet: a caller answering with one says so (202), not that it is final. */
export const isUnsettled = (status: PaymentStatus) => progress[status] === 0

/** The 202 of a money request whose outcome the provider has not given yet, with the objects as they stand. */
export const outcomePending = (
  state: Omit<ConstructorParameters<typeof OutcomePending>[0], "message" | "retryAfterSeconds">
) =>
  new OutcomePending({
    message:
      "the payment provider has not answered yet; send the same request with the same Idempotency-Key for the outcome",
    retryAfterSeconds: 2,
    ...state
  })

/** The invoice and subscription as an outcome left them (none: another writer applied it first, or a credit line was added). */
export type Settled = Option.Option<{ readonly invoice: InvoiceWithLines; readonly subscription: SubscriptionRow }>

export class Outcomes extends Context.Service<Outcomes, {
  /** Applies a payment's state as payments reports it, in its own transaction; `outcomeId` is applied at most once. */
  apply(payment: Payment, outcomeId?: string): Effect.Effect<Settled, ServiceUnavailable>
}>()("billing/Outcomes") {
  static readonly layer = Layer.effect(
    Outcomes,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const subscriptions = yield* SubscriptionsRepo
      const invoices = yield* InvoicesRepo
      const payments = yield* PaymentsRepo
      const lifecycle = yield* Lifecycle
      const outbox = yield* Outbox
      const now = Effect.map(DateTime.now, DateTime.toDateUtc)

      /** A payment that took money: pays its invoice if still open; else the money is stray and goes back. */
      const paid = (payment: Payment, invoice: InvoiceWithLines, subscription: SubscriptionRow, at: Date) =>
        Effect.gen(
          function*(): Effect.fn.Return<{ invoice: InvoiceWithLines; subscription: SubscriptionRow }, RepoError> {
            if (invoice.row.status !== "open") {
              // voided (a cancel, an expiry) or written off while the charge was in flight
              yield* payments.savePayment(payment)
              yield* payments.markStray(payment.id, at)
              yield* Effect.logWarning("payment succeeded on a closed invoice; it will be refunded").pipe(
                Effect.annotateLogs({
                  paymentId: payment.id,
                  invoiceId: invoice.row.id,
                  invoiceStatus: invoice.row.status
                })
              )
              return { invoice, subscription }
            }
            const first = subscription.status === "incomplete" || subscription.status === "incomplete_expired"
            // the first period starts when the payment succeeds; a renewal keeps the invoice's period
            const period = first
              ? firstPeriod(DateTime.fromDateUnsafe(at), subscription.interval, subscription.timeZone)
              : {
                start: DateTime.fromDateUnsafe(invoice.row.periodStart),
                end: DateTime.fromDateUnsafe(invoice.row.periodEnd)
              }
            const start = DateTime.toDateUtc(period.start)
            const end = DateTime.toDateUtc(period.end)
            const patch = {
              status: "paid" as const,
              paidPaymentId: payment.id,
              ...(first ? { periodStart: start, periodEnd: end } : {})
            }
            // the payment and the invoice it pays in one statement
            yield* payments.savePayment(payment, { id: invoice.row.id, patch, now: at })
            const paidInvoice: InvoiceWithLines = {
              row: { ...invoice.row, ...patch },
              lines: first
                ? invoice.lines.map((l) => l.kind === "plan" ? { ...l, periodStart: start, periodEnd: end } : l)
                : invoice.lines
            }
            const event = {
              type: "invoice.paid" as const,
              aggregateId: invoice.row.id,
              data: invoiceEvent(invoice, { paymentId: payment.id })
            }
            const periodPatch = {
              currentPeriodStart: start,
              currentPeriodEnd: end,
              failureCode: null,
              // later periods are counted from the first paid one's start (a trial's end)
              ...(subscription.billingAnchor === null ? { billingAnchor: start } : {})
            }
            if (first || subscription.status === "past_due" || subscription.status === "trialing") {
              const activated = yield* lifecycle.change(
                subscription,
                { status: "active", ...periodPatch },
                "subscription.activated",
                [event]
              )
              return { invoice: paidInvoice, subscription: activated }
            }
            if (
              subscription.status === "active" && subscription.currentPeriodStart !== null &&
              invoice.row.periodStart > subscription.currentPeriodStart
            ) {
              // the next period of an active subscription, paid
              const renewed = yield* lifecycle.change(subscription, periodPatch, "subscription.renewed", [event])
              return { invoice: paidInvoice, subscription: renewed }
            }
            yield* outbox.appendEvents([event])
            return { invoice: paidInvoice, subscription }
          }
        )

      /** A charge that failed: the invoice stays open; a failed renewal makes its subscription past due (dunning). */
      const failed = (payment: Payment, invoice: InvoiceWithLines, subscription: SubscriptionRow) =>
        Effect.gen(function*() {
          yield* payments.savePayment(payment)
          if (invoice.row.status !== "open") return subscription
          const failureCode = payment.failureCode ?? "failed"
          // a renewal's invoice starts where the period ended, or later when whole periods were missed
          const renewal = (subscription.status === "active" || subscription.status === "trialing") &&
            subscription.currentPeriodEnd !== null && invoice.row.periodStart >= subscription.currentPeriodEnd
          // access goes on through BILLING_PAST_DUE_GRACE while dunning retries
          return yield* lifecycle.change(
            subscription,
            renewal ? { status: "past_due", failureCode } : { failureCode },
            renewal ? "subscription.past_due" : undefined,
            [{
              type: "invoice.payment_failed",
              aggregateId: invoice.row.id,
              data: invoiceEvent(invoice, { paymentId: payment.id, failureCode: payment.failureCode ?? null })
            }]
          )
        })

      /** Refunded money: a credit line per refunded total; a full refund ends the access its period paid for. */
      const refunded = (
        payment: Payment,
        before: Option.Option<PaymentRow>,
        invoice: InvoiceWithLines,
        subscription: SubscriptionRow,
        at: Date
      ) =>
        Effect.gen(function*() {
          const refundedBefore = Option.match(before, { onNone: () => 0, onSome: (row) => row.refundedAmount })
          if (payment.refundedAmount <= refundedBefore) return false
          // append-only: one credit line per refunded total, so a replay adds nothing
          yield* invoices.appendLine(invoice.row.id, {
            kind: "credit",
            description: `refund of payment ${payment.id}`,
            planId: null,
            periodStart: null,
            periodEnd: null,
            amount: -(payment.refundedAmount - refundedBefore),
            currency: payment.currency,
            sourceId: `${payment.id}:refunded:${payment.refundedAmount}`
          }, at)
          const paidThisPeriod = invoice.row.paidPaymentId === payment.id && invoice.row.periodEnd > at
          if (payment.status === "refunded" && paidThisPeriod) yield* lifecycle.endNow(subscription)
          return true
        })

      const applyLocked = (payment: Payment) =>
        Effect.gen(function*(): Effect.fn.Return<Settled, RepoError> {
          // an outcome for an invoice billing never issued is not ours to apply
          const subscription = yield* subscriptions.findSubscriptionOfInvoice(payment.invoiceId, { lock: true })
          if (Option.isNone(subscription)) return Option.none()
          // the invoice locked and read with billing's copy of the payment (the subscription's lock keeps other writers
          // of the copy out)
          const locked = yield* invoices.lockInvoiceWithPayment(payment.invoiceId, payment.id)
          if (Option.isNone(locked)) return Option.none()
          const { invoice, payment: before } = locked.value
          const ahead = Option.match(before, {
            onNone: () => true,
            onSome: (row) =>
              progress[payment.status] > progress[row.status] ||
              (progress[payment.status] === progress[row.status] && payment.refundedAmount > row.refundedAmount)
          })
          if (!ahead) return Option.none()
          const at = yield* now
          const wasPaid = Option.exists(before, (row) => isPaid(row.status))
          let settled = { invoice, subscription: subscription.value }
          if (isPaid(payment.status) && !wasPaid) settled = yield* paid(payment, invoice, subscription.value, at)
          else if (payment.status === "failed") {
            settled = { invoice, subscription: yield* failed(payment, invoice, subscription.value) }
          } else yield* payments.savePayment(payment)
          // read back by callers: the credit line and what it ended
          if (yield* refunded(payment, before, settled.invoice, settled.subscription, at)) return Option.none()
          return Option.some(settled)
        })

      const apply = (payment: Payment, outcomeId?: string) =>
        Effect.gen(function*() {
          if (
            outcomeId !== undefined &&
            !(yield* payments.claimOutcome(outcomeId, payment.id, payment.status, yield* now))
          ) {
            return Option.none()
          }
          return yield* applyLocked(payment)
        }).pipe(sql.withTransaction, orUnavailable)

      return Outcomes.of({ apply })
    })
  )
}
