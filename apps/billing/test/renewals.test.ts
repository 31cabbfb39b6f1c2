// The renewal engine under TestClock with billing and payments in-process on the real Postgres, Redis and RabbitMQ,
// charging the Stripe sandbox: the anchor day kept across month ends, periods missed whole caught up with one
// invoice for the period that contains now, a trial with no card dunned to its end, a dunning that recovers when the
// card is replaced, and the safety bound that parks a subscription for an admin.
import { assert, layer } from "@effect/vitest"
import { SchedulerCycle } from "@kassa/billing/scheduler/cycle"
import { UserId } from "@kassa/domain/ids"
import { Clock, DateTime, Effect } from "effect"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import { Entitlements } from "../src/entitlements/service.ts"
import {
  billingEvents,
  BillingWithPayments,
  errorTag,
  newKey,
  seedPlan,
  subscribeWithCard,
  testAdmin,
  viewer
} from "./billing-harness.ts"
import { seedFilm } from "./entitlements-support.ts"

const admin = testAdmin()
const hour = 3_600_000
const day = 24 * hour

/** Runs one scheduler cycle with the service clock at `at` (epoch ms). */
const runAt = (at: number) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(at)
    return yield* SchedulerCycle.use((cycle) => cycle.run)
  }).pipe(Effect.provide(TestClock.layer()))

/** Whether the user may watch the film at `at`. */
const allowedAt = (userId: string, filmId: Parameters<Entitlements["Service"]["check"]>[1], at: number) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(at)
    return (yield* Entitlements.use((e) => e.check(UserId.make(userId), filmId))).allowed
  }).pipe(Effect.provide(TestClock.layer()))

const invoicesOf = (subscriptionId: string) =>
  SqlClient.SqlClient.use((
    sql
  ) => sql<
    { readonly periodStart: Date; readonly periodEnd: Date; readonly status: string }
  >`SELECT period_start, period_end, status
      FROM billing.invoices WHERE subscription_id = ${subscriptionId} ORDER BY period_start`).pipe(Effect.orDie)

const isoOf = (d: Date) => d.toISOString()

layer(BillingWithPayments({ ...admin.config, BILLING_MAX_INVOICES_PER_DAY: "1" }), {
  excludeTestServices: true,
  timeout: 90_000
})(
  "renewal engine",
  (it) => {
    it.effect("missed periods (1 day, 45 days, 3 months): one invoice for the period that contains now; access back once paid", () =>
      Effect.gen(function*() {
        const { planId, productId } = yield* seedPlan({ amount: 800 })
        const filmId = yield* seedFilm(productId)
        for (const late of [1 * day, 45 * day, 92 * day]) {
          const { account, client } = yield* viewer()
          const { subscription } = yield* client.subscriptions.create({
            headers: { "idempotency-key": newKey() },
            payload: { planId, paymentMethod: "pm_card_visa" }
          })
          const end = DateTime.toEpochMillis(subscription.currentPeriodEnd!)
          const back = end + late
          // past the grace (7 days) the access has lapsed while the service was away
          assert.strictEqual(yield* allowedAt(account.id, filmId, back), late < 7 * day)
          const run = yield* runAt(back)
          assert.isAtLeast(run.renewals, 1)
          const invoices = yield* invoicesOf(subscription.id)
          assert.strictEqual(invoices.length, 2, `one invoice for ${late / day} days late, not a burst`)
          const renewal = invoices[1]!
          assert.isTrue(
            renewal.periodStart.getTime() <= back && back < renewal.periodEnd.getTime(),
            "the period contains now"
          )
          assert.strictEqual(renewal.status, "paid")
          const after = yield* client.subscriptions.get({ params: { id: subscription.id } })
          assert.deepStrictEqual(
            [after.status, after.currentPeriodStart && DateTime.toEpochMillis(after.currentPeriodStart)],
            ["active", renewal.periodStart.getTime()]
          )
          // one charge for it, none for the periods that were over
          assert.strictEqual((yield* client.payments.list({ query: {} })).items.length, 2)
          assert.isTrue(yield* allowedAt(account.id, filmId, back))
          // the same cycle again does nothing more
          yield* runAt(back + hour)
          assert.strictEqual((yield* invoicesOf(subscription.id)).length, 2)
        }
      }))

    it.effect("a monthly period anchored on Jan 31 renews on Feb 28, Mar 31 and Apr 30: the anchor day comes back", () =>
      Effect.gen(function*() {
        const { planId } = yield* seedPlan({ amount: 600 })
        const { client } = yield* viewer()
        const { subscription } = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId, paymentMethod: "pm_card_visa" }
        })
        yield* SqlClient.SqlClient.use((
          sql
        ) => sql`UPDATE billing.subscriptions SET billing_anchor = '2027-01-31T10:00:00Z',
              current_period_start = '2027-01-31T10:00:00Z', current_period_end = '2027-02-28T10:00:00Z'
            WHERE id = ${subscription.id}`).pipe(Effect.orDie)
        for (const at of ["2027-02-28T11:00:00Z", "2027-03-31T11:00:00Z", "2027-04-30T11:00:00Z"]) {
          yield* runAt(Date.parse(at))
        }
        const renewals = (yield* invoicesOf(subscription.id)).slice(1).map((
          i
        ) => [isoOf(i.periodStart), isoOf(i.periodEnd), i.status])
        assert.deepStrictEqual(renewals, [
          ["2027-02-28T10:00:00.000Z", "2027-03-31T10:00:00.000Z", "paid"],
          ["2027-03-31T10:00:00.000Z", "2027-04-30T10:00:00.000Z", "paid"],
          ["2027-04-30T10:00:00.000Z", "2027-05-31T10:00:00.000Z", "paid"]
        ])
      }))

    it.effect("a trial that ends with no card: past due (no_payment_method), retried, then canceled — never retried forever", () =>
      Effect.gen(function*() {
        const { planId } = yield* seedPlan({ trialDays: 3, amount: 500 })
        const { client } = yield* viewer()
        const { subscription } = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId }
        })
        const end = DateTime.toEpochMillis(subscription.currentPeriodEnd!)
        yield* runAt(end + hour)
        const pastDue = yield* client.subscriptions.get({ params: { id: subscription.id } })
        assert.deepStrictEqual([pastDue.status, pastDue.failureCode], ["past_due", "no_payment_method"])
        for (const at of [end + 2 * day, end + 4 * day, end + 6 * day]) yield* runAt(at)
        assert.strictEqual((yield* client.subscriptions.get({ params: { id: subscription.id } })).status, "canceled")
        assert.deepStrictEqual((yield* invoicesOf(subscription.id)).map((i) => i.status), ["paid", "uncollectible"])
        assert.deepStrictEqual((yield* billingEvents(subscription.id)).slice(-2), [
          "subscription.past_due",
          "subscription.canceled"
        ])
        yield* runAt(end + 30 * day)
        assert.strictEqual((yield* client.payments.list({ query: {} })).items.length, 0, "nothing was ever charged")
      }))

    it.effect("dunning recovers: the card declined at renewal is replaced, the next retry pays, active for the unpaid period", () =>
      Effect.gen(function*() {
        const { planId } = yield* seedPlan({ amount: 1100 })
        const { client } = yield* viewer()
        const first = yield* subscribeWithCard(client, planId)
        yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_chargeCustomerFail" } })
        const end = DateTime.toEpochMillis(first.subscription.currentPeriodEnd!)
        yield* runAt(end + hour)
        assert.strictEqual(
          (yield* client.subscriptions.get({ params: { id: first.subscription.id } })).status,
          "past_due"
        )
        yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_mastercard" } })
        const retry = yield* runAt(end + day + 2 * hour)
        assert.deepStrictEqual([retry.dunningRetries >= 1, retry.paid >= 1], [true, true])
        const after = yield* client.subscriptions.get({ params: { id: first.subscription.id } })
        assert.deepStrictEqual(
          [after.status, after.currentPeriodStart],
          ["active", first.subscription.currentPeriodEnd]
        )
        assert.deepStrictEqual((yield* client.payments.list({ query: {} })).items.map((p) => p.status), [
          "succeeded",
          "failed",
          "succeeded"
        ])
      }))

    it.effect("a subscription about to get more invoices in a day than the bound is parked (event, admin list) until an admin unparks it", () =>
      Effect.gen(function*() {
        const { planId } = yield* seedPlan({ amount: 700 })
        const { client } = yield* viewer()
        const { subscription } = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId, paymentMethod: "pm_card_visa" }
        })
        const end = DateTime.toEpochMillis(subscription.currentPeriodEnd!)
        // an invoice made for it within the day before (how a loop of a bug would look): the bound is 1 here
        yield* SqlClient.SqlClient.use((
          sql
        ) => sql`INSERT INTO billing.invoices (id, user_id, subscription_id, status, amount, currency, period_start, period_end,
              created_at, updated_at)
            SELECT 'inv_bound_' || id, user_id, id, 'void', 700, 'EUR', current_period_start - interval '2 months',
              current_period_start - interval '1 month', ${new Date(end)}, ${new Date(end)}
            FROM billing.subscriptions WHERE id = ${subscription.id}`).pipe(Effect.orDie)
        const run = yield* runAt(end + hour)
        assert.isAtLeast(run.parked, 1)
        const parked = yield* client.subscriptions.get({ params: { id: subscription.id } })
        assert.strictEqual(parked.parkedReason, "more than 1 invoices in a day")
        assert.include(yield* billingEvents(subscription.id), "subscription.parked")
        assert.strictEqual((yield* invoicesOf(subscription.id)).length, 2, "no invoice made")
        const adminClient = yield* admin.client
        const listed = yield* adminClient.adminBilling.subscriptions({ query: { parked: "true" } })
        assert.include(listed.items.map((s) => s.id), subscription.id)
        // a later cycle leaves it alone
        yield* runAt(end + 2 * hour)
        assert.strictEqual((yield* invoicesOf(subscription.id)).length, 2)
        const unparked = yield* adminClient.adminBilling.unpark({
          params: { id: subscription.id },
          payload: { reason: "looked: a test" }
        })
        assert.isNull(unparked.parkedAt)
        assert.strictEqual(
          yield* errorTag(
            adminClient.adminBilling.unpark({ params: { id: subscription.id }, payload: { reason: "again" } })
          ),
          "SubscriptionNotParked"
        )
        // the bound counts a day back from now: two days on, it is invoiced and charged
        yield* runAt(end + 2 * day)
        const after = yield* client.subscriptions.get({ params: { id: subscription.id } })
        assert.strictEqual(after.status, "active")
        assert.isTrue(DateTime.toEpochMillis(after.currentPeriodEnd!) > end)
      }))

    it.effect("without KASSA_TEST_CLOCK the deployment's test clock answers 404 TestClockOff", () =>
      Effect.gen(function*() {
        const adminClient = yield* admin.client
        assert.strictEqual(yield* errorTag(adminClient.testClock.get()), "TestClockOff")
        assert.strictEqual(
          yield* errorTag(adminClient.testClock.move({ payload: { advanceBy: "P31D" } })),
          "TestClockOff"
        )
        assert.isAtMost(Math.abs((yield* Clock.currentTimeMillis) - Date.now()), 5_000)
      }))
  }
)
