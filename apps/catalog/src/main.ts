// Catalog: the whole wiring of the app. `node apps/catalog/src/main.ts` runs it alone; scripts/start.ts
// runs it beside the other apps on one shared platform.
import { CatalogApi } from "@kassa/domain/apis"
import { PlatformLive } from "@kassa/platform"
import { AdminAuthenticationLive, TokenVerifier } from "@kassa/platform/auth"
import { CatalogHttpConfig } from "./config.ts"
import { appFoundation, Readiness, runApp, serveApi } from "@kassa/platform/http"
import { Outbox } from "@kassa/platform/outbox"
import { RequestValidationLive } from "@kassa/platform/validation"
import { Layer } from "effect"
import { FilmsHttpLive } from "./films/http.ts"
import { Films } from "./films/repo.ts"
import { CatalogMigrations } from "./migrations.ts"
import { ProductsHttpLive } from "./products/http.ts"
import { Products } from "./products/repo.ts"
import { SystemLive } from "./system.ts"

/** The catalog's repositories; they write through `catalog.outbox`. */
export const CatalogReposLive = Layer.mergeAll(Films.layer, Products.layer).pipe(
  Layer.provide(Outbox.layer("catalog"))
)

// every admin group verifies the same access tokens as billing (JWT_SECRET, revocations through the cache)
const GroupsLive = Layer.mergeAll(SystemLive, FilmsHttpLive, ProductsHttpLive).pipe(
  Layer.provide([RequestValidationLive, AdminAuthenticationLive.pipe(Layer.provide(TokenVerifier.layer))])
)

export const CatalogLive = Layer.mergeAll(
  serveApi({ service: "catalog", api: CatalogApi, groups: GroupsLive, http: CatalogHttpConfig }),
  Outbox.relay("catalog"),
  Readiness.started
).pipe(
  Layer.provide(CatalogReposLive),
  Layer.provide(appFoundation(CatalogMigrations))
)

if (import.meta.main) runApp(CatalogLive.pipe(Layer.provide(PlatformLive)))
