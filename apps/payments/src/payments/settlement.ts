// Settling payments with the provider: applying what it answers (the charge's own answer, a webhook, the
// reconciler's findings) and asking it about payments and refunds whose outcome is still open. Every change is
// optimistic (written only if the row is still as read) and carries its outcome event in the same statement.
import type { PaymentId } from "@kassa/domain"
import { Context, DateTime, Duration, Effect, Layer, Option } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { PaymentsConfig } from "../config.ts"
import { Outcomes } from "../outcomes/outcomes.ts"
import { afterOutcome, isOpen, outcomeEvent } from "./outcome.ts"
import { idempotencyWindow, type IntentOutcome, Provider, type RefundOutcome } from "./provider.ts"
import { RefundsRepo } from "./refunds-repo.ts"
import { PaymentsRepo } from "./repo.ts"
import type { PaymentRow, RefundRow } from "./rows.ts"

/** The delay before the provider is asked again about something open, after `attempts` asks (the last repeats). */
export const reconcileDelay = (schedule: ReadonlyArray<Duration.Duration>, attempts: number): Duration.Duration =>
  schedule[Math.min(attempts, schedule.length - 1)] ?? Duration.minutes(1)

export class Settlement extends Context.Service<Settlement, {
  /** Moves the payment to what the provider reported (charge answer, webhook, reconciler); emits on a change. */
  applyOutcome(
    id: PaymentId,
    outcome: IntentOutcome,
    seen?: PaymentRow
  ): Effect.Effect<Option.Option<PaymentRow>, SqlError.SqlError>
  /** The provider says this much of the payment's charge is refunded in total. */
  applyRefunded(
    id: PaymentId,
    providerPaymentId: string,
    amountRefunded: number
  ): Effect.Effect<void, SqlError.SqlError>
  /** Charges the provider for an attempt just recorded and applies the answer; the payment as it then stands. */
  charge(row: PaymentRow): Effect.Effect<PaymentRow, SqlError.SqlError>
  /** Asks the provider about an open payment and applies the answer; schedules the next ask if still open. */
  reconcile(row: PaymentRow): Effect.Effect<PaymentRow, SqlError.SqlError>
  /** Before acting on an open payment: `unknown` always asks; `pending` asks once its caller must be gone. */
  refresh(row: PaymentRow): Effect.Effect<PaymentRow, SqlError.SqlError>
  /** Sends a recorded refund (its key derived from its id) and records the provider's answer. */
  settleRefund(refund: RefundRow, providerPaymentId: string): Effect.Effect<RefundOutcome, SqlError.SqlError>
  /** Resends a refund the provider has not confirmed (same key); schedules the next try if still pending. */
  reconcileRefund(row: RefundRow): Effect.Effect<void, SqlError.SqlError>
}>()("payments/Settlement") {
  static readonly layer = Layer.effect(
    Settlement,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = yield* PaymentsRepo
      const refunds = yield* RefundsRepo
      const provider = yield* Provider
      const outcomes = yield* Outcomes
      const { reconcileSchedule } = yield* PaymentsConfig
      const delayAfter = (attempts: number) => reconcileDelay(reconcileSchedule, attempts)
      // a pending attempt older than the first reconcile delay has lost its caller (the call is bounded well below it)
      const firstDelay = delayAfter(0)
      const mustFind = repo.getPayment

      // Optimistic: the outcome is worked out on the row as last read and written only if the row is still so (one
      // statement with the outcome's event, no lock held across anything); if another writer got there first, on
      // what it left. Each write moves the payment along, so this settles in a few rounds at most.
      const applyOutcome = (id: PaymentId, outcome: IntentOutcome, seen?: PaymentRow) =>
        Effect.gen(function*(): Effect.fn.Return<Option.Option<PaymentRow>, SqlError.SqlError> {
          let row = seen
          for (let round = 0; round < 20; round++) {
            if (row === undefined) {
              const found = yield* repo.findPayment(id)
              if (Option.isNone(found)) return Option.none()
              row = found.value
            }
            const after = afterOutcome(row, outcome, yield* DateTime.now)
            if (after === undefined) return Option.none()
            const type = after.moved ? outcomeEvent[after.next.status] : undefined
            const changed = yield* outcomes.change(
              repo.replacing(row, after.next),
              type === undefined ? undefined : { type, payment: after.next }
            )
            if (changed) return after.moved ? Option.some(after.next) : Option.none()
            row = undefined
          }
          return yield* Effect.die(new Error(`payment ${id} kept changing while an outcome was applied`))
        })

      const applyRefunded = (id: PaymentId, providerPaymentId: string, amountRefunded: number) =>
        sql.withTransaction(Effect.gen(function*() {
          // a refund proves the charge succeeded, whichever event arrived first
          yield* applyOutcome(id, { _tag: "Succeeded", providerPaymentId })
          const raised = yield* repo.raiseRefunded(id, amountRefunded, yield* DateTime.now)
          if (Option.isSome(raised)) yield* outcomes.record("payment.refunded", raised.value)
        }))

      /**
       * An intent in a state we never complete is canceled. Waiting for 3-D Secure means the card needs an
       * authentication nobody can give here: to billing that is a failed charge it can show.
       */
      const settleIntent = (row: PaymentRow, outcome: IntentOutcome): Effect.Effect<IntentOutcome> => {
        if (outcome._tag !== "Pending" || !outcome.needsCancel) return Effect.succeed(outcome)
        return Effect.map(
          provider.cancel({ ...row, providerPaymentId: outcome.providerPaymentId }),
          (after) =>
            after._tag === "Canceled" && outcome.status === "requires_action"
              ? {
                _tag: "Failed",
                providerPaymentId: after.providerPaymentId,
                code: "authentication_required",
                message: "The card requires authentication (3-D Secure), which this payment cannot ask for."
              }
              : after
        )
      }

      const charge = (row: PaymentRow) =>
        Effect.gen(function*() {
          const outcome = yield* settleIntent(row, yield* provider.charge(row))
          // the row as inserted: unless a webhook came first, the outcome is one statement
          const moved = yield* applyOutcome(row.id, outcome, row)
          // not moved: a webhook or a duplicate got there first, so read what it left
          return Option.isSome(moved) ? moved.value : yield* mustFind(row.id)
        })

      // ---- reconciliation ----------------------------------------------------------------------------

      const ask = (row: PaymentRow): Effect.Effect<IntentOutcome> => {
        if (row.providerPaymentId !== null) return provider.retrieve(row.providerPaymentId)
        return provider.find(row).pipe(
          Effect.flatMap(Option.match({
            onSome: Effect.succeed,
            onNone: () =>
              Effect.gen(function*(): Effect.fn.Return<IntentOutcome> {
                // The provider has no intent for it: the request never arrived, or is still being handled. Inside
                // the provider's idempotency window resending the same request is safe: it applies once.
                const now = yield* DateTime.now
                if (DateTime.isLessThan(DateTime.addDuration(row.createdAt, idempotencyWindow), now)) {
                  yield* Effect.logError("open payment unknown to the provider and past the idempotency window").pipe(
                    Effect.annotateLogs({ paymentId: row.id })
                  )
                  return { _tag: "Unknown", reason: "no intent at the provider; needs an operator" }
                }
                return yield* provider.charge(row)
              })
          })),
          Effect.catch((error) =>
            Effect.succeed<IntentOutcome>({ _tag: "Unknown", reason: `listing intents failed: ${error.message}` })
          )
        )
      }

      const reconcile = (row: PaymentRow) =>
        Effect.gen(function*() {
          const outcome = yield* settleIntent(row, yield* ask(row))
          yield* applyOutcome(row.id, outcome)
          const after = yield* mustFind(row.id)
          if (isOpen(after.status)) {
            const next = DateTime.addDuration(yield* DateTime.now, delayAfter(row.reconcileAttempts))
            yield* repo.reconcile.schedule(row.id, row.reconcileAttempts + 1, next)
          }
          return after
        }).pipe(
          Effect.withSpan("Payments.reconcile", { attributes: { paymentId: row.id } }, { captureStackTrace: false })
        )

      /** Before acting on an open payment: `unknown` always asks; `pending` asks once its caller must be gone. */
      const refresh = (row: PaymentRow) =>
        Effect.gen(function*() {
          if (row.status === "unknown") return yield* reconcile(row)
          if (row.status !== "pending") return row
          const stuck = DateTime.isLessThan(DateTime.addDuration(row.createdAt, firstDelay), yield* DateTime.now)
          return stuck ? yield* reconcile(row) : row
        })

      // ---- refunds -------------------------------------------------------------------------------------

      const settleRefund = (refund: RefundRow, providerPaymentId: string) =>
        Effect.gen(function*() {
          const outcome = yield* provider.refund(refund, providerPaymentId)
          yield* recordRefundOutcome(refund, providerPaymentId, outcome)
          return outcome
        })

      const recordRefundOutcome = (refund: RefundRow, providerPaymentId: string, outcome: RefundOutcome) =>
        sql.withTransaction(Effect.gen(function*() {
          const now = yield* DateTime.now
          if (outcome._tag === "Unknown") return
          // concurrent refunds of one payment settle one after another, so each total sees the others
          yield* repo.lockPayment(refund.paymentId)
          if (outcome._tag === "Failed") {
            yield* refunds.settleRefund(refund.id, {
              status: "failed",
              failureCode: outcome.code,
              failureMessage: outcome.message
            }, now)
            return
          }
          const settled = yield* refunds.settleRefund(refund.id, {
            status: "succeeded",
            providerRefundId: outcome.providerRefundId
          }, now)
          if (Option.isNone(settled)) return
          yield* applyRefunded(
            refund.paymentId,
            providerPaymentId,
            yield* refunds.succeededRefundTotal(refund.paymentId)
          )
        }))

      const reconcileRefund = (refund: RefundRow) =>
        Effect.gen(function*() {
          const payment = yield* mustFind(refund.paymentId)
          const now = yield* DateTime.now
          if (
            payment.providerPaymentId !== null &&
            DateTime.isLessThan(now, DateTime.addDuration(refund.createdAt, idempotencyWindow))
          ) {
            yield* settleRefund(refund, payment.providerPaymentId)
          } else {
            yield* Effect.logError("pending refund past the idempotency window; needs an operator").pipe(
              Effect.annotateLogs({ refundId: refund.id, paymentId: refund.paymentId })
            )
          }
          const after = yield* refunds.findRefund(refund.id)
          if (Option.isSome(after) && after.value.status === "pending") {
            yield* refunds.reconcile.schedule(
              refund.id,
              refund.reconcileAttempts + 1,
              DateTime.addDuration(now, delayAfter(refund.reconcileAttempts))
            )
          }
        }).pipe(
          Effect.withSpan(
            "Payments.reconcileRefund",
            { attributes: { refundId: refund.id } },
            { captureStackTrace: false }
          )
        )

      return Settlement.of({ applyOutcome, applyRefunded, charge, reconcile, refresh, settleRefund, reconcileRefund })
    })
  )
}
