// The sandbox's settings when it runs as its own process (`node apps/stripe-sandbox/src/main.ts`).
import { besideEmbeddedData, HttpConfig, pgliteDataDir } from "@kassa/platform/config"
import { Config, Option, Redacted, Schema } from "effect"

export const StripeSandboxHttpConfig = HttpConfig("STRIPE_SANDBOX_PORT", 12111)

/** Signs webhooks when STRIPE_WEBHOOK_SECRET is unset; payments accepts the same value in that case, with a warning. */
export const developmentWebhookSecret = "whsec_kassa_sandbox"

export const StripeSandboxConfig = Config.all({
  /** Where the sandbox delivers its signed webhooks (comma-separated URLs). */
  webhookUrls: Config.Array(Schema.String, "STRIPE_SANDBOX_WEBHOOK_URLS").pipe(Config.withDefault([])),
  webhookSecret: Config.Redacted("STRIPE_WEBHOOK_SECRET").pipe(
    Config.withDefault(Redacted.make(developmentWebhookSecret))
  ),
  /** Where it keeps its account between runs ("memory": nowhere); unset → `stripe-sandbox` beside PGlite's data. */
  dataDir: Config.all({
    set: Config.option(Config.String("STRIPE_SANDBOX_DATA_DIR")),
    pglite: pgliteDataDir
  }).pipe(Config.map(({ pglite, set }) => Option.getOrElse(set, () => besideEmbeddedData(pglite, "stripe-sandbox"))))
})
