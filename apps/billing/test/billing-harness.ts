// Billing and payments under test together, as `npm start` runs them: one test database on the real Postgres, the
// real Redis and RabbitMQ, the Stripe sandbox in-process, payments serving its RPC on an ephemeral port and billing
// charging through it. Plans are written into billing's catalog copy directly (the ETL is tested elsewhere).
import { BillingApp } from "@kassa/billing/main"
import { BillingApi } from "@kassa/domain/apis"
import { PlanId, ProductId } from "@kassa/domain/ids"
import { PaymentsRpcClient } from "@kassa/clients"
import { PaymentsApp } from "@kassa/payments/main"
import { serverUrl } from "@kassa/platform/http"
import { StripeClient } from "@kassa/payments/stripe"
import { apiClient, TestDatabase, testPlatform } from "@kassa/platform/testing"
import { type SandboxOptions, StripeSandbox } from "@kassa/stripe-sandbox"
import { randomUUID } from "node:crypto"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { HttpServer } from "effect/http"
import type { HttpApiClient } from "effect/http-api"
import { SqlClient } from "effect/sql"
import { authTestConfig, billingClient, CatalogSchema, uniqueEmail } from "./support.ts"

export const serviceToken = "billing-test-service-token"
const webhookSecret = "whsec_billing_test"

const paymentsConfig = ConfigProvider.layer(ConfigProvider.fromUnknown({
  DATABASE_URL: "postgres://set-by-TestDatabase",
  REDIS_URL: "redis://127.0.0.1:6379",
  AMQP_URL: "amqp://guest:guest@127.0.0.1:5672",
  PAYMENTS_PORT: "0",
  SERVICE_TOKEN: serviceToken,
  STRIPE_WEBHOOK_SECRET: webhookSecret,
  PAYMENTS_RECONCILE_INTERVAL: "1 hour"
}))

const PaymentsSide = (sandbox: SandboxOptions) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sandbox = yield* StripeSandbox
    yield* sandbox.webhooks.addEndpoint(`${serverUrl(yield* HttpServer.HttpServer)}/webhooks/stripe`, webhookSecret)
  })).pipe(
    Layer.provideMerge(PaymentsApp.pipe(
      Layer.provide(
        Layer.unwrap(
          Effect.map(
            Effect.service(StripeSandbox),
            (sandbox) => StripeClient.layerWith({ apiBase: sandbox.url, timeout: "3 seconds" })
          )
        )
      ),
      Layer.provide(paymentsConfig)
    )),
    Layer.provideMerge(StripeSandbox.layer({ webhookRetryBase: "50 millis", ...sandbox }))
  )

// payments' HttpServer stays inside: the harness's HttpServer is billing's
const ClientToPayments = Layer.unwrap(
  Effect.map(
    Effect.service(HttpServer.HttpServer),
    (server) => PaymentsRpcClient.layer(`${serverUrl(server)}/rpc`, Redacted.make(serviceToken))
  )
)

/**
 * `options.database`: another database than a fresh one (e.g. one a test restarts the apps on); `options.sandbox`:
 * the sandbox's options (e.g. a `dataDir` it keeps its account in). Besides billing, the tests reach payments' RPC
 * client and the sandbox (to inject faults, read its ledger).
 */
export const BillingWithPayments = (
  extra: Record<string, string> = {},
  options: { readonly database?: typeof TestDatabase; readonly sandbox?: SandboxOptions } = {}
) =>
  BillingApp.pipe(
    Layer.provideMerge(
      Layer.mergeAll(ClientToPayments, Layer.effect(StripeSandbox, Effect.service(StripeSandbox))).pipe(
        Layer.provide(PaymentsSide(options.sandbox ?? {}))
      )
    ),
    Layer.provide(authTestConfig({ SERVICE_TOKEN: serviceToken, ...extra })),
    Layer.provide(CatalogSchema),
    Layer.provideMerge(testPlatform(options.database ?? TestDatabase))
  )

/** A product on sale with one plan, written into billing's copy of the catalog. */
export const seedPlan = (
  options: { readonly amount?: number; readonly trialDays?: number; readonly interval?: "month" | "year" } = {}
) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.gen(function*() {
      const productId = ProductId.make(`prod_${randomUUID()}`)
      const planId = PlanId.make(`plan_${randomUUID()}`)
      yield* sql`INSERT INTO billing.products (id, name, description, status, catalog_version)
        VALUES (${productId}, ${`Product ${productId}`}, '', 'active', 0)`
      yield* sql`INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
        VALUES (${planId}, ${productId}, ${options.interval ?? "month"}, ${options.amount ?? 990}, 'EUR',
          ${options.trialDays ?? 0}, 'active')`
      return { productId, planId }
    })
  ).pipe(Effect.orDie)

/** Registers and logs in a fresh viewer; returns a client carrying their token. */
export const viewer = (label = "viewer") =>
  Effect.gen(function*() {
    const anonymous = yield* billingClient()
    const email = uniqueEmail(label)
    const password = "correct horse battery staple"
    const account = yield* anonymous.auth.register({ payload: { email, password } })
    const tokens = yield* anonymous.auth.token({ payload: { email, password } })
    const client = yield* apiClient(BillingApi, { bearer: tokens.accessToken })
    return { account, client, token: tokens.accessToken }
  })

export const newKey = () => `key-${randomUUID()}`

/** POST /v1/subscriptions for `planId` with the card that pays (pm_card_visa), under a new Idempotency-Key. */
export const subscribeWithCard = (client: HttpApiClient.ForApi<typeof BillingApi>, planId: PlanId) =>
  client.subscriptions.create({
    headers: { "idempotency-key": newKey() },
    payload: { planId, paymentMethod: "pm_card_visa" }
  })

/** The billing outbox events of one aggregate, oldest first. */
export const billingEvents = (aggregateId: string) =>
  SqlClient.SqlClient.use((sql) =>
    sql<
      { readonly type: string }
    >`SELECT type FROM billing.outbox WHERE aggregate_id = ${aggregateId} ORDER BY sequence`
  ).pipe(Effect.map((rows) => rows.map((row) => row.type)), Effect.orDie)

/** A raw request to billing, for what the typed client cannot send (a missing header, a body it would not encode). */
export const raw = (
  method: string,
  path: string,
  options: { readonly token: string; readonly body?: unknown; readonly headers?: Record<string, string> }
) =>
  Effect.gen(function*() {
    const url = serverUrl(yield* HttpServer.HttpServer)
    return yield* Effect.promise(async () => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json", ...options.headers },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
      })
      const text = await response.text()
      // an answer that is not JSON comes back as { text }
      const body = (() => {
        try {
          return JSON.parse(text) as Record<string, unknown>
        } catch {
          return { text }
        }
      })()
      return { status: response.status, body, headers: Object.fromEntries(response.headers.entries()) }
    })
  })

/** The bootstrap admin of a test file: `config` goes to BillingWithPayments, `client` logs in as it. */
export const testAdmin = () => {
  const email = `admin-${randomUUID()}@example.com`
  const password = "admin password for billing tests"
  return {
    config: { ADMIN_EMAIL: email, ADMIN_PASSWORD: password },
    client: Effect.gen(function*() {
      const tokens = yield* (yield* billingClient()).auth.token({ payload: { email, password } })
      return yield* apiClient(BillingApi, { bearer: tokens.accessToken })
    })
  }
}

/** The `_tag` an effect fails with. */
export const errorTag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => e._tag))
