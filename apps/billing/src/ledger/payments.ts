// Billing's copy of the payments the payments service made for its invoices, and the ids of the outcomes applied to
// them (an outcome delivered twice is applied once).
import type { InvoiceId, PaymentId, UserId } from "@kassa/domain/ids"
import { type Page, type PageRequest, toPage } from "@kassa/domain/pagination"
import type { Payment } from "@kassa/domain/payments"
import { Context, DateTime, Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { cursorOf, type InvoicePatch, keysetAfter, ownedBy, PaymentRow, type RepoError } from "./rows.ts"

export class PaymentsRepo extends Context.Service<PaymentsRepo, {
  findPayment(id: PaymentId, options?: { readonly owner?: UserId }): Effect.Effect<Option.Option<PaymentRow>, RepoError>
  paymentsOf(invoiceId: InvoiceId): Effect.Effect<ReadonlyArray<PaymentRow>, RepoError>
  listPayments(userId: UserId, page: PageRequest): Effect.Effect<Page<PaymentRow>, RepoError>
  /**
   * Inserts or overwrites billing's copy of a payment; with `invoice`, updates that in the same statement (a new
   * period also on its plan line).
   */
  savePayment(
    payment: Payment,
    invoice?: { readonly id: InvoiceId; readonly patch: InvoicePatch; readonly now: Date }
  ): Effect.Effect<void, RepoError>
  /** Records that an outcome id was applied; false when it was already. */
  claimOutcome(id: string, paymentId: PaymentId, type: string, now: Date): Effect.Effect<boolean, RepoError>
  /** Marks a payment that succeeded on an invoice closed meanwhile (void, uncollectible): its money goes back. */
  markStray(id: PaymentId, now: Date): Effect.Effect<void, RepoError>
  /** Stray payments not refunded yet, oldest first. */
  strayPayments(limit: number): Effect.Effect<ReadonlyArray<PaymentRow>, RepoError>
}>()("billing/PaymentsRepo") {
  static readonly layer = Layer.effect(
    PaymentsRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const decodePayments = Schema.decodeUnknownEffect(Schema.Array(PaymentRow))
      const paymentColumns = sql`p.id, p.user_id, p.invoice_id, p.status, p.amount, p.refunded_amount, p.currency,
      p.failure_code, p.failure_message, p.created_at, p.updated_at, p.stray_since`

      return PaymentsRepo.of({
        findPayment: (id, options) =>
          sql`SELECT ${paymentColumns} FROM billing.payments p
          WHERE ${sql.and([sql`p.id = ${id}`, ...ownedBy(sql, "p.user_id", options?.owner)])}`.pipe(
            Effect.flatMap(decodePayments),
            Effect.map((rows) => Option.fromNullishOr(rows[0]))
          ),
        paymentsOf: (invoiceId) =>
          sql`SELECT ${paymentColumns} FROM billing.payments p WHERE p.invoice_id = ${invoiceId}
          ORDER BY p.created_at, p.id`.pipe(Effect.flatMap(decodePayments)),
        listPayments: (userId, { cursor, limit }) =>
          sql`SELECT ${paymentColumns} FROM billing.payments p
          WHERE ${sql.and([sql`p.user_id = ${userId}`, ...keysetAfter(sql, cursor, "p")])}
          ORDER BY p.created_at DESC, p.id DESC LIMIT ${limit + 1}`.pipe(
            Effect.flatMap(decodePayments),
            Effect.map((rows) => toPage(rows, limit, cursorOf))
          ),
        savePayment: (payment, invoice) => {
          const row = {
            id: payment.id,
            userId: payment.userId,
            invoiceId: payment.invoiceId,
            status: payment.status,
            amount: payment.amount,
            refundedAmount: payment.refundedAmount,
            currency: payment.currency,
            failureCode: payment.failureCode ?? null,
            failureMessage: payment.failureMessage ?? null,
            createdAt: DateTime.toDateUtc(payment.createdAt),
            updatedAt: DateTime.toDateUtc(payment.updatedAt)
          }
          const save = sql`INSERT INTO billing.payments ${sql.insert(row)}
          ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, refunded_amount = EXCLUDED.refunded_amount,
            failure_code = EXCLUDED.failure_code, failure_message = EXCLUDED.failure_message,
            updated_at = EXCLUDED.updated_at`
          if (invoice === undefined) return Effect.asVoid(save)
          const { periodEnd, periodStart } = invoice.patch
          // a period moved on the invoice moves on its plan line too, so the two never disagree
          const line = periodStart === undefined || periodEnd === undefined ? sql`` : sql`, line AS (
            UPDATE billing.invoice_lines SET period_start = ${periodStart}, period_end = ${periodEnd}
            WHERE invoice_id = ${invoice.id} AND kind = 'plan')`
          return Effect.asVoid(sql`WITH saved AS (${save}) ${line}
          UPDATE billing.invoices SET ${
            sql.update({ ...invoice.patch, updatedAt: invoice.now })
          } WHERE id = ${invoice.id}`)
        },
        claimOutcome: (id, paymentId, type, now) =>
          sql`INSERT INTO billing.payment_outcomes (id, payment_id, type, applied_at) VALUES (${id}, ${paymentId}, ${type}, ${now})
          ON CONFLICT (id) DO NOTHING RETURNING id`.pipe(Effect.map((rows) => rows.length === 1)),
        markStray: (id, now) => Effect.asVoid(sql`UPDATE billing.payments SET stray_since = ${now} WHERE id = ${id}`),
        strayPayments: (limit) =>
          sql`SELECT ${paymentColumns} FROM billing.payments p WHERE p.stray_since IS NOT NULL AND p.status = 'succeeded'
          ORDER BY p.stray_since LIMIT ${limit}`.pipe(Effect.flatMap(decodePayments))
      })
    })
  )
}
