// Test support shared by every package's tests: real services, isolated per test file.
import { randomBytes, randomUUID } from "node:crypto"
import { connect, createServer, type Server, type Socket } from "node:net"
import { PgClient } from "@effect/sql-pg"
import {
  Clock,
  ConfigProvider,
  type Duration,
  Effect,
  Layer,
  type LogLevel,
  Redacted,
  References,
  type Scope
} from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "effect/http"
import { type HttpApi, HttpApiClient, type HttpApiGroup } from "effect/http-api"
import { SqlClient, type SqlError } from "effect/sql"
import { SignJWT } from "jose"
import { layerAmqp } from "./bus-amqp.ts"
import { layerFromUrl } from "./db.ts"
import { serverUrl } from "./http.ts"
import { layerRedis } from "./kv.ts"
import { DeploymentClock } from "./test-clock.ts"

export const defaultPostgresAdminUrl = "postgres://postgres@127.0.0.1:5432/postgres"

const withAdmin = <A>(adminUrl: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError.SqlError>) =>
  SqlClient.SqlClient.use(f).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })))

/**
 * Creates a uniquely named database on the server behind `adminUrl` and drops it (even with open
 * connections) when the scope closes. Returns its URL, e.g. for several pools on one database.
 */
export const makeTestDatabase = (
  adminUrl: string = defaultPostgresAdminUrl
): Effect.Effect<Redacted.Redacted<string>, SqlError.SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    const name = `kassa_test_${randomBytes(8).toString("hex")}`
    yield* Effect.acquireRelease(
      withAdmin(adminUrl, (sql) => sql`CREATE DATABASE ${sql(name)}`),
      () =>
        withAdmin(adminUrl, (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`).pipe(
          Effect.ignore({ log: "Warn", message: `dropping test database ${name} failed` })
        )
    )
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return Redacted.make(url.toString())
  })

/** A fresh database per layer build (one per test file): PgClient + SqlClient with the app's name transforms. */
export const testDatabase = (
  adminUrl: string = defaultPostgresAdminUrl
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError.SqlError> =>
  Layer.unwrap(Effect.map(makeTestDatabase(adminUrl), (url) => layerFromUrl(url)))

export const TestDatabase = testDatabase()

// one per test file (vitest evaluates this module once per file): files running at once share the real Redis,
// and one file's invalidations (e.g. a membership change) must not reach another's caches
const redisKeyPrefix = `test:${randomBytes(6).toString("hex")}:`

/** The real Redis (or a proxy to it at `url`) under this test file's key prefix. */
export const testRedis = (url = "redis://127.0.0.1:6379", options?: { readonly commandTimeout?: Duration.Input }) =>
  layerRedis(url, { ...options, keyPrefix: redisKeyPrefix })

// every app's port variable (`<APP>_PORT`) not set otherwise: 0, an ephemeral port
const ephemeralPorts = ConfigProvider.make((path) =>
  Effect.succeed(path.length === 1 && String(path[0]).endsWith("_PORT") ? ConfigProvider.makeValue("0") : undefined)
)

/**
 * The platform of an app under test: `database` (its own database on the real Postgres), the real Redis and
 * RabbitMQ, logs from `logLevel` up, no spans recorded, HTTP servers on ephemeral ports, and `config` over those
 * defaults.
 */
export const testPlatform = <A, E>(
  database: Layer.Layer<A, E>,
  options?: { readonly logLevel?: LogLevel.LogLevel; readonly config?: Record<string, string> }
) =>
  Layer.mergeAll(
    database,
    layerAmqp("amqp://guest:guest@127.0.0.1:5672", "kassa.events")
  ).pipe(
    // the deployment's clock: the real one unless the config turns the test clock on
    Layer.provideMerge(DeploymentClock.layer),
    Layer.provideMerge(testRedis()),
    Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, options?.logLevel ?? "Warn")),
    // as in production (TelemetryLive): no spans recorded
    Layer.provideMerge(Layer.succeed(References.TracerEnabled, false)),
    Layer.provideMerge(ConfigProvider.layer(ConfigProvider.orElse(
      ConfigProvider.fromUnknown({
        DATABASE_URL: "postgres://set-by-the-test-database",
        REDIS_URL: "redis://127.0.0.1:6379",
        AMQP_URL: "amqp://guest:guest@127.0.0.1:5672",
        ...options?.config
      }),
      ephemeralPorts
    )))
  )

export const TestPlatform = testPlatform(TestDatabase)

/** A client derived from `api`, pointed at the app server running in the test's layer. */
export const apiClient = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>,
  options?: {
    /** sent as `Authorization: Bearer <token>` on every request */
    readonly bearer?: string
    /** sent on every request, e.g. `x-forwarded-for` */
    readonly headers?: Record<string, string>
  }
) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const bearer = options?.bearer
    const headers = options?.headers ?? {}
    return yield* HttpApiClient.make(api, {
      baseUrl: serverUrl(server),
      transformClient: HttpClient.mapRequest((request) => {
        const withHeaders = HttpClientRequest.setHeaders(request, headers)
        return bearer === undefined ? withHeaders : HttpClientRequest.bearerToken(withHeaders, bearer)
      })
    })
  }).pipe(Effect.provide(FetchHttpClient.layer))

/**
 * An access token as another app signs it, with `secret` as JWT_SECRET: HS256 (no `kid`), issuer and audience
 * "kassa", a session id of its own, valid for 5 minutes from the clock's now.
 */
export const signedToken = (
  secret: string,
  claims: { readonly sub: string; readonly email: string; readonly role: "user" | "admin" }
) =>
  Effect.flatMap(Clock.currentTimeMillis, (millis) =>
    Effect.promise(() => {
      const now = Math.floor(millis / 1000)
      return new SignJWT({ email: claims.email, role: claims.role, sid: randomUUID() })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(claims.sub)
        .setJti(randomUUID())
        .setIssuer("kassa")
        .setAudience("kassa")
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(Buffer.from(secret, "utf8"))
    }))

/**
 * Joins a proxied connection's two ends, keeping both in `sockets` while open: when either closes or fails, both
 * close.
 */
export const joinSockets = (client: Socket, upstream: Socket, sockets: Set<Socket>) => {
  for (const socket of [client, upstream]) {
    sockets.add(socket)
    socket.on("error", () => socket.destroy())
    socket.on("close", () => {
      sockets.delete(socket)
      client.destroy()
      upstream.destroy()
    })
  }
}

/**
 * A TCP proxy to a local server (Redis, RabbitMQ, Postgres) that a test can cut and restore: an
 * outage staged without touching the shared server. `start(0)` picks a port; `start(port)` reopens it.
 */
export const tcpProxy = (upstreamPort: number) =>
  Effect.gen(function*() {
    const sockets = new Set<Socket>()
    let server: Server | undefined
    let stalled = false
    const start = (port: number) =>
      Effect.callback<number>((resume) => {
        stalled = false
        server = createServer((client) => {
          const upstream = connect(upstreamPort, "127.0.0.1")
          joinSockets(client, upstream, sockets)
          // stalled: connections are accepted and never answered
          if (stalled) client.pause()
          else client.pipe(upstream).pipe(client)
        })
        server.listen(port, "127.0.0.1", () => {
          const address = server?.address()
          resume(Effect.succeed(typeof address === "object" && address ? address.port : port))
        })
      })
    const cut = Effect.sync(() => {
      server?.close()
      for (const socket of sockets) socket.destroy()
    })
    /** A peer that is there but silent: nothing more is forwarded either way, nothing is closed. */
    const stall = Effect.sync(() => {
      stalled = true
      for (const socket of sockets) {
        socket.unpipe()
        socket.pause()
      }
    })
    yield* Effect.addFinalizer(() => cut)
    return { start, cut, stall }
  })

/**
 * The value of one series in Prometheus text (`/metrics`): the sample of `name` whose labels include `labels`;
 * undefined when there is none.
 */
export const metricValue = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !(line.startsWith(`${name}{`) || line.startsWith(`${name} `))) continue
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) {
      return Number(line.slice(line.lastIndexOf(" ") + 1))
    }
  }
  return undefined
}

/** GET /metrics of the app server in the test's layer. */
export const scrapeMetrics = Effect.gen(function*() {
  const url = `${serverUrl(yield* HttpServer.HttpServer)}/metrics`
  return yield* Effect.promise(() => fetch(url).then((response) => response.text()))
})
