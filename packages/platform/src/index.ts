// The shared platform every app runs on: Postgres (or embedded PGlite), the cache (Redis or
// in-process), the event bus (RabbitMQ or in-process), the deployment's clock and telemetry (logs), each chosen by
// config.
import { Layer } from "effect"
import { EventBusLive } from "./bus-amqp.ts"
import { DatabaseLive } from "./db.ts"
import { TelemetryLive } from "./http.ts"
import { CacheLive } from "./kv.ts"
import { DeploymentClock } from "./test-clock.ts"

// the deployment clock (real time, or moved by the test clock) is every other layer's `Clock`
export const PlatformLive = Layer.mergeAll(DatabaseLive, EventBusLive).pipe(
  Layer.provideMerge(DeploymentClock.layer),
  Layer.provideMerge(CacheLive),
  Layer.provideMerge(TelemetryLive)
)
