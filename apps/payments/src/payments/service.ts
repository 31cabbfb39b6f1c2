// The payments use cases behind the RPC group and its HTTP twin: charge an invoice, cancel or refund a payment,
// read one. Every path that moves money is idempotent twice over: the caller's key (a retry replays, a concurrent
// duplicate waits its turn at the database) and the provider key derived from our ids (a resend never charges or
// refunds twice). What the provider answers is applied by the settlement (settlement.ts).
import { NotFound, PaymentId, ProviderUnavailable, RefundId, type ServiceUnavailable, type UserId } from "@kassa/domain"
import { IdempotencyKeyReused } from "@kassa/domain/idempotency"
import {
  AlreadyRefunded,
  type CancelPaymentError,
  type CancelPaymentInput,
  type CancelPaymentResult,
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
import { requestDigest } from "@kassa/platform/digest"
import { orUnavailable } from "@kassa/platform/validation"
import { randomUUID } from "node:crypto"
import { Context, DateTime, Duration, Effect, Layer, Option } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { PaymentsConfig } from "../config.ts"
import { Customers } from "./customers.ts"
import { isOpen } from "./outcome.ts"
import { Provider } from "./provider.ts"
import { RefundsRepo } from "./refunds-repo.ts"
import { type NewPayment, PaymentsRepo, type StartAttempt } from "./repo.ts"
import { type IdempotencyRow, type PaymentRow, type RefundRow, toPayment, toRefund } from "./rows.ts"
import { reconcileDelay, Settlement } from "./settlement.ts"

const createOperation = "create_payment"
const cancelOperation = "cancel_payment"

/** The caller's parameters without the key itself: the same parameters under one key are a retry. */
const requestHash = (operation: string, { idempotencyKey: _, ...parameters }: { readonly idempotencyKey: string }) =>
  requestDigest(operation, parameters)

const keyReused = () =>
  new IdempotencyKeyReused({ message: "this idempotency key was already used with different parameters" })

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
      const config = yield* PaymentsConfig
      // a new attempt or refund is first asked about after this (it settles well before, or its caller is gone)
      const firstDelay = reconcileDelay(config.reconcileSchedule, 0)
      const { charge, refresh, reconcile, applyOutcome, settleRefund } = settlement
      const mustFind = repo.getPayment
      const { ensureRow, providerCustomerFor } = customers

      // ---- create ---------------------------------------------------------------------------------------

      const replayCreate = (existing: Pick<IdempotencyRow, "paymentId" | "requestHash">, hash: string) =>
        Effect.gen(function*() {
          if (existing.requestHash !== hash) return yield* keyReused()
          // still pending: the caller learns so (and can ask again with the same key) instead of a refusal, since
          // the charge may well go through
          return toPayment(yield* refresh(yield* mustFind(existing.paymentId)))
        })

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
          const hash = requestHash(createOperation, input)
          const id = PaymentId.make(`pay_${randomUUID().replaceAll("-", "")}`)
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
              { operation: createOperation, key: input.idempotencyKey, requestHash: hash },
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
              return yield* replayCreate(started, hash)
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
            case "Raced": {
              const winner = yield* repo.findKey(createOperation, input.idempotencyKey)
              if (Option.isNone(winner)) return yield* Effect.die(new Error("idempotency key vanished"))
              return yield* replayCreate(winner.value, hash)
            }
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

      const replayCancel = (existing: IdempotencyRow, hash: string) =>
        Effect.gen(function*() {
          if (existing.requestHash !== hash) return yield* keyReused()
          if (existing.refundId === null) return yield* cancelResult(existing.paymentId, null)
          const refund = yield* refunds.findRefund(existing.refundId)
          if (Option.isNone(refund)) return yield* Effect.die(new Error(`refund ${existing.refundId} vanished`))
          const payment = yield* mustFind(existing.paymentId)
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

      const refund = (row: PaymentRow, input: CancelPaymentInput, hash: string) =>
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
          const refundId = RefundId.make(`ref_${randomUUID().replaceAll("-", "")}`)
          const created = yield* sql.withTransaction(Effect.gen(function*() {
            const claimed = yield* repo.claimKey({
              operation: cancelOperation,
              key: input.idempotencyKey,
              requestHash: hash,
              paymentId: row.id,
              refundId
            }, now)
            if (!claimed) return Option.none<{ refund: RefundRow; providerPaymentId: string }>()
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
            return Option.some({ refund: inserted, providerPaymentId: payment.providerPaymentId ?? "" })
          }))
          if (Option.isNone(created)) {
            const winner = yield* repo.findKey(cancelOperation, input.idempotencyKey)
            if (Option.isNone(winner)) return yield* Effect.die(new Error("idempotency key vanished"))
            return yield* replayCancel(winner.value, hash)
          }
          return yield* finishRefund(created.value.refund, created.value.providerPaymentId)
        })

      const cancel = (input: CancelPaymentInput) =>
        Effect.gen(function*() {
          const hash = requestHash(cancelOperation, input)
          const previous = yield* repo.findKey(cancelOperation, input.idempotencyKey)
          if (Option.isSome(previous)) {
            if (previous.value.paymentId !== input.paymentId) return yield* keyReused()
            return yield* replayCancel(previous.value, hash)
          }
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
            if (row.status === "canceled") {
              yield* repo.claimKey({
                operation: cancelOperation,
                key: input.idempotencyKey,
                requestHash: hash,
                paymentId: row.id,
                refundId: null
              }, yield* DateTime.now)
              return yield* cancelResult(row.id, null)
            }
            if (row.status === "pending") {
              return yield* new ProviderUnavailable({
                message: "the provider has not confirmed the cancellation; retry"
              })
            }
          }
          if (row.status === "succeeded" || row.status === "partially_refunded") return yield* refund(row, input, hash)
          return yield* notRefundable(row)
        }).pipe(
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
