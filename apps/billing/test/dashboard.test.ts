// The admin dashboard's figures against a ledger written by hand (March 2026, two currencies, monthly and yearly
// plans, cancellations and dunning failures), each expected figure worked out below; then a live journey: a
// subscription that is paid and then refunded shows up as charged, refunded and no longer active.
import { assert, layer } from "@effect/vitest"
import { Clock, DateTime, Effect } from "effect"
import { SqlClient } from "effect/sql"
import { BillingWithPayments, errorTag, newKey, seedPlan, testAdmin, viewer } from "./billing-harness.ts"

const bootstrapAdmin = testAdmin()

// plan: [interval, amount, currency]
const plans = {
  pA: ["month", 999, "EUR"],
  pB: ["year", 10_000, "EUR"],
  pC: ["year", 10_001, "EUR"],
  pD: ["month", 500, "USD"],
  pE: ["year", 6_000, "USD"]
} as const
// subscription: [user, plan, status, created, ended]
const subscriptions = {
  s1: ["u1", "pA", "active", "2026-01-15", null],
  s2: ["u2", "pB", "active", "2026-02-10", null],
  s3: ["u3", "pC", "past_due", "2026-02-20", null],
  s4: ["u4", "pD", "canceled", "2026-01-05", "2026-03-10T12:00:00Z"], // canceled by the viewer in March
  s5: ["u5", "pE", "canceled", "2026-02-01", "2026-03-25T00:00:00Z"], // dunning gave up in March
  s6: ["u6", "pD", "canceled", "2026-01-01", "2026-02-20T00:00:00Z"], // over before March
  s7: ["u1", "pD", "active", "2026-03-05", null], // new in March
  s8: ["u2", "pA", "trialing", "2026-03-20", null], // a trial: active, no revenue yet
  s9: ["u3", "pD", "incomplete", "2026-03-02", null], // never paid
  s10: ["u4", "pE", "canceled", "2026-03-03", "2026-03-15T08:00:00Z"], // began and ended in March
  s11: ["u5", "pA", "active", "2026-04-02", null], // after March
  s12: ["u6", "pA", "canceled", "2026-02-01", "2026-04-05T00:00:00Z"] // ends after March
} as const
// payment: [subscription, status, amount, created, refunds [amount, at][]]
const payments: ReadonlyArray<
  readonly [keyof typeof subscriptions, string, number, string, ReadonlyArray<readonly [number, string]>]
> = [
  ["s1", "succeeded", 999, "2026-03-01T00:00:00Z", []], // first instant of the range
  ["s2", "succeeded", 10_000, "2026-03-01T23:59:59Z", []],
  ["s7", "succeeded", 500, "2026-03-05T10:00:00Z", []],
  ["s3", "failed", 10_001, "2026-03-05T11:00:00Z", []],
  ["s3", "failed", 10_001, "2026-03-08T11:00:00Z", []],
  ["s4", "refunded", 500, "2026-02-28T23:59:59Z", [[500, "2026-03-10T09:00:00Z"]]], // charged in Feb, refunded in March
  ["s5", "partially_refunded", 6_000, "2026-03-02T12:00:00Z", [[1_000, "2026-03-02T13:00:00Z"]]],
  ["s5", "failed", 6_000, "2026-03-24T12:00:00Z", []],
  ["s1", "succeeded", 999, "2026-04-01T00:00:00Z", []], // first instant after the range
  ["s12", "pending", 999, "2026-03-20T00:00:00Z", []], // not settled: counts nowhere
  ["s12", "succeeded", 999, "2026-02-01T00:00:00Z", []],
  ["s10", "refunded", 6_000, "2026-03-03T08:00:00Z", [[6_000, "2026-03-15T08:00:00Z"]]]
]

const seedLedger = SqlClient.SqlClient.use((sql) =>
  Effect.gen(function*() {
    const run = newKey().slice(4, 12)
    const id = (name: string) => `${name}_${run}`
    for (const user of ["u1", "u2", "u3", "u4", "u5", "u6"]) {
      yield* sql`INSERT INTO billing.users (id, email, password_hash, role, created_at, updated_at)
        VALUES (${id(user)}, ${`${id(user)}@example.com`}, 'x', 'user', '2026-01-01', '2026-01-01')`
    }
    for (const [plan, [interval, amount, currency]] of Object.entries(plans)) {
      yield* sql`INSERT INTO billing.products (id, name, description, status, catalog_version)
        VALUES (${id(`prod_${plan}`)}, ${plan}, '', 'active', 0)`
      yield* sql`INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
        VALUES (${id(plan)}, ${id(`prod_${plan}`)}, ${interval}, ${amount}, ${currency}, 0, 'active')`
    }
    for (const [sub, [user, plan, status, created, ended]] of Object.entries(subscriptions)) {
      yield* sql`INSERT INTO billing.subscriptions (id, user_id, product_id, plan_id, status, created_at, updated_at, ended_at)
        VALUES (${id(sub)}, ${id(user)}, ${id(`prod_${plan}`)}, ${
          id(plan)
        }, ${status}, ${created}, ${created}, ${ended})`
    }
    for (const [i, [sub, status, amount, created, refunds]] of payments.entries()) {
      const [user, plan] = subscriptions[sub]
      const currency = plans[plan][2]
      const invoice = id(`in${i}`)
      yield* sql`INSERT INTO billing.invoices (id, user_id, subscription_id, status, amount, currency, period_start,
          period_end, created_at, updated_at)
        VALUES (${invoice}, ${id(user)}, ${
          id(sub)
        }, 'open', ${amount}, ${currency}, ${created}, ${created}, ${created}, ${created})`
      const refunded = refunds.reduce((sum, [refund]) => sum + refund, 0)
      yield* sql`INSERT INTO billing.payments (id, user_id, invoice_id, status, amount, refunded_amount, currency,
          created_at, updated_at)
        VALUES (${id(`pay${i}`)}, ${
          id(user)
        }, ${invoice}, ${status}, ${amount}, ${refunded}, ${currency}, ${created}, ${created})`
      for (const [n, [refund, at]] of refunds.entries()) {
        yield* sql`INSERT INTO billing.invoice_lines (invoice_id, position, kind, description, amount, currency, source_id, created_at)
          VALUES (${invoice}, ${n + 1}, 'credit', 'refund', ${-refund}, ${currency}, ${id(`re${i}_${n}`)}, ${at})`
      }
    }
  })
).pipe(Effect.orDie)

layer(BillingWithPayments(bootstrapAdmin.config), { excludeTestServices: true, timeout: 60_000 })(
  "admin dashboard",
  (it) => {
    it.effect("March 2026 from a hand-written ledger: revenue, active subscriptions, MRR, churn, failed payments", () =>
      Effect.gen(function*() {
        yield* seedLedger
        const admin = yield* bootstrapAdmin.client
        const march = yield* admin.adminBilling.dashboard({ query: { from: "2026-03-01", to: "2026-03-31" } })

        // charges by the day they were made, refunds by the day they were credited; Feb's and April's stay out
        assert.deepStrictEqual(march.revenueByDay, [
          { period: "2026-03-01", currency: "EUR", charged: 10_999, refunded: 0, net: 10_999 }, // 999 + 10,000
          { period: "2026-03-02", currency: "USD", charged: 6_000, refunded: 1_000, net: 5_000 },
          { period: "2026-03-03", currency: "USD", charged: 6_000, refunded: 0, net: 6_000 },
          { period: "2026-03-05", currency: "USD", charged: 500, refunded: 0, net: 500 },
          { period: "2026-03-10", currency: "USD", charged: 0, refunded: 500, net: -500 },
          { period: "2026-03-15", currency: "USD", charged: 0, refunded: 6_000, net: -6_000 }
        ])
        assert.deepStrictEqual(march.revenueByMonth, [
          { period: "2026-03", currency: "EUR", charged: 10_999, refunded: 0, net: 10_999 },
          { period: "2026-03", currency: "USD", charged: 12_500, refunded: 7_500, net: 5_000 }
        ])
        // live at the end of March 31: s1, s2, s3, s7, s8 (trial), s12 (ends in April)
        assert.strictEqual(march.activeSubscriptions, 6)
        // EUR: s1 999 + s12 999 + s2 10,000/12 + s3 10,001/12 = 3,664.75 → 3,665 (rounded once, not 999+999+833+833);
        // USD: s7 500; the trial s8 pays nothing yet
        assert.deepStrictEqual(march.mrr, [
          { currency: "EUR", amount: 3_665, subscriptions: 4 },
          { currency: "USD", amount: 500, subscriptions: 1 }
        ])
        // live at the start of March 1: s1, s2, s3, s4, s5, s12 (s6 ended in Feb; s7, s10 began in March); s4 and s5 ended
        assert.deepStrictEqual(march.churn, { count: 2, total: 6, rate: 2 / 6 })
        // settled attempts in March: s1, s2, s7, s5, s10 succeeded, s3 ×2 and s5 failed (Feb's, April's and pending out)
        assert.deepStrictEqual(march.failedPayments, { count: 3, total: 8, rate: 3 / 8 })

        // a range across a month end: April's first payment in its own day and month
        const turn = yield* admin.adminBilling.dashboard({ query: { from: "2026-03-31", to: "2026-04-01" } })
        assert.deepStrictEqual(turn.revenueByMonth, [{
          period: "2026-04",
          currency: "EUR",
          charged: 999,
          refunded: 0,
          net: 999
        }])

        assert.strictEqual(
          yield* errorTag(admin.adminBilling.dashboard({ query: { from: "2026-03-02", to: "2026-03-01" } })),
          "BadRequest"
        )
        assert.strictEqual(
          yield* errorTag(admin.adminBilling.dashboard({ query: { from: "2025-01-01", to: "2026-03-01" } })),
          "BadRequest"
        )
      }))

    it.effect("a live journey: paid then refunded counts as charged and refunded, and the subscription ends", () =>
      Effect.gen(function*() {
        const admin = yield* bootstrapAdmin.client
        const today = DateTime.formatIsoDateUtc(DateTime.makeUnsafe(yield* Clock.currentTimeMillis))
        const figures = admin.adminBilling.dashboard({ query: { from: today, to: today } })
        const before = yield* figures
        const { planId } = yield* seedPlan({ amount: 1_234 })
        const { client } = yield* viewer()
        const created = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId, paymentMethod: "pm_card_visa" }
        })
        const paid = yield* figures
        assert.strictEqual(paid.activeSubscriptions, before.activeSubscriptions + 1)
        const eur = (points: typeof paid.revenueByDay) => points.find((p) => p.currency === "EUR")
        assert.strictEqual((eur(paid.revenueByDay)?.charged ?? 0) - (eur(before.revenueByDay)?.charged ?? 0), 1_234)

        const payment = (yield* client.payments.list({ query: {} })).items.find((p) =>
          p.invoiceId === created.invoice.id
        )
        yield* client.payments.cancel({ params: { id: payment!.id }, headers: { "idempotency-key": newKey() } })
        const refunded = yield* figures
        assert.strictEqual(refunded.activeSubscriptions, before.activeSubscriptions)
        assert.strictEqual(
          (eur(refunded.revenueByDay)?.refunded ?? 0) - (eur(before.revenueByDay)?.refunded ?? 0),
          1_234
        )
        const { client: other } = yield* viewer()
        assert.strictEqual(
          yield* errorTag(other.adminBilling.dashboard({ query: { from: today, to: today } })),
          "Forbidden"
        )
      }))
  }
)
