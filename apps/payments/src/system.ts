import { PaymentsApi } from "@kassa/domain/apis"
import { systemHandlers } from "@kassa/platform/http"
import { HttpApiBuilder } from "effect/http-api"

const system = systemHandlers("payments")

export const SystemLive = HttpApiBuilder.group(PaymentsApi, "system", (handlers) =>
  handlers
    .handle("health", () => system.health)
    .handle("ready", () => system.ready)
    .handle("metrics", () => system.metrics))
