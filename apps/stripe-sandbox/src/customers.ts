// Customers and their payment methods. A test id such as `pm_card_visa` becomes a new `pm_…` at each use, as in
// Stripe; attaching checks the card, so a card that declines is refused there.
import { DateTime, Effect } from "effect"
import { cardErrorBody, testCards } from "./cards.ts"
import { invalidRequest, type Params, resourceMissing, StripeApiError, unexpectedState } from "./errors.ts"
import { find, type Json, newId, type PaymentMethodRecord, type RequestInfo, type State } from "./state.ts"

export const customerOperations = (state: State) => {
  const { customers, paymentMethods } = state

  const newPaymentMethod = (
    testId: string,
    info: RequestInfo,
    customer: string | null
  ): PaymentMethodRecord | undefined => {
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

  const setDefaultPaymentMethod = (customer: Json, pmId: string | undefined) => {
    if (pmId === undefined) return Effect.void
    if (pmId === "") {
      customer.invoice_settings = { default_payment_method: null }
      return Effect.void
    }
    const pm = paymentMethods.get(pmId)
    if (pm === undefined) {
      return Effect.fail(resourceMissing("PaymentMethod", pmId, "invoice_settings[default_payment_method]"))
    }
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
      const card = testCards[id]
      if (card === undefined) return yield* resourceMissing("PaymentMethod", id)
      if (!card.attachable && card.behavior.kind === "declines") {
        return yield* new StripeApiError({ status: 402, validation: false, body: cardErrorBody(card.behavior) })
      }
      return (newPaymentMethod(id, info, customerId) as PaymentMethodRecord).json
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

  /** GET /v1/customers/:id/payment_methods: the attached ones, newest first. */
  const listCustomerPaymentMethods = (id: string, p: Params) =>
    Effect.gen(function*() {
      yield* p.only(["type", "limit", "starting_after", "ending_before", "expand", "allow_redisplay"])
      yield* find(customers, "customer", id)
      const type = yield* p.string("type")
      const limit = (yield* p.int("limit")) ?? 10
      if (limit < 1 || limit > 100) {
        return yield* invalidRequest("Limit must be between 1 and 100.", {
          code: "parameter_invalid_integer",
          param: "limit"
        })
      }
      const all = [...paymentMethods.values()].reverse()
        .map((pm) => pm.json)
        .filter((pm) => pm.customer === id && (type === undefined || pm.type === type))
      const after = yield* p.string("starting_after")
      const start = after === undefined ? 0 : all.findIndex((pm) => pm.id === after) + 1
      return {
        object: "list",
        data: all.slice(start, start + limit),
        has_more: all.length > start + limit,
        url: `/v1/customers/${id}/payment_methods`
      }
    })

  return {
    resolvePaymentMethod,
    createCustomer,
    retrieveCustomer: (id: string) => Effect.suspend(() => find(customers, "customer", id)),
    updateCustomer,
    retrievePaymentMethod: (id: string) =>
      Effect.suspend(() => {
        const pm = paymentMethods.get(id)
        return pm === undefined ? Effect.fail(resourceMissing("PaymentMethod", id)) : Effect.succeed(pm.json)
      }),
    attachPaymentMethod,
    detachPaymentMethod,
    listCustomerPaymentMethods
  }
}
