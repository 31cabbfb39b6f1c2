// CancelPayment: a pending payment is canceled at the provider, a succeeded one refunded (in part or in full)
// inside the refund window; twice is a 409; concurrent refunds never exceed the payment; a refund the provider
// did not confirm is resent by the reconciler with the same key.
import { assert, layer } from "@effect/vitest"
import { PaymentId } from "@kassa/domain"
import { reconcileDue } from "@kassa/payments/payments/reconciler"
import { Payments } from "@kassa/payments/payments/service"
import { developmentApiKey as sandboxApiKey } from "../src/config.ts"
import { StripeSandbox, withChargeAnswersLost } from "@kassa/stripe-sandbox"
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import Stripe from "stripe"
import { eventsOf, loseAnswer, newInvoiceId, newKey, newUserId, PaymentsHarness, rpc, onTestClock } from "./harness.ts"

const paid = (amount = 5000) =>
  Effect.flatMap(rpc, (client) =>
    client.CreatePayment({
      idempotencyKey: newKey(),
      invoiceId: newInvoiceId(),
      userId: newUserId(),
      amount,
      currency: "EUR",
      paymentMethod: "pm_card_visa"
    }))

const cancel = (
  paymentId: PaymentId,
  extra: { readonly amount?: number; readonly ignoreRefundWindow?: boolean; readonly idempotencyKey?: string } = {}
) =>
  Effect.flatMap(
    rpc,
    (client) => client.CancelPayment({ paymentId, idempotencyKey: extra.idempotencyKey ?? newKey(), ...extra })
  )

/** What the provider's charge says was refunded. */
const providerRefunded = (paymentId: string) =>
  Effect.flatMap(Effect.service(StripeSandbox), (sandbox) => sandbox.ledger.snapshot).pipe(
    Effect.map((s) =>
      s.charges.find((c) => (c.metadata as Record<string, string>)["kassa_payment_id"] === paymentId)?.amount_refunded
    )
  )

layer(PaymentsHarness({ PAYMENTS_PROVIDER_RETRIES: "0" }), { excludeTestServices: true, timeout: 60_000 })(
  "CancelPayment",
  (it) => {
    it.effect("a partial refund retried after its first run died without answering refunds once", () =>
      Effect.gen(function*() {
        const payment = yield* paid(3000)
        const idempotencyKey = newKey()
        const first = yield* cancel(payment.id, { amount: 700, idempotencyKey })
        yield* loseAnswer(idempotencyKey)
        // the retry runs again, finds the refund its first run made (its id comes from the key) and answers it
        const retried = yield* cancel(payment.id, { amount: 700, idempotencyKey })
        assert.deepStrictEqual(retried, first)
        assert.deepStrictEqual([retried.payment.refundedAmount, retried.refund?.status], [700, "succeeded"])
        assert.strictEqual(yield* providerRefunded(payment.id), 700)
        const reused = yield* cancel(payment.id, { amount: 800, idempotencyKey }).pipe(Effect.flip)
        assert.strictEqual(reused._tag, "IdempotencyKeyReused")
      }))

    it.effect("partial, then the rest: partially_refunded, then refunded; a third cancel is a 409", () =>
      Effect.gen(function*() {
        const payment = yield* paid()
        const first = yield* cancel(payment.id, { amount: 1000 })
        assert.deepStrictEqual([first.payment.status, first.payment.refundedAmount], ["partially_refunded", 1000])
        assert.deepStrictEqual([first.refund?.amount, first.refund?.status], [1000, "succeeded"])
        const rest = yield* cancel(payment.id)
        assert.deepStrictEqual(
          [rest.payment.status, rest.payment.refundedAmount, rest.refund?.amount],
          ["refunded", 5000, 4000]
        )
        const third = yield* cancel(payment.id).pipe(Effect.flip)
        assert.strictEqual(third._tag, "AlreadyRefunded")
        assert.strictEqual(yield* providerRefunded(payment.id), 5000)
        assert.deepStrictEqual(
          (yield* eventsOf(payment.id)).map((e) => [e.type, e.data.refundedAmount]),
          [["payment.succeeded", 0], ["payment.refunded", 1000], ["payment.refunded", 5000]]
        )
      }))

    it.effect("the same key replays the refund; other parameters under it, or too much, are refused", () =>
      Effect.gen(function*() {
        const payment = yield* paid()
        const key = newKey()
        const first = yield* cancel(payment.id, { amount: 700, idempotencyKey: key })
        const again = yield* cancel(payment.id, { amount: 700, idempotencyKey: key })
        assert.strictEqual(again.refund?.id, first.refund?.id)
        assert.strictEqual(yield* providerRefunded(payment.id), 700)
        const reused = yield* cancel(payment.id, { amount: 800, idempotencyKey: key }).pipe(Effect.flip)
        assert.strictEqual(reused._tag, "IdempotencyKeyReused")
        const tooMuch = yield* cancel(payment.id, { amount: 4301 }).pipe(Effect.flip)
        assert.deepStrictEqual(
          tooMuch._tag === "RefundExceedsPayment" ? [tooMuch.requested, tooMuch.refundable] : tooMuch._tag,
          [4301, 4300]
        )
      }))

    it.effect("concurrent refunds of one payment never exceed it", () =>
      Effect.gen(function*() {
        const payment = yield* paid()
        const results = yield* Effect.all(
          Array.from({ length: 5 }, () => Effect.result(cancel(payment.id, { amount: 2000 }))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter((r) => r._tag === "Success").length, 2)
        const read = yield* Effect.flatMap(rpc, (c) => c.GetPayment({ paymentId: payment.id }))
        assert.deepStrictEqual([read.refundedAmount, read.status], [4000, "partially_refunded"])
        assert.strictEqual(yield* providerRefunded(payment.id), 4000)
      }))

    it.effect("outside the refund window it is a 422 unless an operator overrides it", () =>
      Effect.gen(function*() {
        const payment = yield* paid()
        // in-process, not over RPC: the TestClock only moves this fiber's time
        const payments = yield* Payments
        yield* onTestClock(Effect.gen(function*() {
          yield* TestClock.adjust("15 days")
          const late = yield* payments.cancel({ paymentId: payment.id, idempotencyKey: newKey() }).pipe(Effect.flip)
          assert.strictEqual(late._tag, "RefundWindowClosed")
          const forced = yield* payments.cancel({
            paymentId: payment.id,
            idempotencyKey: newKey(),
            ignoreRefundWindow: true
          })
          assert.strictEqual(forced.payment.status, "refunded")
        }))
      }))

    it.effect("failed and unknown-yet payments: a failed one is a 409; an unknown one is asked about first", () =>
      Effect.gen(function*() {
        const client = yield* rpc
        const failed = yield* client.CreatePayment({
          idempotencyKey: newKey(),
          invoiceId: newInvoiceId(),
          userId: newUserId(),
          amount: 1000,
          currency: "EUR",
          paymentMethod: "pm_card_chargeDeclined"
        })
        const refused = yield* cancel(failed.id).pipe(Effect.flip)
        assert.deepStrictEqual(refused._tag === "PaymentNotRefundable" ? refused.status : refused._tag, "failed")
        assert.strictEqual((yield* cancel(PaymentId.make("pay_nobody")).pipe(Effect.flip))._tag, "NotFound")

        const sandbox = yield* StripeSandbox
        const lost = yield* withChargeAnswersLost(paid(3000))
        yield* sandbox.webhooks.discardHeld
        assert.strictEqual(lost.status, "unknown")
        const refunded = yield* cancel(lost.id)
        assert.deepStrictEqual([refunded.payment.status, refunded.refund?.amount], ["refunded", 3000])
      }))

    it.effect("a pending payment is canceled at the provider", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const sdk = new Stripe(sandboxApiKey, {
          host: sandbox.url.hostname,
          port: Number(sandbox.url.port),
          protocol: "http"
        })
        const customer = yield* Effect.promise(() => sdk.customers.create({}))
        const id = PaymentId.make(`pay_${randomUUID().replaceAll("-", "")}`)
        // an intent left waiting for confirmation, as a crash between creating and confirming would leave it
        const intent = yield* Effect.promise(() =>
          sdk.paymentIntents.create({
            amount: 1500,
            currency: "eur",
            customer: customer.id,
            payment_method: "pm_card_visa",
            metadata: { kassa_payment_id: id }
          })
        )
        yield* SqlClient.SqlClient.use((
          sql
        ) => sql`INSERT INTO payments.payments (id, user_id, invoice_id, amount, currency, status, provider_payment_id,
            provider_customer_id, payment_method, off_session, next_reconcile_at, created_at, updated_at)
          VALUES (${id}, ${newUserId()}, ${newInvoiceId()}, 1500, 'EUR', 'pending', ${intent.id}, ${customer.id},
            'pm_card_visa', false, now() + interval '1 minute', now(), now())`)
        const result = yield* cancel(id)
        assert.deepStrictEqual([result.payment.status, result.refund], ["canceled", null])
        const atProvider = yield* Effect.promise(() => sdk.paymentIntents.retrieve(intent.id))
        assert.strictEqual(atProvider.status, "canceled")
        assert.deepStrictEqual((yield* eventsOf(id)).map((e) => e.type), ["payment.canceled"])
      }))

    it.effect("a refund the provider did not confirm is resent by the reconciler with the same key: refunded once", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const payment = yield* paid(2500)
        // no webhooks: the refund's charge.refunded event would settle the amount without the reconciler
        yield* sandbox.webhooks.hold
        yield* sandbox.faults.inject({ action: "drop_after_commit", method: "POST", path: "/v1/refunds", times: 10 })
        // answered with the refund pending (not an error: it may well have happened), the payment still succeeded
        const unconfirmed = yield* cancel(payment.id).pipe(Effect.ensuring(sandbox.faults.clear))
        assert.deepStrictEqual([unconfirmed.payment.status, unconfirmed.refund?.status], ["succeeded", "pending"])
        assert.strictEqual(
          (yield* Effect.flatMap(rpc, (c) => c.GetPayment({ paymentId: payment.id }))).status,
          "succeeded"
        )
        yield* onTestClock(Effect.andThen(TestClock.adjust("61 seconds"), reconcileDue))
        const read = yield* Effect.flatMap(rpc, (c) => c.GetPayment({ paymentId: payment.id }))
        assert.deepStrictEqual([read.status, read.refundedAmount], ["refunded", 2500])
        assert.strictEqual(yield* providerRefunded(payment.id), 2500)
        yield* sandbox.webhooks.discardHeld
        assert.strictEqual(
          (yield* sandbox.ledger.snapshot).refunds.filter((r) =>
            r.payment_intent !== null &&
            (r.metadata as Record<string, string>)["kassa_payment_id"] === payment.id
          ).length,
          1
        )
      }))
  }
)
