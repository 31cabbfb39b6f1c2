// Payments' business metrics, read by SQL when /metrics is scraped (docs/operations.md lists them with their
// alert thresholds; docker/prometheus/alerts.yml encodes those).
import { ageSeconds, clockNow, outboxCollector, setBacklog, setBacklogBy, setGauge } from "@kassa/platform/metrics"
import type { Collector } from "@kassa/platform/metrics"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { maxAttempts } from "./webhooks/inbox.ts"

export const paymentsCollectors: Effect.Effect<ReadonlyArray<Collector>, never, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient

    // charges whose outcome is not known yet; the reconciler re-reads them from Stripe
    const open = Effect.gen(function*() {
      const now = yield* clockNow
      const rows = yield* sql<{ readonly status: string; readonly count: number; readonly oldest: number }>`
        SELECT status, count(*)::int AS "count", ${ageSeconds(sql, now, "created_at")} AS "oldest"
        FROM payments.payments WHERE status IN ('pending', 'unknown') GROUP BY status`
      yield* setBacklogBy("status", ["pending", "unknown"], rows, {
        count: ["kassa_payments_open", "payments whose outcome is not settled yet"],
        oldest: ["kassa_payments_open_oldest_seconds", "age of the oldest such payment (0 when none)"]
      })
    })

    // Stripe events stored and not applied: retrying (failed at least once) or given up (left for an operator)
    const inbox = Effect.gen(function*() {
      const now = yield* clockNow
      const [row] = yield* sql<
        { readonly count: number; readonly retrying: number; readonly givenUp: number; readonly oldest: number }
      >`
        SELECT count(*)::int AS "count",
          count(*) FILTER (WHERE attempts > 0 AND attempts < ${maxAttempts})::int AS "retrying",
          count(*) FILTER (WHERE attempts >= ${maxAttempts})::int AS "given_up",
          ${ageSeconds(sql, now, "received_at")} AS "oldest"
        FROM payments.webhook_events WHERE processed_at IS NULL`
      yield* setBacklog(row, {
        count: ["kassa_webhook_inbox_unprocessed", "Stripe events received and not yet applied"],
        oldest: ["kassa_webhook_inbox_oldest_unprocessed_seconds", "age of the oldest such event (0 when none)"]
      })
      yield* setGauge("kassa_webhook_inbox_failed", "Stripe events whose processing failed", row?.retrying ?? 0, {
        state: "retrying"
      })
      yield* setGauge("kassa_webhook_inbox_failed", "Stripe events whose processing failed", row?.givenUp ?? 0, {
        state: "given_up"
      })
    })

    // payment outcomes billing has not acknowledged on its RPC yet (retried until it does)
    const callbacks = Effect.gen(function*() {
      const now = yield* clockNow
      const [row] = yield* sql<{ readonly count: number; readonly oldest: number }>`
        SELECT count(*)::int AS "count", ${ageSeconds(sql, now, "created_at")} AS "oldest"
        FROM payments.billing_callbacks WHERE acknowledged_at IS NULL`
      yield* setBacklog(row, {
        count: ["kassa_billing_callbacks_unacknowledged", "payment outcomes billing has not acknowledged yet"],
        oldest: [
          "kassa_billing_callbacks_oldest_unacknowledged_seconds",
          "age of the oldest such outcome (0 when none)"
        ]
      })
    })

    return [
      yield* outboxCollector("payments"),
      ["payments", open],
      ["webhook_inbox", inbox],
      ["billing_callbacks", callbacks]
    ]
  }
)
