// Billing's own settings; the shared ones (database, cache, broker, HTTP, access tokens, service token) are
// platform's (packages/platform/src/config.ts).
import { configError, HttpConfig, positiveDuration, positiveInt } from "@kassa/platform/config"
import { Config, Duration, Effect, Option, Schema } from "effect"

export const BillingHttpConfig = HttpConfig("BILLING_PORT", 3000)

/** Accounts: refresh-token lifetime, the client address logins are counted against, login and registration limits. */
export const AccountsConfig = Config.all({
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
})

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
      : Effect.fail(configError("set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither"))
  )
)

/** Billing's side of billing ⇄ payments, and the scheduler. */
export const BillingConfig = Config.all({
  /** payments' RPC endpoint billing charges through */
  paymentsRpcUrl: Config.URL("PAYMENTS_RPC_URL").pipe(Config.withDefault(new URL("http://127.0.0.1:3001/rpc"))),
  /** how often the scheduler fiber runs a cycle (expiries, trial ends, renewals, dunning) */
  schedulerInterval: positiveDuration("BILLING_SCHEDULER_INTERVAL", Duration.minutes(1)),
  /** dunning: after a renewal's charge fails, retries at these delays from the period's start; empty = none */
  dunningRetries: Config.Array(Schema.DurationFromString, "BILLING_DUNNING_RETRIES").pipe(
    Config.withDefault([Duration.days(1), Duration.days(3), Duration.days(5)]),
    Config.mapEffect((delays) =>
      delays.every((delay, i) => i === 0 || Duration.isGreaterThan(delay, delays[i - 1]!))
        ? Effect.succeed(delays)
        : Effect.fail(configError("BILLING_DUNNING_RETRIES must be increasing delays from the period's start"))
    )
  ),
  /** how many charges the scheduler has in flight at once (a slow provider is hidden by having more) */
  chargeConcurrency: positiveInt("BILLING_CHARGE_CONCURRENCY", 128),
  /** subscriptions the invoicing stage handles per statement */
  invoiceBatch: positiveInt("BILLING_INVOICE_BATCH", 1000),
  /** a safety bound: a subscription about to get more invoices than this in a day is parked instead */
  maxInvoicesPerDay: positiveInt("BILLING_MAX_INVOICES_PER_DAY", 3)
})

/** Entitlements: how long a past-due subscription keeps access, and the answer caches' backstop TTLs. */
export const EntitlementConfig = Config.all({
  pastDueGrace: Config.Duration("BILLING_PAST_DUE_GRACE").pipe(Config.withDefault(Duration.days(7))),
  /** invalidation is explicit; the TTL only bounds an entry whose invalidation was lost */
  cacheTtl: Config.Duration("ENTITLEMENT_CACHE_TTL").pipe(Config.withDefault(Duration.minutes(5))),
  negativeCacheTtl: Config.Duration("ENTITLEMENT_NEGATIVE_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(30))),
  localCacheSize: Config.Int("ENTITLEMENT_LOCAL_CACHE_SIZE").pipe(Config.withDefault(100_000))
})

/**
 * The catalog → billing ETL: woken by `catalog.product.*` events, and a sweep at this interval catches everything
 * else (film changes, missed events). Changes copied per transaction: ETL_BATCH_SIZE.
 */
export const EtlConfig = Config.all({
  sweepInterval: Config.Duration("ETL_SWEEP_INTERVAL").pipe(Config.withDefault(Duration.seconds(2))),
  batchSize: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })), "ETL_BATCH_SIZE").pipe(
    Config.withDefault(100)
  )
})
