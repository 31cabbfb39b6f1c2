// The one writer of subscription state. Every change goes through `change`, inside the caller's transaction, with
// its event: the entitlement read model (../entitlements) is rewritten in the same transaction, so access follows
// the subscription exactly.
import { InvoiceEventData, Subscription } from "@kassa/domain/billing"
import type { EventType } from "@kassa/domain/events"
import { type NewEvent, Outbox } from "@kassa/platform/outbox"
import { Context, DateTime, Effect, Layer, Schema } from "effect"
import { Entitlements } from "../entitlements/service.ts"
import { InvoicesRepo } from "./invoices.ts"
import { type InvoiceWithLines, type RepoError, type SubscriptionRow, toSubscription } from "./rows.ts"
import { type SubscriptionPatch, SubscriptionsRepo } from "./subscriptions.ts"

const encodeSubscriptionData = Schema.encodeSync(Subscription)
const encodeInvoiceData = Schema.encodeSync(InvoiceEventData)

/** `data` of a `subscription.*` event. */
export const subscriptionEvent = (row: SubscriptionRow) => encodeSubscriptionData(toSubscription(row))

/** `data` of an `invoice.*` event. */
export const invoiceEvent = (
  invoice: InvoiceWithLines,
  extra: Pick<InvoiceEventData, "paymentId" | "failureCode"> = {}
) =>
  encodeInvoiceData({
    id: invoice.row.id,
    userId: invoice.row.userId,
    subscriptionId: invoice.row.subscriptionId,
    amount: invoice.row.amount,
    currency: invoice.row.currency,
    ...extra
  })

export class Lifecycle extends Context.Service<Lifecycle, {
  /**
   * Applies `patch` and writes `event` (with the subscription as it now is) and `along` (events of the same change,
   * e.g. the invoice paid) with the entitlement changes in one statement. Call inside a transaction.
   */
  change(
    row: SubscriptionRow,
    patch: SubscriptionPatch,
    event: EventType | undefined,
    along?: ReadonlyArray<NewEvent<unknown>>
  ): Effect.Effect<SubscriptionRow, RepoError>
  /** Voids the subscription's open invoices, each with its event. Call inside a transaction. */
  voidOpenInvoices(subscription: SubscriptionRow): Effect.Effect<void, RepoError>
  /**
   * Ends the subscription now (canceled, access revoked, open invoices voided), as a cancel or a refund does; a
   * subscription already over is left as it is. Call inside a transaction, with the subscription locked.
   */
  endNow(subscription: SubscriptionRow): Effect.Effect<SubscriptionRow, RepoError>
}>()("billing/Lifecycle") {
  static readonly layer = Layer.effect(
    Lifecycle,
    Effect.gen(function*() {
      const subscriptions = yield* SubscriptionsRepo
      const invoices = yield* InvoicesRepo
      const entitlements = yield* Entitlements
      const outbox = yield* Outbox
      const now = Effect.map(DateTime.now, DateTime.toDateUtc)

      const ended: ReadonlyArray<SubscriptionRow["status"]> = ["canceled", "expired", "incomplete_expired"]
      const change: Lifecycle["Service"]["change"] = (row, patch, event, along = []) =>
        Effect.gen(function*() {
          const at = yield* now
          // the moment it ends is kept for churn
          const ends = patch.status !== undefined && ended.includes(patch.status) && !ended.includes(row.status)
          const updated = yield* subscriptions.updateSubscription(row.id, ends ? { ...patch, endedAt: at } : patch, at)
          yield* entitlements.record(updated.userId, [
            ...along,
            ...(event === undefined ? [] : [{ type: event, aggregateId: row.id, data: subscriptionEvent(updated) }])
          ], { locked: true })
          return updated
        })

      const voidOpenInvoices = (subscription: SubscriptionRow) =>
        Effect.gen(function*() {
          for (const invoice of yield* invoices.invoicesOf(subscription.id)) {
            if (invoice.row.status !== "open") continue
            yield* invoices.findInvoice(invoice.row.id, { lock: true })
            yield* invoices.updateInvoice(invoice.row.id, { status: "void" }, yield* now)
            yield* outbox.appendEvent({
              type: "invoice.voided",
              aggregateId: invoice.row.id,
              data: invoiceEvent(invoice)
            })
          }
        })

      const endNow = (subscription: SubscriptionRow) =>
        Effect.gen(function*() {
          if (ended.includes(subscription.status)) return subscription
          yield* voidOpenInvoices(subscription)
          const at = yield* now
          return yield* change(subscription, {
            status: "canceled",
            cancelAtPeriodEnd: false,
            ...(subscription.currentPeriodEnd !== null && subscription.currentPeriodEnd > at
              ? { currentPeriodEnd: at }
              : {})
          }, "subscription.canceled")
        })

      return Lifecycle.of({ change, voidOpenInvoices, endNow })
    })
  )
}
