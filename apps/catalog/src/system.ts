import { CatalogApi } from "@kassa/domain/apis"
import { systemHandlers } from "@kassa/platform/http"
import { HttpApiBuilder } from "effect/http-api"

const system = systemHandlers("catalog")

export const SystemLive = HttpApiBuilder.group(CatalogApi, "system", (handlers) =>
  handlers
    .handle("health", () => system.health)
    .handle("ready", () => system.ready)
    .handle("metrics", () => system.metrics))
