// The only place that knows environment variable names. Everything else asks these Configs.
import { Config, ConfigProvider, Duration, Effect, Option, Redacted, Schema } from "effect"
import { dirname, join } from "node:path"

const configError = (message: string) => new Config.ConfigError(new ConfigProvider.SourceError({ message }))

const optionalUrl = (name: string) => Config.option(Config.Redacted(name))

const pgliteDataDir = Config.String("PGLITE_DATA_DIR").pipe(Config.withDefault(".kassa/pglite"))

const positiveInt = (name: string, fallback: number) =>
  Config.Int(name).pipe(
    Config.withDefault(fallback),
    Config.mapEffect((n) => n >= 1 ? Effect.succeed(n) : Effect.fail(configError(`${name} must be 1 or more`)))
  )

/** Postgres: unset → embedded PGlite (data kept under PGLITE_DATA_DIR; "memory" keeps nothing). */
export const DatabaseConfig = Config.all({
  url: optionalUrl("DATABASE_URL"),
  pgliteDataDir,
  maxConnections: Config.Int("DATABASE_POOL_SIZE").pipe(Config.withDefault(10))
})

/** `name` beside PGlite's directory (`.kassa/<name>` by default), or "memory" when PGlite keeps nothing. */
export const besideEmbeddedData = (pgliteDataDir: string, name: string) =>
  pgliteDataDir === "memory" ? "memory" : join(dirname(pgliteDataDir), name)

/** Redis: unset → in-process store. */
export const RedisConfig = Config.all({
  url: optionalUrl("REDIS_URL"),
  commandTimeout: Config.Duration("REDIS_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.millis(500))),
  keyPrefix: Config.String("REDIS_KEY_PREFIX").pipe(Config.withDefault(""))
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
  batchSize: Config.Int("OUTBOX_BATCH_SIZE").pipe(Config.withDefault(200)),
  // published events are kept this long (for inspection and replays by hand), then deleted by the relay
  retention: Config.Duration("OUTBOX_RETENTION").pipe(Config.withDefault(Duration.days(7)))
})

/**
 * The catalog → billing ETL in billing: woken by `catalog.product.*` events, and a sweep at this interval
 * catches everything else (film changes, missed events). Changes copied per transaction: ETL_BATCH_SIZE.
 */
export const EtlConfig = Config.all({
  sweepInterval: Config.Duration("ETL_SWEEP_INTERVAL").pipe(Config.withDefault(Duration.seconds(2))),
  batchSize: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })), "ETL_BATCH_SIZE").pipe(
    Config.withDefault(100)
  )
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

const positiveDuration = (name: string, fallback: Duration.Duration) =>
  Config.Duration(name).pipe(
    Config.withDefault(fallback),
    Config.mapEffect((d) =>
      Duration.isGreaterThan(d, Duration.zero) && Duration.isFinite(d)
        ? Effect.succeed(d)
        : Effect.fail(configError(`${name} must be longer than 0`)))
  )

/** One HTTP listener per app; each app names its own port variable and default. */
export const HttpConfig = (portVar: string, defaultPort: number) =>
  Config.all({
    host: Config.String("HOST").pipe(Config.withDefault("127.0.0.1")),
    // 0 = an ephemeral port (tests); Config.Port would reject it
    port: Config.schema(Schema.Port, portVar).pipe(Config.withDefault(defaultPort)),
    shutdownTimeout: Config.Duration("SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
    // a dependency that accepts connections but never answers must not hold a request (or its client) forever
    requestTimeout: Config.Duration("REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
    // slow clients (slowloris, a trickled body) must not hold sockets: the headers, then the whole request,
    // must arrive within these; an idle kept-alive connection is closed after the last
    headersTimeout: positiveDuration("HTTP_HEADERS_TIMEOUT", Duration.seconds(10)),
    receiveTimeout: positiveDuration("HTTP_RECEIVE_TIMEOUT", Duration.seconds(30)),
    keepAliveTimeout: positiveDuration("HTTP_KEEP_ALIVE_TIMEOUT", Duration.seconds(5)),
    /** open connections one client address may hold; 0 = no cap (behind a proxy every client has its address) */
    maxConnectionsPerAddress: Config.Int("HTTP_MAX_CONNECTIONS_PER_ADDRESS").pipe(
      Config.withDefault(256),
      Config.mapEffect((n) =>
        n < 0 ? Effect.fail(configError("HTTP_MAX_CONNECTIONS_PER_ADDRESS must be 0 (no cap) or more")) : Effect.succeed(n))
    )
  }).pipe(
    Config.mapEffect((http) =>
      Duration.isGreaterThan(http.headersTimeout, http.receiveTimeout)
        ? Effect.fail(configError("HTTP_HEADERS_TIMEOUT must not be longer than HTTP_RECEIVE_TIMEOUT"))
        : Effect.succeed(http))
  )

/** `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>` when set; unset, it is open (a warning is logged). */
export const MetricsConfig = Config.option(Config.Redacted("METRICS_TOKEN"))

/**
 * Access and refresh tokens. JWT_SECRET is the HS256 key every app verifies with; unset, each
 * process generates one at start (tokens then do not survive a restart, and replicas cannot share them).
 */
const jwtSecretConfig = (name: string) =>
  Config.option(Config.Redacted(name)).pipe(
    Config.mapEffect((secret) =>
      secret._tag === "Some" && Redacted.value(secret.value).length < 32
        ? Effect.fail(configError(`${name} must be at least 32 characters (HS256 key)`))
        : Effect.succeed(secret))
  )

export const AuthConfig = Config.all({
  jwtSecret: jwtSecretConfig("JWT_SECRET"),
  /** The key before JWT_SECRET, still accepted while a rotation is under way (tokens name their key in `kid`). */
  jwtSecretPrevious: jwtSecretConfig("JWT_SECRET_PREVIOUS"),
  issuer: Config.String("JWT_ISSUER").pipe(Config.withDefault("kassa")),
  audience: Config.String("JWT_AUDIENCE").pipe(Config.withDefault("kassa")),
  accessTokenTtl: Config.Duration("ACCESS_TOKEN_TTL").pipe(
    Config.withDefault(Duration.minutes(15)),
    Config.mapEffect((ttl) =>
      Duration.isGreaterThan(ttl, Duration.minutes(15)) || !Duration.isGreaterThan(ttl, Duration.zero)
        ? Effect.fail(configError("ACCESS_TOKEN_TTL must be more than 0 and at most 15 minutes"))
        : Effect.succeed(ttl))
  ),
  refreshTokenTtl: Config.Duration("REFRESH_TOKEN_TTL").pipe(Config.withDefault(Duration.days(30))),
  /** Take the client address from X-Forwarded-For (only behind a proxy that sets it). */
  trustProxy: Config.Boolean("TRUST_PROXY").pipe(Config.withDefault(false)),
  /** Failed logins allowed per (email, client address) pair within the window, then 429 for that pair. */
  loginMaxFailures: positiveInt("LOGIN_MAX_FAILURES", 5),
  loginFailureWindow: Config.Duration("LOGIN_FAILURE_WINDOW").pipe(Config.withDefault(Duration.minutes(1))),
  /** Login attempts (successes too) per client address within the window: generous, a NAT is many people. */
  loginMaxPerAddress: positiveInt("LOGIN_MAX_PER_ADDRESS", 100),
  /** Failed logins per email from any addresses within the window; past it a wrong password answers 429. */
  loginMaxFailuresPerEmail: positiveInt("LOGIN_MAX_FAILURES_PER_EMAIL", 20),
  /** Registrations per client address per hour, and in all per minute. */
  registerMaxPerAddress: positiveInt("REGISTER_MAX_PER_ADDRESS", 20),
  registerMaxPerMinute: positiveInt("REGISTER_MAX_PER_MINUTE", 300)
}).pipe(
  Config.mapEffect((auth) =>
    auth.jwtSecretPrevious._tag === "Some" && auth.jwtSecret._tag === "None"
      ? Effect.fail(configError("JWT_SECRET_PREVIOUS needs JWT_SECRET (the key tokens are signed with)"))
      : Effect.succeed(auth))
)

/** Bootstrap admin: ensured at billing start whenever both are set; one without the other is an error. */
export const AdminBootstrapConfig = Config.all({
  email: Config.option(Config.String("ADMIN_EMAIL")),
  password: Config.option(Config.Redacted("ADMIN_PASSWORD"))
}).pipe(
  Config.mapEffect(({ email, password }) =>
    email._tag === "Some" && password._tag === "Some"
      ? Effect.succeed(Option.some({ email: email.value, password: password.value }))
      : email._tag === "None" && password._tag === "None"
      ? Effect.succeed(Option.none())
      : Effect.fail(configError("set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither")))
)

export const BillingHttpConfig = HttpConfig("BILLING_PORT", 3000)
export const PaymentsHttpConfig = HttpConfig("PAYMENTS_PORT", 3001)
export const CatalogHttpConfig = HttpConfig("CATALOG_PORT", 3002)


/** Used when SERVICE_TOKEN is unset (a warning is logged): fine on a laptop, never in a shared environment. */
export const developmentServiceToken = "kassa-dev-service-token"

/** The bearer token every service presents on another's RPC (and on payments' operator HTTP API). */
export const ServiceTokenConfig = Config.option(Config.Redacted("SERVICE_TOKEN"))

/** A second token accepted beside SERVICE_TOKEN (never presented), for rotating it without downtime. */
export const ServiceTokenPreviousConfig = Config.option(Config.Redacted("SERVICE_TOKEN_PREVIOUS"))

/** The bundled sandbox signs webhooks with this when STRIPE_WEBHOOK_SECRET is unset, and payments accepts it. */
export const sandboxWebhookSecret = "whsec_kassa_sandbox"

export const PaymentsConfig = Config.all({
  /** Outbound Stripe requests per second per process; 0 lifts the limit. */
  providerRateLimit: Config.Int("PAYMENTS_PROVIDER_RATE_LIMIT").pipe(
    Config.withDefault(20),
    Config.mapEffect((n) =>
      n < 0 ? Effect.fail(configError("PAYMENTS_PROVIDER_RATE_LIMIT must be 0 (no limit) or more")) : Effect.succeed(n))
  ),
  /** Retries of a Stripe call that got a 409/429/5xx or no answer (same idempotency key, jittered backoff). */
  providerRetries: Config.Int("PAYMENTS_PROVIDER_RETRIES").pipe(
    Config.withDefault(3),
    Config.mapEffect((n) =>
      n < 0 || n > 10 ? Effect.fail(configError("PAYMENTS_PROVIDER_RETRIES must be 0..10")) : Effect.succeed(n))
  ),
  /** Delays between provider re-reads of a pending/unknown payment; the last one repeats. */
  reconcileSchedule: Config.Array(Schema.DurationFromString, "PAYMENTS_RECONCILE_SCHEDULE").pipe(
    Config.withDefault([Duration.minutes(1), Duration.minutes(5), Duration.hours(1), Duration.days(1)]),
    Config.mapEffect((delays) =>
      delays.length === 0
        ? Effect.fail(configError("PAYMENTS_RECONCILE_SCHEDULE needs at least one duration"))
        : Effect.succeed(delays))
  ),
  /** How often the reconciler looks for payments and refunds that are due. */
  reconcileInterval: Config.Duration("PAYMENTS_RECONCILE_INTERVAL").pipe(Config.withDefault(Duration.seconds(15))),
  /** A succeeded payment can be canceled (refunded) for this long after it was made. */
  refundWindow: Config.Duration("PAYMENTS_REFUND_WINDOW").pipe(Config.withDefault(Duration.days(14))),
  /** The previous webhook secret, accepted beside STRIPE_WEBHOOK_SECRET while a rotation is under way. */
  webhookSecretPrevious: Config.option(Config.Redacted("STRIPE_WEBHOOK_SECRET_PREVIOUS")),
  /** Billing's RPC endpoint for payment outcomes; unset → outcomes go out as events only. */
  billingRpcUrl: Config.option(Config.URL("BILLING_RPC_URL"))
})

/** Billing's side of billing ⇄ payments. */
export const BillingConfig = Config.all({
  /** payments' RPC endpoint billing charges through */
  paymentsRpcUrl: Config.URL("PAYMENTS_RPC_URL").pipe(Config.withDefault(new URL("http://127.0.0.1:3001/rpc"))),
  /** how often the scheduler fiber runs a cycle (expiries, trial ends, renewals, dunning) */
  schedulerInterval: Config.Duration("BILLING_SCHEDULER_INTERVAL").pipe(
    Config.withDefault(Duration.minutes(1)),
    Config.mapEffect((interval) =>
      Duration.isGreaterThan(interval, Duration.zero)
        ? Effect.succeed(interval)
        : Effect.fail(configError("BILLING_SCHEDULER_INTERVAL must be longer than 0")))
  ),
  /** dunning: after a renewal's charge fails, retries at these delays from the period's start; empty = none */
  dunningRetries: Config.Array(Schema.DurationFromString, "BILLING_DUNNING_RETRIES").pipe(
    Config.withDefault([Duration.days(1), Duration.days(3), Duration.days(5)]),
    Config.mapEffect((delays) =>
      delays.every((delay, i) => i === 0 || Duration.isGreaterThan(delay, delays[i - 1]!))
        ? Effect.succeed(delays)
        : Effect.fail(configError("BILLING_DUNNING_RETRIES must be increasing delays from the period's start")))
  ),
  /** how many charges the scheduler has in flight at once (a slow provider is hidden by having more) */
  chargeConcurrency: positiveInt("BILLING_CHARGE_CONCURRENCY", 32),
  /** subscriptions the invoicing stage handles per statement */
  invoiceBatch: positiveInt("BILLING_INVOICE_BATCH", 1000),
  /** a safety bound: a subscription about to get more invoices than this in a day is parked instead */
  maxInvoicesPerDay: positiveInt("BILLING_MAX_INVOICES_PER_DAY", 3)
})

/** Entitlements (billing): how long a past-due subscription keeps access, and the answer caches' backstop TTLs. */
export const EntitlementConfig = Config.all({
  pastDueGrace: Config.Duration("BILLING_PAST_DUE_GRACE").pipe(Config.withDefault(Duration.days(7))),
  /** invalidation is explicit; the TTL only bounds an entry whose invalidation was lost */
  cacheTtl: Config.Duration("ENTITLEMENT_CACHE_TTL").pipe(Config.withDefault(Duration.minutes(5))),
  negativeCacheTtl: Config.Duration("ENTITLEMENT_NEGATIVE_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(30))),
  localCacheSize: Config.Int("ENTITLEMENT_LOCAL_CACHE_SIZE").pipe(Config.withDefault(100_000))
})

/** The bundled Stripe sandbox (apps/stripe-sandbox). */
export const StripeSandboxHttpConfig = HttpConfig("STRIPE_SANDBOX_PORT", 12111)

export const StripeSandboxConfig = Config.all({
  /** Where the sandbox delivers its signed webhooks (comma-separated URLs). */
  webhookUrls: Config.Array(Schema.String, "STRIPE_SANDBOX_WEBHOOK_URLS").pipe(Config.withDefault([])),
  webhookSecret: Config.Redacted("STRIPE_WEBHOOK_SECRET").pipe(Config.withDefault(Redacted.make(sandboxWebhookSecret))),
  /** Where it keeps its account between runs ("memory": nowhere); unset → `stripe-sandbox` beside PGlite's data. */
  dataDir: Config.all({
    set: Config.option(Config.String("STRIPE_SANDBOX_DATA_DIR")),
    pglite: pgliteDataDir
  }).pipe(Config.map(({ pglite, set }) => Option.getOrElse(set, () => besideEmbeddedData(pglite, "stripe-sandbox"))))
})

/** KASSA_TEST_CLOCK=on: the deployment's time can be moved forward through billing's admin route (test deployments). */
export const TestClockConfig = Config.Literals(["on", "off"], "KASSA_TEST_CLOCK").pipe(
  Config.withDefault("off" as const),
  Config.map((value) => value === "on")
)
