// Money going back: a viewer's "cancel payment" (Отменить платеж), an admin's refund, and the refund of a stray
// payment (one that succeeded on an invoice closed while it was in flight). Each is reserve → call → apply: the
// Idempotency-Key (and, for an admin, the audit row) is recorded first, the refund runs with no transaction open
// under a key derived from billing's ids, and its outcome takes the one outcome path — which is what ends the access
// a refunded payment paid for, whether the outcome comes back here or later through payments' callback.
import type { CurrentUser } from "@kassa/domain/auth"
import type { RefundPaymentError } from "@kassa/domain/billing"
import { AdminRefundResult } from "@kassa/domain/billing-admin"
import { NotFound, type ServiceUnavailable } from "@kassa/domain/errors"
import type { PaymentId } from "@kassa/domain/ids"
import { type CancelPaymentInput, Payment } from "@kassa/domain/payments"
import { orUnavailable } from "@kassa/platform/validation"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import { AdminRepo } from "../admin/repo.ts"
import { derivedId, IdempotencyStore } from "@kassa/platform/idempotency"
import { PaymentsGateway } from "../ledger/gateway.ts"
import { outcomePending, Outcomes } from "../ledger/outcomes.ts"
import { PaymentsRepo } from "../ledger/payments.ts"
import { toPayment } from "../ledger/rows.ts"

export interface AdminRefundRequest {
  readonly amount?: number
  readonly reason: string
}

export class Refunds extends Context.Service<Refunds, {
  /** "Отменить платеж": a pending payment is canceled; a succeeded one inside the refund window refunded in full. */
  cancelPayment(user: CurrentUser["Service"], id: PaymentId, key: string): Effect.Effect<Payment, RefundPaymentError>
  /** An admin refund (partial allowed, any age), recorded in the audit log before the money moves. */
  refund(
    admin: CurrentUser["Service"],
    id: PaymentId,
    key: string,
    request: AdminRefundRequest
  ): Effect.Effect<AdminRefundResult, RefundPaymentError>
  /** Refunds a stray payment in full (keyed by the payment: any number of calls refund it once). */
  returnStray(id: PaymentId): Effect.Effect<void, RefundPaymentError>
  /** Refunds up to `limit` stray payments; returns how many were sent back. */
  returnStrays(limit: number): Effect.Effect<number, ServiceUnavailable>
}>()("billing/Refunds") {
  static readonly layer = Layer.effect(
    Refunds,
    Effect.gen(function*() {
      const payments = yield* PaymentsRepo
      const gateway = yield* PaymentsGateway
      const outcomes = yield* Outcomes
      const idempotency = yield* IdempotencyStore
      const auditLog = yield* AdminRepo
      const now = Effect.map(DateTime.now, DateTime.toDateUtc)

      const find = (id: PaymentId, owner?: CurrentUser["Service"]) =>
        Effect.flatMap(
          payments.findPayment(id, owner === undefined ? undefined : { owner: owner.id }),
          Option.match({
            onNone: () => Effect.fail(new NotFound({ message: "payment not found", resource: "payment" })),
            onSome: Effect.succeed
          })
        )

      /** Call, then apply; the payment as billing now records it, and whether the refund is still unconfirmed. */
      const refundAndApply = (input: CancelPaymentInput) =>
        Effect.gen(function*() {
          const result = yield* gateway.cancel(input)
          yield* outcomes.apply(result.payment)
          const payment = Option.match(yield* payments.findPayment(input.paymentId), {
            onNone: () => result.payment,
            onSome: toPayment
          })
          return { payment, refund: result.refund, pending: result.refund?.status === "pending" }
        })

      const cancelPayment = (user: CurrentUser["Service"], id: PaymentId, key: string) =>
        idempotency.run(
          { scope: user.id, key, operation: `cancel-payment:${id}`, request: {}, response: Payment },
          Effect.gen(function*() {
            yield* find(id, user)
            // payments decides what the payment's state allows (and replays the first answer to a retry of this key)
            const { payment, pending } = yield* refundAndApply({
              paymentId: id,
              idempotencyKey: `billing:${id}:cancel:${derivedId("key", user.id, key)}`,
              reason: "requested_by_customer"
            })
            if (pending) return yield* outcomePending({ payment })
            return payment
          })
        ).pipe(orUnavailable)

      const refund = (admin: CurrentUser["Service"], id: PaymentId, key: string, request: AdminRefundRequest) =>
        idempotency.run(
          { scope: admin.id, key, operation: `refund:${id}`, request, response: AdminRefundResult },
          Effect.gen(function*() {
            const before = yield* find(id)
            const auditId = derivedId("aud", admin.id, key)
            const details = {
              invoiceId: before.invoiceId,
              requestedAmount: request.amount ?? null,
              currency: before.currency
            }
            // reserve: who asked for what and why, before any money moves
            yield* auditLog.recordAudit({
              id: auditId,
              actorId: admin.id,
              action: "payment.refund",
              objectType: "payment",
              objectId: id,
              reason: request.reason,
              details: { ...details, status: "requested" }
            }, yield* now)
            const { payment, pending, refund } = yield* refundAndApply({
              paymentId: id,
              idempotencyKey: `billing:${id}:refund:${auditId}`,
              ignoreRefundWindow: true,
              ...(request.amount === undefined ? {} : { amount: request.amount })
            }).pipe(
              Effect.tapError((error) =>
                error._tag === "ServiceUnavailable" || error._tag === "ProviderUnavailable"
                  ? Effect.void
                  : auditLog.updateAuditDetails(auditId, {
                    ...details,
                    status: "refused",
                    error: error._tag,
                    message: error.message
                  })
              )
            )
            const audit = yield* auditLog.updateAuditDetails(auditId, {
              ...details,
              status: pending ? "pending" : "succeeded",
              amount: refund?.amount ?? null,
              refundId: refund?.id ?? null
            })
            if (pending) return yield* outcomePending({ payment })
            return { payment, audit }
          })
        ).pipe(orUnavailable)

      const returnStray = (id: PaymentId) =>
        refundAndApply({
          paymentId: id,
          idempotencyKey: `billing:${id}:stray`,
          reason: "duplicate",
          ignoreRefundWindow: true
        }).pipe(
          Effect.asVoid,
          orUnavailable
        )

      const returnStrays = (limit: number) =>
        Effect.gen(function*() {
          let returned = 0
          for (const stray of yield* payments.strayPayments(limit)) {
            // one that cannot go back now (payments down, the provider refusing) is logged and tried next time
            yield* returnStray(stray.id).pipe(
              Effect.tap(() => Effect.sync(() => returned++)),
              Effect.catchCause((cause) =>
                Effect.logError("refund of a stray payment failed", cause).pipe(
                  Effect.annotateLogs({ paymentId: stray.id })
                )
              )
            )
          }
          return returned
        }).pipe(orUnavailable)

      return Refunds.of({ cancelPayment, refund, returnStray, returnStrays })
    })
  )
}
