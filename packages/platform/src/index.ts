// The shared platform every app runs on: Postgres (or embedded PGlite), the cache (Redis or
// in-process), the event bus (RabbitMQ or in-process) and telemetry (logs), each chosen by config.
import { Layer } from "effect"
import { EventBusLive } from "./bus.ts"
import { DatabaseLive } from "./db.ts"
import { TelemetryLive } from "./http.ts"
import { CacheLive } from "./kv.ts"

export const PlatformLive = Layer.mergeAll(DatabaseLive, CacheLive, EventBusLive).pipe(
  Layer.provideMerge(TelemetryLive)
)
