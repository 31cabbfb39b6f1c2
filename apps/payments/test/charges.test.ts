// CreatePayment and the customer setup through the typed RPC client (and the HTTP twin), against the Stripe
// sandbox through the real SDK, on the real Postgres and RabbitMQ.
import { assert, layer } from "@effect/vitest"
import { PaymentId } from "@kassa/domain"
import { PaymentsApi } from "@kassa/domain/apis"
import { ServiceTokenAuth } from "@kassa/domain/auth"
import { PaymentsRpcClient } from "@kassa/clients"
import { EventBus } from "@kassa/platform/bus"
import { apiClient } from "@kassa/platform/testing"
import { StripeSandbox } from "@kassa/stripe-sandbox"
import { Deferred, Effect, Redacted } from "effect"
import { HttpClientRequest } from "effect/http"
import { HttpApiMiddleware } from "effect/http-api"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import { reconcileDue } from "@kassa/payments/payments/reconciler"
import {
  appUrl,
  eventsOf,
  newInvoiceId,
  newKey,
  newUserId,
  onTestClock,
  PaymentsHarness,
  providerIntentsOf,
  previousServiceToken,
  rpc,
  serviceToken
} from "./harness.ts"

const charge = (
  options: { readonly paymentMethod?: string; readonly offSession?: boolean; readonly amount?: number } = {}
) =>
  Effect.gen(function*() {
    const client = yield* rpc
    return yield* client.CreatePayment({
      idempotencyKey: newKey(),
      invoiceId: newInvoiceId(),
      userId: newUserId(),
      amount: options.amount ?? 1990,
      currency: "EUR",
      ...(options.paymentMethod === undefined ? {} : { paymentMethod: options.paymentMethod }),
      ...(options.offSession === undefined ? {} : { offSession: options.offSession })
    })
  })

const WithToken = (token: string) =>
  HttpApiMiddleware.layerClient(
    ServiceTokenAuth,
    ({ next, request }) => next(HttpClientRequest.bearerToken(request, token))
  )

layer(PaymentsHarness(), { excludeTestServices: true, timeout: 60_000 })("CreatePayment", (it) => {
  it.effect("charges the customer's default method: succeeded, one provider intent, one payment.succeeded", () =>
    Effect.gen(function*() {
      const client = yield* rpc
      const userId = newUserId()
      const customer = yield* client.EnsureCustomer({ userId, email: "viewer@example.com" })
      assert.match(customer.providerCustomerId, /^cus_/)
      assert.strictEqual((yield* client.EnsureCustomer({ userId })).providerCustomerId, customer.providerCustomerId)
      const method = yield* client.AttachPaymentMethod({ userId, paymentMethod: "pm_card_visa" })
      assert.deepStrictEqual([method.brand, method.last4, method.isDefault], ["visa", "4242", true])
      const invoiceId = newInvoiceId()
      const payment = yield* client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId,
        userId,
        amount: 1990,
        currency: "EUR"
      })
      assert.deepStrictEqual(
        [payment.status, payment.amount, payment.refundedAmount, payment.currency, payment.invoiceId, payment.userId],
        ["succeeded", 1990, 0, "EUR", invoiceId, userId]
      )
      assert.isUndefined(payment.failureCode)
      assert.strictEqual((yield* providerIntentsOf(payment.id)).length, 1)
      assert.deepStrictEqual((yield* eventsOf(payment.id)).map((e) => [e.type, e.data.status]), [[
        "payment.succeeded",
        "succeeded"
      ]])
      assert.deepStrictEqual(yield* client.GetPayment({ paymentId: payment.id }), payment)
    }))

  it.effect("without a saved default method: 422 and no charge, the key left free; with one saved since, the same key charges it", () =>
    Effect.gen(function*() {
      const client = yield* rpc
      const userId = newUserId()
      const request = {
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId,
        amount: 990,
        currency: "EUR"
      } as const
      const refused = yield* Effect.flip(client.CreatePayment(request))
      assert.strictEqual(refused._tag, "NoPaymentMethod")
      // the first charge made the customer; a method saved without being the default does not count either
      yield* client.AttachPaymentMethod({ userId, paymentMethod: "pm_card_visa", makeDefault: false })
      assert.strictEqual((yield* Effect.flip(client.CreatePayment(request)))._tag, "NoPaymentMethod")
      yield* client.AttachPaymentMethod({ userId, paymentMethod: "pm_card_mastercard" })
      const payment = yield* client.CreatePayment(request)
      assert.strictEqual(payment.status, "succeeded")
      assert.strictEqual((yield* providerIntentsOf(payment.id)).length, 1)
    }))

  for (
    const [card, code] of [
      ["pm_card_chargeDeclined", "generic_decline"],
      ["pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"],
      ["pm_card_chargeDeclinedExpiredCard", "expired_card"]
    ] as const
  ) {
    it.effect(`${card} fails with failureCode ${code} and a payment.failed event`, () =>
      Effect.gen(function*() {
        const payment = yield* charge({ paymentMethod: card })
        assert.deepStrictEqual([payment.status, payment.failureCode], ["failed", code])
        assert.isString(payment.failureMessage)
        assert.deepStrictEqual((yield* eventsOf(payment.id)).map((e) => e.type), ["payment.failed"])
      }))
  }

  it.effect("authentication required off-session (a renewal) fails with authentication_required", () =>
    Effect.gen(function*() {
      const client = yield* rpc
      const userId = newUserId()
      yield* client.AttachPaymentMethod({ userId, paymentMethod: "pm_card_authenticationRequired" })
      const payment = yield* client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId,
        amount: 990,
        currency: "EUR",
        offSession: true
      })
      assert.deepStrictEqual([payment.status, payment.failureCode], ["failed", "authentication_required"])
    }))

  it.effect("authentication required on-session fails the same way and leaves no open intent at the provider", () =>
    Effect.gen(function*() {
      const payment = yield* charge({ paymentMethod: "pm_card_authenticationRequired" })
      assert.deepStrictEqual([payment.status, payment.failureCode], ["failed", "authentication_required"])
      assert.deepStrictEqual((yield* providerIntentsOf(payment.id)).map((pi) => pi.status), ["canceled"])
      assert.deepStrictEqual((yield* eventsOf(payment.id)).map((e) => e.type), ["payment.failed"])
    }))

  it.effect("50 concurrent requests with one key make one provider charge and one payment", () =>
    Effect.gen(function*() {
      const client = yield* rpc
      const userId = newUserId()
      yield* client.AttachPaymentMethod({ userId, paymentMethod: "pm_card_visa" })
      const input = {
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId,
        amount: 4990,
        currency: "EUR" as const
      }
      const results = yield* Effect.forEach(
        Array.from({ length: 50 }, () => client.CreatePayment(input)),
        (call) => Effect.result(call),
        { concurrency: "unbounded" }
      )
      const ids = new Set(results.flatMap((r) => r._tag === "Success" ? [r.success.id] : []))
      const errors = results.flatMap((r) => r._tag === "Failure" ? [r.failure._tag] : [])
      assert.strictEqual(ids.size, 1)
      // the ones that arrived while the first was at the provider were told to retry, nothing else
      assert.deepStrictEqual([...new Set(errors)].filter((t) => t !== "PaymentInProgress"), [])
      const [paymentId] = [...ids]
      assert.strictEqual((yield* providerIntentsOf(paymentId ?? "")).length, 1)
      const replay = yield* client.CreatePayment(input)
      assert.deepStrictEqual([replay.id, replay.status], [paymentId, "succeeded"])
      assert.strictEqual((yield* eventsOf(paymentId ?? "")).length, 1)
    }))

  it.effect("a retry after the process died between the provider's charge and its outcome: the same payment, charged once", () =>
    Effect.gen(function*() {
      const client = yield* rpc
      const input = {
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId: newUserId(),
        amount: 1250,
        currency: "EUR" as const,
        paymentMethod: "pm_card_visa"
      }
      const first = yield* client.CreatePayment(input)
      // the provider charged, then the process died before applying the outcome: the attempt is still pending
      yield* SqlClient.SqlClient.use((
        sql
      ) => sql`UPDATE payments.payments SET status = 'pending', provider_payment_id = NULL, next_reconcile_at = now()
          WHERE id = ${first.id}`).pipe(Effect.orDie)
      // the retry answers the attempt the key made, as it now is (pending, unless the provider's webhook came
      // first); no second attempt, no second charge
      const retried = yield* client.CreatePayment(input)
      assert.strictEqual(retried.id, first.id)
      assert.include(["pending", "succeeded"], retried.status)
      // the reconciler asks the provider, which finds the first intent by the attempt's key
      yield* onTestClock(Effect.andThen(TestClock.adjust("1 second"), reconcileDue))
      const settled = yield* client.CreatePayment(input)
      assert.deepStrictEqual([settled.id, settled.status, settled.amount], [first.id, "succeeded", 1250])
      assert.strictEqual((yield* providerIntentsOf(first.id)).length, 1)
      const payments = yield* SqlClient.SqlClient.use((sql) =>
        sql<
          { readonly n: number }
        >`SELECT count(*)::int AS n FROM payments.payments WHERE invoice_id = ${input.invoiceId}`
      ).pipe(Effect.orDie)
      assert.strictEqual(payments[0]?.n, 1)
    }))

  it.effect("the same key with other parameters is refused; a paid invoice is not charged again", () =>
    Effect.gen(function*() {
      const client = yield* rpc
      const userId = newUserId()
      const input = {
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId,
        amount: 700,
        currency: "EUR" as const,
        paymentMethod: "pm_card_visa"
      }
      const paid = yield* client.CreatePayment(input)
      const reused = yield* client.CreatePayment({ ...input, amount: 701 }).pipe(Effect.flip)
      assert.strictEqual(reused._tag, "IdempotencyKeyReused")
      const again = yield* client.CreatePayment({ ...input, idempotencyKey: newKey() }).pipe(Effect.flip)
      assert.deepStrictEqual(
        again._tag === "InvoiceAlreadyPaid" ? [again.invoiceId, again.paymentId] : again._tag,
        [input.invoiceId, paid.id]
      )
    }))

  it.effect("429 and 500 from the provider are retried with the same key: one intent, succeeded", () =>
    Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      yield* sandbox.faults.inject({ action: "error_429", method: "POST", path: "/v1/payment_intents" })
      yield* sandbox.faults.inject({ action: "error_500", method: "POST", path: "/v1/payment_intents" })
      const payment = yield* charge({ paymentMethod: "pm_card_visa" })
      assert.strictEqual(payment.status, "succeeded")
      assert.strictEqual((yield* providerIntentsOf(payment.id)).length, 1)
    }))

  it.effect("typed errors over RPC: no payment method, bad payment method, unknown payment, wrong token", () =>
    Effect.gen(function*() {
      const client = yield* rpc
      const userId = newUserId()
      const noMethod = yield* client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId,
        amount: 100,
        currency: "EUR"
      }).pipe(Effect.flip)
      assert.deepStrictEqual(noMethod._tag === "NoPaymentMethod" ? noMethod.userId : noMethod._tag, userId)
      const badMethod = yield* client.AttachPaymentMethod({ userId, paymentMethod: "pm_nope" }).pipe(Effect.flip)
      assert.deepStrictEqual(
        [badMethod._tag, badMethod._tag === "BadRequest" ? badMethod.field : ""],
        ["BadRequest", "paymentMethod"]
      )
      const missing = yield* client.GetPayment({ paymentId: PaymentId.make("pay_missing") }).pipe(Effect.flip)
      assert.strictEqual(missing._tag, "NotFound")
      const url = yield* appUrl
      const intruder = yield* Effect.provide(
        Effect.flatMap(
          Effect.service(PaymentsRpcClient),
          (c) => c.GetPayment({ paymentId: PaymentId.make("pay_missing") })
        ),
        PaymentsRpcClient.layer(`${url}/rpc`, Redacted.make("not-the-token"))
      ).pipe(Effect.flip)
      // refused at the HTTP level (401) before the RPC layer, so the call fails as a transport error carrying it
      assert.strictEqual(intruder._tag, "RpcClientError")
      assert.include(JSON.stringify(intruder), `"status":401`)
      // mid-rotation, a caller still presenting the previous token (SERVICE_TOKEN_PREVIOUS) gets through
      const rotating = yield* Effect.provide(
        Effect.flatMap(
          Effect.service(PaymentsRpcClient),
          (c) => c.GetPayment({ paymentId: PaymentId.make("pay_missing") })
        ),
        PaymentsRpcClient.layer(`${url}/rpc`, Redacted.make(previousServiceToken))
      ).pipe(Effect.flip)
      assert.strictEqual(rotating._tag, "NotFound")
    }))

  it.effect("the HTTP twin: 201 with the token, 401 without, 400 naming the field, listed in the OpenAPI doc", () =>
    Effect.gen(function*() {
      const client = yield* apiClient(PaymentsApi).pipe(Effect.provide(WithToken(serviceToken)))
      const created = yield* client.payments.create({
        headers: { "idempotency-key": newKey() },
        payload: {
          invoiceId: newInvoiceId(),
          userId: newUserId(),
          amount: 1500,
          currency: "USD",
          paymentMethod: "pm_card_visa"
        }
      })
      assert.strictEqual(created.status, "succeeded")
      assert.deepStrictEqual(yield* client.payments.get({ params: { id: created.id } }), created)
      const anonymous = yield* apiClient(PaymentsApi)
      const refused = yield* anonymous.payments.get({ params: { id: created.id } }).pipe(Effect.flip)
      assert.strictEqual(refused._tag, "Unauthorized")
      const url = yield* appUrl
      const bad = yield* Effect.promise(async () => {
        const response = await fetch(`${url}/v1/payments`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${serviceToken}`,
            "content-type": "application/json",
            "idempotency-key": "k"
          },
          body: JSON.stringify({ invoiceId: "inv_1", userId: "usr_1", amount: -5, currency: "EUR" })
        })
        return { status: response.status, body: await response.json() as { _tag: string; field?: string } }
      })
      assert.deepStrictEqual([bad.status, bad.body._tag, bad.body.field], [400, "BadRequest", "amount"])
      // amounts are bounded by the currency's largest charge, as Stripe bounds them (8 digits; IDR 12)
      const intentsBefore = (yield* StripeSandbox.use((sandbox) => sandbox.ledger.snapshot)).paymentIntents.length
      for (
        const [amount, currency] of [
          [9_007_199_254_740_991, "USD"],
          [100_000_000, "EUR"],
          [1_000_000_000_000, "IDR"]
        ] as const
      ) {
        const huge = yield* Effect.promise(async () => {
          const response = await fetch(`${url}/v1/payments`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${serviceToken}`,
              "content-type": "application/json",
              "idempotency-key": newKey()
            },
            body: JSON.stringify({
              invoiceId: newInvoiceId(),
              userId: newUserId(),
              amount,
              currency,
              paymentMethod: "pm_card_visa"
            })
          })
          return { status: response.status, body: await response.json() as { _tag: string; field?: string } }
        })
        assert.deepStrictEqual(
          [huge.status, huge.body._tag, huge.body.field],
          [400, "BadRequest", "amount"],
          `${amount} ${currency}`
        )
      }
      assert.strictEqual(
        (yield* StripeSandbox.use((sandbox) => sandbox.ledger.snapshot)).paymentIntents.length,
        intentsBefore
      )
      const largest = yield* client.payments.create({
        headers: { "idempotency-key": newKey() },
        payload: {
          invoiceId: newInvoiceId(),
          userId: newUserId(),
          amount: 99_999_999,
          currency: "USD",
          paymentMethod: "pm_card_visa"
        }
      })
      assert.strictEqual(largest.status, "succeeded")
      const doc = yield* Effect.promise(() =>
        fetch(`${url}/openapi.json`).then((r) => r.json() as Promise<{ paths: object }>)
      )
      for (const path of ["/v1/payments", "/v1/payments/{id}", "/v1/payments/{id}/cancel", "/webhooks/stripe"]) {
        assert.property(doc.paths, path)
      }
    }))

  it.effect("outcome events reach RabbitMQ through the outbox", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      const userId = newUserId()
      const seen = yield* Deferred.make<string>()
      yield* bus.subscribe(["payment.#"], (delivery) => {
        const body = JSON.parse(delivery.body) as { type: string; data: { userId: string } }
        return body.data.userId === userId ? Deferred.succeed(seen, body.type) : Effect.void
      })
      const client = yield* rpc
      yield* client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId,
        amount: 300,
        currency: "EUR",
        paymentMethod: "pm_card_visa"
      })
      assert.strictEqual(yield* Deferred.await(seen).pipe(Effect.timeout("10 seconds")), "payment.succeeded")
    }).pipe(Effect.scoped))
})
