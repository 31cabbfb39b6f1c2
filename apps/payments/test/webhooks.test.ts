// POST /webhooks/stripe: signature checks over the raw body (tolerance, rotation), storage deduplicated by
// event id before answering, asynchronous and order-independent application.
import { assert, layer } from "@effect/vitest"
import { developmentApiKey as sandboxApiKey } from "../src/config.ts"
import { signatureHeader, StripeSandbox } from "@kassa/stripe-sandbox"
import { randomUUID } from "node:crypto"
import { Clock, Effect } from "effect"
import { SqlClient } from "effect/sql"
import Stripe from "stripe"
import {
  appUrl,
  eventsOf,
  eventually,
  newInvoiceId,
  newKey,
  newUserId,
  PaymentsHarness,
  previousWebhookSecret,
  rpc,
  webhookSecret
} from "./harness.ts"

const post = (body: string, signature: string | undefined) =>
  Effect.flatMap(appUrl, (url) =>
    Effect.promise(async () => {
      const response = await fetch(`${url}/webhooks/stripe`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(signature === undefined ? {} : { "stripe-signature": signature })
        },
        body
      })
      return {
        status: response.status,
        body: await response.json() as { readonly _tag?: string; readonly received?: boolean }
      }
    }))

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

const signed = (body: string, secret = webhookSecret, ageSeconds = 0) =>
  Effect.map(nowSeconds, (now) => signatureHeader(body, secret, now - ageSeconds))

const event = (type: string, object: Record<string, unknown>) =>
  JSON.stringify(
    { id: `evt_${randomUUID().replaceAll("-", "")}`, object: "event", type, created: 0, data: { object } },
    null,
    2
  )

const stored = (id: string) =>
  SqlClient.SqlClient.use((sql) => sql<{ readonly processed: boolean; readonly attempts: number }>`
      SELECT processed_at IS NOT NULL AS processed, attempts FROM payments.webhook_events WHERE id = ${id}`)

const statusOf = (id: string) =>
  SqlClient.SqlClient.use((sql) => sql<{ readonly status: string; readonly refundedAmount: string }>`
      SELECT status, refunded_amount::text AS refunded_amount FROM payments.payments WHERE id = ${id}`).pipe(
    Effect.map((rows) => rows[0])
  )

const failedEvent = (intentId: string, paymentId: string) =>
  event("payment_intent.payment_failed", {
    id: intentId,
    object: "payment_intent",
    status: "requires_payment_method",
    metadata: { kassa_payment_id: paymentId },
    last_payment_error: { code: "card_declined", decline_code: "generic_decline", message: "Your card was declined." }
  })

const allProcessed = SqlClient.SqlClient.use((sql) =>
  sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM payments.webhook_events WHERE processed_at IS NULL`
).pipe(Effect.map((rows) => rows[0]?.n === 0))

/** A charge whose answer was lost (so the payment is `unknown`), with the sandbox holding its webhooks. */
const unknownPayment = Effect.gen(function*() {
  const sandbox = yield* StripeSandbox
  const client = yield* rpc
  yield* sandbox.webhooks.hold
  yield* sandbox.faults.inject({ action: "drop_after_commit", method: "POST", path: "/v1/payment_intents", times: 10 })
  const payment = yield* client.CreatePayment({
    idempotencyKey: newKey(),
    invoiceId: newInvoiceId(),
    userId: newUserId(),
    amount: 5000,
    currency: "EUR",
    paymentMethod: "pm_card_visa"
  }).pipe(Effect.ensuring(sandbox.faults.clear))
  assert.strictEqual(payment.status, "unknown")
  const intents = (yield* sandbox.ledger.snapshot).paymentIntents
  const intent = intents.find((pi) => (pi.metadata as Record<string, string>)["kassa_payment_id"] === payment.id)
  return { payment, intentId: String(intent?.id) }
})

const sdk = Effect.map(
  Effect.service(StripeSandbox),
  ({ url }) =>
    new Stripe(sandboxApiKey, { host: url.hostname, port: Number(url.port), protocol: "http", maxNetworkRetries: 0 })
)

layer(PaymentsHarness({ PAYMENTS_PROVIDER_RETRIES: "0" }), { excludeTestServices: true, timeout: 60_000 })(
  "webhooks",
  (it) => {
    it.effect("a genuine event from the sandbox settles an unknown payment", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const { payment } = yield* unknownPayment
        yield* sandbox.webhooks.flush()
        yield* eventually(statusOf(payment.id), (row) => row?.status === "succeeded")
        assert.deepStrictEqual((yield* eventsOf(payment.id)).map((e) => e.type), ["payment.succeeded"])
      }))

    it.effect("tampered body, stale timestamp, wrong secret and no header are 400; the previous secret still works", () =>
      Effect.gen(function*() {
        const body = event("customer.created", { id: "cus_x", object: "customer" })
        const signature = yield* signed(body)
        const tampered = yield* post(body.replace("cus_x", "cus_y"), signature)
        const stale = yield* post(body, yield* signed(body, webhookSecret, 301))
        const wrong = yield* post(body, yield* signed(body, "whsec_someone_else"))
        const missing = yield* post(body, undefined)
        for (const refused of [tampered, stale, wrong, missing]) {
          assert.deepStrictEqual([refused.status, refused.body._tag], [400, "InvalidWebhookSignature"])
        }
        const id = (JSON.parse(body) as { id: string }).id
        assert.strictEqual((yield* stored(id)).length, 0)
        const rotated = yield* post(body, yield* signed(body, previousWebhookSecret, 299))
        assert.deepStrictEqual([rotated.status, rotated.body.received], [200, true])
      }))

    it.effect("an event replayed 10 times at once is stored once and applied once", () =>
      Effect.gen(function*() {
        const { intentId, payment } = yield* unknownPayment
        yield* Effect.flatMap(Effect.service(StripeSandbox), (s) => s.webhooks.discardHeld)
        const body = event("payment_intent.succeeded", {
          id: intentId,
          object: "payment_intent",
          status: "succeeded",
          metadata: { kassa_payment_id: payment.id }
        })
        const signature = yield* signed(body)
        const answers = yield* Effect.all(Array.from({ length: 10 }, () => post(body, signature)), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual([...new Set(answers.map((a) => a.status))], [200])
        const id = (JSON.parse(body) as { id: string }).id
        yield* eventually(stored(id), (rows) => rows[0]?.processed === true)
        assert.strictEqual((yield* stored(id)).length, 1)
        assert.deepStrictEqual((yield* eventsOf(payment.id)).map((e) => e.type), ["payment.succeeded"])
      }))

    it.effect("shuffled and duplicated events converge: a late payment_failed never overrides succeeded", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const stripe = yield* sdk
        const { intentId, payment } = yield* unknownPayment
        // refunds made at the provider directly: charge.refunded events (partial, then full) join the held queue
        yield* Effect.promise(() => stripe.refunds.create({ payment_intent: intentId, amount: 1200 }))
        yield* Effect.promise(() => stripe.refunds.create({ payment_intent: intentId }))
        assert.strictEqual(yield* sandbox.webhooks.flush({ order: "shuffle", copies: 2 }), 6)
        const final = yield* eventually(statusOf(payment.id), (row) => row?.status === "refunded")
        assert.strictEqual(final?.refundedAmount, "5000")
        const lateFailure = failedEvent(intentId, payment.id)
        assert.strictEqual((yield* post(lateFailure, yield* signed(lateFailure))).status, 200)
        yield* eventually(allProcessed, (done) => done)
        assert.strictEqual((yield* statusOf(payment.id))?.status, "refunded")
        const events = yield* eventsOf(payment.id)
        assert.strictEqual(events[0]?.type, "payment.succeeded")
        assert.notInclude(events.map((e) => e.type), "payment.failed")
        assert.deepStrictEqual(events.slice(1).map((e) => e.type), events.slice(1).map(() => "payment.refunded"))
        assert.strictEqual(events.at(-1)?.data.refundedAmount, 5000)
        assert.strictEqual(events.at(-1)?.data.status, "refunded")
      }))

    it.effect("a failure seen before the success (out of order) still ends succeeded", () =>
      Effect.gen(function*() {
        const sandbox = yield* StripeSandbox
        const { intentId, payment } = yield* unknownPayment
        const early = failedEvent(intentId, payment.id)
        assert.strictEqual((yield* post(early, yield* signed(early))).status, 200)
        yield* eventually(statusOf(payment.id), (row) => row?.status === "failed")
        yield* sandbox.webhooks.flush()
        yield* eventually(statusOf(payment.id), (row) => row?.status === "succeeded")
        const read = yield* Effect.flatMap(rpc, (c) => c.GetPayment({ paymentId: payment.id }))
        assert.isUndefined(read.failureCode)
        assert.deepStrictEqual((yield* eventsOf(payment.id)).map((e) => e.type), [
          "payment.failed",
          "payment.succeeded"
        ])
      }))

    it.effect("unknown event types and other accounts' intents are stored and ignored", () =>
      Effect.gen(function*() {
        const unknownType = event("invoice.finalized", { id: "in_1", object: "invoice" })
        const notOurs = event("payment_intent.succeeded", {
          id: "pi_elsewhere",
          object: "payment_intent",
          status: "succeeded",
          metadata: {}
        })
        for (const body of [unknownType, notOurs]) {
          assert.strictEqual((yield* post(body, yield* signed(body))).status, 200)
          const id = (JSON.parse(body) as { id: string }).id
          const rows = yield* eventually(stored(id), (r) => r[0]?.processed === true)
          assert.strictEqual(rows[0]?.attempts, 1)
        }
      }))
  }
)
