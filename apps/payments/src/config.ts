// Payments' own settings; the shared ones (database, cache, broker, HTTP, service token) are platform's
// (packages/platform/src/config.ts).
import { configError, HttpConfig } from "@kassa/platform/config"
import { Config, Duration, Effect, Schema } from "effect"

export const PaymentsHttpConfig = HttpConfig("PAYMENTS_PORT", 3001)

/** Used when STRIPE_API_KEY is unset: a test-mode key, which the bundled sandbox accepts and real Stripe rejects. */
export const developmentApiKey = "sk_test_kassa_sandbox"

/**
 * Accepted when STRIPE_WEBHOOK_SECRET is unset (a warning is logged): the bundled sandbox signs with the same value
 * when it is unset there too, so a local run needs neither.
 */
export const developmentWebhookSecret = "whsec_kassa_sandbox"

/** Stripe: STRIPE_API_BASE points the SDK at the bundled sandbox (or any Stripe-compatible host). */
export const StripeConfig = Config.all({
  apiKey: Config.option(Config.Redacted("STRIPE_API_KEY")),
  apiBase: Config.option(Config.URL("STRIPE_API_BASE")),
  webhookSecret: Config.option(Config.Redacted("STRIPE_WEBHOOK_SECRET")),
  // No answer within this deadline means the outcome is unknown, not failed.
  timeout: Config.Duration("STRIPE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10)))
})

export const PaymentsConfig = Config.all({
  /** Outbound Stripe requests per second per process; 0 lifts the limit. */
  providerRateLimit: Config.Int("PAYMENTS_PROVIDER_RATE_LIMIT").pipe(
    Config.withDefault(20),
    Config.mapEffect((n) =>
      n < 0 ? Effect.fail(configError("PAYMENTS_PROVIDER_RATE_LIMIT must be 0 (no limit) or more")) : Effect.succeed(n)
    )
  ),
  /** Retries of a Stripe call that got a 409/429/5xx or no answer (same idempotency key, jittered backoff). */
  providerRetries: Config.Int("PAYMENTS_PROVIDER_RETRIES").pipe(
    Config.withDefault(3),
    Config.mapEffect((n) =>
      n < 0 || n > 10 ? Effect.fail(configError("PAYMENTS_PROVIDER_RETRIES must be 0..10")) : Effect.succeed(n)
    )
  ),
  /** Delays between provider re-reads of a pending/unknown payment; the last one repeats. */
  reconcileSchedule: Config.Array(Schema.DurationFromString, "PAYMENTS_RECONCILE_SCHEDULE").pipe(
    Config.withDefault([Duration.minutes(1), Duration.minutes(5), Duration.hours(1), Duration.days(1)]),
    Config.mapEffect((delays) =>
      delays.length === 0
        ? Effect.fail(configError("PAYMENTS_RECONCILE_SCHEDULE needs at least one duration"))
        : Effect.succeed(delays)
    )
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
