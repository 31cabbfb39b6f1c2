import { ageSeconds, clockNow, outboxCollector, setBacklog, setBacklogBy, setGauge } from "@kassa/platform/metrics"
import type { Collector } from "@kassa/platform/metrics"
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

/** What the renewal engine did, per process: invoices made (`kind`: renewal, trial_end) and charges by outcome. */
export const invoicesCreated = (kind: "renewal" | "trial_end") =>
  Metric.counter("kassa_invoices_created_total", { description: "invoices the scheduler made", attributes: { kind } })
export const chargesMade = (outcome: "paid" | "failed" | "pending") =>
  Metric.counter("kassa_scheduler_charges_total", {
    description: "charges the scheduler made, by outcome",
    attributes: { outcome }
  })
/**
 * Scheduler work that failed and was left for later, per process: one subscription's invoice (`invoice`), one
 * invoice's charge (`charge`), a whole cycle or charging pass (`cycle`, `charging`: the database gone, say).
 */
export const schedulerFailures = (step: "invoice" | "charge" | "cycle" | "charging") =>
  Metric.counter("kassa_scheduler_step_failures_total", {
    description: "scheduler steps that failed and were left for later",
    attributes: { step }
  })

export const billingCollectors: Effect.Effect<ReadonlyArray<Collector>, never, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const incompleteMillis = Duration.toMillis(incompleteLifetime)

    const scheduler = Effect.gen(function*() {
      const now = yield* clockNow
      // one row per kind: due rows and when the oldest became due
      const rows = yield* sql<{ readonly kind: string; readonly count: number; readonly oldest: number }>`
        WITH due AS (
          SELECT CASE
              WHEN s.status = 'incomplete' THEN 'incomplete_expiry'
              WHEN s.cancel_at_period_end THEN 'expiry'
              WHEN s.status = 'trialing' THEN 'trial_end'
              ELSE 'renewal'
            END AS kind,
            CASE WHEN s.status = 'incomplete' THEN s.created_at + ${incompleteMillis} * interval '1 millisecond'
              ELSE s.current_period_end END AS due_at
          FROM billing.subscriptions s
          WHERE (s.status = 'incomplete' AND s.created_at + ${incompleteMillis} * interval '1 millisecond' <= ${now})
            OR (s.status IN ('trialing', 'active', 'past_due') AND s.cancel_at_period_end AND s.current_period_end <= ${now})
            OR (s.status IN ('trialing', 'active') AND NOT s.cancel_at_period_end AND s.parked_at IS NULL
              AND s.current_period_end <= ${now}
              AND NOT EXISTS (SELECT 1 FROM billing.invoices x WHERE x.subscription_id = s.id
                AND x.period_start >= s.current_period_end))
          UNION ALL
          SELECT CASE WHEN i.charge_attempts = 0 THEN 'charge' ELSE 'dunning_retry' END, i.next_charge_at
          FROM billing.invoices i JOIN billing.subscriptions s ON s.id = i.subscription_id
          WHERE i.status = 'open' AND i.next_charge_at <= ${now} AND s.parked_at IS NULL
        )
        SELECT kind, count(*)::int AS "count", ${ageSeconds(sql, now, "due_at")} AS "oldest" FROM due GROUP BY kind`
      const kinds = ["renewal", "trial_end", "charge", "dunning_retry", "expiry", "incomplete_expiry"]
      yield* setBacklogBy("kind", kinds, rows, {
        count: ["kassa_scheduler_due", "work the billing scheduler should have done by now"],
        oldest: ["kassa_scheduler_oldest_due_seconds", "how long the oldest such item has been due (0 when none)"]
      })
      const [parked] = yield* sql<{ readonly n: number }>`
        SELECT count(*)::int AS n FROM billing.subscriptions WHERE parked_at IS NOT NULL`
      yield* setGauge(
        "kassa_subscriptions_parked",
        "subscriptions a safety bound parked, waiting for an admin",
        parked?.n ?? 0
      )
    })

    // catalog changes (products with their plans and films, and films) not yet copied into billing's copy
    const catalogSync = Effect.gen(function*() {
      const now = yield* clockNow
      const [row] = yield* sql<{ readonly count: number; readonly oldest: number }>`
        WITH w AS (SELECT watermark FROM billing.etl_state WHERE source = 'catalog'),
        pending AS (
          SELECT updated_at FROM catalog.products WHERE version > (SELECT watermark FROM w)
          UNION ALL
          SELECT updated_at FROM catalog.films WHERE version > (SELECT watermark FROM w)
        )
        SELECT count(*)::int AS "count", ${ageSeconds(sql, now, "updated_at")} AS "oldest" FROM pending`
      yield* setBacklog(row, {
        count: ["kassa_catalog_sync_behind", "catalog products and films changed and not yet copied to billing"],
        oldest: [
          "kassa_catalog_sync_lag_seconds",
          "age of the oldest catalog change not yet copied to billing (0 when none)"
        ]
      })
    })

    // counters' series exist from the first scrape, before anything is counted
    const engine = Effect.all([
      Effect.forEach(["renewal", "trial_end"] as const, (kind) => Metric.update(invoicesCreated(kind), 0)),
      Effect.forEach(["paid", "failed", "pending"] as const, (outcome) => Metric.update(chargesMade(outcome), 0)),
      Effect.forEach(
        ["invoice", "charge", "cycle", "charging"] as const,
        (step) => Metric.update(schedulerFailures(step), 0)
      )
    ], { discard: true })
    const lockouts = Effect.forEach(
      ["pair", "email", "address"] as const,
      (scope) => Metric.update(loginLockouts(scope), 0),
      {
        discard: true
      }
    )

    return [
      yield* outboxCollector("billing"),
      ["scheduler", scheduler],
      ["catalog_sync", catalogSync],
      ["login_lockouts", lockouts],
      ["renewal_engine", engine]
    ]
  }
)
