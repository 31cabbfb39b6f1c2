// The payments use cases behind the RPC group and its HTTP twin: charge an invoice, cancel or refund a payment,
// read one. Every path that moves money is idempotent twice over: the caller's key, through the idempotency store (a
// retry replays, a concurrent duplicate waits for the answer, a re-run after a crash finds the payment or refund
// by the id derived from the key), and the provider key derived from our ids (a resend never charges or refunds
// twice). What the provider answers is applied by the settlement (settlement.ts).
import { NotFound, PaymentId, ProviderUnavailable, RefundId, type ServiceUnavailable, type UserId } from "@kassa/domain"
import {
  AlreadyRefunded,
  CancelPaymentResult,
  type CancelPaymentError,
  type CancelPaymentInput,
  type CreatePaymentError,
  type CreatePaymentInput,
  InvoiceAlreadyPaid,
  NoPaymentMethod,
  type Payment,
  PaymentInProgress,
  PaymentNotRefundable,
  type PaymentStatus,
  RefundExceedsPayment,
  RefundInProgress,
  RefundRefused,
  RefundWindowClosed
} from "@kassa/domain/payments"
import { derivedId, IdempotencyStore } from "@kassa/platform/idempotency"
import { orUnavailable } from "@kassa/platform/validation"
import { Context, DateTime, Duration, Effect, Layer, Option } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { PaymentsConfig } from "../config.ts"
import { Customers } from "./customers.ts"
import { isOpen } from "./outcome.ts"
import { Provider } from "./provider.ts"
import { RefundsRepo } from "./refunds-repo.ts"
import { type NewPayment, PaymentsRepo, type StartAttempt } from "./repo.ts"
import { type PaymentRow, type RefundRow, toPayment, toRefund } from "./rows.ts"
import { reconcileDelay, Settlement } from "./settlement.ts"

const createOperation = "create_payment"
const cancelOperation = "cancel_payment"

/** The caller's parameters without the key itself: the same parameters under one key are a retry. */
const parameters = ({ idempotencyKey: _, ...rest }: { readonly idempotencyKey: string }) => rest

export class Payments extends Context.Service<Payments, {
  create(input: CreatePaymentInput): Effect.Effect<Payment, CreatePaymentError>
  cancel(input: CancelPaymentInput): Effect.Effect<CancelPaymentResult, CancelPaymentError>
  get(id: PaymentId): Effect.Effect<Payment, NotFound | ServiceUnavailable>
}>()("payments/Payments") {
  static readonly layer = Layer.effect(
    Payments,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = yield* PaymentsRepo
      const refunds = yield* RefundsRepo
      const settlement = yield* Settlement
      const provider = yield* Provider
      const customers = yield* Customers
      const idempotency = yield* IdempotencyStore
      const config = yield* PaymentsConfig
      // a new attempt or refund is first asked about after this (it settles well before, or its caller is gone)
      const firstDelay = reconcileDelay(config.reconcileSchedule, 0)
      const { charge, refresh, reconcile, applyOutcome, settleRefund } = settlement
      const mustFind = repo.getPayment
      const { ensureRow, providerCustomerFor } = customers

      // ---- create ---------------------------------------------------------------------------------------

      /** A payment as it now is (an open one asked about first, once it is overdue). */
      const current = (id: PaymentId) => Effect.map(Effect.flatMap(mustFind(id), refresh), toPayment)

      const inProgress = (
        invoiceId: CreatePaymentInput["invoiceId"],
        payment: { readonly id: PaymentId; readonly status: PaymentStatus }
      ) =>
        new PaymentInProgress({
          message: `payment ${payment.id} for this invoice is ${payment.status}; no new charge until it settles`,
          invoiceId,
          paymentId: payment.id
        })

      const noMethod = (userId: UserId) =>
        new NoPaymentMethod({ message: "the customer has no default payment method; pass paymentMethod", userId })

      const create = (input: CreatePaymentInput) =>
        Effect.gen(function*() {
          // the key is recorded with the attempt, in its statement: the attempt is the whole reservation (the
          // reconciler drives an open one to its outcome), and a replay reads it, by this id, as it now is
          const id = PaymentId.make(derivedId("pay", createOperation, input.idempotencyKey))
          const key = idempotency.recorded({
            scope: createOperation,
            key: input.idempotencyKey,
            operation: createOperation,
            request: parameters(input)
          })
          // a still pending payment: the caller learns so (and can ask again with the same key) instead of a
          // refusal, since the charge may well go through
          const replay = Effect.andThen(key.verify, current(id))
          const now = yield* DateTime.now
          const attempt = (
            charge: NewPayment["charge"]
          ): Effect.Effect<StartAttempt, PaymentInProgress | SqlError.SqlError> =>
            repo.startAttempt(
              {
                id,
                userId: input.userId,
                invoiceId: input.invoiceId,
                amount: input.amount,
                currency: input.currency,
                charge,
                offSession: input.offSession ?? false,
                description: input.description ?? null,
                nextReconcileAt: DateTime.addDuration(now, firstDelay)
              },
              key.insert,
              now
            ).pipe(
              // another key's attempt on this invoice holds the one open slot; if it settled meanwhile, try again
              // (now it blocks as paid, or a failed one leaves the invoice open)
              Effect.catchTag(
                "OpenPaymentExists",
                () =>
                  Effect.flatMap(
                    repo.findOpenForInvoice(input.invoiceId),
                    Option.match({
                      onSome: (open) => Effect.fail(inProgress(input.invoiceId, open)),
                      onNone: () => attempt(charge)
                    })
                  )
              )
            )
          // the default method can change, so a charge of it reads it in the attempt's statement; a named method
          // needs only the customer, which never changes once recorded (cached)
          let started = yield* attempt(
            input.paymentMethod === undefined
              ? "saved"
              : { providerCustomerId: yield* providerCustomerFor(input.userId), paymentMethod: input.paymentMethod }
          )
          if (started._tag === "NoSavedMethod") {
            // no customer yet (made now, as for any first charge) or no default method
            const customer = yield* ensureRow(input.userId, undefined)
            if (customer.defaultPaymentMethod === null) return yield* noMethod(input.userId)
            started = yield* attempt({
              providerCustomerId: customer.providerCustomerId,
              paymentMethod: customer.defaultPaymentMethod
            })
          }
          switch (started._tag) {
            case "Started":
              return toPayment(yield* charge(started.row))
            case "KeyUsed":
            case "Raced":
              return yield* replay
            case "Blocked":
              return yield* (isOpen(started.status)
                ? inProgress(input.invoiceId, { id: started.paymentId, status: started.status })
                : new InvoiceAlreadyPaid({
                  message: `the invoice is already paid by payment ${started.paymentId}`,
                  invoiceId: input.invoiceId,
                  paymentId: started.paymentId
                }))
            case "NoSavedMethod":
              return yield* noMethod(input.userId)
          }
        }).pipe(
          orUnavailable,
          Effect.withSpan(
            "Payments.create",
            { attributes: { invoiceId: input.invoiceId } },
            { captureStackTrace: false }
          )
        )

      // ---- cancel ---------------------------------------------------------------------------------------

      const refundRefused = (paymentId: PaymentId, code: string, message: string) =>
        code === "charge_already_refunded"
          ? new AlreadyRefunded({ message: "the payment is already refunded at the provider", paymentId })
          : new RefundRefused({ message: `the provider refused the refund: ${message}`, paymentId, code })

      const cancelResult = (paymentId: PaymentId, refund: RefundRow | null) =>
        Effect.map(mustFind(paymentId), (row): CancelPaymentResult => ({
          payment: toPayment(row),
          refund: refund === null ? null : toRefund(refund)
        }))

      const finishRefund = (refund: RefundRow, providerPaymentId: string) =>
        Effect.gen(function*() {
          const outcome = refund.status === "pending"
            ? yield* settleRefund(refund, providerPaymentId)
            : refund.status === "succeeded"
            ? { _tag: "Succeeded" as const, providerRefundId: refund.providerRefundId ?? "" }
            : {
              _tag: "Failed" as const,
              code: refund.failureCode ?? "failed",
              message: refund.failureMessage ?? "failed"
            }
          if (outcome._tag === "Failed") return yield* refundRefused(refund.paymentId, outcome.code, outcome.message)
          // Unknown: the refund stays pending (resent by the reconciler with the same key); the caller sees that
          const after = yield* refunds.findRefund(refund.id)
          return yield* cancelResult(refund.paymentId, Option.getOrElse(after, () => refund))
        })

      /** A cancel's answer as it now is: a refund still pending is resent (under its own provider key). */
      const replayCancel = ({ payment, refund }: CancelPaymentResult) =>
        refund === null ? cancelResult(payment.id, null) : continueRefund(refund.id)

      const continueRefund = (id: RefundId) =>
        Effect.gen(function*() {
          const refund = yield* refunds.findRefund(id)
          if (Option.isNone(refund)) return yield* Effect.die(new Error(`refund ${id} vanished`))
          const payment = yield* mustFind(refund.value.paymentId)
          return yield* finishRefund(refund.value, payment.providerPaymentId ?? "")
        })

      const notRefundable = (row: PaymentRow) => {
        const refused = (message: string) =>
          new PaymentNotRefundable({ message, paymentId: row.id, status: row.status })
        switch (row.status) {
          case "refunded":
            return new AlreadyRefunded({ message: "the payment is already refunded", paymentId: row.id })
          case "canceled":
            return refused("the payment is already canceled")
          case "failed":
            return refused("the payment failed; there is nothing to cancel")
          case "unknown":
            return refused("the payment's outcome is not known yet; retry once the provider has answered")
          default:
            return refused(`the payment is ${row.status}`)
        }
      }

      const refund = (row: PaymentRow, input: CancelPaymentInput, refundId: RefundId) =>
        Effect.gen(function*() {
          const now = yield* DateTime.now
          const windowEnd = DateTime.addDuration(row.createdAt, config.refundWindow)
          if (input.ignoreRefundWindow !== true && DateTime.isLessThan(windowEnd, now)) {
            return yield* new RefundWindowClosed({
              message: `the refund window of ${Duration.format(config.refundWindow)} has passed for this payment`,
              paymentId: row.id,
              closedAt: windowEnd
            })
          }
          const created = yield* sql.withTransaction(Effect.gen(function*() {
            // the row lock serialises concurrent refunds of one payment, so together they never exceed it
            const locked = yield* repo.lockPayment(row.id)
            if (Option.isNone(locked)) return yield* Effect.die(new Error(`payment ${row.id} vanished`))
            const payment = locked.value
            if (payment.status !== "succeeded" && payment.status !== "partially_refunded") {
              return yield* notRefundable(payment)
            }
            const pending = yield* refunds.pendingRefundTotal(payment.id)
            const refundable = payment.amount - payment.refundedAmount - pending
            if (refundable <= 0) {
              return yield* pending > 0
                ? new RefundInProgress({
                  message: "the rest of the payment is being refunded already",
                  paymentId: payment.id
                })
                : new AlreadyRefunded({ message: "the payment is already refunded", paymentId: payment.id })
            }
            const amount = input.amount ?? refundable
            if (amount > refundable) {
              return yield* new RefundExceedsPayment({
                message: `refund of ${amount} exceeds the refundable ${refundable}`,
                paymentId: payment.id,
                requested: amount,
                refundable
              })
            }
            const inserted = yield* refunds.insertRefund({
              id: refundId,
              paymentId: payment.id,
              amount,
              currency: payment.currency,
              reason: input.reason ?? null,
              nextReconcileAt: DateTime.addDuration(now, firstDelay)
            }, now)
            return { refund: inserted, providerPaymentId: payment.providerPaymentId ?? "" }
          }))
          return yield* finishRefund(created.refund, created.providerPaymentId)
        })

      const cancelOnce = (input: CancelPaymentInput) =>
        Effect.gen(function*() {
          // a re-run of the key (its first run died) carries on with the refund the first run made, by this id
          const refundId = RefundId.make(derivedId("ref", cancelOperation, input.idempotencyKey))
          const made = yield* refunds.findRefund(refundId)
          if (Option.isSome(made)) return yield* continueRefund(refundId)
          const found = yield* repo.findPayment(input.paymentId)
          if (Option.isNone(found)) return yield* new NotFound({ message: "payment not found", resource: "payment" })
          let row = found.value
          const wasOpen = isOpen(row.status)
          // never act on an open payment without asking the provider first
          if (wasOpen) row = yield* reconcile(row)
          if (row.status === "pending") {
            yield* applyOutcome(row.id, yield* provider.cancel(row))
            row = yield* mustFind(row.id)
          }
          if (wasOpen) {
            if (row.status === "canceled") return yield* cancelResult(row.id, null)
            if (row.status === "pending") {
              return yield* new ProviderUnavailable({
                message: "the provider has not confirmed the cancellation; retry"
              })
            }
          }
          if (row.status === "succeeded" || row.status === "partially_refunded") {
            return yield* refund(row, input, refundId)
          }
          return yield* notRefundable(row)
        })

      const cancel = (input: CancelPaymentInput) =>
        idempotency.run({
          scope: cancelOperation,
          key: input.idempotencyKey,
          operation: cancelOperation,
          request: parameters(input),
          response: CancelPaymentResult,
          replay: replayCancel
        }, cancelOnce(input)).pipe(
          orUnavailable,
          Effect.withSpan(
            "Payments.cancel",
            { attributes: { paymentId: input.paymentId } },
            { captureStackTrace: false }
          )
        )

      // ---- reads ----------------------------------------------------------------------------------------

      const get = (id: PaymentId) =>
        Effect.gen(function*() {
          const found = yield* repo.findPayment(id)
          if (Option.isNone(found)) return yield* new NotFound({ message: "payment not found", resource: "payment" })
          return toPayment(yield* refresh(found.value))
        }).pipe(orUnavailable)

      return Payments.of({ create, cancel, get })
    })
  )
}
