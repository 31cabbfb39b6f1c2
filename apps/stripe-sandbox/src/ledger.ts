// The sandbox's in-memory Stripe account: customers, payment methods, payment intents, charges, refunds and the
// events they raise. Each operation runs without yielding to other requests, so it is atomic.
import { randomBytes } from "node:crypto"
import { Context, DateTime, Effect, Layer } from "effect"
import Stripe from "stripe"
import { authenticationRequired, type CardBehavior, type Decline, testCards } from "./cards.ts"
import { invalidRequest, type Params, resourceMissing, StripeApiError, unexpectedState } from "./errors.ts"

export type Json = { [key: string]: unknown }

/** An event as delivered: serialised once, when it is raised, so later changes to its object do not show. */
export interface RaisedEvent {
  readonly id: string
  readonly type: EventType
  /** The JSON body Stripe would POST (pretty-printed, as Stripe sends it). */
  readonly payload: string
}

export const eventTypes = [
  "payment_intent.succeeded",
  "payment_intent.payment_failed",
  "payment_intent.canceled",
  "charge.refunded"
] as const
export type EventType = (typeof eventTypes)[number]

/** What an operation needs to know about the request that runs it. */
export interface RequestInfo {
  /** Unix seconds. */
  readonly now: number
  readonly requestId: string
  readonly idempotencyKey: string | undefined
}

export const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`

const apiVersion = Stripe.API_VERSION

interface PaymentMethodRecord {
  readonly json: Json
  readonly behavior: CardBehavior
}

const cancelableStatuses = ["requires_payment_method", "requires_confirmation", "requires_action", "requires_capture", "processing"]
const cancellationReasons = ["duplicate", "fraudulent", "requested_by_customer", "abandoned"] as const
const refundReasons = ["duplicate", "fraudulent", "requested_by_customer"] as const

const major = (amount: number, currency: string) => `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`

export class Ledger extends Context.Service<Ledger, {
  createCustomer(p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  retrieveCustomer(id: string): Effect.Effect<Json, StripeApiError>
  updateCustomer(id: string, p: Params): Effect.Effect<Json, StripeApiError>
  retrievePaymentMethod(id: string): Effect.Effect<Json, StripeApiError>
  attachPaymentMethod(id: string, p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  detachPaymentMethod(id: string, p: Params): Effect.Effect<Json, StripeApiError>
  createPaymentIntent(p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  retrievePaymentIntent(id: string): Effect.Effect<Json, StripeApiError>
  confirmPaymentIntent(id: string, p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  cancelPaymentIntent(id: string, p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  listPaymentIntents(p: Params): Effect.Effect<Json, StripeApiError>
  createRefund(p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  retrieveRefund(id: string): Effect.Effect<Json, StripeApiError>
  retrieveCharge(id: string): Effect.Effect<Json, StripeApiError>
  /** Copies of the stored objects, for tests and the control API. */
  readonly snapshot: Effect.Effect<{
    readonly customers: ReadonlyArray<Json>
    readonly paymentIntents: ReadonlyArray<Json>
    readonly charges: ReadonlyArray<Json>
    readonly refunds: ReadonlyArray<Json>
  }>
}>()("stripe-sandbox/Ledger") {
  /** `onEvent` receives every event as it is raised. */
  static readonly make = (onEvent: (event: RaisedEvent) => void) =>
    Effect.sync(() => {
      const customers = new Map<string, Json>()
      const paymentMethods = new Map<string, PaymentMethodRecord>()
      const intents = new Map<string, Json>()
      const charges = new Map<string, Json>()
      const refunds = new Map<string, Json>()

      const emit = (info: RequestInfo, type: EventType, object: Json, previous?: Json) => {
        const id = newId("evt")
        const event = {
          id,
          object: "event",
          api_version: apiVersion,
          created: info.now,
          data: { object, ...(previous === undefined ? {} : { previous_attributes: previous }) },
          livemode: false,
          pending_webhooks: 1,
          request: { id: info.requestId, idempotency_key: info.idempotencyKey ?? null },
          type
        }
        onEvent({ id, type, payload: JSON.stringify(event, null, 2) })
      }

      const find = (store: Map<string, Json>, kind: string, id: string, param?: string) => {
        const found = store.get(id)
        return found === undefined ? Effect.fail(resourceMissing(kind, id, param)) : Effect.succeed(found)
      }

      // ---- payment methods ----------------------------------------------------------------------------

      const newPaymentMethod = (testId: string, info: RequestInfo, customer: string | null): PaymentMethodRecord | undefined => {
        const card = testCards[testId]
        if (card === undefined) return undefined
        const id = newId("pm")
        const record: PaymentMethodRecord = {
          behavior: card.behavior,
          json: {
            id,
            object: "payment_method",
            type: "card",
            billing_details: { address: null, email: null, name: null, phone: null },
            card: {
              brand: card.brand,
              last4: card.last4,
              funding: card.funding,
              exp_month: 12,
              exp_year: DateTime.getPartUtc(DateTime.makeUnsafe(info.now * 1000), "year") + 3,
              country: "US",
              fingerprint: testId
            },
            created: info.now,
            customer,
            livemode: false,
            metadata: {}
          }
        }
        paymentMethods.set(id, record)
        return record
      }

      /** A concrete `pm_…`, or a new one cloned from a test id (Stripe creates one per use). */
      const resolvePaymentMethod = (id: string, info: RequestInfo, param: string) => {
        const existing = paymentMethods.get(id)
        if (existing !== undefined) return Effect.succeed(existing)
        const created = newPaymentMethod(id, info, null)
        return created === undefined ? Effect.fail(resourceMissing("PaymentMethod", id, param)) : Effect.succeed(created)
      }

      // ---- customers ------------------------------------------------------------------------------------

      const setDefaultPaymentMethod = (customer: Json, pmId: string | undefined) => {
        if (pmId === undefined) return Effect.void
        if (pmId === "") {
          customer.invoice_settings = { default_payment_method: null }
          return Effect.void
        }
        const pm = paymentMethods.get(pmId)
        if (pm === undefined) return Effect.fail(resourceMissing("PaymentMethod", pmId, "invoice_settings[default_payment_method]"))
        if (pm.json.customer !== customer.id) {
          return Effect.fail(invalidRequest(
            `The customer does not have a payment method with the ID ${pmId}. The payment method must be attached to the customer.`,
            { code: "resource_missing", param: "invoice_settings[default_payment_method]" }
          ))
        }
        customer.invoice_settings = { default_payment_method: pmId }
        return Effect.void
      }

      const createCustomer = (p: Params, info: RequestInfo) =>
        Effect.gen(function*() {
          yield* p.only(["email", "name", "description", "metadata", "invoice_settings", "expand"])
          const customer: Json = {
            id: newId("cus"),
            object: "customer",
            created: info.now,
            description: (yield* p.string("description")) ?? null,
            email: (yield* p.string("email")) ?? null,
            name: (yield* p.string("name")) ?? null,
            invoice_settings: { default_payment_method: null },
            livemode: false,
            metadata: yield* p.map("metadata")
          }
          customers.set(customer.id as string, customer)
          return customer
        })

      const updateCustomer = (id: string, p: Params) =>
        Effect.gen(function*() {
          yield* p.only(["email", "name", "description", "metadata", "invoice_settings", "expand"])
          const customer = yield* find(customers, "customer", id)
          const settings = p.nested("invoice_settings")
          yield* settings.only(["default_payment_method"])
          yield* setDefaultPaymentMethod(customer, yield* settings.string("default_payment_method"))
          for (const field of ["email", "name", "description"] as const) {
            const value = yield* p.string(field)
            if (value !== undefined) customer[field] = value === "" ? null : value
          }
          const metadata = yield* p.map("metadata")
          customer.metadata = { ...(customer.metadata as Json), ...metadata }
          return customer
        })

      const attachPaymentMethod = (id: string, p: Params, info: RequestInfo) =>
        Effect.gen(function*() {
          yield* p.only(["customer", "expand"])
          const customerId = yield* p.requiredString("customer")
          yield* find(customers, "customer", customerId, "customer")
          const existing = paymentMethods.get(id)
          if (existing !== undefined) {
            if (existing.json.customer !== null && existing.json.customer !== customerId) {
              return yield* unexpectedState(
                "The payment method you provided has already been attached to a customer.",
                "payment_method_unexpected_state"
              )
            }
            existing.json.customer = customerId
            return existing.json
          }
          const created = newPaymentMethod(id, info, customerId)
          if (created === undefined) return yield* resourceMissing("PaymentMethod", id)
          return created.json
        })

      const detachPaymentMethod = (id: string, p: Params) =>
        Effect.gen(function*() {
          yield* p.only(["expand"])
          const pm = paymentMethods.get(id)
          if (pm === undefined) return yield* resourceMissing("PaymentMethod", id)
          if (pm.json.customer === null) {
            return yield* unexpectedState(
              "The payment method you provided is not attached to a customer so detachment is impossible.",
              "payment_method_unexpected_state"
            )
          }
          const customer = customers.get(pm.json.customer as string)
          const settings = customer?.invoice_settings as Json | undefined
          if (customer !== undefined && settings?.default_payment_method === id) {
            customer.invoice_settings = { default_payment_method: null }
          }
          pm.json.customer = null
          return pm.json
        })

      // ---- payment intents ------------------------------------------------------------------------------

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
            ? { network_status: "approved_by_network", reason: null, risk_level: "normal", seller_message: "Payment complete.", type: "authorized" }
            : { network_status: "declined_by_network", reason: failure.declineCode, risk_level: "normal", seller_message: "The bank returned the decline code.", type: "issuer_declined" },
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
        const error = {
          type: "card_error" as const,
          code: failure.code,
          decline_code: failure.declineCode,
          message: failure.message,
          doc_url: `https://stripe.com/docs/error-codes/${failure.code.replaceAll("_", "-")}`,
          ...(charge === undefined ? {} : { charge: charge.id })
        }
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
      const confirm = (intent: Json, pm: PaymentMethodRecord, offSession: boolean, info: RequestInfo): Effect.Effect<Json, StripeApiError> => {
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
            "amount", "currency", "customer", "payment_method", "confirm", "off_session", "metadata", "description",
            "payment_method_types", "automatic_payment_methods", "capture_method", "confirmation_method", "expand",
            "statement_descriptor", "receipt_email", "setup_future_usage"
          ])
          const automatic = p.nested("automatic_payment_methods")
          yield* automatic.only(["enabled", "allow_redirects"])
          yield* automatic.boolean("enabled")
          yield* automatic.oneOf("allow_redirects", ["always", "never"])
          const amount = yield* p.int("amount")
          if (amount === undefined) return yield* invalidRequest("Missing required param: amount.", { code: "parameter_missing", param: "amount" })
          if (amount < 1) {
            return yield* invalidRequest("This value must be greater than or equal to 1.", { code: "parameter_invalid_integer", param: "amount" })
          }
          const currency = (yield* p.requiredString("currency")).toLowerCase()
          if (!/^[a-z]{3}$/.test(currency)) {
            return yield* invalidRequest(`Invalid currency: ${currency}.`, { code: "parameter_invalid_string", param: "currency" })
          }
          const customerId = yield* p.string("customer")
          if (customerId !== undefined) yield* find(customers, "customer", customerId, "customer")
          const confirmNow = (yield* p.boolean("confirm")) ?? false
          // a boolean, or since 2019 the kind of off-session use
          const offSessionParam = yield* p.oneOf("off_session", ["true", "false", "one_off", "recurring"])
          const offSession = offSessionParam === undefined ? undefined : offSessionParam !== "false"
          if (offSession !== undefined && !confirmNow) {
            return yield* invalidRequest("You may only specify `off_session` when `confirm=true`.", { param: "off_session" })
          }
          yield* p.oneOf("capture_method", ["automatic", "automatic_async"])
          const pmId = yield* p.string("payment_method")
          const pm = pmId === undefined ? undefined : yield* resolvePaymentMethod(pmId, info, "payment_method")
          if (pm !== undefined && customerId !== undefined && pm.json.customer !== null && pm.json.customer !== customerId) {
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
              `You cannot cancel this PaymentIntent because it has a status of ${String(intent.status)}. Only a PaymentIntent with one of the following statuses may be canceled: ${cancelableStatuses.join(", ")}.`,
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
            return yield* invalidRequest("Limit must be between 1 and 100.", { code: "parameter_invalid_integer", param: "limit" })
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

      // ---- refunds ----------------------------------------------------------------------------------------

      const createRefund = (p: Params, info: RequestInfo) =>
        Effect.gen(function*() {
          yield* p.only(["payment_intent", "charge", "amount", "reason", "metadata", "expand"])
          const piId = yield* p.string("payment_intent")
          const chargeId = yield* p.string("charge")
          if (piId === undefined && chargeId === undefined) {
            return yield* invalidRequest("One of the following params should be provided for this request: payment_intent or charge.", {
              code: "parameter_missing"
            })
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
            return yield* unexpectedState(`Charge ${String(charge.id)} has no successful payment to refund.`, "charge_not_refundable")
          }
          const amount = charge.amount as number
          const refunded = charge.amount_refunded as number
          const currency = charge.currency as string
          if (refunded >= amount) {
            return yield* unexpectedState(`Charge ${String(charge.id)} has already been refunded.`, "charge_already_refunded")
          }
          const refundAmount = amountParam ?? amount - refunded
          if (refundAmount < 1) {
            return yield* invalidRequest("This value must be greater than or equal to 1.", { code: "parameter_invalid_integer", param: "amount" })
          }
          if (refundAmount > amount - refunded) {
            return yield* unexpectedState(
              `Refund amount (${major(refundAmount, currency)}) is greater than unrefunded amount on charge (${major(amount - refunded, currency)})`,
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

      const copies = (store: Map<string, Json>) => Effect.sync(() => [...store.values()].map((o) => structuredClone(o)))

      return Ledger.of({
        createCustomer,
        retrieveCustomer: (id) => find(customers, "customer", id),
        updateCustomer,
        retrievePaymentMethod: (id) =>
          Effect.suspend(() => {
            const pm = paymentMethods.get(id)
            return pm === undefined ? Effect.fail(resourceMissing("PaymentMethod", id)) : Effect.succeed(pm.json)
          }),
        attachPaymentMethod,
        detachPaymentMethod,
        createPaymentIntent,
        retrievePaymentIntent: (id) => find(intents, "payment_intent", id),
        confirmPaymentIntent,
        cancelPaymentIntent,
        listPaymentIntents,
        createRefund,
        retrieveRefund: (id) => find(refunds, "refund", id),
        retrieveCharge: (id) => find(charges, "charge", id),
        snapshot: Effect.all({
          customers: copies(customers),
          paymentIntents: copies(intents),
          charges: copies(charges),
          refunds: copies(refunds)
        })
      })
    })

  static readonly layer = (onEvent: (event: RaisedEvent) => void) => Layer.effect(Ledger, Ledger.make(onEvent))
}
