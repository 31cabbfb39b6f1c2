// The only place that knows environment variable names. Everything else asks these Configs.
import { Config, Duration, Schema } from "effect"

const optionalUrl = (name: string) => Config.option(Config.Redacted(name))

/** Postgres: unset → embedded PGlite (data kept under PGLITE_DATA_DIR; "memory" keeps nothing). */
export const DatabaseConfig = Config.all({
  url: optionalUrl("DATABASE_URL"),
  pgliteDataDir: Config.String("PGLITE_DATA_DIR").pipe(Config.withDefault(".kassa/pglite")),
  maxConnections: Config.Int("DATABASE_POOL_SIZE").pipe(Config.withDefault(10))
})

/** Redis: unset → in-process store. */
export const RedisConfig = Config.all({
  url: optionalUrl("REDIS_URL"),
  commandTimeout: Config.Duration("REDIS_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.millis(500)))
})

/** RabbitMQ: unset → in-process bus. */
export const AmqpConfig = Config.all({
  url: optionalUrl("AMQP_URL"),
  exchange: Config.String("AMQP_EXCHANGE").pipe(Config.withDefault("kassa.events")),
  connectTimeout: Config.Duration("AMQP_CONNECT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  confirmTimeout: Config.Duration("AMQP_CONFIRM_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5)))
})

export const OutboxConfig = Config.all({
  pollInterval: Config.Duration("OUTBOX_POLL_INTERVAL").pipe(Config.withDefault(Duration.millis(200))),
  batchSize: Config.Int("OUTBOX_BATCH_SIZE").pipe(Config.withDefault(200))
})

/** Stripe: STRIPE_API_BASE points the SDK at the bundled sandbox (or any Stripe-compatible host). */
export const StripeConfig = Config.all({
  apiKey: Config.option(Config.Redacted("STRIPE_API_KEY")),
  apiBase: Config.option(Config.URL("STRIPE_API_BASE")),
  webhookSecret: Config.option(Config.Redacted("STRIPE_WEBHOOK_SECRET")),
  // No answer within this deadline means the outcome is unknown, not failed.
  timeout: Config.Duration("STRIPE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10)))
})

export const LogConfig = Config.all({
  format: Config.Literals(["json", "pretty", "auto"], "LOG_FORMAT").pipe(Config.withDefault("auto" as const)),
  level: Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const))
})

/** One HTTP listener per app; each app names its own port variable and default. */
export const HttpConfig = (portVar: string, defaultPort: number) =>
  Config.all({
    host: Config.String("HOST").pipe(Config.withDefault("127.0.0.1")),
    // 0 = an ephemeral port (tests); Config.Port would reject it
    port: Config.schema(Schema.Port, portVar).pipe(Config.withDefault(defaultPort)),
    shutdownTimeout: Config.Duration("SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10)))
  })

export const BillingHttpConfig = HttpConfig("BILLING_PORT", 3000)
export const PaymentsHttpConfig = HttpConfig("PAYMENTS_PORT", 3001)
export const CatalogHttpConfig = HttpConfig("CATALOG_PORT", 3002)

