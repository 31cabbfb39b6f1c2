// Postgres access for refunds (payments.refunds): recorded before the provider is called, settled with its
// answer, resent by the reconciler while unconfirmed.
import type { Currency, PaymentId, RefundId } from "@kassa/domain"
import type { RefundReason } from "@kassa/domain/payments"
import { Context, type DateTime, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { at, orDieOnSchema, type ReconcileQueue, reconcileQueue, type RepoError } from "./repo.ts"
import { RefundRow } from "./rows.ts"

export class RefundsRepo extends Context.Service<RefundsRepo, {
  insertRefund(refund: {
    readonly id: RefundId
    readonly paymentId: PaymentId
    readonly amount: number
    readonly currency: Currency
    readonly reason: RefundReason | null
    readonly nextReconcileAt: DateTime.Utc
  }, now: DateTime.Utc): Effect.Effect<RefundRow, RepoError>
  findRefund(id: RefundId): Effect.Effect<Option.Option<RefundRow>, RepoError>
  /** Sum of the payment's refunds still waiting for the provider. */
  pendingRefundTotal(paymentId: PaymentId): Effect.Effect<number, RepoError>
  /** Sum of the payment's refunds the provider confirmed. */
  succeededRefundTotal(paymentId: PaymentId): Effect.Effect<number, RepoError>
  /** Settles a pending refund; None when it was already settled. */
  settleRefund(id: RefundId, outcome: {
    readonly status: "succeeded" | "failed"
    readonly providerRefundId?: string | undefined
    readonly failureCode?: string | undefined
    readonly failureMessage?: string | undefined
  }, now: DateTime.Utc): Effect.Effect<Option.Option<RefundRow>, RepoError>
  /** The refunds the provider has not confirmed yet. */
  readonly reconcile: ReconcileQueue<RefundId, RefundRow>
}>()("payments/RefundsRepo") {
  static readonly layer = Layer.effect(
    RefundsRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const decodeRefund = Schema.decodeUnknownEffect(RefundRow)

      const firstRefund = (rows: ReadonlyArray<unknown>) =>
        rows.length === 0 ? Effect.succeed(Option.none<RefundRow>()) : Effect.map(decodeRefund(rows[0]), Option.some)

      const insertRefund: RefundsRepo["Service"]["insertRefund"] = (r, now) =>
        sql`INSERT INTO payments.refunds ${
          sql.insert({
            id: r.id,
            paymentId: r.paymentId,
            amount: r.amount,
            currency: r.currency,
            status: "pending",
            reason: r.reason,
            nextReconcileAt: at(r.nextReconcileAt),
            createdAt: at(now),
            updatedAt: at(now)
          })
        } RETURNING *`.pipe(Effect.flatMap((rows) => decodeRefund(rows[0])), orDieOnSchema)

      const refundById = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: RefundRow,
        execute: (id) => sql`SELECT * FROM payments.refunds WHERE id = ${id}`
      })

      const refundTotal = (paymentId: PaymentId, status: "pending" | "succeeded") =>
        sql<{ readonly total: string }>`SELECT COALESCE(sum(amount), 0)::text AS total
          FROM payments.refunds WHERE payment_id = ${paymentId} AND status = ${status}`.pipe(
          Effect.map((rows) => Number(rows[0]?.total ?? 0))
        )

      const settleRefund: RefundsRepo["Service"]["settleRefund"] = (id, outcome, now) =>
        sql`UPDATE payments.refunds SET
            status = ${outcome.status},
            provider_refund_id = COALESCE(provider_refund_id, ${outcome.providerRefundId ?? null}),
            failure_code = ${outcome.failureCode ?? null},
            failure_message = ${outcome.failureMessage ?? null},
            updated_at = ${at(now)}
          WHERE id = ${id} AND status = 'pending'
          RETURNING *`.pipe(Effect.flatMap(firstRefund), orDieOnSchema)

      return RefundsRepo.of({
        insertRefund,
        findRefund: (id) => orDieOnSchema(refundById(id)),
        pendingRefundTotal: (paymentId) => refundTotal(paymentId, "pending"),
        succeededRefundTotal: (paymentId) => refundTotal(paymentId, "succeeded"),
        settleRefund,
        reconcile: reconcileQueue(sql, "payments.refunds", sql`status = 'pending'`, RefundRow)
      })
    })
  )
}
