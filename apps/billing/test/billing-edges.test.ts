// Edges of billing's HTTP contract, end to end on the real services: "Отменить платеж" outside the refund window,
// a retired plan, keyset pagination of invoices and payments, the admin statement of an unknown user, and the
// database's "one invoice per (subscription, period start)".
//
// Not covered: cancel of a *pending* payment over billing's route. Billing never holds one: payments always creates
// intents with confirm=true, the sandbox answers succeeded, failed or requires_action (never processing), and a
// requires_action intent is canceled at once and reported failed (apps/payments/test/refunds.test.ts covers
// pending → canceled at payments' level, on a hand-made intent).
import { assert, layer } from "@effect/vitest"
import { type PaymentId, PlanId, UserId } from "@kassa/domain/ids"
import { randomUUID } from "node:crypto"
import { DateTime, Effect } from "effect"
import { SqlClient } from "effect/sql"
import { billingEvents, BillingWithPayments, errorTag, newKey, seedPlan, testAdmin, viewer } from "./billing-harness.ts"

const bootstrapAdmin = testAdmin()
const adminClient = bootstrapAdmin.client

const count = (query: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<{ readonly n: number }>, unknown>) =>
  SqlClient.SqlClient.use((sql) => query(sql)).pipe(Effect.map((rows) => Number(rows[0]?.n ?? 0)), Effect.orDie)

/**
 * Makes a payment `days` old where payments reads its age (and in billing's copy). The window is checked in payments'
 * RPC handler on that server's own clock: a TestClock in the test fiber never reaches it.
 */
const paidDaysAgo = (id: PaymentId, days: number) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.gen(function*() {
      yield* sql`UPDATE payments.payments SET created_at = created_at - make_interval(days => ${days}) WHERE id = ${id}`
      yield* sql`UPDATE billing.payments SET created_at = created_at - make_interval(days => ${days}) WHERE id = ${id}`
    })
  ).pipe(Effect.orDie)

/** Walks a list with limit=1 from the first page to the one whose nextCursor is null (bounded: a stuck cursor fails). */
const walk = <A extends { readonly id: string }, E, R>(
  list: (
    query: { readonly limit: number; readonly cursor?: string }
  ) => Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly nextCursor: string | null }, E, R>
) =>
  Effect.gen(function*() {
    const pages: Array<{ readonly ids: ReadonlyArray<string>; readonly nextCursor: string | null }> = []
    let cursor: string | undefined
    for (let i = 0; i < 20; i++) {
      const page = yield* list(cursor === undefined ? { limit: 1 } : { limit: 1, cursor })
      pages.push({ ids: page.items.map((item) => item.id), nextCursor: page.nextCursor })
      if (page.nextCursor === null) return pages
      cursor = page.nextCursor
    }
    return assert.fail(`no last page after 20 pages: ${JSON.stringify(pages)}`)
  })

layer(BillingWithPayments(bootstrapAdmin.config), { excludeTestServices: true, timeout: 60_000 })(
  "billing edges",
  (it) => {
    it.effect("cancel payment outside the refund window → 422 and nothing changes; inside it → refunded", () =>
      Effect.gen(function*() {
        const late = yield* seedPlan({ amount: 1800 })
        const inTime = yield* seedPlan({ amount: 1800 })
        const { client } = yield* viewer()
        const subscribe = (planId: PlanId) =>
          client.subscriptions.create({
            headers: { "idempotency-key": newKey() },
            payload: { planId, paymentMethod: "pm_card_visa" }
          })
        const old = yield* subscribe(late.planId)
        if (old.payment === null) return assert.fail("expected a payment")
        const paymentId = old.payment.id
        yield* paidDaysAgo(paymentId, 15)
        const state = Effect.all({
          payment: client.payments.get({ params: { id: paymentId } }),
          subscription: client.subscriptions.get({ params: { id: old.subscription.id } }),
          invoice: client.invoices.get({ params: { id: old.invoice.id } })
        })
        const before = yield* state
        assert.deepStrictEqual(
          [before.payment.status, before.payment.refundedAmount, before.subscription.status],
          ["succeeded", 0, "active"]
        )

        assert.strictEqual(
          yield* errorTag(
            client.payments.cancel({ params: { id: paymentId }, headers: { "idempotency-key": newKey() } })
          ),
          "RefundWindowClosed"
        )
        assert.deepStrictEqual(yield* state, before)
        assert.deepStrictEqual(yield* billingEvents(old.subscription.id), [
          "subscription.created",
          "subscription.activated"
        ])
        // nor on payments' side: the payment is untouched and no refund was started
        const atPayments = yield* SqlClient.SqlClient.use((
          sql
        ) => sql<
          { readonly status: string; readonly refundedAmount: string }
        >`SELECT status, refunded_amount FROM payments.payments
            WHERE id = ${paymentId}`).pipe(Effect.orDie)
        assert.deepStrictEqual(atPayments.map((r) => [r.status, Number(r.refundedAmount)]), [["succeeded", 0]])
        assert.strictEqual(
          yield* count((sql) => sql`SELECT count(*)::int AS n FROM payments.refunds WHERE payment_id = ${paymentId}`),
          0
        )

        // the same aging one day short of the window: refunded, so the 422 above is the window's
        const recent = yield* subscribe(inTime.planId)
        if (recent.payment === null) return assert.fail("expected a payment")
        yield* paidDaysAgo(recent.payment.id, 13)
        const refunded = yield* client.payments.cancel({
          params: { id: recent.payment.id },
          headers: { "idempotency-key": newKey() }
        })
        assert.deepStrictEqual([refunded.status, refunded.refundedAmount], ["refunded", 1800])
        assert.strictEqual(
          (yield* client.subscriptions.get({ params: { id: recent.subscription.id } })).status,
          "canceled"
        )
      }))

    it.effect("a retired plan of an active product → 422, and nothing is created or charged", () =>
      Effect.gen(function*() {
        const { planId, productId } = yield* seedPlan()
        const sql = yield* SqlClient.SqlClient
        // billing.plans allows 'active' | 'retired' (the catalog's plan statuses); 'archived' is a product status
        yield* sql`UPDATE billing.plans SET status = 'retired' WHERE id = ${planId}`.pipe(Effect.orDie)
        const { account, client } = yield* viewer()
        assert.strictEqual(
          yield* errorTag(
            client.subscriptions.create({
              headers: { "idempotency-key": newKey() },
              payload: { planId, paymentMethod: "pm_card_visa" }
            })
          ),
          "PlanNotOnSale"
        )
        const rows = yield* Effect.all([
          count((sql) => sql`SELECT count(*)::int AS n FROM billing.subscriptions WHERE user_id = ${account.id}`),
          count((sql) => sql`SELECT count(*)::int AS n FROM billing.invoices WHERE user_id = ${account.id}`),
          count((sql) => sql`SELECT count(*)::int AS n FROM billing.payments WHERE user_id = ${account.id}`),
          count((sql) => sql`SELECT count(*)::int AS n FROM payments.payments WHERE user_id = ${account.id}`)
        ])
        assert.deepStrictEqual(rows, [0, 0, 0, 0])

        // the product itself is still on sale: its current plan subscribes
        const current = PlanId.make(`plan_${randomUUID()}`)
        yield* sql`INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
          VALUES (${current}, ${productId}, 'month', 990, 'EUR', 0, 'active')`.pipe(Effect.orDie)
        const ok = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId: current, paymentMethod: "pm_card_visa" }
        })
        assert.strictEqual(ok.subscription.status, "active")
      }))

    it.effect("GET /v1/invoices and /v1/payments with limit=1: pages chain by nextCursor over all of the viewer's, once each", () =>
      Effect.gen(function*() {
        const { client } = yield* viewer()
        const other = yield* viewer("other")
        const a = yield* seedPlan()
        const b = yield* seedPlan()
        const trial = yield* seedPlan({ trialDays: 7 })
        const create = (c: typeof client, planId: PlanId, paymentMethod?: string) =>
          c.subscriptions.create({
            headers: { "idempotency-key": newKey() },
            payload: paymentMethod === undefined ? { planId } : { planId, paymentMethod }
          })
        const paid = yield* create(client, a.planId, "pm_card_visa")
        const declined = yield* create(client, b.planId, "pm_card_chargeDeclined")
        const settled = yield* client.invoices.pay({
          params: { id: declined.invoice.id },
          headers: { "idempotency-key": newKey() },
          payload: { paymentMethod: "pm_card_visa" }
        })
        const trialing = yield* create(client, trial.planId)
        // someone else's rows interleave and must never show
        yield* create(other.client, a.planId, "pm_card_visa")

        const invoiceIds: ReadonlyArray<string> = [paid.invoice.id, declined.invoice.id, trialing.invoice.id]
        const paymentIds = [paid.payment?.id ?? "missing", declined.payment?.id ?? "missing", settled.payment.id]
        for (
          const [pages, expected, full] of [
            [
              yield* walk((query) => client.invoices.list({ query })),
              invoiceIds,
              yield* client.invoices.list({ query: {} })
            ],
            [
              yield* walk((query) => client.payments.list({ query })),
              paymentIds,
              yield* client.payments.list({ query: {} })
            ]
          ] as const
        ) {
          assert.deepStrictEqual(pages.map((p) => p.ids.length), [1, 1, 1])
          assert.deepStrictEqual(pages.map((p) => p.nextCursor === null), [false, false, true])
          const walked = pages.flatMap((p) => p.ids)
          // in the order of the unpaginated list (newest first), each exactly once
          assert.deepStrictEqual(walked, full.items.map((item) => item.id))
          assert.deepStrictEqual([...walked].sort(), [...expected].sort())
        }
      }))

    it.effect("admin statement of a user id that does not exist → 404; of an existing user with no activity → empty", () =>
      Effect.gen(function*() {
        const admin = yield* adminClient
        const day = DateTime.formatIso(yield* DateTime.now).slice(0, 10)
        const missing = yield* Effect.flip(admin.adminBilling.statement({
          params: { id: UserId.make(`usr_${randomUUID()}`) },
          query: { from: day, to: day }
        }))
        assert.deepStrictEqual(
          [missing._tag, missing._tag === "NotFound" ? missing.resource : null],
          ["NotFound", "user"]
        )
        const { account } = yield* viewer()
        const empty = yield* admin.adminBilling.statement({ params: { id: account.id }, query: { from: day, to: day } })
        assert.deepStrictEqual([empty.userId, empty.entries, empty.balances], [account.id, [], []])
      }))

    it.effect("a second invoice for the same (subscription, period start) is refused by the unique index; the first stays", () =>
      Effect.gen(function*() {
        const { planId } = yield* seedPlan({ amount: 1200 })
        const { client } = yield* viewer()
        const { invoice, subscription } = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId, paymentMethod: "pm_card_visa" }
        })
        const before = yield* client.invoices.get({ params: { id: invoice.id } })
        const sql = yield* SqlClient.SqlClient
        const insertCopy = (
          id: string,
          shift: string
        ) => sql`INSERT INTO billing.invoices (id, user_id, subscription_id, status, amount, currency, period_start, period_end,
              created_at, updated_at)
            SELECT ${id}, user_id, subscription_id, 'open', amount, currency, period_start + ${shift}::interval,
              period_end + ${shift}::interval, now(), now()
            FROM billing.invoices WHERE id = ${invoice.id}`

        const duplicate = `inv_dup_${randomUUID()}`
        const error = yield* Effect.flip(insertCopy(duplicate, "0 days"))
        assert.deepStrictEqual(
          [error.reason._tag, error.reason._tag === "UniqueViolation" ? error.reason.constraint : null],
          ["UniqueViolation", "invoices_subscription_id_period_start_key"]
        )
        assert.deepStrictEqual(yield* client.invoices.get({ params: { id: invoice.id } }), before)
        assert.strictEqual(
          yield* count((sql) =>
            sql`SELECT count(*)::int AS n FROM billing.invoices WHERE subscription_id = ${subscription.id}`
          ),
          1
        )
        // the index is on the pair: the same subscription's next period is a new row (rolled back, it is not billing's)
        const next = yield* insertCopy(`inv_next_${randomUUID()}`, "1 month").pipe(
          Effect.andThen(
            count((sql) =>
              sql`SELECT count(*)::int AS n FROM billing.invoices WHERE subscription_id = ${subscription.id}`
            )
          ),
          Effect.andThen((n) => Effect.fail({ _tag: "Rollback" as const, n })),
          sql.withTransaction,
          Effect.flip
        )
        assert.deepStrictEqual(next, { _tag: "Rollback", n: 2 })
      }))
  }
)
