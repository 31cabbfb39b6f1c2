// Subscribing, cancelling and resuming. A subscribe moves money by reserve → call → apply: one statement records the
// subscription and its first invoice (with their events) under ids derived from the Idempotency-Key, the charge
// runs with no transaction open, and its outcome goes through the one outcome path (../ledger/outcomes.ts).
import type { CurrentUser } from "@kassa/domain/auth"
import {
  AlreadySubscribed,
  NoCancellationPending,
  PlanNotOnSale,
  type SubscribeError,
  type SubscribeRequest,
  SubscribeResult,
  SubscriptionEnded
} from "@kassa/domain/billing"
import { NotFound, type ServiceUnavailable } from "@kassa/domain/errors"
import { InvoiceId, type PaymentId, SubscriptionId } from "@kassa/domain/ids"
import { NoPaymentMethod, type Payment } from "@kassa/domain/payments"
import type { NewEvent } from "@kassa/platform/outbox"
import { orUnavailable } from "@kassa/platform/validation"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { Entitlements } from "../entitlements/service.ts"
import { derivedId, IdempotencyStore } from "@kassa/platform/idempotency"
import { PaymentsGateway } from "../ledger/gateway.ts"
import { InvoicesRepo } from "../ledger/invoices.ts"
import { invoiceEvent, Lifecycle, subscriptionEvent } from "../ledger/lifecycle.ts"
import { isUnsettled, outcomePending, Outcomes } from "../ledger/outcomes.ts"
import { PaymentsRepo } from "../ledger/payments.ts"
import { firstPeriod, trialEnd } from "../ledger/period.ts"
import { type Opened, type SubscriptionRow, toInvoice, toPayment, toSubscription } from "../ledger/rows.ts"
import { SubscriptionsRepo } from "../ledger/subscriptions.ts"
import { CatalogCopy } from "../products/repo.ts"

const notFound = (resource: string) => new NotFound({ message: `${resource} not found`, resource })

export class Subscriptions extends Context.Service<Subscriptions, {
  subscribe(
    user: CurrentUser["Service"],
    key: string,
    request: SubscribeRequest
  ): Effect.Effect<SubscribeResult, SubscribeError>
  cancel(
    user: CurrentUser["Service"],
    id: SubscriptionId,
    atPeriodEnd: boolean
  ): Effect.Effect<SubscriptionRow, NotFound | SubscriptionEnded | ServiceUnavailable>
  resume(
    user: CurrentUser["Service"],
    id: SubscriptionId
  ): Effect.Effect<SubscriptionRow, NotFound | NoCancellationPending | ServiceUnavailable>
}>()("billing/Subscriptions") {
  static readonly layer = Layer.effect(
    Subscriptions,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const subscriptions = yield* SubscriptionsRepo
      const invoices = yield* InvoicesRepo
      const payments = yield* PaymentsRepo
      const catalog = yield* CatalogCopy
      const gateway = yield* PaymentsGateway
      const outcomes = yield* Outcomes
      const lifecycle = yield* Lifecycle
      const entitlements = yield* Entitlements
      const idempotency = yield* IdempotencyStore
      const now = Effect.map(DateTime.now, DateTime.toDateUtc)

      const mustFind = <A, E, R>(effect: Effect.Effect<Option.Option<A>, E, R>, resource: string) =>
        Effect.flatMap(effect, Option.match({ onNone: () => Effect.fail(notFound(resource)), onSome: Effect.succeed }))

      const readResult = (subscriptionId: SubscriptionId, invoiceId: InvoiceId, paymentId: PaymentId | null) =>
        Effect.gen(function*() {
          // independent reads: concurrent, so the pool pipelines them into one round trip
          const [subscription, invoice, payment] = yield* Effect.all([
            mustFind(subscriptions.findSubscription(subscriptionId), "subscription"),
            mustFind(invoices.findInvoice(invoiceId), "invoice"),
            paymentId === null ? Effect.succeedNone : payments.findPayment(paymentId)
          ], { concurrency: "unbounded" })
          return {
            subscription: toSubscription(subscription),
            invoice: toInvoice(invoice),
            payment: Option.match(payment, { onNone: () => null, onSome: toPayment })
          }
        })

      const subscribeOnce = (user: CurrentUser["Service"], key: string, request: SubscribeRequest) =>
        Effect.gen(function*() {
          const { plan, timeZone } = yield* mustFind(catalog.findPlanWithTimeZone(request.planId, user.id), "plan")
          if (plan.status !== "active" || plan.productStatus !== "active") {
            return yield* new PlanNotOnSale({ message: `plan ${plan.id} is no longer on sale`, planId: plan.id })
          }
          const trial = plan.trialDays > 0
          // refused before anything is written: a charge with no card to use could never succeed
          if (!trial && request.paymentMethod === undefined && !(yield* gateway.hasDefaultPaymentMethod(user.id))) {
            return yield* new NoPaymentMethod({
              message: "you have no saved payment method; pass paymentMethod or save one first",
              userId: user.id
            })
          }
          const subscriptionId = SubscriptionId.make(derivedId("sub", user.id, key))
          const invoiceId = InvoiceId.make(derivedId("inv", user.id, key))
          const at = yield* now
          const period = trial
            ? {
              start: DateTime.fromDateUnsafe(at),
              end: trialEnd(DateTime.fromDateUnsafe(at), plan.trialDays, timeZone)
            }
            : firstPeriod(DateTime.fromDateUnsafe(at), plan.interval, timeZone)
          const start = DateTime.toDateUtc(period.start)
          const end = DateTime.toDateUtc(period.end)
          const events = ({ invoice, subscription }: Opened): ReadonlyArray<NewEvent<unknown>> => [
            { type: "subscription.created", aggregateId: subscriptionId, data: subscriptionEvent(subscription) },
            { type: "invoice.created", aggregateId: invoiceId, data: invoiceEvent(invoice) },
            ...(trial
              ? [{
                type: "invoice.paid" as const,
                aggregateId: invoiceId,
                data: invoiceEvent(invoice, { paymentId: null })
              }]
              : [])
          ]
          const open = (eventsOf: (opened: Opened) => ReadonlyArray<NewEvent<unknown>>) =>
            subscriptions.openSubscription(
              {
                id: subscriptionId,
                userId: user.id,
                productId: plan.productId,
                planId: plan.id,
                status: trial ? "trialing" : "incomplete",
                currentPeriodStart: trial ? start : null,
                currentPeriodEnd: trial ? end : null,
                interval: plan.interval,
                timeZone
              },
              {
                id: invoiceId,
                userId: user.id,
                subscriptionId,
                // a trial's first invoice is $0 and settled at once; the plan is charged when the trial ends
                status: trial ? "paid" : "open",
                amount: trial ? 0 : plan.amount,
                currency: plan.currency,
                periodStart: start,
                periodEnd: end,
                lines: [{
                  kind: "plan",
                  description: trial
                    ? `${plan.trialDays}-day trial of plan ${plan.id}`
                    : `plan ${plan.id} (${plan.interval})`,
                  planId: plan.id,
                  periodStart: start,
                  periodEnd: end,
                  amount: trial ? 0 : plan.amount,
                  currency: plan.currency,
                  sourceId: null
                }]
              },
              eventsOf,
              at
            )
          // a trial's card is charged only when the trial ends: saved (as the default) before anything is opened, so a
          // card that cannot be saved fails the subscribe instead of the charge weeks later
          if (trial && request.paymentMethod !== undefined) yield* gateway.addPaymentMethod(user, request.paymentMethod)
          // reserve: one statement with its events; a trial grants access from its insert, so it also writes
          // entitlements, with the events, in a transaction around both
          const opened = yield* trial
            ? Effect.gen(function*() {
              const opened = yield* open(() => [])
              if (Option.isSome(opened)) yield* entitlements.record(user.id, events(opened.value))
              return opened
            }).pipe(sql.withTransaction)
            : open(events)
          if (Option.isNone(opened) && Option.isNone(yield* subscriptions.findSubscription(subscriptionId))) {
            // (found: an earlier attempt with this key created it and its invoice, then failed before answering: go on)
            const live = yield* subscriptions.findLiveSubscription(user.id, plan.productId)
            return yield* new AlreadySubscribed({
              message: `you already have a subscription to product ${plan.productId}`,
              subscriptionId: Option.match(live, { onNone: () => subscriptionId, onSome: (s) => s.id })
            })
          }
          if (trial) return yield* readResult(subscriptionId, invoiceId, null)
          // call: deterministic key, so a retry of this subscribe never charges twice
          const payment = yield* gateway.charge({
            idempotencyKey: `billing:${invoiceId}:first`,
            invoiceId,
            userId: user.id,
            amount: plan.amount,
            currency: plan.currency,
            description: `Kassa subscription ${subscriptionId}`,
            ...(request.paymentMethod === undefined ? {} : { paymentMethod: request.paymentMethod })
          }).pipe(
            // another payment of this invoice is in flight (a pay racing this subscribe): its outcome decides
            Effect.catchTag("PaymentInProgress", () => Effect.succeed(undefined))
          )
          // apply
          const applied = payment === undefined ? Option.none() : yield* outcomes.apply(payment)
          if (payment !== undefined && request.paymentMethod !== undefined && payment.status === "succeeded") {
            // the card that paid becomes the default for renewals; the subscription stands even if this fails
            yield* gateway.addPaymentMethod(user, request.paymentMethod).pipe(Effect.ignore)
          }
          // the rows as this request left them; read back when another writer (a callback) applied the outcome first
          const result = yield* Option.match(applied, {
            onNone: () => readResult(subscriptionId, invoiceId, payment?.id ?? null),
            onSome: ({ invoice, subscription }) =>
              Effect.succeed({
                subscription: toSubscription(subscription),
                invoice: toInvoice(invoice),
                payment: payment as Payment
              })
          })
          if (payment === undefined || isUnsettled(payment.status)) return yield* outcomePending(result)
          return result
        })

      const subscribe = (user: CurrentUser["Service"], key: string, request: SubscribeRequest) =>
        idempotency.run(
          { scope: user.id, key, operation: "subscribe", request, response: SubscribeResult },
          subscribeOnce(user, key, request)
        ).pipe(orUnavailable)

      const cancel = (user: CurrentUser["Service"], id: SubscriptionId, atPeriodEnd: boolean) =>
        Effect.gen(function*() {
          const subscription = yield* mustFind(
            subscriptions.findSubscription(id, { owner: user.id, lock: true }),
            "subscription"
          )
          if (
            subscription.status === "canceled" || subscription.status === "expired" ||
            subscription.status === "incomplete_expired"
          ) {
            return yield* new SubscriptionEnded({
              message: `subscription ${id} is already ${subscription.status}`,
              subscriptionId: id,
              status: subscription.status
            })
          }
          // an incomplete subscription has no paid period to run out: it ends now
          if (atPeriodEnd && subscription.status !== "incomplete") {
            if (subscription.cancelAtPeriodEnd) return subscription
            return yield* lifecycle.change(subscription, { cancelAtPeriodEnd: true }, undefined)
          }
          return yield* lifecycle.endNow(subscription)
        }).pipe(sql.withTransaction, orUnavailable)

      const resume = (user: CurrentUser["Service"], id: SubscriptionId) =>
        Effect.gen(function*() {
          const subscription = yield* mustFind(
            subscriptions.findSubscription(id, { owner: user.id, lock: true }),
            "subscription"
          )
          if (!subscription.cancelAtPeriodEnd) {
            return yield* new NoCancellationPending({
              message: `subscription ${id} has no pending cancellation to undo`,
              subscriptionId: id
            })
          }
          return yield* lifecycle.change(subscription, { cancelAtPeriodEnd: false }, undefined)
        }).pipe(sql.withTransaction, orUnavailable)

      return Subscriptions.of({ subscribe, cancel, resume })
    })
  )
}
