// The deployment's test clock, black-box: billing and payments as separate processes with KASSA_TEST_CLOCK=on on the
// real Postgres, Redis and RabbitMQ. An admin moves the clock 31 days through the HTTP route; payments (another
// process) sees it too — the month-old payment is outside its refund window — access tokens of before have expired,
// and a scheduler cycle started by hand renews the subscription.
import { assert, it } from "@effect/vitest"
import { developmentApiKey } from "@kassa/payments/config"
import { metricValue } from "@kassa/platform/testing"
import { StripeSandbox } from "@kassa/stripe-sandbox"
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer, Schedule } from "effect"
import { appProcess, freePort, migratedDatabase } from "./fault-support.ts"

const serviceToken = "test-clock-service-token"
const webhookSecret = "whsec_test_clock"

it.live(
  "an admin moves the whole deployment's clock a month on: payments' windows, token expiry and renewals follow",
  () =>
    Effect.gen(function*() {
      const { dbName, sql } = yield* migratedDatabase(2)
      const productId = `prod_clock_${randomUUID()}`
      const planId = `plan_clock_${randomUUID()}`
      yield* sql`INSERT INTO billing.products (id, name, description, status, catalog_version)
      VALUES (${productId}, 'Clock', '', 'active', 0)`
      yield* sql`INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
      VALUES (${planId}, ${productId}, 'month', 990, 'EUR', 0, 'active')`

      const sandbox = Context.get(yield* Layer.build(StripeSandbox.layer()), StripeSandbox)
      const [billingPort, paymentsPort] = [yield* freePort, yield* freePort]
      yield* sandbox.webhooks.addEndpoint(`http://127.0.0.1:${paymentsPort}/webhooks/stripe`, webhookSecret)
      const adminEmail = `clock-admin-${randomUUID()}@example.com`
      const adminPassword = "admin password for the clock test"
      const shared = {
        DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${dbName}`,
        REDIS_URL: "redis://127.0.0.1:6379",
        REDIS_KEY_PREFIX: `clock:${randomUUID()}:`,
        AMQP_URL: "amqp://guest:guest@127.0.0.1:5672",
        AMQP_EXCHANGE: `kassa.clock.${randomUUID()}`,
        SERVICE_TOKEN: serviceToken,
        JWT_SECRET: "test-clock-jwt-secret-0123456789abcdef",
        KASSA_TEST_CLOCK: "on"
      }
      yield* appProcess("payments", paymentsPort, {
        ...shared,
        PAYMENTS_PORT: String(paymentsPort),
        BILLING_RPC_URL: `http://127.0.0.1:${billingPort}/rpc`,
        STRIPE_API_KEY: developmentApiKey,
        STRIPE_API_BASE: sandbox.url.origin,
        STRIPE_WEBHOOK_SECRET: webhookSecret
      })
      yield* appProcess("billing", billingPort, {
        ...shared,
        BILLING_PORT: String(billingPort),
        PAYMENTS_RPC_URL: `http://127.0.0.1:${paymentsPort}/rpc`,
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        ETL_SWEEP_INTERVAL: "1 minute"
      })

      const call = (method: string, path: string, token?: string, body?: unknown) =>
        Effect.promise(async () => {
          const response = await fetch(`http://127.0.0.1:${billingPort}${path}`, {
            method,
            headers: {
              "content-type": "application/json",
              "idempotency-key": randomUUID(),
              ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) })
          })
          const text = await response.text()
          return { status: response.status, body: (text === "" ? {} : JSON.parse(text)) as Record<string, any> }
        })
      const login = (email: string, password: string) =>
        Effect.map(
          call("POST", "/v1/auth/token", undefined, { email, password }),
          (r) => r.body["accessToken"] as string
        )

      const email = `clock-${randomUUID()}@example.com`
      const password = "correct horse battery staple"
      assert.strictEqual((yield* call("POST", "/v1/auth/register", undefined, { email, password })).status, 201)
      const viewerBefore = yield* login(email, password)
      const subscribed = yield* call("POST", "/v1/subscriptions", viewerBefore, {
        planId,
        paymentMethod: "pm_card_visa"
      })
      assert.strictEqual(subscribed.status, 201, JSON.stringify(subscribed.body))
      const { subscription, payment } = subscribed.body
      assert.strictEqual(subscription.status, "active")

      const adminBefore = yield* login(adminEmail, adminPassword)
      const before = yield* call("GET", "/admin/v1/test-clock", adminBefore)
      assert.deepStrictEqual([before.status, before.body["enabled"], before.body["offsetSeconds"]], [200, true, 0])
      const moved = yield* call("POST", "/admin/v1/test-clock", adminBefore, { advanceBy: "P31D" })
      assert.strictEqual(moved.status, 200, JSON.stringify(moved.body))
      assert.strictEqual(moved.body["offsetSeconds"], 31 * 24 * 3600)

      // the tokens of before have expired a month ago, for billing as for everyone
      assert.strictEqual((yield* call("GET", "/v1/me", viewerBefore)).status, 401)
      const viewer = yield* login(email, password)
      const admin = yield* login(adminEmail, adminPassword)
      // never back
      assert.strictEqual(
        (yield* call("POST", "/admin/v1/test-clock", admin, { setTo: "2001-01-01T00:00:00Z" })).status,
        422
      )

      // payments is another process: its clock moved too, so the month-old payment is past the 14-day refund window
      const cancel = yield* call("POST", `/v1/payments/${payment.id}/cancel`, viewer)
      assert.strictEqual(cancel.status, 422, JSON.stringify(cancel.body))

      // a cycle by hand renews the subscription a month on
      const run = yield* call("POST", "/admin/v1/billing/run", admin)
      assert.strictEqual(run.status, 202)
      const finished = yield* call("GET", `/admin/v1/billing/runs/${run.body["id"]}`, admin).pipe(
        Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (r) => r.body["status"] !== "running" }),
        Effect.timeout("20 seconds")
      )
      assert.strictEqual(finished.body["status"], "succeeded", JSON.stringify(finished.body))
      const renewed = yield* call("GET", `/v1/subscriptions/${subscription.id}`, viewer)
      assert.deepStrictEqual(
        [renewed.body["status"], renewed.body["currentPeriodStart"]],
        ["active", subscription.currentPeriodEnd]
      )
      const payments = yield* call("GET", "/v1/payments", viewer)
      assert.deepStrictEqual(payments.body["items"].map((p: { status: string }) => p.status), [
        "succeeded",
        "succeeded"
      ])
      // the renewal engine's counters, bumped by the cycle's fibers, are on billing's own /metrics
      const metrics = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${billingPort}/metrics`).then((r) => r.text())
      )
      assert.strictEqual(metricValue(metrics, "kassa_invoices_created_total", { kind: "renewal" }), 1)
      assert.strictEqual(metricValue(metrics, "kassa_scheduler_charges_total", { outcome: "paid" }), 1)
    }).pipe(Effect.scoped),
  { timeout: 120_000 }
)
