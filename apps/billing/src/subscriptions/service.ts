// The subscribe flow and everything that moves a subscription or an invoice: payment methods, paying an open
// invoice, cancel/resume, and the payment outcomes payments reports (applied once each, however often they come).
// Every subscription change goes through `changeSubscription`, inside the caller's transaction, with its event:
// the entitlement writer (../entitlements) is hooked there, and after a trial's insert.
import type { CurrentUser } from "@kassa/domain/auth"
import {
  AdminRefundResult,
  AlreadySubscribed,
  type IdempotencyInFlight,
  InvoiceEventData,
  type SchedulerRun,
  PayResult,
  SubscribeResult,
  type SubscribeRequest,
  Subscription,
  type SubscriptionStatus
} from "@kassa/domain/billing"
import { type BadRequest, Conflict, NotFound, type ProviderUnavailable, ServiceUnavailable, type Unauthorized, Unprocessable } from "@kassa/domain/errors"
import { InvoiceId, type PaymentId, SubscriptionId, type UserId } from "@kassa/domain/ids"
import {
  Payment,
  type PaymentInProgress,
  type PaymentMethod,
  type PaymentStatus
} from "@kassa/domain/payments"
import type { EventType } from "@kassa/domain/events"
import { PaymentsRpcClient } from "@kassa/payments/client"
import { type NewEvent, Outbox } from "@kassa/platform/outbox"
import { BillingConfig } from "@kassa/platform/config"
import { orUnavailable } from "@kassa/platform/validation"
import { createHash } from "node:crypto"
import { Context, DateTime, Duration, Effect, Layer, Option, Schema } from "effect"
import type { RpcClientError } from "effect/rpc"
import { SqlClient } from "effect/sql"
import { AdminRepo } from "../admin/repo.ts"
import { Entitlements } from "../entitlements/service.ts"
import { IdempotencyStore } from "../idempotency/store.ts"
import { CatalogCopy } from "../products/repo.ts"
import { firstPeriod, trialEnd } from "./period.ts"
import {
  BillingRepo,
  type InvoiceWithLines,
  type Opened,
  type PaymentRow,
  type RepoError,
  type SubscriptionRow,
  toInvoice,
  toPayment,
  toSubscription
} from "./repo.ts"

type MoneyError =
  | BadRequest
  | NotFound
  | Conflict
  | AlreadySubscribed
  | IdempotencyInFlight
  | PaymentInProgress
  | Unprocessable
  | ProviderUnavailable
  | ServiceUnavailable

/** Ids derived from (user, Idempotency-Key): a retry after a crash finds the rows the first attempt made. */
const derivedId = (prefix: string, ...parts: ReadonlyArray<string>) =>
  `${prefix}_${createHash("sha256").update(parts.join("\u0000")).digest("base64url").slice(0, 24)}`

// How far a payment status is along its lifecycle: an outcome that is not ahead of what billing holds changes
// nothing (outcomes arrive more than once and in any order; `succeeded` replaces `failed`, as in payments).
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

/** The payments service unreachable, or refusing our service token (a deployment fault): 503 either way. */
const fromRpc = <A, E, R>(effect: Effect.Effect<A, E | RpcClientError.RpcClientError | Unauthorized, R>) =>
  Effect.catch(effect, (error): Effect.Effect<never, Exclude<E, RpcClientError.RpcClientError | Unauthorized> | ServiceUnavailable> =>
    typeof error === "object" && error !== null && "_tag" in error &&
      (error._tag === "RpcClientError" || error._tag === "Unauthorized")
      ? Effect.fail(new ServiceUnavailable({ message: "the payments service is unavailable; try again" }))
      : Effect.fail(error as Exclude<E, RpcClientError.RpcClientError | Unauthorized>))

const encodeSubscriptionData = Schema.encodeSync(Subscription)
const encodeInvoiceData = Schema.encodeSync(InvoiceEventData)

/** Rows of one kind a scheduler cycle handles at most; a cycle that reaches it leaves more for the next. */
export const schedulerBatch = 100

const notFound = (resource: string) => new NotFound({ message: `${resource} not found`, resource })

export class Billing extends Context.Service<Billing, {
  addPaymentMethod(user: CurrentUser["Service"], paymentMethod: string): Effect.Effect<PaymentMethod, BadRequest | ProviderUnavailable | ServiceUnavailable>
  subscribe(user: CurrentUser["Service"], key: string, request: SubscribeRequest): Effect.Effect<SubscribeResult, MoneyError>
  pay(user: CurrentUser["Service"], invoiceId: InvoiceId, key: string, request: { readonly paymentMethod?: string }): Effect.Effect<PayResult, MoneyError>
  cancel(user: CurrentUser["Service"], id: SubscriptionId, atPeriodEnd: boolean): Effect.Effect<SubscriptionRow, NotFound | Conflict | ServiceUnavailable>
  resume(user: CurrentUser["Service"], id: SubscriptionId): Effect.Effect<SubscriptionRow, NotFound | Conflict | ServiceUnavailable>
  /** A viewer cancels (refunds) one of their payments. */
  cancelPayment(user: CurrentUser["Service"], id: PaymentId, key: string): Effect.Effect<Payment, MoneyError>
  /** An admin refund (partial allowed, any age), recorded in the audit log in the same transaction. */
  refund(admin: CurrentUser["Service"], id: PaymentId, key: string, request: { readonly amount?: number; readonly reason: string }): Effect.Effect<AdminRefundResult, MoneyError>
  /**
   * One scheduler cycle: expires incomplete subscriptions older than 23 h, charges trials that ended, and expires
   * subscriptions canceled at period end whose period is over.
   */
  runScheduler: Effect.Effect<SchedulerRun, ServiceUnavailable>
  /** Applies a payment's state as payments reports it; `outcomeId` (a callback's id) is applied at most once. */
  applyPayment(payment: Payment, outcomeId?: string): Effect.Effect<void, ServiceUnavailable>
}>()("billing/Billing") {
  static readonly layer = Layer.effect(Billing, Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const repo = yield* BillingRepo
    const catalog = yield* CatalogCopy
    const outbox = yield* Outbox
    const payments = yield* PaymentsRpcClient
    const idempotency = yield* IdempotencyStore
    const auditLog = yield* AdminRepo
    const entitlements = yield* Entitlements
    const now = Effect.map(DateTime.now, DateTime.toDateUtc)

    const emit = (type: EventType, aggregateId: string, data: unknown) =>
      outbox.appendEvent({ type, aggregateId, data }).pipe(Effect.asVoid)

    /**
     * The one writer of subscription state; call inside a transaction. `along`: events of the same change (e.g.
     * the invoice paid), written with the subscription's and the entitlements' in one statement.
     */
    const changeSubscription = (
      row: SubscriptionRow,
      patch: Parameters<BillingRepo["Service"]["updateSubscription"]>[1],
      event: EventType | undefined,
      along: ReadonlyArray<NewEvent<unknown>> = []
    ) =>
      Effect.gen(function*() {
        const updated = yield* repo.updateSubscription(row.id, patch, yield* now)
        yield* entitlements.record(updated.userId, [
          ...along,
          ...(event === undefined ? [] : [{ type: event, aggregateId: row.id, data: encodeSubscription(updated) }])
        ], { locked: true })
        return updated
      })

    const encodeSubscription = (row: SubscriptionRow) => encodeSubscriptionData(toSubscription(row))
    const invoiceEvent = (invoice: InvoiceWithLines, extra: Pick<InvoiceEventData, "paymentId" | "failureCode"> = {}) =>
      encodeInvoiceData({
        id: invoice.row.id,
        userId: invoice.row.userId,
        subscriptionId: invoice.row.subscriptionId,
        amount: invoice.row.amount,
        currency: invoice.row.currency,
        ...extra
      })

    const mustFind = <A, E, R>(effect: Effect.Effect<Option.Option<A>, E, R>, resource: string) =>
      Effect.flatMap(effect, Option.match({ onNone: () => Effect.fail(notFound(resource)), onSome: Effect.succeed }))

    /**
     * Locks an invoice's subscription, then the invoice. Every writer takes the locks in this order (subscription,
     * invoice), so a pay, a cancel and an outcome on one invoice serialise instead of deadlocking.
     */
    const lockInvoice = (id: InvoiceId, owner?: UserId) =>
      Effect.gen(function*() {
        const subscription = yield* repo.findSubscriptionOfInvoice(id, { ...(owner === undefined ? {} : { owner }), lock: true })
        if (Option.isNone(subscription)) return Option.none()
        const invoice = yield* repo.findInvoice(id, { lock: true })
        return Option.map(invoice, (invoice) => ({ invoice, subscription: subscription.value }))
      })

    // ---- outcomes ------------------------------------------------------------------------------------------

    /**
     * Saves a payment whose state moved ahead, and moves invoice and subscription along; inside a transaction. Returns
     * both as they now are (so a caller answering with them need not read them again), or none when a credit line
     * was added (then they are best read back).
     */
    const settle = (payment: Payment, before: Option.Option<PaymentRow>, invoice: InvoiceWithLines, subscription: SubscriptionRow) =>
      Effect.gen(function*(): Effect.fn.Return<Option.Option<{ readonly invoice: InvoiceWithLines; readonly subscription: SubscriptionRow }>, RepoError> {
        let settled = { invoice, subscription }
        const wasPaid = Option.exists(before, (row) => isPaid(row.status))
        const at = yield* now
        if (isPaid(payment.status) && !wasPaid && invoice.row.status === "open") {
          const first = subscription.status === "incomplete" || subscription.status === "incomplete_expired"
          // the first period starts when the payment succeeds; a renewal keeps the invoice's period
          const period = first
            ? firstPeriod(DateTime.fromDateUnsafe(at), subscription.interval, subscription.timeZone)
            : { start: DateTime.fromDateUnsafe(invoice.row.periodStart), end: DateTime.fromDateUnsafe(invoice.row.periodEnd) }
          const start = DateTime.toDateUtc(period.start)
          const end = DateTime.toDateUtc(period.end)
          const patch = { status: "paid" as const, paidPaymentId: payment.id, ...(first ? { periodStart: start, periodEnd: end } : {}) }
          // the payment and the invoice it pays in one statement
          yield* repo.savePayment(payment, { id: invoice.row.id, patch, now: at })
          settled = {
            ...settled,
            invoice: {
              row: { ...invoice.row, ...patch },
              lines: first ? invoice.lines.map((l) => l.kind === "plan" ? { ...l, periodStart: start, periodEnd: end } : l) : invoice.lines
            }
          }
          const paid = { type: "invoice.paid" as const, aggregateId: invoice.row.id, data: invoiceEvent(invoice, { paymentId: payment.id }) }
          if (first || subscription.status === "past_due" || subscription.status === "trialing") {
            settled = {
              ...settled,
              subscription: yield* changeSubscription(subscription, {
                status: "active",
                currentPeriodStart: start,
                currentPeriodEnd: end,
                failureCode: null
              }, "subscription.activated", [paid])
            }
          } else if (
            subscription.status === "active" && subscription.currentPeriodStart !== null &&
            invoice.row.periodStart > subscription.currentPeriodStart
          ) {
            // the next period of an active subscription, paid
            settled = {
              ...settled,
              subscription: yield* changeSubscription(subscription, {
                currentPeriodStart: start,
                currentPeriodEnd: end,
                failureCode: null
              }, "subscription.renewed", [paid])
            }
          } else {
            yield* outbox.appendEvents([paid])
          }
        } else {
          yield* repo.savePayment(payment)
          if (payment.status === "failed" && invoice.row.status === "open") {
            settled = {
              ...settled,
              subscription: yield* changeSubscription(subscription, { failureCode: payment.failureCode ?? "failed" }, undefined, [{
                type: "invoice.payment_failed",
                aggregateId: invoice.row.id,
                data: invoiceEvent(invoice, { paymentId: payment.id, failureCode: payment.failureCode ?? null })
              }])
            }
          }
        }
        const refundedBefore = Option.match(before, { onNone: () => 0, onSome: (row) => row.refundedAmount })
        if (payment.refundedAmount > refundedBefore) {
          // append-only: a refund is a credit line, one per refunded total, so a replay adds nothing
          yield* repo.appendLine(invoice.row.id, {
            kind: "credit",
            description: `refund of payment ${payment.id}`,
            planId: null,
            periodStart: null,
            periodEnd: null,
            amount: -(payment.refundedAmount - refundedBefore),
            currency: payment.currency,
            sourceId: `${payment.id}:refunded:${payment.refundedAmount}`
          }, at)
          return Option.none()
        }
        return Option.some(settled)
      })

    const applyPaymentTx = (payment: Payment) =>
      Effect.gen(function*() {
        // an outcome for an invoice billing never issued is not ours to apply
        const subscription = yield* repo.findSubscriptionOfInvoice(payment.invoiceId, { lock: true })
        if (Option.isNone(subscription)) return Option.none()
        // the invoice locked and read, with billing's copy of the payment as it is now (the subscription's lock keeps
        // other writers of the copy out)
        const locked = yield* repo.lockInvoiceWithPayment(payment.invoiceId, payment.id)
        if (Option.isNone(locked)) return Option.none()
        const before = locked.value.payment
        const ahead = Option.match(before, {
          onNone: () => true,
          onSome: (row) =>
            progress[payment.status] > progress[row.status] ||
            (progress[payment.status] === progress[row.status] && payment.refundedAmount > row.refundedAmount)
        })
        if (!ahead) return Option.none()
        return yield* settle(payment, before, locked.value.invoice, subscription.value)
      })

    /** Applies the payment in its own transaction; see `settle` for what it returns. */
    const applyPayment = (payment: Payment, outcomeId?: string) =>
      Effect.gen(function*() {
        if (outcomeId !== undefined && !(yield* repo.claimOutcome(outcomeId, payment.id, payment.status, yield* now))) {
          return Option.none()
        }
        return yield* applyPaymentTx(payment)
      }).pipe(
        sql.withTransaction,
        orUnavailable
      )

    // ---- flows ---------------------------------------------------------------------------------------------

    const charge = (input: Parameters<typeof payments.CreatePayment>[0]) =>
      fromRpc(payments.CreatePayment(input))

    const addPaymentMethod = (user: CurrentUser["Service"], paymentMethod: string) =>
      fromRpc(Effect.gen(function*() {
        yield* payments.EnsureCustomer({ userId: user.id, email: user.email })
        return yield* payments.AttachPaymentMethod({ userId: user.id, paymentMethod, makeDefault: true })
      }))

    const readResult = (subscriptionId: SubscriptionId, invoiceId: InvoiceId, paymentId: PaymentId | null) =>
      Effect.gen(function*() {
        // independent reads: concurrent, so the pool pipelines them into one round trip
        const [subscription, invoice, payment] = yield* Effect.all([
          mustFind(repo.findSubscription(subscriptionId), "subscription"),
          mustFind(repo.findInvoice(invoiceId), "invoice"),
          paymentId === null ? Effect.succeedNone : repo.findPayment(paymentId)
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
          return yield* new Unprocessable({ message: `plan ${plan.id} is no longer on sale` })
        }
        const subscriptionId = SubscriptionId.make(derivedId("sub", user.id, key))
        const invoiceId = InvoiceId.make(derivedId("inv", user.id, key))
        const at = yield* now
        const trial = plan.trialDays > 0
        const period = trial
          ? { start: DateTime.fromDateUnsafe(at), end: trialEnd(DateTime.fromDateUnsafe(at), plan.trialDays, timeZone) }
          : firstPeriod(DateTime.fromDateUnsafe(at), plan.interval, timeZone)
        const start = DateTime.toDateUtc(period.start)
        const end = DateTime.toDateUtc(period.end)
        const events = ({ invoice, subscription }: Opened): ReadonlyArray<NewEvent<unknown>> => [
          { type: "subscription.created", aggregateId: subscriptionId, data: encodeSubscription(subscription) },
          { type: "invoice.created", aggregateId: invoiceId, data: invoiceEvent(invoice) },
          ...(trial ? [{ type: "invoice.paid" as const, aggregateId: invoiceId, data: invoiceEvent(invoice, { paymentId: null }) }] : [])
        ]
        const open = (eventsOf: (opened: Opened) => ReadonlyArray<NewEvent<unknown>>) =>
          repo.openSubscription({
            id: subscriptionId,
            userId: user.id,
            productId: plan.productId,
            planId: plan.id,
            status: trial ? "trialing" : "incomplete",
            currentPeriodStart: trial ? start : null,
            currentPeriodEnd: trial ? end : null,
            interval: plan.interval,
            timeZone
          }, {
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
              description: trial ? `${plan.trialDays}-day trial of plan ${plan.id}` : `plan ${plan.id} (${plan.interval})`,
              planId: plan.id,
              periodStart: start,
              periodEnd: end,
              amount: trial ? 0 : plan.amount,
              currency: plan.currency,
              sourceId: null
            }]
          }, eventsOf, at)
        // a trial's card is charged only when the trial ends: saved (as the default) before anything is opened, so a
        // card that cannot be saved fails the subscribe instead of the charge weeks later
        if (trial && request.paymentMethod !== undefined) yield* addPaymentMethod(user, request.paymentMethod)
        // one statement with its events; a trial grants access from its insert (not through changeSubscription),
        // so it also writes entitlements, with the events, in a transaction around both
        const opened = yield* trial
          ? Effect.gen(function*() {
            const opened = yield* open(() => [])
            if (Option.isSome(opened)) yield* entitlements.record(user.id, events(opened.value))
            return opened
          }).pipe(sql.withTransaction)
          : open(events)
        if (Option.isNone(opened) && Option.isNone(yield* repo.findSubscription(subscriptionId))) {
          // (found: an earlier attempt with this key created it and its invoice, then failed before answering: go on)
          const live = yield* repo.findLiveSubscription(user.id, plan.productId)
          return yield* new AlreadySubscribed({
            message: `you already have a subscription to product ${plan.productId}`,
            subscriptionId: Option.match(live, { onNone: () => subscriptionId, onSome: (s) => s.id })
          })
        }
        if (trial) return yield* readResult(subscriptionId, invoiceId, null)
        const payment = yield* charge({
          // deterministic: a retry of this subscribe never charges twice
          idempotencyKey: `billing:${invoiceId}:first`,
          invoiceId,
          userId: user.id,
          amount: plan.amount,
          currency: plan.currency,
          description: `Kassa subscription ${subscriptionId}`,
          ...(request.paymentMethod === undefined ? {} : { paymentMethod: request.paymentMethod })
        })
        const applied = yield* applyPayment(payment)
        if (request.paymentMethod !== undefined && payment.status === "succeeded") {
          // the card that paid becomes the default for renewals; the subscription stands even if this fails
          yield* addPaymentMethod(user, request.paymentMethod).pipe(Effect.ignore)
        }
        // the rows as this request left them, and the payment as recorded with them; read back only when another
        // writer (a callback) applied the outcome first
        return yield* Option.match(applied, {
          onNone: () => readResult(subscriptionId, invoiceId, payment.id),
          onSome: ({ invoice, subscription }) =>
            Effect.succeed({ subscription: toSubscription(subscription), invoice: toInvoice(invoice), payment })
        })
      })

    const subscribe = (user: CurrentUser["Service"], key: string, request: SubscribeRequest) =>
      idempotency.run(
        { userId: user.id, key, operation: "subscribe", request, response: SubscribeResult },
        subscribeOnce(user, key, request)
      ).pipe(orUnavailable)

    const payOnce = (user: CurrentUser["Service"], invoiceId: InvoiceId, key: string, paymentMethod: string | undefined) =>
      Effect.gen(function*() {
        // subscription and invoice stay locked through the charge: a concurrent cancel (which voids the invoice)
        // waits, so a pay and a cancel on one invoice never both take effect
        const payment = yield* Effect.gen(function*() {
          const { invoice } = yield* mustFind(lockInvoice(invoiceId, user.id), "invoice")
          if (invoice.row.status !== "open") {
            return yield* new Conflict({ message: `invoice ${invoiceId} is ${invoice.row.status}; only an open invoice can be paid` })
          }
          const payment = yield* charge({
            idempotencyKey: `billing:${invoiceId}:pay:${derivedId("key", user.id, key)}`,
            invoiceId,
            userId: user.id,
            amount: invoice.row.amount,
            currency: invoice.row.currency,
            ...(paymentMethod === undefined ? {} : { paymentMethod })
          })
          yield* applyPaymentTx(payment)
          return payment
        }).pipe(sql.withTransaction)
        const invoice = yield* mustFind(repo.findInvoice(invoiceId), "invoice")
        const stored = yield* mustFind(repo.findPayment(payment.id), "payment")
        return { invoice: toInvoice(invoice), payment: toPayment(stored) }
      })

    const pay = (user: CurrentUser["Service"], invoiceId: InvoiceId, key: string, request: { readonly paymentMethod?: string }) =>
      idempotency.run(
        { userId: user.id, key, operation: `pay:${invoiceId}`, request, response: PayResult },
        payOnce(user, invoiceId, key, request.paymentMethod)
      ).pipe(orUnavailable)

    const cancel = (user: CurrentUser["Service"], id: SubscriptionId, atPeriodEnd: boolean) =>
      Effect.gen(function*() {
        const subscription = yield* mustFind(repo.findSubscription(id, { owner: user.id, lock: true }), "subscription")
        const ended: ReadonlyArray<SubscriptionStatus> = ["canceled", "expired", "incomplete_expired"]
        if (ended.includes(subscription.status)) {
          return yield* new Conflict({ message: `subscription ${id} is already ${subscription.status}` })
        }
        // an incomplete subscription has no paid period to run out: it ends now
        if (atPeriodEnd && subscription.status !== "incomplete") {
          if (subscription.cancelAtPeriodEnd) return subscription
          return yield* changeSubscription(subscription, { cancelAtPeriodEnd: true }, undefined)
        }
        yield* voidOpenInvoices(subscription)
        const at = yield* now
        return yield* changeSubscription(subscription, {
          status: "canceled",
          cancelAtPeriodEnd: false,
          ...(subscription.currentPeriodEnd !== null && subscription.currentPeriodEnd > at ? { currentPeriodEnd: at } : {})
        }, "subscription.canceled")
      }).pipe(sql.withTransaction, orUnavailable)

    const voidOpenInvoices = (subscription: SubscriptionRow) =>
      Effect.gen(function*() {
        for (const invoice of yield* repo.invoicesOf(subscription.id)) {
          if (invoice.row.status !== "open") continue
          yield* repo.findInvoice(invoice.row.id, { lock: true })
          yield* repo.updateInvoice(invoice.row.id, { status: "void" }, yield* now)
          yield* emit("invoice.voided", invoice.row.id, invoiceEvent(invoice))
        }
      })

    const resume = (user: CurrentUser["Service"], id: SubscriptionId) =>
      Effect.gen(function*() {
        const subscription = yield* mustFind(repo.findSubscription(id, { owner: user.id, lock: true }), "subscription")
        if (!subscription.cancelAtPeriodEnd) {
          return yield* new Conflict({ message: `subscription ${id} has no pending cancellation to undo` })
        }
        return yield* changeSubscription(subscription, { cancelAtPeriodEnd: false }, undefined)
      }).pipe(sql.withTransaction, orUnavailable)

    const cancelPaymentOnce = (user: CurrentUser["Service"], id: PaymentId, key: string) =>
      Effect.gen(function*() {
        const mine = yield* mustFind(repo.findPayment(id, { owner: user.id }), "payment")
        if (mine.status === "canceled" || mine.status === "refunded" || mine.status === "failed") {
          return yield* new Conflict({ message: `payment ${id} is already ${mine.status}` })
        }
        const { payment, refund } = yield* fromRpc(payments.CancelPayment({
          paymentId: id,
          idempotencyKey: `billing:${id}:cancel:${derivedId("key", user.id, key)}`,
          reason: "requested_by_customer"
        }))
        yield* Effect.gen(function*() {
          yield* applyPaymentTx(payment)
          if (refund === null) return
          // a refunded period gives no access: its subscription ends now
          const invoice = yield* mustFind(repo.findInvoice(payment.invoiceId), "invoice")
          const subscription = yield* mustFind(repo.findSubscription(invoice.row.subscriptionId, { lock: true }), "subscription")
          if (subscription.status === "canceled" || subscription.status === "expired") return
          yield* voidOpenInvoices(subscription)
          yield* changeSubscription(subscription, {
            status: "canceled",
            cancelAtPeriodEnd: false,
            currentPeriodEnd: yield* now
          }, "subscription.canceled")
        }).pipe(sql.withTransaction)
        return toPayment(yield* mustFind(repo.findPayment(id), "payment"))
      })

    const cancelPayment = (user: CurrentUser["Service"], id: PaymentId, key: string) =>
      idempotency.run(
        { userId: user.id, key, operation: `cancel-payment:${id}`, request: {}, response: Payment },
        cancelPaymentOnce(user, id, key)
      ).pipe(orUnavailable)

    const refundOnce = (admin: CurrentUser["Service"], id: PaymentId, key: string, request: { readonly amount?: number; readonly reason: string }) =>
      Effect.gen(function*() {
        yield* mustFind(repo.findPayment(id), "payment")
        const auditId = derivedId("aud", admin.id, key)
        const { payment, refund } = yield* fromRpc(payments.CancelPayment({
          paymentId: id,
          idempotencyKey: `billing:${id}:refund:${auditId}`,
          ignoreRefundWindow: true,
          ...(request.amount === undefined ? {} : { amount: request.amount })
        }))
        const audit = yield* Effect.gen(function*() {
          yield* applyPaymentTx(payment)
          return yield* auditLog.recordAudit({
            id: auditId,
            actorId: admin.id,
            action: "payment.refund",
            objectType: "payment",
            objectId: id,
            reason: request.reason,
            details: { invoiceId: payment.invoiceId, amount: refund?.amount ?? null, currency: payment.currency, refundId: refund?.id ?? null }
          }, yield* now)
        }).pipe(sql.withTransaction)
        return { payment: toPayment(yield* mustFind(repo.findPayment(id), "payment")), audit }
      })

    const refund = (admin: CurrentUser["Service"], id: PaymentId, key: string, request: { readonly amount?: number; readonly reason: string }) =>
      idempotency.run(
        { userId: admin.id, key, operation: `refund:${id}`, request, response: AdminRefundResult },
        refundOnce(admin, id, key, request)
      ).pipe(orUnavailable)

    // ---- scheduler -----------------------------------------------------------------------------------------

    const incompleteLifetime = Duration.hours(23)

    /** Claims due rows so that N replicas never handle one twice (FOR UPDATE SKIP LOCKED, in the caller's tx). */
    const claimDue = (condition: ReturnType<typeof sql.and>) =>
      sql<{ readonly id: SubscriptionId }>`SELECT id FROM billing.subscriptions WHERE ${condition}
        ORDER BY created_at LIMIT ${schedulerBatch} FOR UPDATE SKIP LOCKED`

    const expireIncomplete = Effect.gen(function*() {
      const at = yield* now
      const cutoff = new Date(at.getTime() - Duration.toMillis(incompleteLifetime))
      const due = yield* claimDue(sql.and([sql`status = 'incomplete'`, sql`created_at <= ${cutoff}`]))
      for (const { id } of due) {
        const subscription = yield* mustFind(repo.findSubscription(id), "subscription")
        yield* voidOpenInvoices(subscription)
        yield* changeSubscription(subscription, { status: "incomplete_expired" }, "subscription.expired")
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
        const subscription = yield* mustFind(repo.findSubscription(id), "subscription")
        // a past-due one owes nothing for a period it canceled
        yield* voidOpenInvoices(subscription)
        yield* changeSubscription(subscription, { status: "expired", cancelAtPeriodEnd: false }, "subscription.expired")
      }
      return due.length
    }).pipe(sql.withTransaction)

    /** The invoice of the period starting at `start`, created once: its id is derived from (subscription, start). */
    const periodInvoice = (subscription: SubscriptionRow, start: Date) =>
      Effect.gen(function*() {
        const plan = yield* mustFind(catalog.findPlan(subscription.planId), "plan")
        const invoiceId = InvoiceId.make(derivedId("inv", subscription.id, start.toISOString()))
        const found = yield* repo.findInvoice(invoiceId)
        if (Option.isSome(found)) return found.value
        const end = DateTime.toDateUtc(firstPeriod(DateTime.fromDateUnsafe(start), plan.interval, subscription.timeZone).end)
        const invoice = yield* repo.insertInvoice({
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
        yield* emit("invoice.created", invoiceId, invoiceEvent(invoice))
        return invoice
      })

    /** Charges an invoice off-session on the default card and applies the outcome; none when payments was unreachable. */
    const chargeOffSession = (invoice: InvoiceWithLines, idempotencyKey: string) =>
      Effect.gen(function*() {
        const payment = yield* charge({
          idempotencyKey,
          invoiceId: invoice.row.id,
          userId: invoice.row.userId,
          amount: invoice.row.amount,
          currency: invoice.row.currency,
          offSession: true
        }).pipe(Effect.option)
        if (Option.isSome(payment)) yield* applyPaymentTx(payment.value)
        return payment
      })

    /**
     * A trial or a paid period that ended (each in its own transaction: the charge of one never holds back the
     * others): canceled at period end → expired; otherwise the next period is invoiced and charged on the default
     * card → active for it (`subscription.activated` after a trial, `.renewed` after a paid period), or `past_due`
     * when not paid (declined, no card, payments unreachable), where dunning takes over.
     */
    const endPeriod = (id: SubscriptionId) =>
      Effect.gen(function*() {
        const at = yield* now
        const claimed = yield* claimDue(sql.and([
          sql`id = ${id}`,
          sql`status IN ('trialing', 'active')`,
          sql`current_period_end <= ${at}`
        ]))
        if (claimed.length === 0) return false
        const subscription = yield* mustFind(repo.findSubscription(id), "subscription")
        if (subscription.cancelAtPeriodEnd) {
          yield* changeSubscription(subscription, { status: "expired", cancelAtPeriodEnd: false }, "subscription.expired")
          return true
        }
        const invoice = yield* periodInvoice(subscription, subscription.currentPeriodEnd ?? at)
        const payment = yield* chargeOffSession(invoice, `billing:${invoice.row.id}:period-start`)
        const after = yield* mustFind(repo.findSubscription(id), "subscription")
        if (after.status === subscription.status && after.currentPeriodEnd !== null && after.currentPeriodEnd <= at) {
          // access goes on through BILLING_PAST_DUE_GRACE while dunning retries
          yield* changeSubscription(after, {
            status: "past_due",
            failureCode: Option.match(payment, { onNone: () => "charge_failed", onSome: (p) => p.failureCode ?? p.status })
          }, "subscription.past_due")
        }
        return true
      }).pipe(sql.withTransaction)

    const retryDelays = (yield* BillingConfig).dunningRetries.map(Duration.toMillis)

    /**
     * Dunning for one past-due subscription, due when its open invoice has had n charges and the n-th retry delay
     * (from the period's start) has passed: charged again; once every retry has failed, the invoice becomes
     * uncollectible and the subscription is canceled (access revoked). A charge still pending decides by its outcome.
     */
    const dun = (id: SubscriptionId) =>
      Effect.gen(function*(): Effect.fn.Return<"retried" | "canceled" | "none", RepoError | NotFound | ServiceUnavailable> {
        const claimed = yield* claimDue(sql.and([sql`id = ${id}`, sql`status = 'past_due'`]))
        if (claimed.length === 0) return "none"
        const subscription = yield* mustFind(repo.findSubscription(id), "subscription")
        const invoice = (yield* repo.invoicesOf(id)).find((i) =>
          i.row.status === "open" && i.row.periodStart.getTime() === subscription.currentPeriodEnd?.getTime())
        if (invoice === undefined) return "none"
        const charges = yield* repo.paymentsOf(invoice.row.id)
        if (charges.some((p) => p.status === "pending" || p.status === "unknown")) return "none"
        const at = yield* now
        const n = charges.length
        if (n > retryDelays.length) {
          yield* repo.updateInvoice(invoice.row.id, { status: "uncollectible" }, at)
          yield* changeSubscription(subscription, { status: "canceled" }, "subscription.canceled", [
            { type: "invoice.uncollectible", aggregateId: invoice.row.id, data: invoiceEvent(invoice) }
          ])
          return "canceled"
        }
        // (re-checked here: another replica may have retried it since it was selected)
        if (n > 0 && at.getTime() < invoice.row.periodStart.getTime() + retryDelays[n - 1]!) return "none"
        yield* chargeOffSession(invoice, `billing:${invoice.row.id}:retry:${n}`)
        return "retried"
      }).pipe(sql.withTransaction)

    // one subscription's failure (a bug, or the database gone mid-cycle) is logged and leaves it for the next cycle;
    // it does not stop the others
    const isolated = <A, E>(id: SubscriptionId, step: Effect.Effect<A, E>, skipped: A) =>
      Effect.catchCause(step, (cause) =>
        Effect.as(Effect.logError("scheduler step failed", cause).pipe(Effect.annotateLogs({ subscriptionId: id })), skipped))

    const runScheduler = Effect.gen(function*() {
      const expiredIncomplete = yield* expireIncomplete
      // before renewals and dunning: a period canceled at its end is neither renewed nor dunned
      const expiredAtPeriodEnd = yield* expireAtPeriodEnd
      const at = yield* now
      // trials end whatever the cancel flag (a canceled trial just expires); a canceled paid period is expireAtPeriodEnd's
      const ended = yield* sql<{ readonly id: SubscriptionId; readonly status: SubscriptionStatus }>`
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
      return { expiredIncomplete, trialsEnded, expiredAtPeriodEnd, renewals, dunningRetries, canceledUnpaid }
    }).pipe(Effect.catchTag("NotFound", Effect.die), orUnavailable)

    return Billing.of({
      refund,
      runScheduler,
      cancelPayment,
      addPaymentMethod,
      subscribe,
      pay,
      cancel,
      resume,
      applyPayment: (payment, outcomeId) => Effect.asVoid(applyPayment(payment, outcomeId))
    })
  }))
}

