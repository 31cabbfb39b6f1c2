// The payments app under test: its own database on the real Postgres, the real Redis and RabbitMQ, the Stripe
// sandbox in-process on an ephemeral port (webhooks delivered to the app), and a typed RPC client with the
// service token. Polling helpers wait for real asynchronous work (webhook workers, the outbox relay).
import { InvoiceId, UserId } from "@kassa/domain"
import { PaymentsRpcClient } from "@kassa/clients"
import { PaymentsApp } from "@kassa/payments/main"
import { serverUrl } from "@kassa/platform/http"
import { StripeClient } from "../src/stripe.ts"
import { TestPlatform } from "@kassa/platform/testing"
import { StripeSandbox } from "@kassa/stripe-sandbox"
import { randomUUID } from "node:crypto"
import { Clock, ConfigProvider, type Duration, Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"

export const serviceToken = "payments-test-service-token"
/** accepted beside serviceToken, as during a rotation */
export const previousServiceToken = "payments-test-service-token-previous"
export const webhookSecret = "whsec_payments_test_current"
export const previousWebhookSecret = "whsec_payments_test_previous"

/** The configuration the app reads in tests (the platform's variables plus the payments ones). */
export const testConfig = (extra: Record<string, string> = {}) =>
  ConfigProvider.layer(ConfigProvider.fromUnknown({
    DATABASE_URL: "postgres://set-by-TestDatabase",
    REDIS_URL: "redis://127.0.0.1:6379",
    AMQP_URL: "amqp://guest:guest@127.0.0.1:5672",
    PAYMENTS_PORT: "0",
    SERVICE_TOKEN: serviceToken,
    SERVICE_TOKEN_PREVIOUS: previousServiceToken,
    STRIPE_WEBHOOK_SECRET: webhookSecret,
    STRIPE_WEBHOOK_SECRET_PREVIOUS: previousWebhookSecret,
    // tests drive the reconciler themselves (TestClock); the app's own fiber stays out of the way
    PAYMENTS_RECONCILE_INTERVAL: "1 hour",
    ...extra
  }))

const stripeToSandbox = (timeout: Duration.Input) =>
  Layer.unwrap(
    Effect.map(Effect.service(StripeSandbox), (sandbox) => StripeClient.layerWith({ apiBase: sandbox.url, timeout }))
  )

/** The app's base URL, e.g. for raw HTTP requests. */
export const appUrl = Effect.map(Effect.service(HttpServer.HttpServer), serverUrl)

const RpcClientLive = Layer.unwrap(
  Effect.map(appUrl, (url) => PaymentsRpcClient.layer(`${url}/rpc`, Redacted.make(serviceToken)))
)

const DeliverWebhooksToApp = Layer.effectDiscard(Effect.gen(function*() {
  const sandbox = yield* StripeSandbox
  yield* sandbox.webhooks.addEndpoint(`${yield* appUrl}/webhooks/stripe`, webhookSecret)
}))

export const PaymentsHarness = (config: Record<string, string> = {}, stripeTimeout: Duration.Input = "3 seconds") =>
  Layer.mergeAll(RpcClientLive, DeliverWebhooksToApp).pipe(
    Layer.provideMerge(
      PaymentsApp.pipe(Layer.provideMerge(stripeToSandbox(stripeTimeout)), Layer.provide(testConfig(config)))
    ),
    Layer.provideMerge(StripeSandbox.layer({ webhookRetryBase: "50 millis" })),
    Layer.provideMerge(TestPlatform)
  )

export const newInvoiceId = () => InvoiceId.make(`inv_${randomUUID()}`)
export const newUserId = () => UserId.make(`usr_${randomUUID()}`)
export const newKey = () => `key-${randomUUID()}`

export const rpc = Effect.service(PaymentsRpcClient)

/** Repeats `effect` (real time, 25 ms apart, up to 10 s) until `done` holds for its result. */
export const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      const value = yield* effect
      if (done(value)) return value
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error("condition not reached within 10 s"))
  })

/** The outbox events written for one payment, oldest first. */
export const eventsOf = (paymentId: string) =>
  SqlClient.SqlClient.use((
    sql
  ) => sql<{ readonly type: string; readonly data: { readonly status: string; readonly refundedAmount: number } }>`
      SELECT type, data FROM payments.outbox WHERE aggregate_id = ${paymentId} ORDER BY sequence`)

/** How many payment intents the sandbox holds for one of our payments. */
export const providerIntentsOf = (paymentId: string) =>
  StripeSandbox.use((sandbox) => sandbox.ledger.snapshot).pipe(
    Effect.map((snapshot) =>
      snapshot.paymentIntents.filter((pi) => (pi.metadata as Record<string, string>)["kassa_payment_id"] === paymentId)
    )
  )

/** Runs `f` on a TestClock set to now, so it can move time (the reconciler's schedule) without waiting. */
export const onTestClock = <A, E, R>(f: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (now) => Effect.andThen(TestClock.setTime(now), f).pipe(Effect.provide(TestClock.layer()))
  )

/**
 * As if the process that ran the request under `key` died before storing its answer: the answer is gone and the
 * owner's lease has run out, so the next retry takes the key over and runs the request again.
 */
export const loseAnswer = (key: string) =>
  SqlClient.SqlClient.use((
    sql
  ) => sql`UPDATE payments.idempotency_keys SET response = NULL, owner = 'a-process-that-died',
      lease_until = now() - interval '1 second' WHERE key = ${key}`).pipe(Effect.orDie)
