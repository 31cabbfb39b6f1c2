// Money outcomes outside the happy synchronous answer: a refund that reaches billing only through payments'
// callback, an Idempotency-Key whose owner died, a charge whose answer the provider lost (202 until it is known), a
// renewal whose outcome is not known yet, and a scheduler cycle started by hand. Billing and payments in-process on
// the real Postgres, Redis and RabbitMQ, charging the Stripe sandbox.
import { assert, layer } from "@effect/vitest"
import { requestDigest } from "@kassa/platform/digest"
import { SchedulerCycle } from "@kassa/billing/scheduler/cycle"
import { PaymentsRpcClient, BillingCallbackClient } from "@kassa/clients"
import { serverUrl } from "@kassa/platform/http"
import { StripeSandbox, withChargeAnswersLost } from "@kassa/stripe-sandbox"
import { randomUUID } from "node:crypto"
import { DateTime, Effect, Layer, Redacted, Schedule } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import {
  billingEvents,
  BillingWithPayments,
  errorTag,
  newKey,
  raw,
  seedPlan,
  serviceToken,
  testAdmin,
  viewer
} from "./billing-harness.ts"
import { seedFilm } from "./entitlements-support.ts"

const admin = testAdmin()

const CallbackToBilling = Layer.unwrap(
  Effect.map(
    Effect.service(HttpServer.HttpServer),
    (server) => BillingCallbackClient.layer(`${serverUrl(server)}/rpc`, Redacted.make(serviceToken))
  )
)

const statusOf = (id: string) =>
  SqlClient.SqlClient.use((sql) =>
    sql<{ readonly status: string }>`SELECT status FROM billing.subscriptions WHERE id = ${id}`
  ).pipe(
    Effect.map((rows) => rows[0]?.status),
    Effect.orDie
  )

layer(BillingWithPayments(admin.config), { excludeTestServices: true, timeout: 60_000 })("money outcomes", (it) => {
  it.effect("a refund that reaches billing only by payments' callback ends the subscription and its access", () =>
    Effect.gen(function*() {
      const { planId, productId } = yield* seedPlan({ amount: 1200 })
      const filmId = yield* seedFilm(productId)
      const { client } = yield* viewer()
      const { payment, subscription } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      if (payment === null) return assert.fail("expected a payment")
      assert.isTrue((yield* client.entitlements.film({ params: { filmId } })).allowed)
      // refunded at payments behind billing's back (an operator, or billing killed after asking): billing hears of it
      // only as payments' delivery fiber tells it
      const refunded = yield* Effect.flatMap(
        PaymentsRpcClient,
        (rpc) => rpc.CancelPayment({ paymentId: payment.id, idempotencyKey: newKey(), reason: "requested_by_customer" })
      )
      assert.strictEqual(refunded.payment.status, "refunded")
      const callback = yield* BillingCallbackClient
      yield* callback.PaymentOutcome({ id: randomUUID(), type: "payment.refunded", payment: refunded.payment })
      assert.strictEqual(yield* statusOf(subscription.id), "canceled")
      assert.isFalse((yield* client.entitlements.film({ params: { filmId } })).allowed)
      assert.deepStrictEqual((yield* client.entitlements.list()).products, [])
      assert.include(yield* billingEvents(subscription.id), "subscription.canceled")
      // the viewer's own cancel afterwards: nothing left to refund
      assert.strictEqual(
        yield* errorTag(
          client.payments.cancel({ params: { id: payment.id }, headers: { "idempotency-key": newKey() } })
        ),
        "AlreadyRefunded"
      )
    }).pipe(Effect.provide(CallbackToBilling)))

  it.effect("a viewer's cancel retried with its key after the refund went through answers the refund, not 409", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan({ amount: 800 })
      const { client } = yield* viewer()
      const { payment } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      if (payment === null) return assert.fail("expected a payment")
      const key = newKey()
      const first = yield* client.payments.cancel({ params: { id: payment.id }, headers: { "idempotency-key": key } })
      // the first answer lost (billing killed after the refund): the stored answer is gone with it
      yield* SqlClient.SqlClient.use((sql) => sql`DELETE FROM billing.idempotency_keys WHERE key = ${key}`).pipe(
        Effect.orDie
      )
      const retried = yield* client.payments.cancel({ params: { id: payment.id }, headers: { "idempotency-key": key } })
      assert.deepStrictEqual([retried.status, retried.refundedAmount], [first.status, first.refundedAmount])
    }))

  it.effect("a key whose owner died is taken over by the retry once its lease ran out; a live one answers 409 with Retry-After", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const { account, client, token } = yield* viewer()
      const request = { planId, paymentMethod: "pm_card_visa" }
      const dead = newKey()
      const live = newKey()
      yield* SqlClient.SqlClient.use((
        sql
      ) => sql`INSERT INTO billing.idempotency_keys (scope, key, operation, request_hash, owner, lease_until, created_at)
          VALUES (${account.id}, ${dead}, 'subscribe', ${requestDigest("subscribe", request)}, 'a-process-that-died',
            now() - interval '1 second', now()),
            (${account.id}, ${live}, 'subscribe', ${requestDigest("subscribe", request)}, 'a-process-still-running',
            now() + interval '8 seconds', now())`).pipe(Effect.orDie)
      const taken = yield* client.subscriptions.create({ headers: { "idempotency-key": dead }, payload: request })
      assert.strictEqual(taken.subscription.status, "active")
      // replayed from now on
      assert.deepStrictEqual(
        yield* client.subscriptions.create({ headers: { "idempotency-key": dead }, payload: request }),
        taken
      )
      const busy = yield* raw("POST", "/v1/subscriptions", {
        token,
        body: request,
        headers: { "idempotency-key": live }
      })
      assert.deepStrictEqual([busy.status, busy.body["_tag"]], [409, "IdempotencyInFlight"])
      assert.isAtLeast(Number(busy.headers["retry-after"]), 1)
      const left = yield* SqlClient.SqlClient.use((sql) =>
        sql<
          { readonly n: number }
        >`SELECT count(*)::int AS n FROM billing.idempotency_keys WHERE scope = ${account.id} AND response IS NULL`
      ).pipe(Effect.orDie)
      assert.strictEqual(left[0]?.n, 1)
    }))

  it.effect("a charge whose answer the provider lost answers 202 with Retry-After; the same key later gives the outcome", () =>
    Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      const { planId } = yield* seedPlan({ amount: 700 })
      const { token } = yield* viewer()
      const key = newKey()
      const body = { planId, paymentMethod: "pm_card_visa" }
      // every try of the charge (payments retries with the same key) is committed at the provider, its answer lost;
      // and no webhook tells payments either
      const pending = yield* withChargeAnswersLost(
        raw("POST", "/v1/subscriptions", { token, body, headers: { "idempotency-key": key } })
      )
      yield* sandbox.webhooks.discardHeld
      assert.deepStrictEqual([pending.status, pending.body["_tag"]], [202, "OutcomePending"])
      assert.isAtLeast(Number(pending.headers["retry-after"]), 1)
      const state = pending.body as { subscription: { id: string; status: string }; payment: { status: string } }
      assert.deepStrictEqual([state.subscription.status, state.payment.status], ["incomplete", "unknown"])
      // the retry asks payments, which asks the provider: charged once
      const done = yield* raw("POST", "/v1/subscriptions", { token, body, headers: { "idempotency-key": key } })
      assert.strictEqual(done.status, 201)
      const result = done.body as { subscription: { status: string }; payment: { id: string; status: string } }
      assert.deepStrictEqual([result.subscription.status, result.payment.status], ["active", "succeeded"])
      const charges = (yield* sandbox.ledger.snapshot).paymentIntents.filter((pi) =>
        (pi.metadata as Record<string, string>)["kassa_payment_id"] === result.payment.id
      )
      assert.strictEqual(charges.length, 1)
    }))

  it.effect("a renewal whose outcome is not known yet leaves the subscription active (no past_due); the outcome renews it", () =>
    Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      const { planId } = yield* seedPlan({ amount: 990 })
      const { client } = yield* viewer()
      const { subscription } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      const end = DateTime.toEpochMillis(subscription.currentPeriodEnd!)
      const cycle = yield* SchedulerCycle
      yield* Effect.gen(function*() {
        yield* TestClock.setTime(end + 60_000)
        yield* sandbox.faults.inject({
          action: "drop_after_commit",
          method: "POST",
          path: "/v1/payment_intents",
          times: 10
        })
        yield* cycle.run.pipe(Effect.ensuring(sandbox.faults.clear))
        assert.strictEqual(yield* statusOf(subscription.id), "active")
        // the next cycle charges under the same key: payments asks the provider and finds the charge made
        yield* TestClock.setTime(end + 120_000)
        yield* cycle.run
      }).pipe(Effect.provide(TestClock.layer()))
      const after = yield* client.subscriptions.get({ params: { id: subscription.id } })
      assert.strictEqual(after.status, "active")
      assert.isTrue(DateTime.toEpochMillis(after.currentPeriodEnd!) > end)
      const events = yield* billingEvents(subscription.id)
      assert.notInclude(events, "subscription.past_due")
      assert.include(events, "subscription.renewed")
    }))

  it.effect("POST /admin/v1/billing/run answers 202 with the run it started; its record shows what it did", () =>
    Effect.gen(function*() {
      const adminClient = yield* admin.client
      const started = yield* adminClient.adminBilling.run()
      assert.strictEqual(started.status, "running")
      // on the wire: 202 Accepted, the run going on apart from the request
      const login = yield* raw("POST", "/v1/auth/token", {
        token: "",
        body: { email: admin.config.ADMIN_EMAIL, password: admin.config.ADMIN_PASSWORD }
      })
      const accepted = yield* raw("POST", "/admin/v1/billing/run", { token: String(login.body["accessToken"]) })
      assert.deepStrictEqual([accepted.status, accepted.body["status"]], [202, "running"])
      const finished = yield* adminClient.adminBilling.runStatus({ params: { id: started.id } }).pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (run) => run.status !== "running" }),
        Effect.timeout("10 seconds")
      )
      assert.strictEqual(finished.status, "succeeded")
      assert.isNotNull(finished.result)
      assert.isNotNull(finished.finishedAt)
      assert.strictEqual(
        yield* errorTag(adminClient.adminBilling.runStatus({ params: { id: "run_unknown" } })),
        "NotFound"
      )
    }))
})
