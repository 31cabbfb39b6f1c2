// Billing: the whole wiring of the app. `node apps/billing/src/main.ts` runs it alone; scripts/start.ts
// runs it beside the other apps on one shared platform.
import { BillingApi } from "@kassa/domain/apis"
import { PlatformLive } from "@kassa/platform"
import { BillingConfig, BillingHttpConfig } from "./config.ts"
import { Readiness, runApp, serveApi } from "@kassa/platform/http"
import { ownMetricRegistry } from "@kassa/platform/metrics"
import { Outbox } from "@kassa/platform/outbox"
import { AuthMiddlewareLive, TokenVerifier } from "@kassa/platform/auth"
import { RequestValidationLive } from "@kassa/platform/validation"
import { PaymentsRpcClient } from "@kassa/clients"
import { ServiceToken, ServiceTokenGuard } from "@kassa/platform/service-token"
import { Effect, Layer } from "effect"
import { AuthGroupsLive, MeHotRoutes } from "./auth/http.ts"
import { AccountSubjects } from "./auth/repo.ts"
import { AccountsLive, AdminBootstrap } from "./auth/service.ts"
import { EntitlementCache } from "./entitlements/cache.ts"
import { EntitlementHotRoutes, EntitlementsHttpLive } from "./entitlements/http.ts"
import { EntitlementsRepo } from "./entitlements/repo.ts"
import { Entitlements } from "./entitlements/service.ts"
import { CatalogEtl } from "./etl/catalog.ts"
import { BillingMigrations } from "./migrations.ts"
import { ProductsHttpLive } from "./products/http.ts"
import { CatalogCopy } from "./products/repo.ts"
import { AdminBillingHttpLive } from "./admin/http.ts"
import { TestClockHttpLive } from "./admin/test-clock.ts"
import { AdminRepo } from "./admin/repo.ts"
import { DashboardFigures } from "./admin/dashboard.ts"
import { IdempotencyStore } from "@kassa/platform/idempotency"
import { InvoicesHttpLive } from "./invoices/http.ts"
import { Invoices } from "./invoices/service.ts"
import { PaymentsGateway } from "./ledger/gateway.ts"
import { InvoicesRepo } from "./ledger/invoices.ts"
import { Lifecycle } from "./ledger/lifecycle.ts"
import { Outcomes } from "./ledger/outcomes.ts"
import { PaymentsRepo } from "./ledger/payments.ts"
import { SubscriptionsRepo } from "./ledger/subscriptions.ts"
import { PaymentMethodsHttpLive } from "./payment-methods/http.ts"
import { BillingRpcRoutes } from "./payments/callback.ts"
import { PaymentsHttpLive } from "./payments/http.ts"
import { Refunds } from "./refunds/service.ts"
import { Charging } from "./scheduler/charging.ts"
import { SchedulerCycle } from "./scheduler/cycle.ts"
import { BillingScheduler } from "./scheduler/fiber.ts"
import { Invoicing } from "./scheduler/invoicing.ts"
import { Parking } from "./scheduler/parking.ts"
import { SchedulerRuns } from "./scheduler/runs.ts"
import { StatementHttpLive } from "./statements/http.ts"
import { Statements } from "./statements/statement.ts"
import { SubscriptionsHttpLive } from "./subscriptions/http.ts"
import { Subscriptions } from "./subscriptions/service.ts"
import { SystemLive } from "./system.ts"

// one verifier for the auth groups and the middleware, so a logout here is seen by this process at once
// (its tokens' subjects are checked against billing's accounts)
const AuthServicesLive = Layer.mergeAll(AccountsLive, AuthMiddlewareLive).pipe(
  Layer.provideMerge(TokenVerifier.layer.pipe(Layer.provide(AccountSubjects)))
)

/**
 * The use cases over billing's ledger (subscriptions, invoices and payments, refunds, the scheduler cycle) and the
 * ledger itself; needs a PaymentsRpcClient. Kept in the app's output for tests and ops.
 */
export const BillingServices = Layer.mergeAll(
  Subscriptions.layer,
  Invoices.layer,
  SchedulerRuns.layer,
  Parking.layer,
  Statements.layer
).pipe(
  Layer.provideMerge(SchedulerCycle.layer),
  Layer.provideMerge(Layer.mergeAll(Invoicing.layer, Charging.layer)),
  Layer.provideMerge(Refunds.layer),
  Layer.provideMerge(Layer.mergeAll(Outcomes.layer, AdminRepo.layer, DashboardFigures.layer)),
  Layer.provideMerge(Lifecycle.layer),
  Layer.provideMerge(Entitlements.layer),
  Layer.provideMerge(EntitlementCache.layer),
  Layer.provideMerge(Layer.mergeAll(
    SubscriptionsRepo.layer,
    InvoicesRepo.layer,
    PaymentsRepo.layer,
    PaymentsGateway.layer,
    CatalogCopy.layer,
    IdempotencyStore.layer("billing"),
    EntitlementsRepo.layer
  )),
  Layer.provideMerge(Outbox.layer("billing"))
)

/**
 * The app without its PaymentsRpcClient (tests give it one pointed at an in-process payments app) and without the
 * scheduler fiber (tests run cycles by hand under TestClock, where a fiber on the real clock would interfere).
 */
export const BillingApp = Layer.mergeAll(
  serveApi({
    service: "billing",
    api: BillingApi,
    groups: Layer.mergeAll(
      SystemLive,
      AuthGroupsLive,
      ProductsHttpLive,
      PaymentMethodsHttpLive,
      SubscriptionsHttpLive,
      InvoicesHttpLive,
      PaymentsHttpLive,
      StatementHttpLive,
      EntitlementsHttpLive,
      AdminBillingHttpLive,
      TestClockHttpLive
    ).pipe(Layer.provide(RequestValidationLive)),
    http: BillingHttpConfig,
    hotRoutes: Effect.map(
      Effect.all([MeHotRoutes, EntitlementHotRoutes]),
      ([me, entitlements]) => new Map([...me, ...entitlements])
    ),
    // a call without the service token is an HTTP 401 before the RPC layer
    extraRoutes: BillingRpcRoutes.pipe(Layer.provide(ServiceTokenGuard), Layer.provide(ServiceToken.layer))
  }).pipe(
    // before the server listens: the configured admin can log in as soon as billing answers /health
    Layer.provide(AdminBootstrap)
  ),
  Outbox.relay("billing"),
  CatalogEtl(),
  // /ready answers 200 only once every start-up step is done (migrations ran before anything here)
  Readiness.started.pipe(Layer.provide(AdminBootstrap))
).pipe(
  Layer.provideMerge(BillingServices),
  Layer.provide(AuthServicesLive),
  Layer.provide(Readiness.layer),
  Layer.provide(BillingMigrations)
)

/** PAYMENTS_RPC_URL and SERVICE_TOKEN decide where payments is and how billing proves itself to it. */
export const PaymentsRpcClientLive = Layer.unwrap(Effect.gen(function*() {
  const { paymentsRpcUrl } = yield* BillingConfig
  return PaymentsRpcClient.layer(paymentsRpcUrl.toString(), (yield* ServiceToken).token)
})).pipe(Layer.provide(ServiceToken.layer))

export const BillingLive = BillingScheduler.pipe(
  Layer.provideMerge(BillingApp),
  Layer.provide(PaymentsRpcClientLive),
  Layer.provide(ownMetricRegistry())
)

if (import.meta.main) runApp(BillingLive.pipe(Layer.provide(PlatformLive)))
