// `npm start`: every app in one process on one shared platform (embedded PGlite, in-process cache
// and bus when DATABASE_URL/REDIS_URL/AMQP_URL are unset; the real servers when they are set).
import { BillingLive } from "@kassa/billing/main"
import { CatalogLive } from "@kassa/catalog/main"
import { PaymentsLive } from "@kassa/payments/main"
import { PlatformLive } from "@kassa/platform"
import { AmqpConfig, BillingHttpConfig, CatalogHttpConfig, DatabaseConfig, PaymentsHttpConfig, RedisConfig } from "@kassa/platform/config"
import { runApp } from "@kassa/platform/http"
import { Console, Effect, Layer, Option } from "effect"

const Banner = Layer.effectDiscard(Effect.gen(function*() {
  const db = yield* DatabaseConfig
  const redis = yield* RedisConfig
  const amqp = yield* AmqpConfig
  const url = (c: { host: string; port: number }) => `http://${c.host === "0.0.0.0" ? "127.0.0.1" : c.host}:${c.port}`
  const apps = [["billing", yield* BillingHttpConfig], ["payments", yield* PaymentsHttpConfig], ["catalog", yield* CatalogHttpConfig]] as const
  yield* Console.log([
    "",
    "Kassa is up.",
    ...apps.map(([name, c]) => `  ${name.padEnd(9)} ${url(c)}   docs ${url(c)}/docs   health ${url(c)}/health`),
    `  database  ${Option.isSome(db.url) ? "DATABASE_URL" : `embedded PGlite (${db.pgliteDataDir})`}`,
    `  cache     ${Option.isSome(redis.url) ? "REDIS_URL" : "in-process"}`,
    `  events    ${Option.isSome(amqp.url) ? "AMQP_URL" : "in-process bus"}`,
    "Ctrl-C stops everything.",
    ""
  ].join("\n"))
}))

runApp(
  Banner.pipe(
    Layer.provide(Layer.mergeAll(BillingLive, PaymentsLive, CatalogLive)),
    Layer.provide(PlatformLive)
  )
)
