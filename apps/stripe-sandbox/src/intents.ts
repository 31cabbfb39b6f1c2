// Payment intents and the charges behind them: a confirmation charges the payment method, which succeeds, declines
// (402 card_error, the intent back in `requires_payment_method`) or asks for 3-D Secure, as the test card says.
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { authenticationRequired, cardErrorBody, type Decline } from "./cards.ts"
import { invalidRequest, type Params, StripeApiError, unexpectedState } from "./errors.ts"
import { find, type Json, newId, type PaymentMethodRecord, type RequestInfo, type State } from "./state.ts"

const cancelableStatuses = [
  "requires_payment_method",
  "requires_confirmation",
  "requires_action",
  "requires_capture",
  "processing"
]
const cancellationReasons = ["duplicate", "fraudulent", "requested_by_customer", "abandoned"] as const

export const intentOperations = (
  state: State,
  resolvePaymentMethod: (
    id: string,
    info: RequestInfo,
    param: string
  ) => Effect.Effect<PaymentMethodRecord, StripeApiError>
) => {
  const { customers, intents, charges, emit } = state

  const newCharge = (intent: Json, pm: PaymentMethodRecord, info: RequestInfo, failure?: Decline): Json => {
    const card = pm.json.card as Json
    const amount = intent.amount as number
    const charge: Json = {
      id: newId("ch"),
      object: "charge",
      amount,
      amount_captured: failure === undefined ? amount : 0,
      amount_refunded: 0,
      balance_transaction: failure === undefined ? newId("txn") : null,
      captured: failure === undefined,
      created: info.now,
      currency: intent.currency,
      customer: intent.customer,
      description: intent.description,
      failure_code: failure?.code ?? null,
      failure_message: failure?.message ?? null,
      livemode: false,
      metadata: intent.metadata,
      outcome: failure === undefined
        ? {
          network_status: "approved_by_network",
          reason: null,
          risk_level: "normal",
          seller_message: "Payment complete.",
          type: "authorized"
        }
        : {
          network_status: "declined_by_network",
          reason: failure.declineCode,
          risk_level: "normal",
          seller_message: "The bank returned the decline code.",
          type: "issuer_declined"
        },
      paid: failure === undefined,
      payment_intent: intent.id,
      payment_method: pm.json.id,
      payment_method_details: { type: "card", card: { brand: card.brand, last4: card.last4, funding: card.funding } },
      refunded: false,
      status: failure === undefined ? "succeeded" : "failed"
    }
    charges.set(charge.id as string, charge)
    return charge
  }

  const decline = (intent: Json, pm: PaymentMethodRecord, info: RequestInfo, failure: Decline, withCharge: boolean) => {
    const charge = withCharge ? newCharge(intent, pm, info, failure) : undefined
    const error = { ...cardErrorBody(failure), ...(charge === undefined ? {} : { charge: charge.id }) }
    Object.assign(intent, {
      status: "requires_payment_method",
      payment_method: null,
      latest_charge: charge?.id ?? intent.latest_charge,
      last_payment_error: { ...error, payment_method: pm.json }
    })
    emit(info, "payment_intent.payment_failed", intent)
    return new StripeApiError({
      status: 402,
      validation: false,
      body: { ...error, payment_intent: structuredClone(intent), payment_method: pm.json, request_log_url: null }
    })
  }

  /** Runs a confirmation: the charge happens here. */
  const confirm = (
    intent: Json,
    pm: PaymentMethodRecord,
    offSession: boolean,
    info: RequestInfo
  ): Effect.Effect<Json, StripeApiError> => {
    intent.payment_method = pm.json.id
    const behavior = pm.behavior
    if (behavior.kind === "declines") return Effect.fail(decline(intent, pm, info, behavior, true))
    if (behavior.kind === "requires_authentication") {
      if (offSession) return Effect.fail(decline(intent, pm, info, authenticationRequired, false))
      Object.assign(intent, {
        status: "requires_action",
        next_action: { type: "use_stripe_sdk", use_stripe_sdk: { type: "three_d_secure_redirect", stripe_js: "" } }
      })
      return Effect.succeed(intent)
    }
    const charge = newCharge(intent, pm, info)
    Object.assign(intent, {
      status: "succeeded",
      amount_received: intent.amount,
      latest_charge: charge.id,
      last_payment_error: null,
      next_action: null
    })
    emit(info, "payment_intent.succeeded", intent)
    return Effect.succeed(intent)
  }

  const createPaymentIntent = (p: Params, info: RequestInfo) =>
    Effect.gen(function*() {
      yield* p.only([
        "amount",
        "currency",
        "customer",
        "payment_method",
        "confirm",
        "off_session",
        "metadata",
        "description",
        "payment_method_types",
        "automatic_payment_methods",
        "capture_method",
        "confirmation_method",
        "expand",
        "statement_descriptor",
        "receipt_email",
        "setup_future_usage"
      ])
      const automatic = p.nested("automatic_payment_methods")
      yield* automatic.only(["enabled", "allow_redirects"])
      yield* automatic.boolean("enabled")
      yield* automatic.oneOf("allow_redirects", ["always", "never"])
      const amount = yield* p.int("amount")
      if (amount === undefined) {
        return yield* invalidRequest("Missing required param: amount.", { code: "parameter_missing", param: "amount" })
      }
      if (amount < 1) {
        return yield* invalidRequest("This value must be greater than or equal to 1.", {
          code: "parameter_invalid_integer",
          param: "amount"
        })
      }
      const currency = (yield* p.requiredString("currency")).toLowerCase()
      if (!/^[a-z]{3}$/.test(currency)) {
        return yield* invalidRequest(`Invalid currency: ${currency}.`, {
          code: "parameter_invalid_string",
          param: "currency"
        })
      }
      const customerId = yield* p.string("customer")
      if (customerId !== undefined) yield* find(customers, "customer", customerId, "customer")
      const confirmNow = (yield* p.boolean("confirm")) ?? false
      // a boolean, or since 2019 the kind of off-session use
      const offSessionParam = yield* p.oneOf("off_session", ["true", "false", "one_off", "recurring"])
      const offSession = offSessionParam === undefined ? undefined : offSessionParam !== "false"
      if (offSession !== undefined && !confirmNow) {
        return yield* invalidRequest("You may only specify `off_session` when `confirm=true`.", {
          param: "off_session"
        })
      }
      yield* p.oneOf("capture_method", ["automatic", "automatic_async"])
      const pmId = yield* p.string("payment_method")
      const pm = pmId === undefined ? undefined : yield* resolvePaymentMethod(pmId, info, "payment_method")
      if (
        pm !== undefined && customerId !== undefined && pm.json.customer !== null && pm.json.customer !== customerId
      ) {
        return yield* invalidRequest(
          `The provided PaymentMethod belongs to another Customer (${String(pm.json.customer)}).`,
          { param: "payment_method" }
        )
      }
      if (confirmNow && pm === undefined) {
        return yield* invalidRequest(
          "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
          { code: "payment_intent_unexpected_state" }
        )
      }
      const id = newId("pi")
      const intent: Json = {
        id,
        object: "payment_intent",
        amount,
        amount_capturable: 0,
        amount_received: 0,
        canceled_at: null,
        cancellation_reason: null,
        capture_method: "automatic",
        client_secret: `${id}_secret_${randomBytes(12).toString("hex")}`,
        confirmation_method: "automatic",
        created: info.now,
        currency,
        customer: customerId ?? null,
        description: (yield* p.string("description")) ?? null,
        last_payment_error: null,
        latest_charge: null,
        livemode: false,
        metadata: yield* p.map("metadata"),
        next_action: null,
        payment_method: pm?.json.id ?? null,
        payment_method_types: ["card"],
        setup_future_usage: null,
        status: pm === undefined ? "requires_payment_method" : "requires_confirmation"
      }
      intents.set(id, intent)
      return confirmNow && pm !== undefined ? yield* confirm(intent, pm, offSession ?? false, info) : intent
    })

  const confirmPaymentIntent = (id: string, p: Params, info: RequestInfo) =>
    Effect.gen(function*() {
      yield* p.only(["payment_method", "off_session", "expand"])
      const intent = yield* find(intents, "payment_intent", id)
      if (intent.status !== "requires_payment_method" && intent.status !== "requires_confirmation") {
        return yield* unexpectedState(
          `You cannot confirm this PaymentIntent because it has a status of ${String(intent.status)}.`,
          "payment_intent_unexpected_state"
        )
      }
      const pmId = (yield* p.string("payment_method")) ?? (intent.payment_method as string | null) ?? undefined
      if (pmId === undefined) {
        return yield* invalidRequest("You cannot confirm this PaymentIntent because it's missing a payment method.", {
          code: "payment_intent_unexpected_state"
        })
      }
      const pm = yield* resolvePaymentMethod(pmId, info, "payment_method")
      const offSession = yield* p.oneOf("off_session", ["true", "false", "one_off", "recurring"])
      return yield* confirm(intent, pm, offSession !== undefined && offSession !== "false", info)
    })

  const cancelPaymentIntent = (id: string, p: Params, info: RequestInfo) =>
    Effect.gen(function*() {
      yield* p.only(["cancellation_reason", "expand"])
      const reason = yield* p.oneOf("cancellation_reason", cancellationReasons)
      const intent = yield* find(intents, "payment_intent", id)
      if (!cancelableStatuses.includes(intent.status as string)) {
        return yield* unexpectedState(
          `You cannot cancel this PaymentIntent because it has a status of ${
            String(intent.status)
          }. Only a PaymentIntent with one of the following statuses may be canceled: ${
            cancelableStatuses.join(", ")
          }.`,
          "payment_intent_unexpected_state"
        )
      }
      Object.assign(intent, {
        status: "canceled",
        canceled_at: info.now,
        cancellation_reason: reason ?? null,
        next_action: null
      })
      emit(info, "payment_intent.canceled", intent)
      return intent
    })

  const listPaymentIntents = (p: Params) =>
    Effect.gen(function*() {
      yield* p.only(["customer", "created", "limit", "starting_after", "ending_before", "expand"])
      const limit = (yield* p.int("limit")) ?? 10
      if (limit < 1 || limit > 100) {
        return yield* invalidRequest("Limit must be between 1 and 100.", {
          code: "parameter_invalid_integer",
          param: "limit"
        })
      }
      const customer = yield* p.string("customer")
      const created = p.nested("created")
      const bounds = {
        gt: yield* created.int("gt"),
        gte: yield* created.int("gte"),
        lt: yield* created.int("lt"),
        lte: yield* created.int("lte")
      }
      // newest first, as Stripe lists
      const all = [...intents.values()].reverse().filter((pi) => {
        const at = pi.created as number
        return (customer === undefined || pi.customer === customer) &&
          (bounds.gt === undefined || at > bounds.gt) && (bounds.gte === undefined || at >= bounds.gte) &&
          (bounds.lt === undefined || at < bounds.lt) && (bounds.lte === undefined || at <= bounds.lte)
      })
      const after = yield* p.string("starting_after")
      const start = after === undefined ? 0 : all.findIndex((pi) => pi.id === after) + 1
      const page = all.slice(start, start + limit)
      return { object: "list", data: page, has_more: all.length > start + limit, url: "/v1/payment_intents" }
    })

  return { createPaymentIntent, confirmPaymentIntent, cancelPaymentIntent, listPaymentIntents }
}
