// The subscribe flow end to end over HTTP: billing and payments in-process on the real Postgres, Redis and
// RabbitMQ, charging the Stripe sandbox through payments' RPC.
import { assert, layer } from "@effect/vitest"
import { decodeEnvelope, type EventEnvelope } from "@kassa/domain"
import { type Invoice, InvoiceEventData, Subscription } from "@kassa/domain/billing"
import { InvoiceId, PaymentId, PlanId, UserId } from "@kassa/domain/ids"
import { BillingCallbackClient } from "@kassa/clients"
import { EventBus } from "@kassa/platform/bus"
import { serverUrl } from "@kassa/platform/http"
import { randomUUID } from "node:crypto"
import { DateTime, Effect, Layer, Option, Queue, Redacted, Schema } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { StripeSandbox } from "@kassa/stripe-sandbox"
import { CatalogCopy } from "../src/products/repo.ts"
import {
  billingEvents,
  BillingWithPayments,
  errorTag,
  newKey,
  raw,
  seedPlan,
  serviceToken,
  viewer
} from "./billing-harness.ts"

const count = (query: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<{ readonly n: number }>, unknown>) =>
  SqlClient.SqlClient.use((sql) => query(sql)).pipe(Effect.map((rows) => Number(rows[0]?.n ?? 0)), Effect.orDie)

/** The subscription's current period is its paid invoice's, and the invoice's plan line has the same one. */
const assertOnePeriod = (subscription: Subscription, invoice: Invoice) => {
  const iso = (t: DateTime.Utc | null) => t === null ? null : DateTime.formatIso(t)
  const period = [iso(invoice.periodStart), iso(invoice.periodEnd)]
  assert.deepStrictEqual([iso(subscription.currentPeriodStart), iso(subscription.currentPeriodEnd)], period)
  assert.deepStrictEqual(
    invoice.lines.filter((l) => l.kind === "plan").map((l) => [iso(l.periodStart), iso(l.periodEnd)]),
    [period]
  )
}

layer(BillingWithPayments(), { excludeTestServices: true, timeout: 60_000 })("subscriptions", (it) => {
  it.effect("subscribe with pm_card_visa → active, invoice paid, events in order", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan({ amount: 1290 })
      const { account, client } = yield* viewer()
      const result = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      assert.strictEqual(result.subscription.status, "active")
      assert.strictEqual(result.subscription.userId, account.id)
      assert.isNotNull(result.subscription.currentPeriodStart)
      assert.strictEqual(result.invoice.status, "paid")
      assert.deepStrictEqual([result.invoice.amount, result.invoice.currency], [1290, "EUR"])
      assert.deepStrictEqual(result.invoice.lines.map((l) => [l.kind, l.amount]), [["plan", 1290]])
      assertOnePeriod(result.subscription, result.invoice)
      assert.deepStrictEqual(yield* client.invoices.get({ params: { id: result.invoice.id } }), result.invoice)
      assert.strictEqual(result.payment?.status, "succeeded")
      assert.deepStrictEqual(yield* billingEvents(result.subscription.id), [
        "subscription.created",
        "subscription.activated"
      ])
      assert.deepStrictEqual(yield* billingEvents(result.invoice.id), ["invoice.created", "invoice.paid"])
      const fetched = yield* client.subscriptions.get({ params: { id: result.subscription.id } })
      assert.strictEqual(fetched.status, "active")
      // event data follows the contract: subscription.* carry the Subscription, invoice.* the InvoiceEventData
      const data = yield* SqlClient.SqlClient.use((
        sql
      ) => sql<{ readonly type: string; readonly data: string }>`SELECT type, data::text AS data FROM billing.outbox
          WHERE aggregate_id IN (${result.subscription.id}, ${result.invoice.id}) ORDER BY id`).pipe(Effect.orDie)
      for (const event of data) {
        const decoded = event.type.startsWith("subscription.")
          ? Schema.decodeUnknownSync(Subscription)(JSON.parse(event.data)).id
          : Schema.decodeUnknownSync(InvoiceEventData)(JSON.parse(event.data)).id
        assert.include([result.subscription.id, result.invoice.id], decoded)
      }
    }))

  it.effect("a subscribe's events reach RabbitMQ, each aggregate's in order with gap-free sequences", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      const inbox = yield* Queue.unbounded<EventEnvelope>()
      yield* bus.subscribe(
        ["subscription.*", "invoice.*"],
        (delivery) => Effect.flatMap(decodeEnvelope(delivery.body), (envelope) => Queue.offer(inbox, envelope))
      )
      const { planId } = yield* seedPlan()
      const { client } = yield* viewer()
      const { invoice, subscription } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      // other tests (and files) publish too: take arrivals until ours are in
      const ours: Array<EventEnvelope> = []
      while (ours.length < 4) {
        const envelope = yield* Queue.take(inbox).pipe(Effect.timeout("10 seconds"))
        if (envelope.aggregateId === subscription.id || envelope.aggregateId === invoice.id) ours.push(envelope)
      }
      const of = (id: string) => ours.filter((e) => e.aggregateId === id).map((e) => [e.type, e.sequence])
      assert.deepStrictEqual(of(subscription.id), [["subscription.created", 1], ["subscription.activated", 2]])
      assert.deepStrictEqual(of(invoice.id), [["invoice.created", 1], ["invoice.paid", 2]])
    }).pipe(Effect.scoped))

  it.effect("a declined card leaves the subscription incomplete with the reason; paying with a good card activates it", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const { client } = yield* viewer()
      const result = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_chargeDeclined" }
      })
      assert.strictEqual(result.subscription.status, "incomplete")
      assert.isNotNull(result.subscription.failureCode)
      assert.strictEqual(result.invoice.status, "open")
      assert.strictEqual(result.payment?.status, "failed")
      assert.deepStrictEqual(yield* billingEvents(result.invoice.id), ["invoice.created", "invoice.payment_failed"])
      const paid = yield* client.invoices.pay({
        params: { id: result.invoice.id },
        headers: { "idempotency-key": newKey() },
        payload: { paymentMethod: "pm_card_visa" }
      })
      assert.deepStrictEqual([paid.invoice.status, paid.payment.status], ["paid", "succeeded"])
      const subscription = yield* client.subscriptions.get({ params: { id: result.subscription.id } })
      assert.strictEqual(subscription.status, "active")
      assert.isNull(subscription.failureCode)
      // the period starts with the payment: invoice, its plan line and the subscription all moved to it
      assertOnePeriod(subscription, paid.invoice)
      assert.isTrue(DateTime.isGreaterThan(paid.invoice.periodStart, result.invoice.periodStart))
      // a paid invoice is not paid twice
      assert.strictEqual(
        yield* errorTag(client.invoices.pay({
          params: { id: result.invoice.id },
          headers: { "idempotency-key": newKey() },
          payload: { paymentMethod: "pm_card_visa" }
        })),
        "InvoiceNotOpen"
      )
      const payments = yield* client.payments.list({ query: {} })
      assert.deepStrictEqual(payments.items.map((p) => p.status).sort(), ["failed", "succeeded"])
    }))

  it.effect("a subscribe reads the plan and the account's time zone in one statement (UTC for an account without one)", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan({ amount: 500 })
      const { account } = yield* viewer()
      const catalog = yield* CatalogCopy
      const sql = yield* SqlClient.SqlClient
      const zoneOf = (userId: UserId) =>
        catalog.findPlanWithTimeZone(planId, userId).pipe(
          Effect.map((found) => Option.getOrThrow(found).timeZone),
          Effect.orDie
        )
      assert.strictEqual(yield* zoneOf(account.id), "UTC")
      yield* sql`UPDATE billing.users SET time_zone = 'America/New_York' WHERE id = ${account.id}`.pipe(Effect.orDie)
      assert.strictEqual(yield* zoneOf(account.id), "America/New_York")
      assert.strictEqual(yield* zoneOf(UserId.make("usr_nobody")), "UTC")
      assert.isTrue(
        Option.isNone(
          yield* catalog.findPlanWithTimeZone(PlanId.make("plan_nonexistent"), account.id).pipe(Effect.orDie)
        )
      )
    }))

  it.effect("a saved card becomes the default: a subscribe without paymentMethod charges it", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const { client } = yield* viewer()
      const method = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_visa" } })
      assert.deepStrictEqual([method.brand, method.last4, method.isDefault], ["visa", "4242", true])
      const result = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId }
      })
      assert.deepStrictEqual([result.subscription.status, result.payment?.status], ["active", "succeeded"])
    }))

  it.effect("a subscribe with no card and none saved is refused with 422 and leaves nothing behind: the retry with a card subscribes", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const { account, client } = yield* viewer()
      const refused = client.subscriptions.create({ headers: { "idempotency-key": newKey() }, payload: { planId } })
      assert.strictEqual(yield* errorTag(refused), "NoPaymentMethod")
      assert.strictEqual(
        yield* count((sql) => sql`SELECT count(*)::int AS n FROM billing.subscriptions WHERE user_id = ${account.id}`),
        0
      )
      assert.strictEqual(
        yield* count((sql) => sql`SELECT count(*)::int AS n FROM billing.invoices WHERE user_id = ${account.id}`),
        0
      )
      const result = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      assert.deepStrictEqual([result.subscription.status, result.payment?.status], ["active", "succeeded"])
    }))

  it.effect("lists are paginated: limit and cursor walk the caller's subscriptions newest first", () =>
    Effect.gen(function*() {
      const { client } = yield* viewer()
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const { planId } = yield* seedPlan()
        ids.push(
          (yield* client.subscriptions.create({
            headers: { "idempotency-key": newKey() },
            payload: { planId, paymentMethod: "pm_card_visa" }
          })).subscription.id
        )
      }
      const first = yield* client.subscriptions.list({ query: { limit: 2 } })
      const second = yield* client.subscriptions.list({ query: { limit: 2, cursor: first.nextCursor ?? "" } })
      assert.deepStrictEqual([...first.items, ...second.items].map((s) => s.id), [...ids].reverse())
      assert.isNull(second.nextCursor)
    }))

  it.effect("Idempotency-Key: same body replays, other body → 422, missing → 400", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const other = yield* seedPlan()
      const { client, token } = yield* viewer()
      const key = newKey()
      const first = yield* client.subscriptions.create({
        headers: { "idempotency-key": key },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      const again = yield* client.subscriptions.create({
        headers: { "idempotency-key": key },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      assert.deepStrictEqual(again, first)
      assert.strictEqual(
        yield* errorTag(
          client.subscriptions.create({ headers: { "idempotency-key": key }, payload: { planId: other.planId } })
        ),
        "IdempotencyKeyReused"
      )
      const missing = yield* raw("POST", "/v1/subscriptions", { token, body: { planId: other.planId } })
      assert.strictEqual(missing.status, 400)
      assert.strictEqual(missing.body["_tag"], "BadRequest")
    }))

  it.effect("50 concurrent subscribes with one key: one subscription, one invoice, one charge, identical answers", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const { account, client } = yield* viewer()
      const key = newKey()
      const answers = yield* Effect.all(
        Array.from(
          { length: 50 },
          () =>
            client.subscriptions.create({
              headers: { "idempotency-key": key },
              payload: { planId, paymentMethod: "pm_card_visa" }
            })
        ),
        { concurrency: 50 }
      )
      for (const answer of answers) assert.deepStrictEqual(answer, answers[0])
      assert.strictEqual(
        yield* count((sql) => sql`SELECT count(*)::int AS n FROM billing.subscriptions WHERE user_id = ${account.id}`),
        1
      )
      assert.strictEqual(
        yield* count((sql) => sql`SELECT count(*)::int AS n FROM billing.invoices WHERE user_id = ${account.id}`),
        1
      )
      assert.strictEqual(
        yield* count((sql) => sql`SELECT count(*)::int AS n FROM payments.payments WHERE user_id = ${account.id}`),
        1
      )
    }))

  it.effect("a second live subscription to one product → 409; an archived product's plan → 422; unknown plan → 404", () =>
    Effect.gen(function*() {
      const { planId, productId } = yield* seedPlan()
      const { client } = yield* viewer()
      const first = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      const second = yield* Effect.flip(
        client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId, paymentMethod: "pm_card_visa" }
        })
      )
      assert.strictEqual(second._tag, "AlreadySubscribed")
      assert.strictEqual(second._tag === "AlreadySubscribed" ? second.subscriptionId : null, first.subscription.id)
      yield* SqlClient.SqlClient.use((sql) =>
        sql`UPDATE billing.products SET status = 'archived' WHERE id = ${productId}`
      ).pipe(Effect.orDie)
      const { client: late } = yield* viewer()
      assert.strictEqual(
        yield* errorTag(
          late.subscriptions.create({
            headers: { "idempotency-key": newKey() },
            payload: { planId, paymentMethod: "pm_card_visa" }
          })
        ),
        "PlanNotOnSale"
      )
      assert.strictEqual(
        yield* errorTag(late.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId: first.subscription.planId.replace("plan_", "plan_missing_") as typeof planId }
        })),
        "NotFound"
      )
    }))

  it.effect("a plan with trial days → trialing with a $0 paid first invoice and no charge", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan({ trialDays: 7 })
      const { client } = yield* viewer()
      const result = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId }
      })
      assert.strictEqual(result.subscription.status, "trialing")
      assert.deepStrictEqual([result.invoice.status, result.invoice.amount], ["paid", 0])
      assert.isNull(result.payment)
    }))

  it.effect("cancel at period end keeps it active and resumable; cancel now ends it; twice → 409", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const { client } = yield* viewer()
      const { subscription } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      const pending = yield* client.subscriptions.cancel({ params: { id: subscription.id }, payload: {} })
      assert.deepStrictEqual([pending.status, pending.cancelAtPeriodEnd], ["active", true])
      const resumed = yield* client.subscriptions.resume({ params: { id: subscription.id } })
      assert.deepStrictEqual([resumed.status, resumed.cancelAtPeriodEnd], ["active", false])
      assert.strictEqual(
        yield* errorTag(client.subscriptions.resume({ params: { id: subscription.id } })),
        "NoCancellationPending"
      )
      const ended = yield* client.subscriptions.cancel({
        params: { id: subscription.id },
        payload: { atPeriodEnd: false }
      })
      assert.strictEqual(ended.status, "canceled")
      assert.strictEqual(
        yield* errorTag(
          client.subscriptions.cancel({ params: { id: subscription.id }, payload: { atPeriodEnd: false } })
        ),
        "SubscriptionEnded"
      )
      assert.deepStrictEqual(yield* billingEvents(subscription.id), [
        "subscription.created",
        "subscription.activated",
        "subscription.canceled"
      ])
    }))

  it.effect("canceling an incomplete subscription voids its open invoice, which can then not be paid", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const { client } = yield* viewer()
      const { invoice, subscription } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_chargeDeclined" }
      })
      yield* client.subscriptions.cancel({ params: { id: subscription.id }, payload: {} })
      assert.strictEqual((yield* client.invoices.get({ params: { id: invoice.id } })).status, "void")
      assert.strictEqual(
        yield* errorTag(
          client.invoices.pay({
            params: { id: invoice.id },
            headers: { "idempotency-key": newKey() },
            payload: { paymentMethod: "pm_card_visa" }
          })
        ),
        "InvoiceNotOpen"
      )
    }))

  it.effect("someone else's subscription, invoice and payment → 404 on every route; lists hold only your own", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const owner = yield* viewer("owner")
      const other = yield* viewer("other")
      const { invoice, payment, subscription } = yield* owner.client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_chargeDeclined" }
      })
      const c = other.client
      const tags = [
        yield* errorTag(c.subscriptions.get({ params: { id: subscription.id } })),
        yield* errorTag(c.subscriptions.cancel({ params: { id: subscription.id }, payload: {} })),
        yield* errorTag(c.subscriptions.resume({ params: { id: subscription.id } })),
        yield* errorTag(c.invoices.get({ params: { id: invoice.id } })),
        yield* errorTag(
          c.invoices.pay({
            params: { id: invoice.id },
            headers: { "idempotency-key": newKey() },
            payload: { paymentMethod: "pm_card_visa" }
          })
        ),
        yield* errorTag(c.payments.get({ params: { id: PaymentId.make(payment?.id ?? "none") } }))
      ]
      assert.deepStrictEqual(tags, Array(6).fill("NotFound"))
      assert.deepStrictEqual((yield* c.subscriptions.list({ query: {} })).items, [])
      assert.deepStrictEqual((yield* c.invoices.list({ query: {} })).items, [])
      assert.deepStrictEqual((yield* c.payments.list({ query: {} })).items, [])
      assert.strictEqual((yield* owner.client.invoices.list({ query: {} })).items.length, 1)
      // a user id in the query is not a filter anyone can set: the list stays the caller's own
      for (const path of ["/v1/subscriptions", "/v1/invoices", "/v1/payments"]) {
        const listed = yield* raw("GET", `${path}?userId=${owner.account.id}`, { token: other.token })
        assert.deepStrictEqual([listed.status, listed.body["items"]], [200, []])
      }
    }))

  it.effect("mass assignment: status, amount and userId in a subscribe body are ignored", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan({ amount: 700 })
      const { account, token } = yield* viewer()
      const other = yield* viewer("victim")
      const response = yield* raw("POST", "/v1/subscriptions", {
        token,
        headers: { "idempotency-key": newKey() },
        body: { planId, paymentMethod: "pm_card_chargeDeclined", status: "active", amount: 1, userId: other.account.id }
      })
      assert.strictEqual(response.status, 201)
      const body = response.body as { subscription: { status: string; userId: string }; invoice: { amount: number } }
      assert.deepStrictEqual(
        [body.subscription.status, body.subscription.userId, body.invoice.amount],
        ["incomplete", account.id, 700]
      )
    }))

  it.effect("mass assignment: status, amount and userId in pay, cancel, payment-method and time-zone bodies are ignored", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan({ amount: 800 })
      const { account, client, token } = yield* viewer()
      const other = yield* viewer("victim")
      const extra = { status: "paid", amount: 1, userId: other.account.id }
      const { invoice, subscription } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_chargeDeclined" }
      })
      const paid = yield* raw("POST", `/v1/invoices/${invoice.id}/pay`, {
        token,
        headers: { "idempotency-key": newKey() },
        body: { paymentMethod: "pm_card_visa", ...extra }
      })
      const payment = (paid.body as { payment: { amount: number; userId: string } }).payment
      assert.deepStrictEqual([paid.status, payment.amount, payment.userId], [200, 800, account.id])
      const card = yield* raw("POST", "/v1/payment-methods", {
        token,
        body: { paymentMethod: "pm_card_visa", ...extra, isDefault: false }
      })
      assert.deepStrictEqual([card.status, card.body["isDefault"]], [201, true])
      const zone = yield* raw("PUT", "/v1/me/time-zone", { token, body: { timeZone: "Europe/Paris", ...extra } })
      assert.deepStrictEqual([zone.status, zone.body], [200, { timeZone: "Europe/Paris" }])
      assert.deepStrictEqual(yield* other.client.me.timeZone(), { timeZone: "UTC" })
      const canceled = yield* raw("POST", `/v1/subscriptions/${subscription.id}/cancel`, {
        token,
        body: { atPeriodEnd: true, ...extra, status: "active" }
      })
      assert.deepStrictEqual(
        [canceled.status, canceled.body["status"], canceled.body["cancelAtPeriodEnd"]],
        [200, "active", true]
      )
      assert.deepStrictEqual((yield* other.client.subscriptions.list({ query: {} })).items, [])
    }))

  it.effect("payment outcomes from payments' callback apply once: a refund adds one credit line however often it comes", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan({ amount: 1500 })
      const { client } = yield* viewer()
      const { invoice, payment } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      assert.isNotNull(payment)
      if (payment === null) return
      const callback = yield* BillingCallbackClient
      const refunded = { ...payment, status: "refunded" as const, refundedAmount: 1500 }
      const outcome = { id: randomUUID(), type: "payment.refunded" as const, payment: refunded }
      yield* callback.PaymentOutcome(outcome)
      yield* callback.PaymentOutcome(outcome)
      yield* callback.PaymentOutcome({ ...outcome, id: randomUUID() })
      const after = yield* client.invoices.get({ params: { id: invoice.id } })
      assert.deepStrictEqual(after.lines.map((l) => [l.kind, l.amount]), [["plan", 1500], ["credit", -1500]])
      assert.strictEqual(after.creditedAmount, 1500)
      assert.strictEqual((yield* client.payments.get({ params: { id: payment.id } })).refundedAmount, 1500)
      // an outcome for an invoice billing never issued is acknowledged and ignored
      yield* callback.PaymentOutcome({
        id: randomUUID(),
        type: "payment.succeeded",
        payment: { ...payment, id: PaymentId.make("pay_unknown"), invoiceId: InvoiceId.make("inv_unknown") }
      })
    }).pipe(
      Effect.provide(
        Layer.unwrap(
          Effect.map(
            Effect.service(HttpServer.HttpServer),
            (server) => BillingCallbackClient.layer(`${serverUrl(server)}/rpc`, Redacted.make(serviceToken))
          )
        )
      )
    ))

  it.effect("a pay racing a cancel of its invoice: paid, or void with any money taken refunded in full", () =>
    Effect.gen(function*() {
      const { planId } = yield* seedPlan()
      const sandbox = yield* StripeSandbox
      for (let round = 0; round < 5; round++) {
        const { client } = yield* viewer()
        const { invoice, subscription } = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId, paymentMethod: "pm_card_chargeDeclined" }
        })
        // the charge is held at the provider for a while, so the cancel lands while it is in flight (no lock waits)
        yield* sandbox.faults.inject({
          action: "delay",
          delayMs: 150 * round,
          method: "POST",
          path: "/v1/payment_intents"
        })
        const [pay, cancel] = yield* Effect.all([
          Effect.exit(
            client.invoices.pay({
              params: { id: invoice.id },
              headers: { "idempotency-key": newKey() },
              payload: { paymentMethod: "pm_card_visa" }
            })
          ),
          Effect.exit(client.subscriptions.cancel({ params: { id: subscription.id }, payload: { atPeriodEnd: false } }))
        ], { concurrency: 2 })
        yield* sandbox.faults.clear
        assert.isTrue(pay._tag === "Success" || cancel._tag === "Success")
        const final = yield* client.invoices.get({ params: { id: invoice.id } })
        const kept = yield* count((
          sql
        ) => sql`SELECT COALESCE(SUM(amount - refunded_amount), 0)::int AS n FROM billing.payments WHERE invoice_id = ${invoice.id}
            AND status IN ('succeeded', 'partially_refunded', 'refunded')`)
        if (final.status === "void") assert.strictEqual(kept, 0, "money kept on a void invoice")
        else assert.strictEqual(final.status, "paid")
      }
    }))

  it.effect("invariants over everything this file wrote: one invoice per (subscription, period start), refunds within payments", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* count((sql) => sql`SELECT count(*)::int AS n FROM (SELECT subscription_id, period_start
        FROM billing.invoices GROUP BY 1, 2 HAVING count(*) > 1) d`),
        0
      )
      assert.strictEqual(
        yield* count((sql) => sql`SELECT count(*)::int AS n FROM billing.invoices i
        WHERE (SELECT COALESCE(-SUM(amount), 0) FROM billing.invoice_lines l WHERE l.invoice_id = i.id AND l.kind = 'credit')
          > (SELECT COALESCE(SUM(amount), 0) FROM billing.payments p WHERE p.invoice_id = i.id
              AND p.status IN ('succeeded', 'partially_refunded', 'refunded'))`),
        0
      )
      assert.strictEqual(
        yield* count((sql) => sql`SELECT count(*)::int AS n FROM (SELECT invoice_id FROM billing.payments
        WHERE status IN ('succeeded', 'partially_refunded', 'refunded') GROUP BY 1 HAVING count(*) > 1) d`),
        0
      )
    }))
})
