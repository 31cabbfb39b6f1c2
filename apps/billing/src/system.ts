import { BillingApi } from "@kassa/domain/apis"
import { systemHandlers } from "@kassa/platform/http"
import { HttpApiBuilder } from "effect/http-api"

const system = systemHandlers("billing")

export const SystemLive = HttpApiBuilder.group(BillingApi, "system", (handlers) =>
  handlers
    .handle("health", () => system.health)
    .handle("ready", () => system.ready)
    .handle("metrics", () => system.metrics))
