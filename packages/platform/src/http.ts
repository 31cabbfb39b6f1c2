// The HTTP edge every app shares: server, docs, request metrics, system endpoints, logging and
// the process runner that turns SIGTERM into a graceful, exit-0 shutdown.
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Readiness as ReadinessSchema } from "@kassa/domain/system"
import type { DependencyStatus, NotReady as NotReadyError } from "@kassa/domain/system"
import { Health, NotReady } from "@kassa/domain/system"
import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Logger, Metric, Option, References, Schema } from "effect"
import { HttpRouter, HttpServer, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import type { HttpApi, HttpApiGroup } from "effect/http-api"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { SqlClient } from "effect/sql"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
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

const latencyBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Counts and times every request, labelled by the matched route pattern (not the raw URL).
 * One metric pair per label set, built once: `Metric.withAttributes` on every request copies the
 * request's context and cost more than the rest of a /health request.
 */
const requestInstruments = (service: string) => {
  const instruments = new Map<string, { count: Metric.Counter<number>; latency: Metric.Histogram<number> }>()
  const instrumentsFor = (method: string, route: string, status: number) => {
    const key = `${method} ${route} ${status}`
    let found = instruments.get(key)
    if (found === undefined) {
      const attributes = { service, method, route, status: String(status) }
      found = {
        count: Metric.counter("http_requests_total", { description: "HTTP requests served", attributes }),
        latency: Metric.histogram("http_request_duration_seconds", {
          description: "HTTP request latency",
          boundaries: latencyBoundaries,
          attributes
        })
      }
      instruments.set(key, found)
    }
    return found
  }
  /** Synchronous on purpose: it runs on every request. */
  const record = (context: Context.Context<never>, method: string, route: string, status: number, start: bigint) => {
    const { count, latency } = instrumentsFor(method, route, status)
    count.updateUnsafe(1, context)
    latency.updateUnsafe(Number(Context.get(context, Clock.Clock).currentTimeNanosUnsafe() - start) / 1e9, context)
  }
  return { record }
}

const RequestMetrics = (instruments: ReturnType<typeof requestInstruments>) =>
  HttpRouter.middleware((httpEffect) =>
    Effect.flatMap(Clock.currentTimeNanos, (start) =>
      Effect.onExit(httpEffect, (exit) =>
        Effect.contextWith((context: Context.Context<HttpServerRequest.HttpServerRequest>) => {
          const request = Context.get(context, HttpServerRequest.HttpServerRequest)
          const route = Option.match(Context.getOption(context, HttpRouter.RouteContext), {
            onNone: () => "unmatched",
            onSome: (ctx) => String(ctx.route.path)
          })
          instruments.record(context, request.method, route, HttpServerError.exitResponse(exit).status, start)
          return Effect.void
        })))
  ).layer

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

const healthBody = (service: string) => Schema.encodeEffect(Health)({ status: "ok", service }).pipe(Effect.orDie)

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
 * `GET /health` is answered by node:http itself, before Effect's per-request machinery: probes and load
 * balancers call it constantly, and that machinery alone costs ~40% of bare node:http on it
 * (scripts/bench/http-overhead.ts). Same body as the SystemGroup contract; still counted in the metrics.
 * Any other request (and /health with a query) goes to Effect as usual.
 */
const answerHealthFirst = (server: Server, body: Buffer, instruments: ReturnType<typeof requestInstruments>): Server => {
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: Array<unknown>) => boolean
  const headers = { "content-type": "application/json", "content-length": body.length }
  // outside any fiber: the default Clock and metric registry, the same ones the app's fibers use
  const context = Context.empty()
  const clock = Context.get(context, Clock.Clock)
  server.emit = ((event: string | symbol, ...args: Array<unknown>) => {
    const [request, response] = args as [IncomingMessage, ServerResponse]
    if (event !== "request" || request.url !== "/health" || request.method !== "GET") return emit(event, ...args)
    const start = clock.currentTimeNanosUnsafe()
    response.writeHead(200, headers).end(body)
    instruments.record(context, "GET", "/health", 200, start)
    return true
  }) as Server["emit"]
  return server
}

/** See `serveApi`'s `fastRoutes`. */
export type FastRoutes = ReadonlyMap<
  string,
  (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse>
>

/**
 * Serves an HttpApi with its OpenAPI JSON (/openapi.json), a docs UI (/docs) and request metrics.
 * `groups` are the handler layers of every group in `api`.
 */
export const serveApi = <
  Id extends string,
  Groups extends HttpApiGroup.Constraint,
  E,
  R,
  EX = never,
  RX = never,
  EF = never,
  RF = never
>(options: {
  readonly service: string
  readonly api: HttpApi.HttpApi<Id, Groups>
  readonly groups: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>
  readonly http: ReturnType<typeof HttpConfig>
  /** More routes on the same server and port, e.g. an RPC endpoint (`RpcServer.layerHttp`). */
  readonly extraRoutes?: Layer.Layer<never, EX, RX>
  /**
   * Hot endpoints answered before routing, like /health: `"GET /v1/me"` (method and exact URL) → a handler that
   * honours the same contract as the HttpApi endpoint it shadows (that endpoint still serves other URLs, e.g.
   * with a query string, and the docs). A key ending in `*` matches a URL made of the rest plus one path segment
   * (a path parameter, which the handler validates as the endpoint does), without a query string.
   */
  readonly fastRoutes?: Effect.Effect<FastRoutes, EF, RF>
}) =>
  Layer.unwrap(Effect.gen(function*() {
    const { host, port, shutdownTimeout } = yield* options.http
    const instruments = requestInstruments(options.service)
    const routes = Layer.mergeAll(
      HttpApiBuilder.layer(options.api, { openapiPath: "/openapi.json" }),
      HttpApiScalar.layer(options.api, { path: "/docs" }),
      options.extraRoutes ?? Layer.empty
    ).pipe(Layer.provide([options.groups, RequestMetrics(instruments)]))
    const healthJson = Buffer.from(JSON.stringify(yield* healthBody(options.service)))
    const fastPaths: FastRoutes = new Map(options.fastRoutes === undefined ? [] : yield* options.fastRoutes)
    // metrics label a prefix route by its pattern, not by each URL
    const prefixPaths = [...fastPaths].filter(([key]) => key.endsWith("*"))
      .map(([key, handler]) => [key.slice(0, -1), handler, key.slice(key.indexOf(" ") + 1)] as const)
    const fastPath = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      Effect.contextWith((context: Context.Context<HttpServerRequest.HttpServerRequest>) => {
        const request = Context.get(context, HttpServerRequest.HttpServerRequest)
        const key = `${request.method} ${request.url}`
        let fast = fastPaths.get(key)
        let route = request.url
        if (fast === undefined) {
          // one trailing path segment, no query: anything else goes through routing
          const prefixed = prefixPaths.find(([prefix]) =>
            key.length > prefix.length && key.startsWith(prefix) && key.indexOf("/", prefix.length) === -1 && key.indexOf("?", prefix.length) === -1)
          if (prefixed === undefined) return app
          fast = prefixed[1]
          route = prefixed[2]
        }
        const start = Context.get(context, Clock.Clock).currentTimeNanosUnsafe()
        return Effect.tap(fast(request), (response) =>
          Effect.sync(() => instruments.record(context, request.method, route, response.status, start)))
      })
    // HttpServer stays in the output so tests (port 0) can read the bound address
    return HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true, middleware: fastPath }).pipe(
      Layer.provideMerge(NodeHttpServer.layerServer(
        () => answerHealthFirst(createServer(), healthJson, instruments),
        { host, port, gracefulShutdownTimeout: shutdownTimeout }
      )),
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
