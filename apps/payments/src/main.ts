// Payments: the whole wiring of the app. `node apps/payments/src/main.ts` runs it alone; scripts/start.ts
// runs it beside the other apps on one shared platform (and points it at the bundled Stripe sandbox).
import { PaymentsApi } from "@kassa/domain/apis"
import { PlatformLive } from "@kassa/platform"
import { PaymentsHttpConfig } from "./config.ts"
import { appFoundation, Readiness, runApp, serveApi } from "@kassa/platform/http"
import { IdempotencyStore } from "@kassa/platform/idempotency"
import { Outbox } from "@kassa/platform/outbox"
import { StripeClient } from "./stripe.ts"
import { Layer } from "effect"
import { ServiceToken, ServiceTokenGuard } from "@kassa/platform/service-token"
import { PaymentsMigrations } from "./migrations.ts"
import { CallbackDeliveryLive, CallbackWake, Outcomes } from "./outcomes/outcomes.ts"
import { PaymentsHttpLive } from "./payments/http.ts"
import { Customers } from "./payments/customers.ts"
import { PaymentMethods } from "./payments/methods.ts"
import { Provider } from "./payments/provider.ts"
import { ReconcilerLive } from "./payments/reconciler.ts"
import { RefundsRepo } from "./payments/refunds-repo.ts"
import { PaymentsRepo } from "./payments/repo.ts"
import { PaymentsRpcRoutes } from "./payments/rpc.ts"
import { Payments } from "./payments/service.ts"
import { Settlement } from "./payments/settlement.ts"
import { SystemLive } from "./system.ts"
import { WebhooksHttpLive } from "./webhooks/http.ts"
import { WebhookInbox, WebhookWorkerLive } from "./webhooks/inbox.ts"
import { WebhookEventsRepo } from "./webhooks/repo.ts"

/** The use cases and their stores; needs the platform and a StripeClient. */
export const PaymentsServices = WebhookInbox.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(Payments.layer, PaymentMethods.layer)),
  Layer.provideMerge(Layer.mergeAll(Settlement.layer, Customers.layer)),
  Layer.provideMerge(
    Layer.mergeAll(PaymentsRepo.layer, RefundsRepo.layer, WebhookEventsRepo.layer, Provider.layer, Outcomes.layer)
  ),
  Layer.provideMerge(
    Layer.mergeAll(Outbox.layer("payments"), IdempotencyStore.layer("payments"), CallbackWake.layer, ServiceToken.layer)
  )
)

/**
 * The app without its StripeClient: `npm start` gives it one pointed at the bundled sandbox. Its services stay in
 * the output so tests (and ops scripts) can drive them, e.g. one reconciler sweep.
 */
export const PaymentsApp = Layer.mergeAll(
  serveApi({
    service: "payments",
    api: PaymentsApi,
    groups: Layer.mergeAll(SystemLive, PaymentsHttpLive, WebhooksHttpLive),
    http: PaymentsHttpConfig,
    // a call without the service token is an HTTP 401 before the RPC layer
    extraRoutes: PaymentsRpcRoutes.pipe(Layer.provide(ServiceTokenGuard))
  }),
  Outbox.relay("payments"),
  ReconcilerLive,
  WebhookWorkerLive,
  CallbackDeliveryLive,
  Readiness.started
).pipe(
  Layer.provideMerge(PaymentsServices),
  Layer.provide(appFoundation(PaymentsMigrations))
)

/** STRIPE_API_KEY / STRIPE_API_BASE decide where Stripe is. */
export const PaymentsLive = PaymentsApp.pipe(Layer.provide(StripeClient.layer))

if (import.meta.main) runApp(PaymentsLive.pipe(Layer.provide(PlatformLive)))
