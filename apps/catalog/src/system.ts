import { CatalogApi } from "@kassa/domain/apis"
import { systemHandlers } from "@kassa/platform/http"
import { outboxCollector } from "@kassa/platform/metrics"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"

const system = systemHandlers("catalog")

export const SystemLive = HttpApiBuilder.group(
  CatalogApi,
  "system",
  (handlers) =>
    Effect.map(outboxCollector("catalog"), (outbox) =>
      handlers
        .handle("health", () => system.health)
        .handle("ready", () => system.ready)
        .handle("metrics", () => system.metrics([outbox])))
)
