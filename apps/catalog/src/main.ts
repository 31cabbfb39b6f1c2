// Catalog: the whole wiring of the app. `node apps/catalog/src/main.ts` runs it alone; scripts/start.ts
// runs it beside the other apps on one shared platform.
import { CatalogApi } from "@kassa/domain/apis"
import { PlatformLive } from "@kassa/platform"
import { CatalogHttpConfig } from "@kassa/platform/config"
import { Readiness, runApp, serveApi } from "@kassa/platform/http"
import { Outbox } from "@kassa/platform/outbox"
import { Layer } from "effect"
import { CatalogMigrations } from "./migrations.ts"
import { SystemLive } from "./system.ts"

export const CatalogLive = Layer.mergeAll(
  serveApi({ service: "catalog", api: CatalogApi, groups: SystemLive, http: CatalogHttpConfig }),
  Outbox.relay("catalog")
).pipe(
  Layer.provide(Readiness.layer),
  Layer.provide(CatalogMigrations)
)

if (import.meta.main) runApp(CatalogLive.pipe(Layer.provide(PlatformLive)))
