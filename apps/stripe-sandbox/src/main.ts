// The Stripe sandbox: `node apps/stripe-sandbox/src/main.ts` serves it on STRIPE_SANDBOX_PORT (default 12111) and
// delivers webhooks to STRIPE_SANDBOX_WEBHOOK_URLS, keeping its account in STRIPE_SANDBOX_DATA_DIR; scripts/start.ts runs
// it in-process when STRIPE_API_BASE is unset.
import { StripeSandboxConfig, StripeSandboxHttpConfig } from "./config.ts"
import { TelemetryLive, runApp } from "@kassa/platform/http"
import { Context, Effect, Layer, Redacted } from "effect"
import { StripeSandbox } from "./sandbox.ts"

export const SandboxLive = Layer.unwrap(Effect.gen(function*() {
  const http = yield* StripeSandboxHttpConfig
  const config = yield* StripeSandboxConfig
  const secret = Redacted.value(config.webhookSecret)
  return StripeSandbox.layer({
    host: http.host,
    port: http.port,
    shutdownTimeout: http.shutdownTimeout,
    dataDir: config.dataDir,
    webhookEndpoints: config.webhookUrls.filter((url) => url.trim() !== "").map((url) => ({ url: url.trim(), secret }))
  }).pipe(
    Layer.tap((context) =>
      Effect.logInfo(`stripe-sandbox listening on ${Context.get(context, StripeSandbox).url}`).pipe(
        Effect.annotateLogs({ webhookEndpoints: config.webhookUrls.join(",") || "none", dataDir: config.dataDir })
      )
    )
  )
}))

if (import.meta.main) runApp(SandboxLive.pipe(Layer.provide(TelemetryLive)))
