// The renewal engine's second stage: charging. Open invoices due to be charged (a renewal's or a trial's, and a
// past-due one's dunning retries) are claimed with a lease, a batch at a time, and charged BILLING_CHARGE_CONCURRENCY
// at once on the customer's default card, with no transaction open. Each charge is keyed by its invoice and attempt
// (`billing:<invoice>:period-start`, then `:retry:<n>`), so a replica that picks up an invoice another one was
// charging, or a run after a crash, sends the same charge again and payments replays it: one charge per attempt,
// whatever happens. The outcome takes the one outcome path; then, in a short transaction, the invoice's schedule
// moves on: nothing more once paid; after a decline, the next retry of BILLING_DUNNING_RETRIES (counted from when the
// period was invoiced), or, the retries spent, the invoice uncollectible and the subscription canceled; an outcome
// not known yet, or payments unreachable, is asked again a little later under the same key.
import type { ServiceUnavailable } from "@kassa/domain/errors"
import type { InvoiceId, SubscriptionId, UserId } from "@kassa/domain/ids"
import type { Payment } from "@kassa/domain/payments"
import type { Currency } from "@kassa/domain/money"
import { BillingConfig } from "../config.ts"
import { Context, DateTime, Duration, Effect, Layer, Metric, Option, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { PaymentsGateway } from "../ledger/gateway.ts"
import { InvoicesRepo } from "../ledger/invoices.ts"
import { invoiceEvent, Lifecycle } from "../ledger/lifecycle.ts"
import { Outcomes } from "../ledger/outcomes.ts"
import type { RepoError } from "../ledger/rows.ts"
import { SubscriptionsRepo } from "../ledger/subscriptions.ts"
import { chargesMade, schedulerFailures } from "../metrics.ts"
import { makeWorkQueue } from "@kassa/platform/work-queue"

/** How long a claim holds: far beyond one charge (payments bounds its provider calls well below it). */
const lease = Duration.minutes(2)
/** When an outcome not known yet is asked again (the same charge, replayed). */
const recheck = Duration.seconds(30)
/** When a charge payments could not be reached for is tried again. */
const unreachableRetry = Duration.seconds(10)

const DueInvoice = Schema.Struct({
  id: Schema.String,
  userId: Schema.String,
  subscriptionId: Schema.String,
  amount: Schema.Int,
  currency: Schema.String,
  chargeAttempts: Schema.Int,
  /** what the dunning delays count from: the period's start, or when it was invoiced if that was later */
  dunningBase: Schema.Date
})
type DueInvoice = typeof DueInvoice.Type
const decodeDue = Schema.decodeUnknownEffect(Schema.Array(DueInvoice))

/** What a charge came to, as far as the schedule is concerned. */
type Charged =
  | { readonly _tag: "Paid" }
  | { readonly _tag: "Declined"; readonly failureCode: string | null }
  | { readonly _tag: "NotKnownYet" }
  | { readonly _tag: "Unreachable" }

export interface ChargingRun {
  readonly charged: number
  readonly paid: number
  readonly failed: number
  readonly pending: number
  readonly dunningRetries: number
  readonly canceledUnpaid: number
}

const none: ChargingRun = { charged: 0, paid: 0, failed: 0, pending: 0, dunningRetries: 0, canceledUnpaid: 0 }
const add = (a: ChargingRun, b: ChargingRun): ChargingRun => ({
  charged: a.charged + b.charged,
  paid: a.paid + b.paid,
  failed: a.failed + b.failed,
  pending: a.pending + b.pending,
  dunningRetries: a.dunningRetries + b.dunningRetries,
  canceledUnpaid: a.canceledUnpaid + b.canceledUnpaid
})

export class Charging extends Context.Service<Charging, {
  /** Charges every invoice due now (the claims of other replicas aside), `chargeConcurrency` at once. */
  readonly run: Effect.Effect<ChargingRun, RepoError>
}>()("billing/Charging") {
  static readonly layer = Layer.effect(
    Charging,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const invoices = yield* InvoicesRepo
      const subscriptions = yield* SubscriptionsRepo
      const lifecycle = yield* Lifecycle
      const outcomes = yield* Outcomes
      const gateway = yield* PaymentsGateway
      const { chargeConcurrency, dunningRetries } = yield* BillingConfig
      const retryDelays = dunningRetries.map(Duration.toMillis)
      const now = Effect.map(DateTime.now, DateTime.toDateUtc)

      const queue = makeWorkQueue(sql, {
        table: "billing.invoices",
        key: "id",
        keyType: "text",
        lease: "charge_lease_until",
        separateLease: true
      })
      const claim = (limit: number) =>
        Effect.gen(function*() {
          const at = yield* now
          return yield* decodeDue(
            yield* sql`${
              queue.claim({
                where: sql`q.status = 'open' AND q.next_charge_at <= ${at} AND s.parked_at IS NULL`,
                join: sql`JOIN billing.subscriptions s ON s.id = q.subscription_id`,
                // ties by id (random): one user's many renewals, due at the same moment, are spread over the
                // batches rather than claimed together to queue on that user's entitlement lock
                orderBy: sql`q.next_charge_at, q.id`,
                limit,
                now: at,
                lease,
                returning: sql`id, user_id, subscription_id, amount, currency, charge_attempts,
              GREATEST(period_start, created_at) AS dunning_base`
              })
            }`
          )
        })

      const charge = (invoice: DueInvoice) =>
        gateway.charge({
          // deterministic per attempt: a replay never charges twice
          idempotencyKey: invoice.chargeAttempts === 0
            ? `billing:${invoice.id}:period-start`
            : `billing:${invoice.id}:retry:${invoice.chargeAttempts}`,
          invoiceId: invoice.id as InvoiceId,
          userId: invoice.userId as UserId,
          amount: invoice.amount,
          currency: invoice.currency as Currency,
          offSession: true
        }).pipe(
          Effect.flatMap((payment): Effect.Effect<Charged, RepoError | ServiceUnavailable> =>
            Effect.as(outcomes.apply(payment), chargedOf(payment))
          ),
          Effect.catchTags({
            // another payment of this invoice is in flight, or paid it and billing has not heard yet: ask again later
            PaymentInProgress: () => Effect.succeed<Charged>({ _tag: "NotKnownYet" }),
            InvoiceAlreadyPaid: () => Effect.succeed<Charged>({ _tag: "NotKnownYet" }),
            ProviderUnavailable: () => Effect.succeed<Charged>({ _tag: "NotKnownYet" }),
            // no card to charge: nothing reached the provider; it counts as a declined attempt
            NoPaymentMethod: () => Effect.succeed<Charged>({ _tag: "Declined", failureCode: "no_payment_method" }),
            ServiceUnavailable: () => Effect.succeed<Charged>({ _tag: "Unreachable" }),
            // the request itself is wrong: a bug, logged by chargeOne, the invoice left for its claim to run out
            BadRequest: Effect.die,
            IdempotencyKeyReused: Effect.die
          })
        )

      const chargedOf = (payment: Payment): Charged => {
        switch (payment.status) {
          case "succeeded":
          case "partially_refunded":
          case "refunded":
            return { _tag: "Paid" }
          case "failed":
          case "canceled":
            return { _tag: "Declined", failureCode: payment.failureCode ?? null }
          default:
            return { _tag: "NotKnownYet" }
        }
      }

      /** The schedule of an invoice still open after its charge, in one short transaction; what it counts as. */
      const settle = (invoice: DueInvoice, charged: Exclude<Charged, { readonly _tag: "Paid" }>) =>
        Effect.gen(function*(): Effect.fn.Return<ChargingRun, RepoError> {
          const at = yield* now
          const count = { ...none, charged: 1, dunningRetries: invoice.chargeAttempts > 0 ? 1 : 0 }
          const schedule = (
            patch: { readonly attempts?: number; readonly next: Date | null }
          ) => sql`UPDATE billing.invoices SET charge_lease_until = NULL, next_charge_at = ${patch.next},
              charge_attempts = ${patch.attempts ?? invoice.chargeAttempts}, updated_at = ${at}
            WHERE id = ${invoice.id}`
          // every writer locks the subscription, then the invoice
          const subscription = yield* subscriptions.findSubscriptionOfInvoice(invoice.id as InvoiceId, { lock: true })
          const current = yield* invoices.findInvoice(invoice.id as InvoiceId, { lock: true })
          if (Option.isNone(subscription) || Option.isNone(current) || current.value.row.status !== "open") {
            yield* schedule({ next: null })
            return count
          }
          switch (charged._tag) {
            case "NotKnownYet":
              yield* schedule({ next: new Date(at.getTime() + Duration.toMillis(recheck)) })
              return { ...count, pending: 1 }
            case "Unreachable":
              yield* schedule({ next: new Date(at.getTime() + Duration.toMillis(unreachableRetry)) })
              return { ...count, pending: 1 }
            case "Declined": {
              const attempts = invoice.chargeAttempts + 1
              const sub = subscription.value
              if (attempts > retryDelays.length) {
                // every retry spent: written off, and the subscription ends with its access
                yield* invoices.updateInvoice(invoice.id as InvoiceId, { status: "uncollectible" }, at)
                yield* schedule({ attempts, next: null })
                yield* lifecycle.change(sub, { status: "canceled" }, "subscription.canceled", [
                  { type: "invoice.uncollectible", aggregateId: invoice.id, data: invoiceEvent(current.value) }
                ])
                return { ...count, failed: 1, canceledUnpaid: 1 }
              }
              if (
                charged.failureCode === "no_payment_method" && (sub.status === "active" || sub.status === "trialing")
              ) {
                // no payment was made, so the outcome path never saw it: the failed renewal is recorded here
                yield* lifecycle.change(
                  sub,
                  { status: "past_due", failureCode: "no_payment_method" },
                  "subscription.past_due",
                  [{
                    type: "invoice.payment_failed",
                    aggregateId: invoice.id,
                    data: invoiceEvent(current.value, { paymentId: null, failureCode: "no_payment_method" })
                  }]
                )
              }
              yield* schedule({ attempts, next: new Date(invoice.dunningBase.getTime() + retryDelays[attempts - 1]!) })
              return { ...count, failed: 1 }
            }
          }
        }).pipe(sql.withTransaction)

      const chargeOne = (invoice: DueInvoice) =>
        Effect.flatMap(charge(invoice), (charged) =>
          // paid: the invoice is no longer open, so nothing claims it again, and there is no schedule to move
          charged._tag === "Paid"
            ? Effect.succeed({ ...none, charged: 1, paid: 1, dunningRetries: invoice.chargeAttempts > 0 ? 1 : 0 })
            : settle(invoice, charged)).pipe(
            Effect.tap((done) =>
              Metric.update(chargesMade(done.paid > 0 ? "paid" : done.failed > 0 ? "failed" : "pending"), done.charged)
            ),
            // a charge whose outcome could not be applied (the database gone) keeps its claim until it runs out: the
            // invoice is charged again under the same key, a replay
            Effect.catchCause((cause) =>
              Effect.as(
                Effect.logError("charging an invoice failed; retried when its claim runs out", cause).pipe(
                  Effect.annotateLogs({
                    invoiceId: invoice.id,
                    subscriptionId: invoice.subscriptionId as SubscriptionId
                  }),
                  Effect.andThen(Metric.update(schedulerFailures("charge"), 1))
                ),
                none
              )
            )
          )

      // a steady pipeline: `chargeConcurrency` charges in flight all the time, claims made as the slots free up (a
      // claim is of as many as there are slots, so no claim waits long behind the others), until nothing is due
      const run = Stream.paginate(
        undefined,
        () =>
          Effect.map(
            claim(chargeConcurrency),
            (due) => [due, due.length === 0 ? Option.none() : Option.some(undefined)] as const
          )
      ).pipe(
        Stream.mapEffect(chargeOne, { concurrency: chargeConcurrency, unordered: true }),
        Stream.runFold(() => none, add)
      )

      return Charging.of({ run })
    })
  )
}
