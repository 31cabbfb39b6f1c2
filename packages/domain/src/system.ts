// Liveness, readiness and metrics: the same three endpoints on every app.
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"

export const DependencyStatus = Schema.Struct({
  status: Schema.Literals(["up", "down"]),
  /** embedded = the in-process stand-in (PGlite, in-memory cache or bus), not a real server */
  mode: Schema.Literals(["server", "embedded"]),
  latencyMs: Schema.Int,
  error: Schema.optionalKey(Schema.String)
})
export type DependencyStatus = typeof DependencyStatus.Type

export const Health = Schema.Struct({ status: Schema.Literal("ok"), service: Schema.String })
export type Health = typeof Health.Type

export const Readiness = Schema.Struct({
  status: Schema.Literals(["ready", "not_ready"]),
  /** `starting` until every start-up step (migrations, the bootstrap admin, …) is done */
  startup: Schema.Literals(["starting", "done"]),
  checks: Schema.Struct({ db: DependencyStatus, redis: DependencyStatus, rabbit: DependencyStatus })
})
export type Readiness = typeof Readiness.Type

/** /ready answers 503 with the same body when a dependency is down. */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { message: Schema.String, readiness: Readiness },
  { httpApiStatus: 503 }
) {}

export class SystemGroup extends HttpApiGroup.make("system", { topLevel: true })
  .add(
    HttpApiEndpoint.get("health", "/health", { success: Health }).annotate(OpenApi.Summary, "Liveness"),
    HttpApiEndpoint.get("ready", "/ready", { success: Readiness, error: NotReady })
      .annotate(OpenApi.Summary, "Readiness of the database, cache and event bus"),
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4" }))
    }).annotate(OpenApi.Summary, "Prometheus metrics of this app")
  )
  .annotateMerge(OpenApi.annotations({ title: "System", description: "Liveness, readiness and Prometheus metrics" }))
{}
