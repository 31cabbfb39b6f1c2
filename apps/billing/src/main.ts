// Billing: the whole wiring of the app. `node apps/billing/src/main.ts` runs it alone; scripts/start.ts
// runs it beside the other apps on one shared platform.
import { BillingApi } from "@kassa/domain/apis"
import { PlatformLive } from "@kassa/platform"
import { BillingHttpConfig } from "@kassa/platform/config"
import { Readiness, runApp, serveApi } from "@kassa/platform/http"
import { Outbox } from "@kassa/platform/outbox"
import { AuthMiddlewareLive, TokenVerifier } from "@kassa/platform/auth"
import { RequestValidationLive } from "@kassa/platform/validation"
import { Layer } from "effect"
import { AuthGroupsLive, MeFastRoutes } from "./auth/http.ts"
import { AccountsLive, AdminBootstrap } from "./auth/service.ts"
import { CatalogEtl } from "./etl/catalog.ts"
import { BillingMigrations } from "./migrations.ts"
import { ProductsHttpLive } from "./products/http.ts"
import { CatalogCopy } from "./products/repo.ts"
import { SystemLive } from "./system.ts"

// one verifier for the auth groups and the middleware, so a logout here is seen by this process at once
const AuthServicesLive = Layer.mergeAll(AccountsLive, AuthMiddlewareLive).pipe(Layer.provideMerge(TokenVerifier.layer))

export const BillingLive = Layer.mergeAll(
  serveApi({
    service: "billing",
    api: BillingApi,
    groups: Layer.mergeAll(
      SystemLive,
      AuthGroupsLive,
      ProductsHttpLive.pipe(Layer.provide(CatalogCopy.layer))
    ).pipe(Layer.provide(RequestValidationLive)),
    http: BillingHttpConfig,
    fastRoutes: MeFastRoutes
  }),
  Outbox.relay("billing"),
  AdminBootstrap,
  CatalogEtl()
).pipe(
  Layer.provide(AuthServicesLive),
  Layer.provide(Readiness.layer),
  Layer.provide(BillingMigrations)
)

if (import.meta.main) runApp(BillingLive.pipe(Layer.provide(PlatformLive)))
