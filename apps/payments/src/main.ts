// Payments: the whole wiring of the app. `node apps/payments/src/main.ts` runs it alone; scripts/start.ts
// runs it beside the other apps on one shared platform.
import { PaymentsApi } from "@kassa/domain/apis"
import { PlatformLive } from "@kassa/platform"
import { PaymentsHttpConfig } from "@kassa/platform/config"
import { Readiness, runApp, serveApi } from "@kassa/platform/http"
import { Outbox } from "@kassa/platform/outbox"
import { Layer } from "effect"
import { PaymentsMigrations } from "./migrations.ts"
import { SystemLive } from "./system.ts"

export const PaymentsLive = Layer.mergeAll(
  serveApi({ service: "payments", api: PaymentsApi, groups: SystemLive, http: PaymentsHttpConfig }),
  Outbox.relay("payments")
).pipe(
  Layer.provide(Readiness.layer),
  Layer.provide(PaymentsMigrations)
)

if (import.meta.main) runApp(PaymentsLive.pipe(Layer.provide(PlatformLive)))
