// Refunds of a succeeded charge, whole or in parts, each raising `charge.refunded`.
import { Effect } from "effect"
import { invalidRequest, type Params, unexpectedState } from "./errors.ts"
import { find, type Json, newId, type RequestInfo, type State } from "./state.ts"

const refundReasons = ["duplicate", "fraudulent", "requested_by_customer"] as const

const major = (amount: number, currency: string) => `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`

export const refundOperations = (state: State) => {
  const { intents, charges, refunds, emit } = state

  const createRefund = (p: Params, info: RequestInfo) =>
    Effect.gen(function*() {
      yield* p.only(["payment_intent", "charge", "amount", "reason", "metadata", "expand"])
      const piId = yield* p.string("payment_intent")
      const chargeId = yield* p.string("charge")
      if (piId === undefined && chargeId === undefined) {
        return yield* invalidRequest(
          "One of the following params should be provided for this request: payment_intent or charge.",
          {
            code: "parameter_missing"
          }
        )
      }
      const reason = yield* p.oneOf("reason", refundReasons)
      const amountParam = yield* p.int("amount")
      const metadata = yield* p.map("metadata")
      let charge: Json
      if (chargeId !== undefined) charge = yield* find(charges, "charge", chargeId, "charge")
      else {
        const intent = yield* find(intents, "payment_intent", piId ?? "", "payment_intent")
        const latest = intent.latest_charge === null ? undefined : charges.get(intent.latest_charge as string)
        if (intent.status !== "succeeded" || latest === undefined) {
          return yield* unexpectedState(
            `This PaymentIntent (${String(intent.id)}) does not have a successful charge to refund.`,
            "charge_not_refundable"
          )
        }
        charge = latest
      }
      if (charge.status !== "succeeded") {
        return yield* unexpectedState(
          `Charge ${String(charge.id)} has no successful payment to refund.`,
          "charge_not_refundable"
        )
      }
      const amount = charge.amount as number
      const refunded = charge.amount_refunded as number
      const currency = charge.currency as string
      if (refunded >= amount) {
        return yield* unexpectedState(
          `Charge ${String(charge.id)} has already been refunded.`,
          "charge_already_refunded"
        )
      }
      const refundAmount = amountParam ?? amount - refunded
      if (refundAmount < 1) {
        return yield* invalidRequest("This value must be greater than or equal to 1.", {
          code: "parameter_invalid_integer",
          param: "amount"
        })
      }
      if (refundAmount > amount - refunded) {
        return yield* unexpectedState(
          `Refund amount (${major(refundAmount, currency)}) is greater than unrefunded amount on charge (${
            major(amount - refunded, currency)
          })`,
          "amount_too_large",
          "amount"
        )
      }
      const refund: Json = {
        id: newId("re"),
        object: "refund",
        amount: refundAmount,
        balance_transaction: newId("txn"),
        charge: charge.id,
        created: info.now,
        currency,
        metadata,
        payment_intent: charge.payment_intent,
        reason: reason ?? null,
        status: "succeeded"
      }
      refunds.set(refund.id as string, refund)
      const previous = { amount_refunded: refunded, refunded: false }
      charge.amount_refunded = refunded + refundAmount
      charge.refunded = refunded + refundAmount === amount
      emit(info, "charge.refunded", charge, previous)
      return refund
    })

  return { createRefund }
}
