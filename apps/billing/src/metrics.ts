// Billing's business metrics, read by SQL when /metrics is scraped (docs/operations.md lists them with their
// alert thresholds; docker/prometheus/alerts.yml encodes those), and the login-lockout counter the throttle bumps.
// The scheduler's due conditions are restated here in SQL: work the scheduler should have done by now and has
// not is the backlog (a step that keeps failing stays due, so its age grows).
import { BillingConfig } from "./config.ts"
import { ageSeconds, clockNow, type Collector, outboxCollector, setGauge } from "@kassa/platform/metrics"
import { Duration, Effect, Metric } from "effect"
import { SqlClient } from "effect/sql"

/** How long an unpaid `incomplete` subscription lives before the scheduler expires it. */
export const incompleteLifetime = Duration.hours(23)

/**
 * A login limit reached: an (email, address) pair's failures, an email's failures from anywhere (its back-off), or
 * an address's attempts.
 */
export const loginLockouts = (scope: "pair" | "email" | "address") =>
  Metric.counter("kassa_login_lockouts_total", { description: "failed-login lockouts started", attributes: { scope } })

export const billingCollectors: Effect.Effect<ReadonlyArray<Collector>, never, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const { dunningRetries } = yield* BillingConfig.pipe(Effect.orDie)
    const delays = `{${dunningRetries.map(Duration.toMillis).join(",")}}`
    const incompleteMillis = Duration.toMillis(incompleteLifetime)

    const scheduler = Effect.gen(function*() {
      const now = yield* clockNow
      // one row per kind: due rows and when the oldest became due
      const rows = yield* sql<{ readonly kind: string; readonly count: number; readonly oldest: number }>`
        WITH due AS (
          SELECT CASE
              WHEN status = 'incomplete' THEN 'incomplete_expiry'
              WHEN cancel_at_period_end AND status IN ('active', 'past_due') THEN 'expiry'
              WHEN status = 'trialing' THEN 'trial_end'
              ELSE 'renewal'
            END AS kind,
            CASE WHEN status = 'incomplete' THEN created_at + ${incompleteMillis} * interval '1 millisecond'
              ELSE current_period_end END AS due_at
          FROM billing.subscriptions
          WHERE (status = 'incomplete' AND created_at + ${incompleteMillis} * interval '1 millisecond' <= ${now})
            OR (status IN ('active', 'past_due') AND cancel_at_period_end AND current_period_end <= ${now})
            OR ((status = 'trialing' OR (status = 'active' AND NOT cancel_at_period_end)) AND current_period_end <= ${now})
          UNION ALL
          SELECT 'dunning_retry', d.due_at FROM (
            SELECT i.period_start + COALESCE((${delays}::float8[])[LEAST(c.n, ${dunningRetries.length})], 0)
              * interval '1 millisecond' AS due_at
            FROM billing.subscriptions s
            JOIN billing.invoices i ON i.subscription_id = s.id AND i.status = 'open' AND i.period_start = s.current_period_end
            CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM billing.payments p WHERE p.invoice_id = i.id) c
            WHERE s.status = 'past_due' AND NOT s.cancel_at_period_end
          ) d WHERE d.due_at <= ${now}
        )
        SELECT kind, count(*)::int AS "count", ${ageSeconds(sql, now, "due_at")} AS "oldest" FROM due GROUP BY kind`
      for (const kind of ["renewal", "trial_end", "expiry", "incomplete_expiry", "dunning_retry"]) {
        const row = rows.find((r) => r.kind === kind)
        yield* setGauge("kassa_scheduler_due", "work the billing scheduler should have done by now", row?.count ?? 0, { kind })
        yield* setGauge(
          "kassa_scheduler_oldest_due_seconds",
          "how long the oldest such item has been due (0 when none)",
          row?.oldest ?? 0,
          { kind }
        )
      }
    })

    // catalog changes (products with their plans and films, and films) not yet copied into billing's copy
    const catalogSync = Effect.gen(function*() {
      const now = yield* clockNow
      const [row] = yield* sql<{ readonly behind: number; readonly lag: number }>`
        WITH w AS (SELECT watermark FROM billing.etl_state WHERE source = 'catalog'),
        pending AS (
          SELECT updated_at FROM catalog.products WHERE version > (SELECT watermark FROM w)
          UNION ALL
          SELECT updated_at FROM catalog.films WHERE version > (SELECT watermark FROM w)
        )
        SELECT count(*)::int AS "behind", ${ageSeconds(sql, now, "updated_at")} AS "lag" FROM pending`
      yield* setGauge("kassa_catalog_sync_behind", "catalog products and films changed and not yet copied to billing", row?.behind ?? 0)
      yield* setGauge("kassa_catalog_sync_lag_seconds", "age of the oldest catalog change not yet copied to billing (0 when none)", row?.lag ?? 0)
    })

    // the counter's series exist from the first scrape, before any lockout
    const lockouts = Effect.forEach(["pair", "email", "address"] as const, (scope) => Metric.update(loginLockouts(scope), 0), {
      discard: true
    })

    return [
      yield* outboxCollector("billing"),
      ["scheduler", scheduler],
      ["catalog_sync", catalogSync],
      ["login_lockouts", lockouts]
    ]
  }
)
