// The HTTP edge every app shares: server, docs, request metrics, system endpoints, logging and
// the process runner that turns SIGTERM into a graceful, exit-0 shutdown.
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import type { Readiness as ReadinessSchema } from "@kassa/domain/system"
import type { DependencyStatus, NotReady as NotReadyError } from "@kassa/domain/system"
import { Health, NotReady } from "@kassa/domain/system"
import { ServiceUnavailable } from "@kassa/domain/errors"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  Layer,
  Logger,
  Metric,
  Option,
  References,
  Schema
} from "effect"
import { HttpRouter, HttpServer, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import type { HttpApi, HttpApiGroup } from "effect/http-api"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { SqlClient } from "effect/sql"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { AmqpConfig, DatabaseConfig, LogConfig, MetricsConfig, RedisConfig } from "./config.ts"
import type { HttpConfig } from "./config.ts"
import { EventBus } from "./bus.ts"
import {
  answerClientErrors,
  capConnectionsPerAddress,
  edgeMiddleware,
  securityHeaders,
  serverOptions
} from "./http-edge.ts"
import { Cache } from "./kv.ts"
import { type Collector, collectAll, ownMetricRegistry } from "./metrics.ts"

// ---- logging and tracing ----------------------------------------------------------------------------------

/**
 * Logs: JSON lines when stdout is not a terminal (or LOG_FORMAT=json), pretty otherwise. Traces: spans are not
 * recorded, since no trace exporter is configured; recording spans nobody reads cost ~20% of the Node CPU of each
 * SQL statement (every statement is a span, with a captured stack trace).
 */
export const TelemetryLive = Layer.unwrap(Effect.gen(function*() {
  const { format, level } = yield* LogConfig
  const json = format === "json" || (format === "auto" && process.stdout.isTTY !== true)
  return Layer.mergeAll(
    Logger.layer([json ? Logger.consoleJson : Logger.consolePretty()]),
    Layer.succeed(References.MinimumLogLevel, level),
    Layer.succeed(References.TracerEnabled, false)
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
    Effect.flatMap(
      Clock.currentTimeNanos,
      (start) =>
        Effect.onExit(
          httpEffect,
          (exit) =>
            Effect.contextWith((context: Context.Context<HttpServerRequest.HttpServerRequest>) => {
              const request = Context.get(context, HttpServerRequest.HttpServerRequest)
              const route = Option.match(Context.getOption(context, HttpRouter.RouteContext), {
                onNone: () => "unmatched",
                onSome: (ctx) => String(ctx.route.path)
              })
              instruments.record(context, request.method, route, HttpServerError.exitResponse(exit).status, start)
              return Effect.void
            })
        )
    )
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
  /** Marks start-up done: /ready stays 503 until then, so a load balancer never sends work to a half-started app. */
  readonly started: Effect.Effect<void>
}>()("kassa/Readiness") {
  /** Opens readiness once the layers it is provided after (`Layer.provideMerge`) are built. */
  static readonly started = Layer.effectDiscard(Readiness.use((r) => r.started))

  static readonly layer = Layer.effect(
    Readiness,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const cache = yield* Cache
      const bus = yield* EventBus
      const db = yield* DatabaseConfig
      const redis = yield* RedisConfig
      const amqp = yield* AmqpConfig
      let startup: "starting" | "done" = "starting"
      const check = Effect.gen(function*() {
        const [dbStatus, redisStatus, rabbitStatus] = yield* Effect.all([
          probe(Option.isNone(db.url), sql`SELECT 1`),
          probe(Option.isNone(redis.url), cache.ping),
          probe(Option.isNone(amqp.url), bus.ping)
        ], { concurrency: "unbounded" })
        const checks = { db: dbStatus, redis: redisStatus, rabbit: rabbitStatus }
        const up = (s: DependencyStatus) => s.status === "up"
        // Redis is a cache only: the app still answers correctly without it.
        const ready = startup === "done" && up(dbStatus) && up(rabbitStatus)
        return { status: ready ? "ready" as const : "not_ready" as const, startup, checks }
      })
      return Readiness.of({ check, started: Effect.sync(() => void (startup = "done")) })
    })
  )
}

const encodeUnavailable = Schema.encodeSync(ServiceUnavailable)

const healthBody = (service: string) => Schema.encodeEffect(Health)({ status: "ok", service }).pipe(Effect.orDie)

/**
 * The handlers of the domain's SystemGroup; each app plugs them into its own HttpApi. `metrics` runs the app's
 * scrape-time collectors (its business metrics, see metrics.ts), then formats the app's own registry.
 */
export const systemHandlers = (service: string) => ({
  health: Effect.succeed({ status: "ok" as const, service }),
  ready: Readiness.use((r) => r.check).pipe(
    Effect.flatMap((readiness): Effect.Effect<typeof ReadinessSchema.Type, NotReadyError> =>
      readiness.status === "ready"
        ? Effect.succeed(readiness)
        : Effect.fail(new NotReady({ message: "a dependency is down", readiness }))
    )
  ),
  metrics: (collectors: ReadonlyArray<Collector> = []) =>
    Effect.andThen(collectAll(collectors), PrometheusMetrics.format())
})

// ---- serving ----------------------------------------------------------------------------------

export const serverUrl = (server: HttpServer.HttpServer["Service"]) => HttpServer.formatAddress(server.address)

/** A hot route's answer: a JSON body and its status. */
export interface HotResponse {
  readonly status: number
  readonly body: Buffer
}

/**
 * See `serveApi`'s `hotRoutes`. Keyed by the endpoint's method and path pattern (`"GET /v1/me"`,
 * `"GET /v1/entitlements/films/:filmId"`); `param` is the raw last segment when the pattern ends in one.
 */
export type HotRoutes = ReadonlyMap<string, HotRoute>

/**
 * A request header's first value, read from the raw header list: `request.headers` builds an object of them all,
 * which a hot route that needs one header need not pay for. `name` in lower case.
 */
export const rawHeader = (request: IncomingMessage, name: string): string | undefined => {
  const raw = request.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!
    if (key.length === name.length && key.toLowerCase() === name) return raw[i + 1]
  }
  return undefined
}

/** Answers from memory, synchronously, or returns undefined to let the HttpApi serve the request. */
export type HotRoute = (request: IncomingMessage, param: string, now: number) => HotResponse | undefined

/**
 * Answers `GET /health` and the hot routes in node:http itself, before Effect's per-request machinery, which alone
 * costs ~40% of bare node:http on a tiny route (scripts/bench/http-overhead.ts). A hot route answers only what it
 * can answer synchronously from memory and returns undefined for anything else, which then goes to Effect's
 * routing as usual (so do URLs with a query string). Hot answers are counted in the same request metrics.
 */
const answerHotFirst = (
  server: Server,
  routes: HotRoutes,
  context: Context.Context<never>,
  instruments: ReturnType<typeof requestInstruments>
): Server => {
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: Array<unknown>) => boolean
  const clock = Context.get(context, Clock.Clock)
  const exact = new Map<string, readonly [string, HotRoute]>()
  const prefixed: Array<readonly [string, string, HotRoute]> = []
  for (const [pattern, route] of routes) {
    const cut = pattern.lastIndexOf("/:")
    if (cut === -1) exact.set(pattern, [pattern.slice(pattern.indexOf(" ") + 1), route])
    else prefixed.push([pattern.slice(0, cut + 1), pattern.slice(pattern.indexOf(" ") + 1), route])
  }
  server.emit = ((event: string | symbol, ...args: Array<unknown>) => {
    if (event !== "request") return emit(event, ...args)
    const [request, response] = args as [IncomingMessage, ServerResponse]
    const url = request.url ?? ""
    if (url.indexOf("?") !== -1) return emit(event, ...args)
    const key = `${request.method} ${url}`
    let found = exact.get(key)
    let param = ""
    if (found === undefined) {
      for (const [prefix, pattern, route] of prefixed) {
        // exactly one more non-empty segment
        if (key.length > prefix.length && key.startsWith(prefix) && key.indexOf("/", prefix.length) === -1) {
          found = [pattern, route]
          param = key.slice(prefix.length)
          break
        }
      }
      if (found === undefined) return emit(event, ...args)
    }
    const start = clock.currentTimeNanosUnsafe()
    const answer = found[1](request, param, clock.currentTimeMillisUnsafe())
    if (answer === undefined) return emit(event, ...args)
    response.writeHead(answer.status, {
      ...securityHeaders,
      "content-type": "application/json",
      "content-length": answer.body.length
    })
      .end(answer.body)
    instruments.record(context, request.method ?? "GET", found[0], answer.status, start)
    return true
  }) as Server["emit"]
  return server
}

/**
 * Serves an HttpApi with its OpenAPI JSON (/openapi.json), a docs UI (/docs) and request metrics.
 * `groups` are the handler layers of every group in `api`. The server and its handlers record into a metric
 * registry of their own, which the app's /metrics serves. The socket limits, security headers, Retry-After on a 503
 * and the /metrics guard are in http-edge.ts.
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
   * Hot endpoints answered in node:http before Effect (see `answerHotFirst`), each shadowing the HttpApi endpoint
   * of the same pattern and honouring its contract; what a hot route declines, that endpoint serves.
   */
  readonly hotRoutes?: Effect.Effect<HotRoutes, EF, RF>
}) =>
  Layer.unwrap(Effect.gen(function*() {
    const http = yield* options.http
    const { host, port, requestTimeout, shutdownTimeout } = http
    const metricsToken = yield* MetricsConfig
    if (Option.isNone(metricsToken)) {
      yield* Effect.logWarning(
        `METRICS_TOKEN not set: ${options.service}'s /metrics is open to anyone who reaches its port`
      )
    }
    const edge = edgeMiddleware(metricsToken)
    const instruments = requestInstruments(options.service)
    const routes = Layer.mergeAll(
      HttpApiBuilder.layer(options.api, { openapiPath: "/openapi.json" }),
      HttpApiScalar.layer(options.api, { path: "/docs" }),
      options.extraRoutes ?? Layer.empty
    ).pipe(Layer.provide([options.groups, RequestMetrics(instruments)]))
    const health = Buffer.from(JSON.stringify(yield* healthBody(options.service)))
    const hotRoutes: HotRoutes = new Map([
      ["GET /health", () => ({ status: 200, body: health })],
      ...(options.hotRoutes === undefined ? [] : yield* options.hotRoutes)
    ])
    // the clock and metric registry the app's fibers use
    const context = yield* Effect.context<never>()
    // HttpServer stays in the output so tests (port 0) can read the bound address
    // past the deadline the client gets a 503 at once; the handler is interrupted when the request's fiber ends
    // (an interrupted money path is safe to retry: every one of them is idempotent)
    const timedOut = HttpServerResponse.jsonUnsafe(
      encodeUnavailable(new ServiceUnavailable({ message: "the request took too long; try again shortly" })),
      { status: 503 }
    )
    const deadline = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      edge(Effect.timeoutOrElse(app, { duration: requestTimeout, orElse: () => Effect.succeed(timedOut) }))
    return HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true, middleware: deadline }).pipe(
      Layer.provideMerge(NodeHttpServer.layerServer(
        () =>
          answerHotFirst(
            capConnectionsPerAddress(
              answerClientErrors(createServer(serverOptions(http))),
              http.maxConnectionsPerAddress
            ),
            hotRoutes,
            context,
            instruments
          ),
        { host, port, gracefulShutdownTimeout: shutdownTimeout }
      )),
      Layer.provide(NodeHttpServer.layerHttpServices),
      Layer.tap((ctx) =>
        Effect.logInfo(
          `${options.service} listening on ${serverUrl(Context.get(ctx, HttpServer.HttpServer))} (docs at /docs)`
        )
      )
    )
  }))

/**
 * What an app that runs on its own stands on, built in this order before the rest of it: a metric registry of its
 * own, its schema's migrations (so nothing reads a table before it exists), and the Readiness that the app's
 * `Readiness.started` opens.
 */
export const appFoundation = <E, R>(migrations: Layer.Layer<never, E, R>) =>
  Readiness.layer.pipe(Layer.provideMerge(migrations), Layer.provideMerge(ownMetricRegistry()))

/**
 * Runs a layer until SIGINT/SIGTERM. On a signal the layer's scope closes in reverse order of
 * acquisition: the HTTP server stops accepting and drains in-flight requests, background fibers are
 * interrupted, then pools and connections close. A clean stop exits 0.
 */
export const runApp = <E>(app: Layer.Layer<never, E>) =>
  NodeRuntime.runMain(Layer.launch(app), {
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
  })
