// Billing: the whole wiring of the app. `node apps/billing/src/main.ts` runs it alone; scripts/start.ts
// runs it beside the other apps on one shared platform.
import { BillingApi } from "@kassa/domain/apis"
import { PlatformLive } from "@kassa/platform"
import { BillingHttpConfig } from "@kassa/platform/config"
import { Readiness, runApp, serveApi } from "@kassa/platform/http"
import { Outbox } from "@kassa/platform/outbox"
import { Layer } from "effect"
import { BillingMigrations } from "./migrations.ts"
import { SystemLive } from "./system.ts"

export const BillingLive = Layer.mergeAll(
  serveApi({ service: "billing", api: BillingApi, groups: SystemLive, http: BillingHttpConfig }),
  Outbox.relay("billing")
).pipe(
  Layer.provide(Readiness.layer),
  Layer.provide(BillingMigrations)
)

if (import.meta.main) runApp(BillingLive.pipe(Layer.provide(PlatformLive)))
