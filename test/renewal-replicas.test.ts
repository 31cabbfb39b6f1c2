// Renewals at scale with replicas: three billing processes (each running the scheduler's fibers) over 10,000
// subscriptions whose period has ended, payments as a process of its own charging the Stripe sandbox, one billing
// process SIGKILLed while it is invoicing and charging. Afterwards: one renewal invoice per subscription, each paid
// by exactly one charge at the provider, none missed.
import { assert, it } from "@effect/vitest"
import { developmentApiKey } from "@kassa/payments/config"
import { metricValue } from "@kassa/platform/testing"
import { StripeSandbox } from "@kassa/stripe-sandbox"
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer, Schedule } from "effect"
import { appProcess, freePort, migratedDatabase } from "./fault-support.ts"

const serviceToken = "renewal-replicas-service-token"
const users = 1_000
const products = 10 // one subscription per user and product: 10,000

it.live(
  "three billing replicas, one killed mid-batch, renew 10,000 subscriptions: no duplicate invoice or charge, none missed",
  () =>
    Effect.gen(function*() {
      const { dbName, sql } = yield* migratedDatabase(2)
      const run = randomUUID().slice(0, 8)
      // users, products with a monthly plan, and every user subscribed to every product, the period ended an hour ago
      yield* sql`INSERT INTO billing.users (id, email, password_hash, role, created_at, updated_at)
      SELECT 'usr_' || ${run} || '_' || u, 'r' || u || '-' || ${run} || '@example.com', 'x', 'user', now(), now()
      FROM generate_series(1, ${users}) u`
      yield* sql`INSERT INTO billing.products (id, name, description, status, catalog_version)
      SELECT 'prod_' || ${run} || '_' || p, 'Product ' || p, '', 'active', 0 FROM generate_series(1, ${products}) p`
      yield* sql`INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
      SELECT 'plan_' || ${run} || '_' || p, 'prod_' || ${run} || '_' || p, 'month', 500 + p, 'EUR', 0, 'active'
      FROM generate_series(1, ${products}) p`
      yield* sql`INSERT INTO billing.subscriptions (id, user_id, product_id, plan_id, status, current_period_start,
        current_period_end, billing_anchor, created_at, updated_at)
      SELECT 'sub_' || ${run} || '_' || u || '_' || p, 'usr_' || ${run} || '_' || u, 'prod_' || ${run} || '_' || p,
        'plan_' || ${run} || '_' || p, 'active', now() - interval '1 month' - interval '1 hour',
        now() - interval '1 hour', now() - interval '1 month' - interval '1 hour', now(), now()
      FROM generate_series(1, ${users}) u, generate_series(1, ${products}) p`

      const sandbox = Context.get(yield* Layer.build(StripeSandbox.layer()), StripeSandbox)
      const paymentsPort = yield* freePort
      const shared = {
        DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${dbName}`,
        REDIS_URL: "redis://127.0.0.1:6379",
        REDIS_KEY_PREFIX: `replicas:${run}:`,
        AMQP_URL: "amqp://guest:guest@127.0.0.1:5672",
        AMQP_EXCHANGE: `kassa.replicas.${run}`,
        SERVICE_TOKEN: serviceToken,
        JWT_SECRET: "renewal-replicas-jwt-secret-0123456789abcdef",
        LOG_LEVEL: "Error"
      }
      yield* appProcess("payments", paymentsPort, {
        ...shared,
        PAYMENTS_PORT: String(paymentsPort),
        STRIPE_API_KEY: developmentApiKey,
        STRIPE_API_BASE: sandbox.url.origin,
        PAYMENTS_PROVIDER_RATE_LIMIT: "0"
      })
      // each user's card, saved at the provider through payments' operator routes
      const payments = (path: string, body: unknown) =>
        Effect.promise(() =>
          fetch(`http://127.0.0.1:${paymentsPort}/v1/payments${path}`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${serviceToken}` },
            body: JSON.stringify(body)
          }).then((r) => r.status)
        )
      yield* Effect.forEach(
        Array.from({ length: users }, (_, i) => `usr_${run}_${i + 1}`),
        (userId) =>
          Effect.gen(function*() {
            assert.strictEqual(yield* payments("/customers", { userId }), 200)
            assert.strictEqual(
              yield* payments(`/customers/${userId}/payment-methods`, { paymentMethod: "pm_card_visa" }),
              200
            )
          }),
        { concurrency: 32, discard: true }
      )
      yield* Effect.logWarning("renewal replicas: cards saved")

      const replicas = yield* Effect.forEach(
        [1, 2, 3],
        () =>
          Effect.flatMap(freePort, (port) =>
            appProcess("billing", port, {
              ...shared,
              BILLING_PORT: String(port),
              PAYMENTS_RPC_URL: `http://127.0.0.1:${paymentsPort}/rpc`,
              BILLING_SCHEDULER_INTERVAL: "1 second",
              BILLING_CHARGE_CONCURRENCY: "16",
              BILLING_INVOICE_BATCH: "500",
              ETL_SWEEP_INTERVAL: "1 minute"
            }))
      )

      const count = (query: Effect.Effect<ReadonlyArray<{ readonly n: number }>, unknown>) =>
        Effect.map(Effect.orDie(query), (rows) => Number(rows[0]?.n ?? 0))
      const paid = count(sql`SELECT count(*)::int AS n FROM billing.invoices WHERE status = 'paid'`)
      // mid-batch: once some renewals are charged, one replica dies with claims and charges in flight
      yield* paid.pipe(
        Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (n) => n >= 1_500 }),
        Effect.timeout("300 seconds")
      )
      yield* replicas[0]!.kill
      yield* Effect.logWarning("renewal replicas: 1,500 paid, one replica killed")
      const total = users * products
      const done = yield* paid.pipe(
        Effect.repeat({ schedule: Schedule.spaced("500 millis"), until: (n) => n >= total }),
        Effect.timeout("600 seconds"),
        Effect.catch(() => paid)
      )

      assert.strictEqual(done, total, "every renewal invoiced and paid: none missed")
      // the scheduler fibers' counters reach each replica's own /metrics (the survivors did most of the work)
      for (const replica of replicas.slice(1)) {
        const metrics = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${replica.port}/metrics`).then((r) => r.text())
        )
        assert.isAbove(
          metricValue(metrics, "kassa_scheduler_charges_total", { outcome: "paid" }) ?? 0,
          0,
          `${replica.port} counts its charges`
        )
      }
      assert.strictEqual(yield* count(sql`SELECT count(*)::int AS n FROM billing.invoices`), total, "one invoice each")
      assert.strictEqual(
        yield* count(sql`SELECT count(*)::int AS n FROM billing.subscriptions
      WHERE status = 'active' AND current_period_end > now() + interval '25 days'`),
        total,
        "every one renewed"
      )
      assert.strictEqual(
        yield* count(sql`SELECT count(*)::int AS n FROM (SELECT invoice_id FROM payments.payments
      WHERE status = 'succeeded' GROUP BY 1 HAVING count(*) > 1) d`),
        0,
        "one succeeded payment per invoice"
      )
      const ledger = yield* sandbox.ledger.snapshot
      const charged = new Map<string, number>()
      for (const intent of ledger.paymentIntents) {
        if (intent["status"] !== "succeeded") continue
        const invoice = (intent["metadata"] as Record<string, string>)["kassa_invoice_id"] ?? ""
        charged.set(invoice, (charged.get(invoice) ?? 0) + 1)
      }
      assert.strictEqual(charged.size, total, "the provider charged every invoice")
      assert.deepStrictEqual([...charged.values()].filter((n) => n > 1), [], "and none twice")
    }).pipe(Effect.scoped),
  { timeout: 900_000 }
)
