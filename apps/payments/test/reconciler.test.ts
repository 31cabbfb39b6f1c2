// Unknown outcomes: a charge whose answer was lost is `unknown`, never `failed`; the reconciler (driven here by
// TestClock) asks the provider on its schedule and settles it without a second charge.
import { assert, layer } from "@effect/vitest"
import type { InvoiceId, UserId } from "@kassa/domain"
import { ReconcilerLive, reconcileDue } from "@kassa/payments/payments/reconciler"
import { StripeSandbox, withChargeAnswersLost } from "@kassa/stripe-sandbox"
import { DateTime, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import {
  eventsOf,
  eventually,
  newInvoiceId,
  newKey,
  newUserId,
  PaymentsHarness,
  providerIntentsOf,
  rpc,
  testConfig,
  onTestClock
} from "./harness.ts"

/** A 29.90 EUR charge of `invoiceId` on a card that pays, under a new key. */
const charge = (invoiceId: InvoiceId, userId: UserId) =>
  Effect.flatMap(rpc, (client) =>
    client.CreatePayment({
      idempotencyKey: newKey(),
      invoiceId,
      userId,
      amount: 2990,
      currency: "EUR",
      paymentMethod: "pm_card_visa"
    }))

/** A charge whose connection drops (after or before the provider commits), with webhooks held back. */
const lostCharge = (fault: "drop_after_commit" | "drop_before_commit") =>
  Effect.gen(function*() {
    const invoiceId = newInvoiceId()
    const userId = newUserId()
    const payment = yield* withChargeAnswersLost(charge(invoiceId, userId), fault)
    return { payment, invoiceId, userId }
  })

/** Runs `f` on a TestClock that starts at the real current time. */

const schedule = (id: string) =>
  SqlClient.SqlClient.use((sql) => sql<{ readonly attempts: number; readonly next: Date }>`
      SELECT reconcile_attempts AS attempts, next_reconcile_at AS next FROM payments.payments WHERE id = ${id}`).pipe(
    Effect.map((rows) => rows[0])
  )

const statusOf = (id: string) =>
  SqlClient.SqlClient.use((sql) =>
    sql<{ readonly status: string }>`SELECT status FROM payments.payments WHERE id = ${id}`
  ).pipe(
    Effect.map((rows) => rows[0]?.status)
  )

// a short client timeout, so that a provider answering late costs the test little
layer(PaymentsHarness({ PAYMENTS_PROVIDER_RETRIES: "0" }, "1 second"), { excludeTestServices: true, timeout: 60_000 })(
  "reconciler",
  (it) => {
    it.effect("committed but dropped: unknown, blocks the invoice, then the reconciler settles it with no second charge", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const client = yield* rpc
        const { invoiceId, payment, userId } = yield* lostCharge("drop_after_commit")
        assert.strictEqual(payment.status, "unknown")
        assert.deepStrictEqual((yield* providerIntentsOf(payment.id)).map((pi) => pi.status), ["succeeded"])

        const blocked = yield* charge(invoiceId, userId).pipe(Effect.flip)
        assert.strictEqual(blocked._tag, "PaymentInProgress")
        if (blocked._tag === "PaymentInProgress") assert.strictEqual(blocked.paymentId, payment.id)

        yield* onTestClock(Effect.gen(function*() {
          assert.strictEqual(yield* reconcileDue, 0, "nothing is due before the first delay")
          yield* TestClock.adjust("61 seconds")
          assert.isAtLeast(yield* reconcileDue, 1)
        }))
        const settled = yield* client.GetPayment({ paymentId: payment.id })
        assert.strictEqual(settled.status, "succeeded")
        assert.strictEqual((yield* providerIntentsOf(payment.id)).length, 1)

        // the held webhook arrives late and changes nothing
        yield* sandbox.webhooks.flush({ order: "created", copies: 2 })
        yield* eventually(
          SqlClient.SqlClient.use((
            sql
          ) => sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM payments.webhook_events
            WHERE processed_at IS NULL AND payload -> 'data' -> 'object' -> 'metadata' ->> 'kassa_payment_id' = ${payment.id}`),
          (rows) => rows[0]?.n === 0
        )
        assert.deepStrictEqual((yield* eventsOf(payment.id)).map((e) => e.type), ["payment.succeeded"])
      }))

    it.effect("dropped before the provider saw it: the reconciler resends the same request, which charges once", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const { payment } = yield* lostCharge("drop_before_commit")
        assert.strictEqual(payment.status, "unknown")
        assert.strictEqual((yield* providerIntentsOf(payment.id)).length, 0)
        yield* onTestClock(Effect.andThen(TestClock.adjust("61 seconds"), reconcileDue))
        const settled = yield* Effect.flatMap(rpc, (c) => c.GetPayment({ paymentId: payment.id }))
        assert.strictEqual(settled.status, "succeeded")
        assert.strictEqual((yield* providerIntentsOf(payment.id)).length, 1)
        yield* sandbox.webhooks.discardHeld
      }))

    it.effect("a provider answering after our timeout: unknown, never failed; the charge is found later", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const client = yield* rpc
        yield* sandbox.webhooks.hold
        yield* sandbox.faults.inject({ action: "delay", delayMs: 1500, method: "POST", path: "/v1/payment_intents" })
        const payment = yield* client.CreatePayment({
          idempotencyKey: newKey(),
          invoiceId: newInvoiceId(),
          userId: newUserId(),
          amount: 1490,
          currency: "EUR",
          paymentMethod: "pm_card_visa"
        })
        assert.strictEqual(payment.status, "unknown")
        yield* eventually(providerIntentsOf(payment.id), (intents) => intents.length === 1)
        assert.strictEqual((yield* client.GetPayment({ paymentId: payment.id })).status, "succeeded")
        yield* sandbox.webhooks.discardHeld
      }))

    it.effect("reading an unknown payment asks the provider first", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const { payment } = yield* lostCharge("drop_after_commit")
        assert.strictEqual(payment.status, "unknown")
        const read = yield* Effect.flatMap(rpc, (c) => c.GetPayment({ paymentId: payment.id }))
        assert.strictEqual(read.status, "succeeded")
        yield* sandbox.webhooks.discardHeld
      }))

    it.effect("asks again at +1 min, +5 min, +1 h, then daily, and never resends past the provider's key window", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const { payment } = yield* lostCharge("drop_before_commit")
        yield* sandbox.webhooks.discardHeld
        const gaps: Array<number> = []
        yield* onTestClock(Effect.gen(function*() {
          // a day later the provider's idempotency key has expired: resending could charge twice, so it only asks
          yield* TestClock.adjust("24 hours")
          for (const wait of ["0 millis", "1 minute", "5 minutes", "1 hour", "1 day"] as const) {
            yield* TestClock.adjust(wait)
            assert.isAtLeast(yield* reconcileDue, 1, `due after ${wait}`)
            const now = DateTime.toEpochMillis(yield* DateTime.now)
            const row = yield* schedule(payment.id)
            gaps.push(Math.round(((row?.next.getTime() ?? 0) - now) / 60_000))
            assert.strictEqual(yield* reconcileDue, 0, "not due again right away")
          }
        }))
        assert.deepStrictEqual(gaps, [1, 5, 60, 24 * 60, 24 * 60])
        assert.strictEqual((yield* schedule(payment.id))?.attempts, 5)
        assert.strictEqual((yield* providerIntentsOf(payment.id)).length, 0, "no blind charge")
        assert.strictEqual(yield* statusOf(payment.id), "unknown")
      }))

    it.effect("the reconciler fiber sweeps on PAYMENTS_RECONCILE_INTERVAL", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const { payment } = yield* lostCharge("drop_after_commit")
        yield* sandbox.webhooks.discardHeld
        yield* onTestClock(Effect.gen(function*() {
          yield* TestClock.adjust("61 seconds")
          // fresh: the app built (and memoised) its own copy with a one-hour interval
          yield* Layer.build(
            Layer.fresh(ReconcilerLive).pipe(Layer.provide(testConfig({ PAYMENTS_RECONCILE_INTERVAL: "30 seconds" })))
          )
          assert.strictEqual(yield* statusOf(payment.id), "unknown", "the first sweep waits for the interval")
          yield* TestClock.adjust("30 seconds")
          // read the table, not GetPayment: reading an unknown payment would reconcile it by itself
          yield* TestClock.withLive(eventually(statusOf(payment.id), (status) => status === "succeeded"))
        }))
        assert.strictEqual((yield* providerIntentsOf(payment.id)).length, 1)
      }))
  }
)
