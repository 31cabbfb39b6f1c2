import { PaymentsApi } from "@kassa/domain/apis"
import { systemHandlers } from "@kassa/platform/http"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { paymentsCollectors } from "./metrics.ts"

const system = systemHandlers("payments")

export const SystemLive = HttpApiBuilder.group(
  PaymentsApi,
  "system",
  (handlers) =>
    Effect.map(paymentsCollectors, (collectors) =>
      handlers
        .handle("health", () => system.health)
        .handle("ready", () => system.ready)
        .handle("metrics", () => system.metrics(collectors)))
)
