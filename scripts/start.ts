// `npm start`: every app in one process on one shared platform (embedded PGlite, in-process cache
// and bus when DATABASE_URL/REDIS_URL/AMQP_URL are unset; the real servers when they are set).
import { BillingLive } from "@kassa/billing/main"
import { CatalogLive } from "@kassa/catalog/main"
import { DemoCatalogLive } from "@kassa/catalog/seed"
import { PaymentsApp, PaymentsLive } from "@kassa/payments/main"
import { PlatformLive } from "@kassa/platform"
import { AdminBootstrapConfig, BillingHttpConfig } from "@kassa/billing/config"
import { AmqpConfig, besideEmbeddedData, DatabaseConfig, RedisConfig } from "@kassa/platform/config"
import { CatalogHttpConfig } from "@kassa/catalog/config"
import { developmentApiKey, PaymentsHttpConfig, StripeConfig } from "@kassa/payments/config"
import { StripeSandboxConfig } from "@kassa/stripe-sandbox/config"
import { ConsoleHttpConfig } from "@kassa/console/config"
import * as ConsoleServer from "@kassa/console/serve"
import { runApp, serverUrl } from "@kassa/platform/http"
import { StripeClient } from "@kassa/payments/stripe"
import { SandboxLive, StripeSandbox } from "@kassa/stripe-sandbox"
import { HttpServer } from "effect/http"
import { Config, Console, ConfigProvider, Context, Effect, Layer, Option, Redacted } from "effect"
import { demoAdminEmail, loadOrCreatePassword, newPassword } from "./demo-admin.ts"

// Without ADMIN_EMAIL/ADMIN_PASSWORD, a demo admin (billing ensures it at start) whose generated password is kept
// beside the embedded data, unless PGlite keeps nothing either.
class DemoAdmin extends Context.Service<
  DemoAdmin,
  Option.Option<{
    readonly password: string
    /** undefined: not kept (PGLITE_DATA_DIR=memory) */
    readonly file: string | undefined
  }>
>()("start/DemoAdmin") {}
const DemoAdminLive = Layer.unwrap(Effect.gen(function*() {
  if (Option.isSome(yield* AdminBootstrapConfig)) return Layer.succeed(DemoAdmin, Option.none())
  const place = besideEmbeddedData((yield* DatabaseConfig).pgliteDataDir, "admin-password")
  const file = place === "memory" ? undefined : place
  const password = file === undefined ? newPassword() : (yield* loadOrCreatePassword(file)).password
  return Layer.merge(
    Layer.succeed(DemoAdmin, Option.some({ password, file })),
    ConfigProvider.layerAdd(ConfigProvider.fromUnknown({ ADMIN_EMAIL: demoAdminEmail, ADMIN_PASSWORD: password }))
  )
}))

// One process: billing charges through payments' RPC and payments reports outcomes to billing's, on the ports
// configured here, unless PAYMENTS_RPC_URL / BILLING_RPC_URL point elsewhere.
const ServiceUrls = Layer.unwrap(Effect.gen(function*() {
  const local = (c: { host: string; port: number }) =>
    `http://${c.host === "0.0.0.0" ? "127.0.0.1" : c.host}:${c.port}/rpc`
  const billing = yield* BillingHttpConfig
  const payments = yield* PaymentsHttpConfig
  const set = yield* Config.all({
    payments: Config.option(Config.String("PAYMENTS_RPC_URL")),
    billing: Config.option(Config.String("BILLING_RPC_URL"))
  })
  return ConfigProvider.layerAdd(ConfigProvider.fromUnknown({
    ...(Option.isSome(set.payments) ? {} : { PAYMENTS_RPC_URL: local(payments) }),
    ...(Option.isSome(set.billing) ? {} : { BILLING_RPC_URL: local(billing) })
  }))
}))

// Without STRIPE_API_BASE (and without a real STRIPE_API_KEY), payments talks to the bundled Stripe sandbox, run
// here on STRIPE_SANDBOX_PORT and delivering its signed webhooks to payments.
const PaymentsOnSandbox = Layer.effectDiscard(Effect.gen(function*() {
  const sandbox = yield* StripeSandbox
  const payments = yield* HttpServer.HttpServer
  const { webhookSecret } = yield* StripeSandboxConfig
  yield* sandbox.webhooks.addEndpoint(`${serverUrl(payments)}/webhooks/stripe`, Redacted.value(webhookSecret))
})).pipe(
  Layer.provideMerge(PaymentsApp.pipe(
    Layer.provide(
      Layer.unwrap(
        Effect.map(Effect.service(StripeSandbox), (sandbox) => StripeClient.layerWith({ apiBase: sandbox.url }))
      )
    )
  )),
  Layer.provideMerge(SandboxLive)
)
const PaymentsWithStripe = Layer.unwrap(Effect.map(StripeConfig, (stripe) => {
  const realKey = Option.exists(stripe.apiKey, (key) => Redacted.value(key) !== developmentApiKey)
  return Option.isSome(stripe.apiBase) || realKey ? PaymentsLive : PaymentsOnSandbox
}))

// The web console (admin console and viewer portal): built when its files are stale, served with billing's and
// catalog's API routes on one origin.
const ConsoleLive = Layer.unwrap(Effect.gen(function*() {
  const local = (c: { host: string; port: number }) =>
    new URL(`http://${c.host === "0.0.0.0" ? "127.0.0.1" : c.host}:${c.port}`)
  const console = yield* ConsoleHttpConfig
  return ConsoleServer.layer({
    ...console,
    upstreams: { billing: local(yield* BillingHttpConfig), catalog: local(yield* CatalogHttpConfig) }
  })
}))

const Banner = Layer.effectDiscard(Effect.gen(function*() {
  const db = yield* DatabaseConfig
  const redis = yield* RedisConfig
  const amqp = yield* AmqpConfig
  const url = (c: { host: string; port: number }) => `http://${c.host === "0.0.0.0" ? "127.0.0.1" : c.host}:${c.port}`
  const apps = [
    ["billing", yield* BillingHttpConfig],
    ["payments", yield* PaymentsHttpConfig],
    ["catalog", yield* CatalogHttpConfig]
  ] as const
  const admin = yield* AdminBootstrapConfig
  const sandboxConfig = yield* StripeSandboxConfig
  const demo = yield* DemoAdmin
  const consoleUrl = (yield* ConsoleServer.ConsoleServer).url
  yield* Console.log([
    "",
    "Kassa is up.",
    ...apps.map(([name, c]) => `  ${name.padEnd(9)} ${url(c)}   docs ${url(c)}/docs   health ${url(c)}/health`),
    `  database  ${Option.isSome(db.url) ? "DATABASE_URL" : `embedded PGlite (${db.pgliteDataDir})`}`,
    `  cache     ${Option.isSome(redis.url) ? "REDIS_URL" : "in-process"}`,
    `  events    ${Option.isSome(amqp.url) ? "AMQP_URL" : "in-process bus"}`,
    `  stripe    ${
      Option.match(yield* Effect.serviceOption(StripeSandbox), {
        onNone: () => "STRIPE_API_BASE / STRIPE_API_KEY",
        onSome: (sandbox) =>
          `bundled sandbox ${sandbox.url.origin} (webhooks delivered to payments; account kept in ${sandboxConfig.dataDir})`
      })
    }`,
    `  console   ${consoleUrl}   (admin console and viewer portal: sign in there as the admin below)`,
    Option.match(demo, {
      onNone: () =>
        `  admin     ${Option.match(admin, { onNone: () => "none", onSome: (a) => `${a.email} (ADMIN_EMAIL)` })}`,
      onSome: ({ file, password }) =>
        `  admin     ${demoAdminEmail} / ${password}   (demo admin; ${
          file === undefined
            ? "a new password at each start, as PGLITE_DATA_DIR=memory keeps nothing"
            : `password kept in ${file}: delete it for a new one`
        }, or set ADMIN_EMAIL and ADMIN_PASSWORD to choose your own)`
    }),
    `  products  ${url(apps[0][1])}/v1/products   (a demo catalog is seeded when the catalog is empty)`,
    "Ctrl-C stops everything.",
    ""
  ].join("\n"))
}))

runApp(
  Banner.pipe(
    Layer.provide(ConsoleLive),
    Layer.provide(Layer.mergeAll(BillingLive, PaymentsWithStripe, CatalogLive, DemoCatalogLive)),
    Layer.provide(PlatformLive),
    Layer.provide(DemoAdminLive),
    Layer.provide(ServiceUrls)
  )
)
