// The sandbox as one service: its HTTP server (on its own port, kept out of the caller's context so it can run
// beside an app's server in one process) and the handles tests use to look inside and inject faults.
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { serverUrl } from "@kassa/platform/http"
import { Context, Duration, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { createServer } from "node:http"
import { Faults } from "./faults.ts"
import { SandboxRoutes } from "./http.ts"
import { IdempotencyStore } from "./idempotency.ts"
import { Journal } from "./journal.ts"
import { Ledger } from "./ledger.ts"
import { Webhooks } from "./webhooks.ts"

export interface SandboxOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: an ephemeral port (read it from `url`). */
  readonly port?: number
  /** Endpoints that receive every event from the start; more can be added later. */
  readonly webhookEndpoints?: ReadonlyArray<{ readonly url: string; readonly secret: string }>
  /** First webhook retry delay; default 500 ms. */
  readonly webhookRetryBase?: Duration.Input
  readonly webhookMaxAttempts?: number
  readonly shutdownTimeout?: Duration.Input
  /**
   * Where the account (customers, payment methods, intents, refunds, idempotent results, webhooks still owed) is
   * kept between runs; default `memory`: nothing is kept.
   */
  readonly dataDir?: string
}

export class StripeSandbox extends Context.Service<StripeSandbox, {
  /** Origin to point the SDK at (STRIPE_API_BASE). */
  readonly url: URL
  readonly ledger: Ledger["Service"]
  readonly webhooks: Webhooks["Service"]
  readonly faults: Faults["Service"]
}>()("stripe-sandbox/StripeSandbox") {
  static readonly make = (options: SandboxOptions = {}) =>
    Effect.gen(function*() {
      const journal = yield* Journal.make(options.dataDir ?? "memory")
      const webhooks = yield* Webhooks.make({
        journal,
        ...(options.webhookEndpoints === undefined ? {} : { endpoints: options.webhookEndpoints }),
        ...(options.webhookRetryBase === undefined ? {} : { retryBase: options.webhookRetryBase }),
        ...(options.webhookMaxAttempts === undefined ? {} : { maxAttempts: options.webhookMaxAttempts })
      })
      const ledger = yield* Ledger.make(webhooks.publish, journal)
      const services = Layer.mergeAll(
        Layer.succeed(Ledger, ledger),
        Layer.succeed(Webhooks, webhooks),
        Layer.succeed(Journal, journal),
        Faults.layer,
        IdempotencyStore.layer(journal)
      )
      const context = yield* Layer.build(
        HttpRouter.serve(SandboxRoutes, { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(NodeHttpServer.layerServer(createServer, {
            host: options.host ?? "127.0.0.1",
            port: options.port ?? 0,
            gracefulShutdownTimeout: options.shutdownTimeout ?? Duration.seconds(5)
          })),
          Layer.provide(NodeHttpServer.layerHttpServices),
          Layer.provideMerge(services)
        )
      )
      const url = new URL(serverUrl(Context.get(context, HttpServer.HttpServer)))
      return StripeSandbox.of({ url, ledger, webhooks, faults: Context.get(context, Faults) })
    })

  /** The client delivering webhooks is part of the layer, so it lives as long as the sandbox. */
  static readonly layer = (options: SandboxOptions = {}) =>
    Layer.effect(StripeSandbox, StripeSandbox.make(options)).pipe(Layer.provide(NodeHttpClient.layerUndici))
}

/**
 * Runs `effect` (a test's charge) with the answers lost: up to 10 tries of POST /v1/payment_intents have their
 * connection closed after the sandbox commits them (or before, with `drop_before_commit`), and webhooks are held, so
 * nothing tells the caller the outcome. The faults are cleared afterwards; the webhooks stay held.
 */
export const withChargeAnswersLost = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  fault: "drop_after_commit" | "drop_before_commit" = "drop_after_commit"
) =>
  Effect.gen(function*() {
    const sandbox = yield* StripeSandbox
    yield* sandbox.webhooks.hold
    yield* sandbox.faults.inject({ action: fault, method: "POST", path: "/v1/payment_intents", times: 10 })
    return yield* effect.pipe(Effect.ensuring(sandbox.faults.clear))
  })
