// Payments' business metrics on /metrics, read by SQL at scrape time: unsettled payments and their oldest age,
// outcomes billing has not acknowledged (billing is unreachable here), Stripe events whose processing failed.
import { assert, layer } from "@effect/vitest"
import { metricValue, scrapeMetrics } from "@kassa/platform/testing"
import { withChargeAnswersLost } from "@kassa/stripe-sandbox"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { maxAttempts } from "../src/webhooks/inbox.ts"
import { newInvoiceId, newKey, newUserId, PaymentsHarness, rpc } from "./harness.ts"

/** Makes the rows of `table` whose `key` is `id` look `minutes` older. */
const olderBy = (table: string, key: string, id: string, minutes: number) =>
  SqlClient.SqlClient.use((
    sql
  ) => sql`UPDATE ${sql.literal(table)} SET created_at = created_at - make_interval(mins => ${minutes})
      WHERE ${sql.literal(key)} = ${id}`).pipe(Effect.orDie)

// billing's RPC is a port nothing listens on: every outcome stays unacknowledged
layer(PaymentsHarness({ BILLING_RPC_URL: "http://127.0.0.1:9/rpc", PAYMENTS_PROVIDER_RETRIES: "0" }, "1 second"), {
  excludeTestServices: true,
  timeout: 60_000
})("payments metrics", (it) => {
  it.effect("start at zero, with every collector up", () =>
    Effect.gen(function*() {
      const text = yield* scrapeMetrics
      for (const status of ["pending", "unknown"]) {
        assert.strictEqual(metricValue(text, "kassa_payments_open", { status }), 0)
      }
      assert.strictEqual(metricValue(text, "kassa_billing_callbacks_unacknowledged"), 0)
      assert.strictEqual(metricValue(text, "kassa_outbox_unpublished", { schema: "payments" }), 0)
      for (const collector of ["outbox", "payments", "webhook_inbox", "billing_callbacks"]) {
        assert.strictEqual(metricValue(text, "kassa_metrics_collector_up", { collector }), 1, collector)
      }
    }))

  it.effect("an unknown charge and an unacknowledged outcome are counted with their age", () =>
    Effect.gen(function*() {
      const client = yield* rpc
      const userId = newUserId()
      yield* client.EnsureCustomer({ userId, email: "viewer@example.com" })
      yield* client.AttachPaymentMethod({ userId, paymentMethod: "pm_card_visa" })
      const paid = yield* client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId,
        amount: 990,
        currency: "EUR"
      })
      assert.strictEqual(paid.status, "succeeded")
      // the connection drops after Stripe charged: the outcome is unknown (webhooks held, so nothing settles it)
      const lost = yield* withChargeAnswersLost(client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId,
        amount: 990,
        currency: "EUR"
      }))
      assert.strictEqual(lost.status, "unknown")
      yield* olderBy("payments.payments", "id", lost.id, 30)
      yield* olderBy("payments.billing_callbacks", "payment_id", paid.id, 10)

      const text = yield* scrapeMetrics
      assert.strictEqual(metricValue(text, "kassa_payments_open", { status: "unknown" }), 1)
      const unknownAge = metricValue(text, "kassa_payments_open_oldest_seconds", { status: "unknown" }) ?? 0
      assert.isTrue(unknownAge >= 30 * 60 && unknownAge < 31 * 60, `unknown for ${unknownAge} s`)
      assert.strictEqual(metricValue(text, "kassa_payments_open", { status: "pending" }), 0)
      assert.isAtLeast(metricValue(text, "kassa_billing_callbacks_unacknowledged") ?? 0, 1)
      assert.isAtLeast(metricValue(text, "kassa_billing_callbacks_oldest_unacknowledged_seconds") ?? 0, 10 * 60)
    }))

  it.effect("Stripe events that failed to apply: retrying, and given up after the last attempt", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // as the inbox leaves them: stored, not processed, attempts spent (the worker skips both: not yet due / given up)
      for (const [id, attempts] of [["evt_metrics_retrying", 2], ["evt_metrics_given_up", maxAttempts]] as const) {
        yield* sql`INSERT INTO payments.webhook_events (id, type, payload, received_at, attempts, next_attempt_at, last_error)
          VALUES (${id}, 'payment_intent.succeeded', '{}'::jsonb, now() - interval '1 hour', ${attempts},
            now() + interval '1 day', 'boom')`
      }
      const text = yield* scrapeMetrics
      assert.strictEqual(metricValue(text, "kassa_webhook_inbox_failed", { state: "retrying" }), 1)
      assert.strictEqual(metricValue(text, "kassa_webhook_inbox_failed", { state: "given_up" }), 1)
      assert.isAtLeast(metricValue(text, "kassa_webhook_inbox_unprocessed") ?? 0, 2)
      assert.isAtLeast(metricValue(text, "kassa_webhook_inbox_oldest_unprocessed_seconds") ?? 0, 3600)
    }))
})
