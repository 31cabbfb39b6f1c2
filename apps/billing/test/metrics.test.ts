// Billing's business metrics on /metrics, read by SQL at scrape time: the scheduler's due backlog (what its next
// cycle would pick up; this app runs without its scheduler fiber, so nothing picks it up), the catalog → billing
// sync lag, and login lockouts.
import { assert, layer } from "@effect/vitest"
import { metricValue, scrapeMetrics } from "@kassa/platform/testing"
import { Deferred, Effect, Fiber } from "effect"
import { SqlClient } from "effect/sql"
import { BillingWithPayments, seedPlan, subscribeWithCard, viewer } from "./billing-harness.ts"
import { billingClient, uniqueAddress, uniqueEmail } from "./support.ts"

/** A fresh viewer subscribed to a fresh plan: their client and the subscription. */
const subscribe = (options: { readonly trialDays?: number } = {}) =>
  Effect.gen(function*() {
    const { planId } = yield* seedPlan(options)
    const { client } = yield* viewer()
    const { subscription } = yield* subscribeWithCard(client, planId)
    return { client, subscription }
  })

/** Moves a subscription's period end `minutes` into the past. */
/** Moves the subscription's current period (and its invoices) back, so that it ended `minutes` ago. */
const periodEndedAgo = (id: string, minutes: number) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.andThen(
      sql`UPDATE billing.subscriptions SET current_period_end = now() - make_interval(mins => ${minutes}),
          current_period_start = now() - make_interval(mins => ${minutes}) - interval '1 month' WHERE id = ${id}`,
      sql`UPDATE billing.invoices SET period_start = now() - make_interval(mins => ${minutes}) - interval '1 month',
          period_end = now() - make_interval(mins => ${minutes}) WHERE subscription_id = ${id}`
    )
  ).pipe(Effect.orDie)

const between = (value: number | undefined, low: number, high: number, what: string) =>
  assert.isTrue(value !== undefined && value >= low && value < high, `${what}: ${value}`)

/** In the scrape `text`: one item of `kind` due, the oldest due for `seconds` (a minute's slack for the test's run). */
const oneDueFor = (text: string, kind: string, seconds: number) => {
  assert.strictEqual(metricValue(text, "kassa_scheduler_due", { kind }), 1, `${kind} due`)
  between(metricValue(text, "kassa_scheduler_oldest_due_seconds", { kind }), seconds, seconds + 60, `${kind} due for`)
}

layer(BillingWithPayments({ LOGIN_MAX_FAILURES: "3" }), { excludeTestServices: true, timeout: 60_000 })(
  "billing metrics",
  (it) => {
    it.effect("a renewal and a trial end past due are the scheduler's backlog, with how long they have been due", () =>
      Effect.gen(function*() {
        const before = yield* scrapeMetrics
        for (const kind of ["renewal", "trial_end", "expiry", "incomplete_expiry", "dunning_retry"]) {
          assert.strictEqual(metricValue(before, "kassa_scheduler_due", { kind }), 0, kind)
        }
        const { subscription: active } = yield* subscribe()
        const { subscription: trialing } = yield* subscribe({ trialDays: 7 })
        assert.deepStrictEqual([active.status, trialing.status], ["active", "trialing"])
        yield* periodEndedAgo(active.id, 120)
        yield* periodEndedAgo(trialing.id, 30)
        const text = yield* scrapeMetrics
        oneDueFor(text, "renewal", 7200)
        oneDueFor(text, "trial_end", 1800)
        assert.strictEqual(metricValue(text, "kassa_metrics_collector_up", { collector: "scheduler" }), 1)
      }))

    it.effect("a period canceled at its end, and a past-due invoice not charged yet, are due once the time comes", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { client, subscription: canceled } = yield* subscribe()
        yield* client.subscriptions.cancel({ params: { id: canceled.id }, payload: {} })
        yield* periodEndedAgo(canceled.id, 60)
        // past due as a failed renewal leaves it, minus the charge: the new period's open invoice, no payment yet
        const { subscription: pastDue } = yield* subscribe()
        yield* periodEndedAgo(pastDue.id, 90)
        yield* sql`UPDATE billing.subscriptions SET status = 'past_due' WHERE id = ${pastDue.id}`
        yield* sql`INSERT INTO billing.invoices (id, user_id, subscription_id, status, amount, currency, period_start,
          period_end, created_at, updated_at, charge_attempts, next_charge_at)
        SELECT 'inv_metrics_dunning', user_id, id, 'open', 990, 'EUR', current_period_end,
          current_period_end + interval '1 month', now(), now(), 1, current_period_end
        FROM billing.subscriptions WHERE id = ${pastDue.id}`
        const text = yield* scrapeMetrics
        oneDueFor(text, "expiry", 3600)
        oneDueFor(text, "dunning_retry", 5400)
      }))

    it.effect("a catalog change the ETL has not copied yet is the sync lag", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // hold the ETL's lock, so that it cannot copy the change while the test looks
        const locked = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT watermark FROM billing.etl_state WHERE source = 'catalog' FOR UPDATE`
          yield* Deferred.succeed(locked, undefined)
          yield* Deferred.await(release)
        })))
        yield* Deferred.await(locked)
        yield* sql`INSERT INTO catalog.films (id, title, description, release_year, duration_minutes, age_rating,
          created_at, updated_at, version)
        VALUES ('film_metrics_lag', 'Lagging', '', 2001, 90, 'PG', now() - interval '5 minutes',
          now() - interval '5 minutes', (SELECT watermark + 1 FROM billing.etl_state WHERE source = 'catalog'))`
        const text = yield* scrapeMetrics
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        assert.strictEqual(metricValue(text, "kassa_catalog_sync_behind"), 1)
        between(metricValue(text, "kassa_catalog_sync_lag_seconds"), 300, 360, "lag")
      }))

    it.effect("the failed login that reaches the pair's limit starts one lockout of that (email, address) pair", () =>
      Effect.gen(function*() {
        const before = yield* scrapeMetrics
        assert.strictEqual(metricValue(before, "kassa_login_lockouts_total", { scope: "pair" }), 0)
        const email = uniqueEmail()
        const client = yield* billingClient({ address: uniqueAddress() })
        yield* client.auth.register({ payload: { email, password: "correct horse battery staple" } })
        for (let i = 0; i < 6; i++) {
          yield* client.auth.token({ payload: { email, password: "not the password" } }).pipe(Effect.flip)
        }
        const text = yield* scrapeMetrics
        assert.strictEqual(metricValue(text, "kassa_login_lockouts_total", { scope: "pair" }), 1)
        // five failures from one address trip neither the email's back-off nor the address's attempts
        assert.strictEqual(metricValue(text, "kassa_login_lockouts_total", { scope: "email" }), 0)
        assert.strictEqual(metricValue(text, "kassa_login_lockouts_total", { scope: "address" }), 0)
      }))
  }
)
