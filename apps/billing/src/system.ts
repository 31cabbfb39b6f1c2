import { BillingApi } from "@kassa/domain/apis"
import { systemHandlers } from "@kassa/platform/http"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { billingCollectors } from "./metrics.ts"

const system = systemHandlers("billing")

export const SystemLive = HttpApiBuilder.group(
  BillingApi,
  "system",
  (handlers) =>
    Effect.map(billingCollectors, (collectors) =>
      handlers
        .handle("health", () => system.health)
        .handle("ready", () => system.ready)
        .handle("metrics", () => system.metrics(collectors)))
)
