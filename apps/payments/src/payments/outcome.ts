// How a provider's answer moves a payment: which statuses each outcome may move it from, and the row after it.
// Pure: the charge answer, webhooks and the reconciler all apply outcomes through these rules (settlement.ts).
import type { PaymentOutcomeType, PaymentStatus } from "@kassa/domain/payments"
import type { DateTime } from "effect"
import type { IntentOutcome } from "./provider.ts"
import type { PaymentRow } from "./rows.ts"

export const open: ReadonlyArray<PaymentStatus> = ["pending", "unknown"]
export const isOpen = (status: PaymentStatus) => open.includes(status)

export const outcomeEvent: Partial<Record<PaymentStatus, PaymentOutcomeType>> = {
  succeeded: "payment.succeeded",
  failed: "payment.failed",
  canceled: "payment.canceled"
}

/**
 * Which statuses each provider outcome may move a payment from. Money taken outranks a failure seen earlier
 * (events arrive in any order), so `succeeded` also replaces `failed`; nothing replaces `succeeded` but refunds.
 */
const movesFrom: Record<IntentOutcome["_tag"], ReadonlyArray<PaymentStatus>> = {
  Succeeded: [...open, "failed"],
  Failed: open,
  Canceled: open,
  Pending: ["unknown"],
  Unknown: ["pending"]
}
const targetStatus = { Succeeded: "succeeded", Canceled: "canceled" } as const

/**
 * The payment after `outcome`, or undefined when it changes nothing; `moved`: its status moved (the outcome
 * counts and goes out). The provider's id is kept once known, whatever the status.
 */
export const afterOutcome = (
  row: PaymentRow,
  outcome: IntentOutcome,
  now: DateTime.Utc
): { readonly next: PaymentRow; readonly moved: boolean } | undefined => {
  const moves = changes(row.status, outcome)
  const providerPaymentId = row.providerPaymentId ??
    (outcome._tag === "Unknown" ? null : outcome.providerPaymentId ?? null)
  switch (outcome._tag) {
    case "Succeeded":
    case "Canceled": {
      if (!moves) return undefined
      const status = targetStatus[outcome._tag]
      const failure = status === "succeeded" ? { failureCode: null, failureMessage: null } : {}
      return { moved: true, next: { ...row, status, providerPaymentId, ...failure, updatedAt: now } }
    }
    case "Failed":
      if (!moves) return undefined
      return {
        moved: true,
        next: {
          ...row,
          status: "failed",
          providerPaymentId,
          failureCode: outcome.code,
          failureMessage: outcome.message,
          updatedAt: now
        }
      }
    case "Pending":
      if (moves) return { moved: true, next: { ...row, status: "pending", providerPaymentId, updatedAt: now } }
      return row.providerPaymentId === null
        ? { moved: false, next: { ...row, providerPaymentId, updatedAt: now } }
        : undefined
    case "Unknown":
      return moves ? { moved: true, next: { ...row, status: "unknown", updatedAt: now } } : undefined
  }
}

/** Whether `outcome` would change a payment in `status` (a cheap check before taking locks). */
export const changes = (status: PaymentStatus, outcome: IntentOutcome): boolean =>
  movesFrom[outcome._tag].includes(status)
