// A payment as the apps store it: payments keeps the original, billing a copy. Both hold the failure fields as
// nullable columns, which the Payment resource leaves out instead, so one mapping makes the resource for both.
import type { Payment } from "./payments.ts"

/** A stored payment, its instants already in UTC; a failure field is null where the resource has none. */
export type StoredPayment = Omit<Payment, "failureCode" | "failureMessage"> & {
  readonly failureCode: string | null
  readonly failureMessage: string | null
}

/** The Payment resource of a stored payment: its own fields only, whatever else the row carries. */
export const paymentOf = (stored: StoredPayment): Payment => ({
  id: stored.id,
  userId: stored.userId,
  invoiceId: stored.invoiceId,
  status: stored.status,
  amount: stored.amount,
  refundedAmount: stored.refundedAmount,
  currency: stored.currency,
  ...(stored.failureCode === null ? {} : { failureCode: stored.failureCode }),
  ...(stored.failureMessage === null ? {} : { failureMessage: stored.failureMessage }),
  createdAt: stored.createdAt,
  updatedAt: stored.updatedAt
})
