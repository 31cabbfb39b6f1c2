// The payments use cases behind the RPC group and its HTTP twin: charge an invoice, cancel or refund a
// payment, read one, and the customer setup. Every path that moves money is idempotent twice over: the
// caller's key (a retry replays, a concurrent duplicate waits its turn at the database) and the provider key
// derived from our ids (a resend never charges or refunds twice).
import { BadRequest, NotFound, PaymentId, ProviderUnavailable, RefundId, ServiceUnavailable, type UserId } from "@kassa/domain"
import { IdempotencyKeyReused } from "@kassa/domain/idempotency"
import {
  AlreadyRefunded,
  type AttachPaymentMethodInput,
  type CancelPaymentError,
  type CancelPaymentInput,
  type CancelPaymentResult,
  type CreatePaymentError,
  type CreatePaymentInput,
  type Customer,
  type EnsureCustomerInput,
  InvoiceAlreadyPaid,
  NoPaymentMethod,
  type Payment,
  PaymentInProgress,
  type PaymentMethod,
  PaymentNotRefundable,
  type PaymentOutcomeType,
  type PaymentStatus,
  RefundExceedsPayment,
  RefundInProgress,
  RefundRefused,
  RefundWindowClosed
} from "@kassa/domain/payments"
import { PaymentsConfig } from "../config.ts"
import { requestDigest } from "@kassa/platform/digest"
import { LRUCache } from "lru-cache"
import { randomUUID } from "node:crypto"
import { Context, DateTime, Duration, Effect, Layer, Option } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { Outcomes } from "../outcomes/outcomes.ts"
import { idempotencyWindow, type IntentOutcome, Provider, type RefundOutcome } from "./provider.ts"
import {
  type CustomerRow,
  type IdempotencyRow,
  type NewPayment,
  type PaymentRow,
  PaymentsRepo,
  type RefundRow,
  type StartAttempt,
  toPayment,
  toRefund
} from "./repo.ts"
import { orUnavailable } from "@kassa/platform/validation"

const open: ReadonlyArray<PaymentStatus> = ["pending", "unknown"]
const isOpen = (status: PaymentStatus) => open.includes(status)

const outcomeEvent: Partial<Record<PaymentStatus, PaymentOutcomeType>> = {
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
const afterOutcome = (row: PaymentRow, outcome: IntentOutcome, now: DateTime.Utc): { readonly next: PaymentRow; readonly moved: boolean } | undefined => {
  const moves = changes(row.status, outcome)
  const providerPaymentId = row.providerPaymentId ?? (outcome._tag === "Unknown" ? null : outcome.providerPaymentId ?? null)
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
        next: { ...row, status: "failed", providerPaymentId, failureCode: outcome.code, failureMessage: outcome.message, updatedAt: now }
      }
    case "Pending":
      if (moves) return { moved: true, next: { ...row, status: "pending", providerPaymentId, updatedAt: now } }
      return row.providerPaymentId === null ? { moved: false, next: { ...row, providerPaymentId, updatedAt: now } } : undefined
    case "Unknown":
      return moves ? { moved: true, next: { ...row, status: "unknown", updatedAt: now } } : undefined
  }
}

/** Whether `outcome` would change a payment in `status` (a cheap check before taking locks). */
export const changes = (status: PaymentStatus, outcome: IntentOutcome): boolean => movesFrom[outcome._tag].includes(status)

const createOperation = "create_payment"
const cancelOperation = "cancel_payment"

/** The caller's parameters without the key itself: the same parameters under one key are a retry. */
const requestHash = (operation: string, { idempotencyKey: _, ...parameters }: { readonly idempotencyKey: string }) =>
  requestDigest(operation, parameters)


const keyReused = () => new IdempotencyKeyReused({ message: "this idempotency key was already used with different parameters" })

export class Payments extends Context.Service<Payments, {
  create(input: CreatePaymentInput): Effect.Effect<Payment, CreatePaymentError>
  cancel(input: CancelPaymentInput): Effect.Effect<CancelPaymentResult, CancelPaymentError>
  get(id: PaymentId): Effect.Effect<Payment, NotFound | ServiceUnavailable>
  ensureCustomer(input: EnsureCustomerInput): Effect.Effect<Customer, BadRequest | ProviderUnavailable | ServiceUnavailable>
  attachPaymentMethod(input: AttachPaymentMethodInput): Effect.Effect<PaymentMethod, BadRequest | ProviderUnavailable | ServiceUnavailable>
  /** Moves the payment to what the provider reported (charge answer, webhook, reconciler); emits on a change. */
  applyOutcome(id: PaymentId, outcome: IntentOutcome): Effect.Effect<Option.Option<PaymentRow>, SqlError.SqlError>
  /** The provider says this much of the payment's charge is refunded in total. */
  applyRefunded(id: PaymentId, providerPaymentId: string, amountRefunded: number): Effect.Effect<void, SqlError.SqlError>
  /** Asks the provider about an open payment and applies the answer; schedules the next ask if still open. */
  reconcile(row: PaymentRow): Effect.Effect<PaymentRow, SqlError.SqlError>
  /** Resends a refund the provider has not confirmed (same key); schedules the next try if still pending. */
  reconcileRefund(row: RefundRow): Effect.Effect<void, SqlError.SqlError>
}>()("payments/Payments") {
  static readonly layer = Layer.effect(
    Payments,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = yield* PaymentsRepo
      const provider = yield* Provider
      const outcomes = yield* Outcomes
      const config = yield* PaymentsConfig
      const schedule = config.reconcileSchedule
      const delayAfter = (attempts: number) => schedule[Math.min(attempts, schedule.length - 1)] ?? Duration.minutes(1)
      // a pending attempt older than the first reconcile delay has lost its caller (the call is bounded well below it)
      const firstDelay = delayAfter(0)

      const mustFind = (id: PaymentId) =>
        Effect.flatMap(repo.findPayment(id), Option.match({
          onNone: () => Effect.die(new Error(`payment ${id} vanished`)),
          onSome: Effect.succeed
        }))

      // ---- applying provider outcomes ----------------------------------------------------------------

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
        return Effect.map(provider.cancel({ ...row, providerPaymentId: outcome.providerPaymentId }), (after) =>
          after._tag === "Canceled" && outcome.status === "requires_action"
            ? {
              _tag: "Failed",
              providerPaymentId: after.providerPaymentId,
              code: "authentication_required",
              message: "The card requires authentication (3-D Secure), which this payment cannot ask for."
            }
            : after)
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
            yield* repo.scheduleReconcile(row.id, row.reconcileAttempts + 1, next)
          }
          return after
        }).pipe(Effect.withSpan("Payments.reconcile", { attributes: { paymentId: row.id } }, { captureStackTrace: false }))

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
            yield* repo.settleRefund(refund.id, { status: "failed", failureCode: outcome.code, failureMessage: outcome.message }, now)
            return
          }
          const settled = yield* repo.settleRefund(refund.id, { status: "succeeded", providerRefundId: outcome.providerRefundId }, now)
          if (Option.isNone(settled)) return
          yield* applyRefunded(refund.paymentId, providerPaymentId, yield* repo.succeededRefundTotal(refund.paymentId))
        }))

      const reconcileRefund = (refund: RefundRow) =>
        Effect.gen(function*() {
          const payment = yield* mustFind(refund.paymentId)
          const now = yield* DateTime.now
          if (payment.providerPaymentId !== null && DateTime.isLessThan(now, DateTime.addDuration(refund.createdAt, idempotencyWindow))) {
            yield* settleRefund(refund, payment.providerPaymentId)
          } else {
            yield* Effect.logError("pending refund past the idempotency window; needs an operator").pipe(
              Effect.annotateLogs({ refundId: refund.id, paymentId: refund.paymentId })
            )
          }
          const after = yield* repo.findRefund(refund.id)
          if (Option.isSome(after) && after.value.status === "pending") {
            yield* repo.scheduleRefundReconcile(
              refund.id,
              refund.reconcileAttempts + 1,
              DateTime.addDuration(now, delayAfter(refund.reconcileAttempts))
            )
          }
        }).pipe(Effect.withSpan("Payments.reconcileRefund", { attributes: { refundId: refund.id } }, { captureStackTrace: false }))

      // ---- customers ------------------------------------------------------------------------------------

      const ensureCustomerRow = (userId: UserId, email: string | undefined) =>
        Effect.gen(function*(): Effect.fn.Return<CustomerRow, ProviderUnavailable | SqlError.SqlError> {
          const existing = yield* repo.findCustomer(userId)
          if (Option.isSome(existing)) return existing.value
          const providerCustomerId = yield* provider.createCustomer(userId, email)
          return yield* repo.insertCustomer(userId, providerCustomerId, yield* DateTime.now)
        })

      // A user's provider customer never changes once recorded, so charges that name their payment method need
      // no lookup; least recently used dropped first.
      const customerIds = new LRUCache<UserId, string>({ max: 10_000 })
      const providerCustomerFor = (userId: UserId) =>
        Effect.suspend(() => {
          const cached = customerIds.get(userId)
          if (cached !== undefined) return Effect.succeed(cached)
          return Effect.map(ensureCustomerRow(userId, undefined), (row) => {
            customerIds.set(userId, row.providerCustomerId)
            return row.providerCustomerId
          })
        })

      const toCustomer = (row: CustomerRow): Customer => ({
        userId: row.userId,
        providerCustomerId: row.providerCustomerId,
        defaultPaymentMethod: row.defaultPaymentMethod
      })

      // ---- create ---------------------------------------------------------------------------------------

      const replayCreate = (existing: Pick<IdempotencyRow, "paymentId" | "requestHash">, hash: string) =>
        Effect.gen(function*() {
          if (existing.requestHash !== hash) return yield* keyReused()
          // still pending: the caller learns so (and can ask again with the same key) instead of a refusal, since
          // the charge may well go through
          return toPayment(yield* refresh(yield* mustFind(existing.paymentId)))
        })

      const inProgress = (invoiceId: CreatePaymentInput["invoiceId"], payment: { readonly id: PaymentId; readonly status: PaymentStatus }) =>
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
          const attempt = (charge: NewPayment["charge"]): Effect.Effect<StartAttempt, PaymentInProgress | SqlError.SqlError> =>
            repo.startAttempt({
              id,
              userId: input.userId,
              invoiceId: input.invoiceId,
              amount: input.amount,
              currency: input.currency,
              charge,
              offSession: input.offSession ?? false,
              description: input.description ?? null,
              nextReconcileAt: DateTime.addDuration(now, firstDelay)
            }, { operation: createOperation, key: input.idempotencyKey, requestHash: hash }, now).pipe(
              // another key's attempt on this invoice holds the one open slot; if it settled meanwhile, try again
              // (now it blocks as paid, or a failed one leaves the invoice open)
              Effect.catchTag("OpenPaymentExists", () =>
                Effect.flatMap(repo.findOpenForInvoice(input.invoiceId), Option.match({
                  onSome: (open) => Effect.fail(inProgress(input.invoiceId, open)),
                  onNone: () => attempt(charge)
                })))
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
            const customer = yield* ensureCustomerRow(input.userId, undefined)
            if (customer.defaultPaymentMethod === null) return yield* noMethod(input.userId)
            started = yield* attempt({ providerCustomerId: customer.providerCustomerId, paymentMethod: customer.defaultPaymentMethod })
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
          Effect.withSpan("Payments.create", { attributes: { invoiceId: input.invoiceId } }, { captureStackTrace: false })
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
            : { _tag: "Failed" as const, code: refund.failureCode ?? "failed", message: refund.failureMessage ?? "failed" }
          if (outcome._tag === "Failed") return yield* refundRefused(refund.paymentId, outcome.code, outcome.message)
          // Unknown: the refund stays pending (resent by the reconciler with the same key); the caller sees that
          const after = yield* repo.findRefund(refund.id)
          return yield* cancelResult(refund.paymentId, Option.getOrElse(after, () => refund))
        })

      const replayCancel = (existing: IdempotencyRow, hash: string) =>
        Effect.gen(function*() {
          if (existing.requestHash !== hash) return yield* keyReused()
          if (existing.refundId === null) return yield* cancelResult(existing.paymentId, null)
          const refund = yield* repo.findRefund(existing.refundId)
          if (Option.isNone(refund)) return yield* Effect.die(new Error(`refund ${existing.refundId} vanished`))
          const payment = yield* mustFind(existing.paymentId)
          return yield* finishRefund(refund.value, payment.providerPaymentId ?? "")
        })

      const notRefundable = (row: PaymentRow) => {
        const refused = (message: string) => new PaymentNotRefundable({ message, paymentId: row.id, status: row.status })
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
            const pending = yield* repo.pendingRefundTotal(payment.id)
            const refundable = payment.amount - payment.refundedAmount - pending
            if (refundable <= 0) {
              return yield* pending > 0
                ? new RefundInProgress({ message: "the rest of the payment is being refunded already", paymentId: payment.id })
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
            const inserted = yield* repo.insertRefund({
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
              return yield* new ProviderUnavailable({ message: "the provider has not confirmed the cancellation; retry" })
            }
          }
          if (row.status === "succeeded" || row.status === "partially_refunded") return yield* refund(row, input, hash)
          return yield* notRefundable(row)
        }).pipe(
          orUnavailable,
          Effect.withSpan("Payments.cancel", { attributes: { paymentId: input.paymentId } }, { captureStackTrace: false })
        )

      // ---- reads and customers --------------------------------------------------------------------------

      const get = (id: PaymentId) =>
        Effect.gen(function*() {
          const found = yield* repo.findPayment(id)
          if (Option.isNone(found)) return yield* new NotFound({ message: "payment not found", resource: "payment" })
          return toPayment(yield* refresh(found.value))
        }).pipe(orUnavailable)

      const ensureCustomer = (input: EnsureCustomerInput) =>
        ensureCustomerRow(input.userId, input.email).pipe(
          Effect.map(toCustomer),
          orUnavailable
        )

      const attachPaymentMethod = (input: AttachPaymentMethodInput) =>
        Effect.gen(function*() {
          const customer = yield* ensureCustomerRow(input.userId, undefined)
          const attached = yield* provider.attach(input.userId, customer.providerCustomerId, input.paymentMethod)
          const makeDefault = input.makeDefault ?? true
          if (makeDefault) {
            yield* provider.setDefault(input.userId, customer.providerCustomerId, attached.id)
            yield* repo.setDefaultPaymentMethod(input.userId, attached.id, yield* DateTime.now)
          }
          return { ...attached, isDefault: makeDefault || customer.defaultPaymentMethod === attached.id }
        }).pipe(orUnavailable)

      return Payments.of({
        create,
        cancel,
        get,
        ensureCustomer,
        attachPaymentMethod,
        applyOutcome,
        applyRefunded,
        reconcile,
        reconcileRefund
      })
    })
  )
}
