// The HTTP edge every app shares: server, docs, request metrics, system endpoints, logging and
// the process runner that turns SIGTERM into a graceful, exit-0 shutdown.
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Readiness as ReadinessSchema } from "@kassa/domain/system"
import type { DependencyStatus, NotReady as NotReadyError } from "@kassa/domain/system"
import { NotReady } from "@kassa/domain/system"
import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Logger, Metric, Option, References } from "effect"
import { HttpRouter, HttpServer, HttpServerError, HttpServerRequest } from "effect/http"
import type { HttpApi, HttpApiGroup } from "effect/http-api"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { SqlClient } from "effect/sql"
import { createServer } from "node:http"
import { AmqpConfig, DatabaseConfig, LogConfig, RedisConfig } from "./config.ts"
import type { HttpConfig } from "./config.ts"
import { EventBus } from "./bus.ts"
import { Cache } from "./kv.ts"

// ---- logging ----------------------------------------------------------------------------------

/** JSON lines when stdout is not a terminal (or LOG_FORMAT=json), pretty otherwise. */
export const LoggerLive = Layer.unwrap(Effect.gen(function*() {
  const { format, level } = yield* LogConfig
  const json = format === "json" || (format === "auto" && process.stdout.isTTY !== true)
  return Layer.mergeAll(
    Logger.layer([json ? Logger.consoleJson : Logger.consolePretty()]),
    Layer.succeed(References.MinimumLogLevel, level)
  )
}))

// ---- metrics ----------------------------------------------------------------------------------

const requestCount = Metric.counter("http_requests_total", { description: "HTTP requests served" })
const requestLatency = Metric.histogram("http_request_duration_seconds", {
  description: "HTTP request latency",
  boundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
})

/** Counts and times every request, labelled by the matched route pattern (not the raw URL). */
export const RequestMetrics = (service: string) =>
  HttpRouter.middleware((httpEffect) =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeNanos
      const request = yield* HttpServerRequest.HttpServerRequest
      const route = yield* Effect.serviceOption(HttpRouter.RouteContext)
      return yield* Effect.onExit(httpEffect, (exit) =>
        Effect.gen(function*() {
          const end = yield* Clock.currentTimeNanos
          const attributes = {
            service,
            method: request.method,
            route: Option.match(route, { onNone: () => "unmatched", onSome: (ctx) => String(ctx.route.path) }),
            status: String(HttpServerError.exitResponse(exit).status)
          }
          yield* Metric.update(Metric.withAttributes(requestCount, attributes), 1)
          yield* Metric.update(Metric.withAttributes(requestLatency, attributes), Number(end - start) / 1e9)
        }))
    })).layer

// ---- readiness --------------------------------------------------------------------------------

const probe = (embedded: boolean, check: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(check.pipe(Effect.timeout(Duration.seconds(2))))
    const latencyMs = Math.round((yield* Clock.currentTimeMillis) - start)
    const mode = embedded ? "embedded" as const : "server" as const
    return Exit.isSuccess(exit)
      ? { status: "up" as const, mode, latencyMs }
      : { status: "down" as const, mode, latencyMs, error: Cause.pretty(exit.cause).split("\n")[0] ?? "failed" }
  })

export class Readiness extends Context.Service<Readiness, {
  readonly check: Effect.Effect<typeof ReadinessSchema.Type>
}>()("kassa/Readiness") {
  static readonly layer = Layer.effect(Readiness, Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const cache = yield* Cache
    const bus = yield* EventBus
    const db = yield* DatabaseConfig
    const redis = yield* RedisConfig
    const amqp = yield* AmqpConfig
    const check = Effect.gen(function*() {
      const [dbStatus, redisStatus, rabbitStatus] = yield* Effect.all([
        probe(Option.isNone(db.url), sql`SELECT 1`),
        probe(Option.isNone(redis.url), cache.ping),
        probe(Option.isNone(amqp.url), bus.ping)
      ], { concurrency: "unbounded" })
      const checks = { db: dbStatus, redis: redisStatus, rabbit: rabbitStatus }
      const up = (s: DependencyStatus) => s.status === "up"
      // Redis is a cache only: the app still answers correctly without it.
      const ready = up(dbStatus) && up(rabbitStatus)
      return { status: ready ? "ready" as const : "not_ready" as const, checks }
    })
    return Readiness.of({ check })
  }))
}

/** The handlers of the domain's SystemGroup; each app plugs them into its own HttpApi. */
export const systemHandlers = (service: string) => ({
  health: Effect.succeed({ status: "ok" as const, service }),
  ready: Readiness.use((r) => r.check).pipe(
    Effect.flatMap((readiness): Effect.Effect<typeof ReadinessSchema.Type, NotReadyError> =>
      readiness.status === "ready"
        ? Effect.succeed(readiness)
        : Effect.fail(new NotReady({ message: "a dependency is down", readiness })))
  ),
  metrics: PrometheusMetrics.format()
})

// ---- serving ----------------------------------------------------------------------------------

export const serverUrl = (server: HttpServer.HttpServer["Service"]) => HttpServer.formatAddress(server.address)

/**
 * Serves an HttpApi with its OpenAPI JSON (/openapi.json), a docs UI (/docs) and request metrics.
 * `groups` are the handler layers of every group in `api`.
 */
export const serveApi = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R>(options: {
  readonly service: string
  readonly api: HttpApi.HttpApi<Id, Groups>
  readonly groups: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>
  readonly http: ReturnType<typeof HttpConfig>
}) =>
  Layer.unwrap(Effect.gen(function*() {
    const { host, port, shutdownTimeout } = yield* options.http
    const routes = Layer.mergeAll(
      HttpApiBuilder.layer(options.api, { openapiPath: "/openapi.json" }),
      HttpApiScalar.layer(options.api, { path: "/docs" })
    ).pipe(Layer.provide([options.groups, RequestMetrics(options.service)]))
    // HttpServer stays in the output so tests (port 0) can read the bound address
    return HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layerServer(createServer, { host, port, gracefulShutdownTimeout: shutdownTimeout })),
      Layer.provide(NodeHttpServer.layerHttpServices),
      Layer.tap((ctx) =>
        Effect.logInfo(`${options.service} listening on ${serverUrl(Context.get(ctx, HttpServer.HttpServer))} (docs at /docs)`))
    )
  }))

/**
 * Runs a layer until SIGINT/SIGTERM. On a signal the layer's scope closes in reverse order of
 * acquisition: the HTTP server stops accepting and drains in-flight requests, background fibers are
 * interrupted, then pools and connections close. A clean stop exits 0.
 */
export const runApp = <E>(app: Layer.Layer<never, E>) =>
  NodeRuntime.runMain(Layer.launch(app), {
    teardown: (exit, onExit) =>
      onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
  })
