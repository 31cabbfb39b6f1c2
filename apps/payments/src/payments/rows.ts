// The rows of schema "payments" as the code holds them, and the API resources made from them.
import { Currency, InvoiceId, PaymentId, RefundId, UserId } from "@kassa/domain"
import { type Payment, PaymentStatus, type Refund, RefundStatus } from "@kassa/domain/payments"
import { paymentOf } from "@kassa/domain/stored-payment"
import { Schema, SchemaTransformation } from "effect"

// int8 columns arrive as bigint; amounts are safe integers by construction (CHECKs and the domain schemas)
const IntFromBigInt = Schema.BigInt.pipe(
  Schema.decodeTo(Schema.Int, SchemaTransformation.transform({ decode: Number, encode: BigInt }))
)

// what a payment and a refund both record of the provider's answer and of the reconciler's asking
const outcomeFields = {
  failureCode: Schema.NullOr(Schema.String),
  failureMessage: Schema.NullOr(Schema.String),
  reconcileAttempts: Schema.Int,
  nextReconcileAt: Schema.NullOr(Schema.DateTimeUtcFromDate),
  createdAt: Schema.DateTimeUtcFromDate,
  updatedAt: Schema.DateTimeUtcFromDate
}

export const PaymentRow = Schema.Struct({
  id: PaymentId,
  userId: UserId,
  invoiceId: InvoiceId,
  amount: IntFromBigInt,
  refundedAmount: IntFromBigInt,
  currency: Currency,
  status: PaymentStatus,
  providerPaymentId: Schema.NullOr(Schema.String),
  providerCustomerId: Schema.String,
  paymentMethod: Schema.String,
  offSession: Schema.Boolean,
  description: Schema.NullOr(Schema.String),
  ...outcomeFields
})
export type PaymentRow = typeof PaymentRow.Type

export const RefundRow = Schema.Struct({
  id: RefundId,
  paymentId: PaymentId,
  amount: IntFromBigInt,
  currency: Currency,
  status: RefundStatus,
  reason: Schema.NullOr(Schema.String),
  providerRefundId: Schema.NullOr(Schema.String),
  ...outcomeFields
})
export type RefundRow = typeof RefundRow.Type

export const CustomerRow = Schema.Struct({
  userId: UserId,
  providerCustomerId: Schema.String,
  defaultPaymentMethod: Schema.NullOr(Schema.String)
})
export type CustomerRow = typeof CustomerRow.Type

/** The API resource of a payment row. */
export const toPayment = (row: PaymentRow): Payment => paymentOf(row)

export const toRefund = (row: RefundRow): Refund => ({
  id: row.id,
  paymentId: row.paymentId,
  amount: row.amount,
  currency: row.currency,
  status: row.status,
  ...(row.reason === "requested_by_customer" || row.reason === "duplicate" || row.reason === "fraudulent"
    ? { reason: row.reason }
    : {}),
  ...(row.failureCode === null ? {} : { failureCode: row.failureCode }),
  createdAt: row.createdAt
})
