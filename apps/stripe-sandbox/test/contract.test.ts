// The Stripe contract Kassa relies on, asserted through the real `stripe` SDK. The same suite runs against the
// sandbox (always) and against Stripe's test mode when STRIPE_API_KEY holds a real `sk_test_` key and
// STRIPE_API_BASE is unset (skipped otherwise).
import { assert, describe, layer } from "@effect/vitest"
import { developmentApiKey as sandboxApiKey, StripeConfig } from "@kassa/payments/config"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import Stripe from "stripe"
import { StripeSandbox } from "../src/sandbox.ts"

class Sdk extends Context.Service<Sdk, Stripe>()("test/Sdk") {}

const sandboxSdk = Layer.effect(
  Sdk,
  Effect.map(
    StripeSandbox,
    ({ url }) =>
      new Stripe(sandboxApiKey, { host: url.hostname, port: Number(url.port), protocol: "http", maxNetworkRetries: 0 })
  )
).pipe(Layer.provide(StripeSandbox.layer()))

const realKey = Effect.runSync(Effect.map(StripeConfig, (config) =>
  Option.isNone(config.apiBase)
    ? Option.filter(
      Option.map(config.apiKey, Redacted.value),
      (key) => key.startsWith("sk_test_") && key !== sandboxApiKey
    )
    : Option.none()))

const stripeSdk = Layer.sync(Sdk, () => new Stripe(Option.getOrElse(realKey, () => ""), { maxNetworkRetries: 2 }))

const call = <A>(f: (sdk: Stripe) => Promise<A>) => Sdk.use((sdk) => Effect.promise(() => f(sdk)))
const refused = <A>(f: (sdk: Stripe) => Promise<A>) =>
  Sdk.use((sdk) =>
    Effect.tryPromise({ try: () => f(sdk), catch: (e) => e as Stripe.errors.StripeError }).pipe(Effect.flip)
  )

const charge = (extra: Partial<Stripe.PaymentIntentCreateParams>) => (sdk: Stripe) =>
  sdk.paymentIntents.create({
    amount: 2500,
    currency: "eur",
    confirm: true,
    automatic_payment_methods: { enabled: true, allow_redirects: "never" },
    ...extra
  })

const contract = <E>(target: string, sdk: Layer.Layer<Sdk, E>) =>
  layer(sdk, { excludeTestServices: true, timeout: 60_000 })(`Stripe contract: ${target}`, (it) => {
    it.effect("customers are created, read and updated", () =>
      Effect.gen(function*() {
        const created = yield* call((s) =>
          s.customers.create({ email: "viewer@example.com", metadata: { kassa_user_id: "u1" } })
        )
        assert.match(created.id, /^cus_/)
        const read = yield* call((s) => s.customers.retrieve(created.id))
        assert.isFalse(read.deleted === true)
        if (read.deleted === true) return
        assert.strictEqual(read.email, "viewer@example.com")
        assert.deepStrictEqual(read.metadata, { kassa_user_id: "u1" })
      }))

    it.effect("attaching a test payment method makes a new one on the customer; detach releases it", () =>
      Effect.gen(function*() {
        const customer = yield* call((s) => s.customers.create({}))
        const pm = yield* call((s) => s.paymentMethods.attach("pm_card_visa", { customer: customer.id }))
        assert.match(pm.id, /^pm_/)
        assert.notStrictEqual(pm.id, "pm_card_visa")
        assert.deepStrictEqual([pm.card?.brand, pm.card?.last4, pm.customer], ["visa", "4242", customer.id])
        const updated = yield* call((s) =>
          s.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } })
        )
        assert.strictEqual(updated.invoice_settings.default_payment_method, pm.id)
        const detached = yield* call((s) => s.paymentMethods.detach(pm.id))
        assert.isNull(detached.customer)
      }))

    it.effect("a confirmed off-session charge succeeds with a charge behind it", () =>
      Effect.gen(function*() {
        const customer = yield* call((s) => s.customers.create({}))
        const pm = yield* call((s) => s.paymentMethods.attach("pm_card_mastercard", { customer: customer.id }))
        const intent = yield* call(
          charge({
            customer: customer.id,
            payment_method: pm.id,
            off_session: true,
            metadata: { kassa_payment_id: "pay_1" }
          })
        )
        assert.deepStrictEqual(
          [intent.status, intent.amount, intent.amount_received, intent.currency, intent.metadata["kassa_payment_id"]],
          ["succeeded", 2500, 2500, "eur", "pay_1"]
        )
        assert.isString(intent.latest_charge)
        const chargeObject = yield* call((s) => s.charges.retrieve(String(intent.latest_charge)))
        assert.deepStrictEqual(
          [chargeObject.paid, chargeObject.amount, chargeObject.payment_intent],
          [true, 2500, intent.id]
        )
        const listed = yield* call((s) => s.paymentIntents.list({ customer: customer.id, limit: 10 }))
        assert.include(listed.data.map((pi) => pi.id), intent.id)
      }))

    for (
      const [card, code, declineCode, param] of [
        ["pm_card_visa_chargeDeclined", "card_declined", "generic_decline", undefined],
        ["pm_card_visa_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds", undefined],
        ["pm_card_visa_chargeDeclinedLostCard", "card_declined", "lost_card", undefined],
        ["pm_card_visa_chargeDeclinedStolenCard", "card_declined", "stolen_card", undefined],
        ["pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card", "exp_month"],
        ["pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc", "cvc"],
        ["pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error", undefined],
        ["pm_card_chargeCustomerFail", "card_declined", "generic_decline", undefined]
      ] as const
    ) {
      it.effect(`${card} is declined: 402 card_error ${code}/${declineCode}, intent back to requires_payment_method`, () =>
        Effect.gen(function*() {
          const error = yield* refused(charge({ payment_method: card }))
          assert.instanceOf(error, Stripe.errors.StripeCardError)
          assert.deepStrictEqual(
            [error.statusCode, error.code, error.decline_code, error.param],
            [402, code, declineCode, param]
          )
          const intent = error.payment_intent
          assert.isDefined(intent)
          const read = yield* call((s) => s.paymentIntents.retrieve(intent?.id ?? ""))
          assert.strictEqual(read.status, "requires_payment_method")
          assert.strictEqual(read.last_payment_error?.code, code)
        }))

      if (card !== "pm_card_chargeCustomerFail") {
        it.effect(`${card} cannot be attached to a customer: the card check declines it`, () =>
          Effect.gen(function*() {
            const customer = yield* call((s) => s.customers.create({}))
            const error = yield* refused((s) => s.paymentMethods.attach(card, { customer: customer.id }))
            assert.instanceOf(error, Stripe.errors.StripeCardError)
            assert.deepStrictEqual([error.statusCode, error.code, error.decline_code], [402, code, declineCode])
            const cards = yield* call((s) => s.customers.listPaymentMethods(customer.id))
            assert.deepStrictEqual(cards.data, [])
          }))
      }
    }

    it.effect("pm_card_chargeCustomerFail attaches to a customer, then every charge on it is declined", () =>
      Effect.gen(function*() {
        const customer = yield* call((s) => s.customers.create({}))
        const pm = yield* call((s) => s.paymentMethods.attach("pm_card_chargeCustomerFail", { customer: customer.id }))
        assert.deepStrictEqual([pm.customer, pm.card?.last4], [customer.id, "0341"])
        for (const offSession of [false, true]) {
          const error = yield* refused(
            charge({ customer: customer.id, payment_method: pm.id, off_session: offSession })
          )
          assert.deepStrictEqual(
            [error.statusCode, error.code, error.decline_code],
            [402, "card_declined", "generic_decline"]
          )
        }
      }))

    it.effect("a customer's payment methods are listed newest first; a detached one drops out", () =>
      Effect.gen(function*() {
        const customer = yield* call((s) => s.customers.create({}))
        const visa = yield* call((s) => s.paymentMethods.attach("pm_card_visa", { customer: customer.id }))
        const mastercard = yield* call((s) => s.paymentMethods.attach("pm_card_mastercard", { customer: customer.id }))
        const listed = yield* call((s) => s.customers.listPaymentMethods(customer.id, { type: "card" }))
        assert.deepStrictEqual(listed.data.map((pm) => [pm.id, pm.card?.brand]), [
          [mastercard.id, "mastercard"],
          [visa.id, "visa"]
        ])
        assert.isNumber(listed.data[0]?.card?.exp_year)
        yield* call((s) => s.paymentMethods.detach(visa.id))
        const after = yield* call((s) => s.customers.listPaymentMethods(customer.id))
        assert.deepStrictEqual(after.data.map((pm) => pm.id), [mastercard.id])
      }))

    it.effect("authentication required: requires_action on-session, authentication_required off-session", () =>
      Effect.gen(function*() {
        const onSession = yield* call(charge({ payment_method: "pm_card_authenticationRequired" }))
        assert.strictEqual(onSession.status, "requires_action")
        const customer = yield* call((s) => s.customers.create({}))
        const pm = yield* call((s) =>
          s.paymentMethods.attach("pm_card_authenticationRequired", { customer: customer.id })
        )
        const error = yield* refused(charge({ customer: customer.id, payment_method: pm.id, off_session: true }))
        assert.instanceOf(error, Stripe.errors.StripeCardError)
        assert.strictEqual(error.code, "authentication_required")
        assert.strictEqual(error.payment_intent?.status, "requires_payment_method")
      }))

    it.effect("an open intent can be canceled; a succeeded one cannot", () =>
      Effect.gen(function*() {
        const open = yield* call(charge({ payment_method: "pm_card_visa", confirm: false }))
        assert.strictEqual(open.status, "requires_confirmation")
        const canceled = yield* call((s) => s.paymentIntents.cancel(open.id, { cancellation_reason: "abandoned" }))
        assert.deepStrictEqual([canceled.status, canceled.cancellation_reason], ["canceled", "abandoned"])
        const done = yield* call(charge({ payment_method: "pm_card_visa" }))
        const error = yield* refused((s) => s.paymentIntents.cancel(done.id))
        assert.instanceOf(error, Stripe.errors.StripeInvalidRequestError)
        assert.strictEqual(error.code, "payment_intent_unexpected_state")
      }))

    it.effect("refunds: partial then the rest; the charge tracks it; a third is refused", () =>
      Effect.gen(function*() {
        const intent = yield* call(charge({ payment_method: "pm_card_visa" }))
        const partial = yield* call((s) => s.refunds.create({ payment_intent: intent.id, amount: 1000 }))
        assert.deepStrictEqual([partial.amount, partial.status, partial.payment_intent], [1000, "succeeded", intent.id])
        const tooMuch = yield* refused((s) => s.refunds.create({ payment_intent: intent.id, amount: 2000 }))
        assert.strictEqual(tooMuch.code, "amount_too_large")
        const rest = yield* call((s) => s.refunds.create({ payment_intent: intent.id }))
        assert.strictEqual(rest.amount, 1500)
        const chargeObject = yield* call((s) => s.charges.retrieve(String(intent.latest_charge)))
        assert.deepStrictEqual([chargeObject.amount_refunded, chargeObject.refunded], [2500, true])
        const again = yield* refused((s) => s.refunds.create({ payment_intent: intent.id }))
        assert.strictEqual(again.code, "charge_already_refunded")
      }))

    it.effect("idempotency: same key and parameters replay; other parameters are an idempotency error", () =>
      Effect.gen(function*() {
        const key = `contract-${randomUUID()}`
        const params = {
          amount: 1200,
          currency: "eur",
          payment_method: "pm_card_visa",
          confirm: true,
          automatic_payment_methods: { enabled: true, allow_redirects: "never" as const }
        }
        const first = yield* call((s) => s.paymentIntents.create(params, { idempotencyKey: key }))
        const second = yield* call((s) => s.paymentIntents.create(params, { idempotencyKey: key }))
        assert.strictEqual(second.id, first.id)
        assert.strictEqual(second.lastResponse.headers["idempotent-replayed"], "true")
        const error = yield* refused((s) =>
          s.paymentIntents.create({ ...params, amount: 1300 }, { idempotencyKey: key })
        )
        assert.instanceOf(error, Stripe.errors.StripeIdempotencyError)
      }))

    it.effect("a missing object is a 404 resource_missing", () =>
      Effect.gen(function*() {
        const error = yield* refused((s) => s.paymentIntents.retrieve("pi_doesnotexist"))
        assert.deepStrictEqual([error.statusCode, error.code], [404, "resource_missing"])
      }))
  })

contract("sandbox", sandboxSdk)

describe.skipIf(Option.isNone(realKey))("real Stripe (test mode)", () => {
  contract("Stripe test mode", stripeSdk)
})
