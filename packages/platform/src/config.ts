// The settings every app shares (database, cache, broker, HTTP, logs, access tokens, the service token) and the
// helpers apps build their own settings with (apps/<app>/src/config.ts). Only config modules name environment
// variables; everything else asks these Configs.
import { Config, ConfigProvider, Duration, Effect, Redacted, Schema } from "effect"
import { dirname, join } from "node:path"

export const configError = (message: string) => new Config.ConfigError(new ConfigProvider.SourceError({ message }))

const optionalUrl = (name: string) => Config.option(Config.Redacted(name))

/** Where embedded PGlite keeps its data; other embedded stores default to a folder beside it. */
export const pgliteDataDir = Config.String("PGLITE_DATA_DIR").pipe(Config.withDefault(".kassa/pglite"))

export const positiveInt = (name: string, fallback: number) =>
  Config.Int(name).pipe(
    Config.withDefault(fallback),
    Config.mapEffect((n) => n >= 1 ? Effect.succeed(n) : Effect.fail(configError(`${name} must be 1 or more`)))
  )

/** Postgres: unset → embedded PGlite (data kept under PGLITE_DATA_DIR; "memory" keeps nothing). */
export const DatabaseConfig = Config.all({
  url: optionalUrl("DATABASE_URL"),
  pgliteDataDir,
  maxConnections: Config.Int("DATABASE_POOL_SIZE").pipe(Config.withDefault(10))
})

/** `name` beside PGlite's directory (`.kassa/<name>` by default), or "memory" when PGlite keeps nothing. */
export const besideEmbeddedData = (pgliteDataDir: string, name: string) =>
  pgliteDataDir === "memory" ? "memory" : join(dirname(pgliteDataDir), name)

/** Redis: unset → in-process store. */
export const RedisConfig = Config.all({
  url: optionalUrl("REDIS_URL"),
  commandTimeout: Config.Duration("REDIS_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.millis(500))),
  keyPrefix: Config.String("REDIS_KEY_PREFIX").pipe(Config.withDefault(""))
})

/** RabbitMQ: unset → in-process bus. */
export const AmqpConfig = Config.all({
  url: optionalUrl("AMQP_URL"),
  exchange: Config.String("AMQP_EXCHANGE").pipe(Config.withDefault("kassa.events")),
  connectTimeout: Config.Duration("AMQP_CONNECT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  confirmTimeout: Config.Duration("AMQP_CONFIRM_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5)))
})

export const OutboxConfig = Config.all({
  pollInterval: Config.Duration("OUTBOX_POLL_INTERVAL").pipe(Config.withDefault(Duration.millis(200))),
  batchSize: Config.Int("OUTBOX_BATCH_SIZE").pipe(Config.withDefault(200)),
  // published events are kept this long (for inspection and replays by hand), then deleted by the relay
  retention: Config.Duration("OUTBOX_RETENTION").pipe(Config.withDefault(Duration.days(7)))
})

export const LogConfig = Config.all({
  format: Config.Literals(["json", "pretty", "auto"], "LOG_FORMAT").pipe(Config.withDefault("auto" as const)),
  level: Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const))
})

export const positiveDuration = (name: string, fallback: Duration.Duration) =>
  Config.Duration(name).pipe(
    Config.withDefault(fallback),
    Config.mapEffect((d) =>
      Duration.isGreaterThan(d, Duration.zero) && Duration.isFinite(d)
        ? Effect.succeed(d)
        : Effect.fail(configError(`${name} must be longer than 0`))
    )
  )

/** One HTTP listener per app; each app names its own port variable and default. */
export const HttpConfig = (portVar: string, defaultPort: number) =>
  Config.all({
    host: Config.String("HOST").pipe(Config.withDefault("127.0.0.1")),
    // 0 = an ephemeral port (tests); Config.Port would reject it
    port: Config.schema(Schema.Port, portVar).pipe(Config.withDefault(defaultPort)),
    shutdownTimeout: Config.Duration("SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
    // a dependency that accepts connections but never answers must not hold a request (or its client) forever
    requestTimeout: Config.Duration("REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
    // slow clients (slowloris, a trickled body) must not hold sockets: the headers, then the whole request,
    // must arrive within these; an idle kept-alive connection is closed after the last
    headersTimeout: positiveDuration("HTTP_HEADERS_TIMEOUT", Duration.seconds(10)),
    receiveTimeout: positiveDuration("HTTP_RECEIVE_TIMEOUT", Duration.seconds(30)),
    keepAliveTimeout: positiveDuration("HTTP_KEEP_ALIVE_TIMEOUT", Duration.seconds(5)),
    /** open connections one client address may hold; 0 = no cap (behind a proxy every client has its address) */
    maxConnectionsPerAddress: Config.Int("HTTP_MAX_CONNECTIONS_PER_ADDRESS").pipe(
      Config.withDefault(256),
      Config.mapEffect((n) =>
        n < 0
          ? Effect.fail(configError("HTTP_MAX_CONNECTIONS_PER_ADDRESS must be 0 (no cap) or more"))
          : Effect.succeed(n)
      )
    )
  }).pipe(
    Config.mapEffect((http) =>
      Duration.isGreaterThan(http.headersTimeout, http.receiveTimeout)
        ? Effect.fail(configError("HTTP_HEADERS_TIMEOUT must not be longer than HTTP_RECEIVE_TIMEOUT"))
        : Effect.succeed(http)
    )
  )

/** `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>` when set; unset, it is open (a warning is logged). */
export const MetricsConfig = Config.option(Config.Redacted("METRICS_TOKEN"))

/**
 * Access tokens, which every app verifies. JWT_SECRET is the HS256 key; unset, each process generates one at start
 * (tokens then do not survive a restart, and replicas cannot share them).
 */
const jwtSecretConfig = (name: string) =>
  Config.option(Config.Redacted(name)).pipe(
    Config.mapEffect((secret) =>
      secret._tag === "Some" && Redacted.value(secret.value).length < 32
        ? Effect.fail(configError(`${name} must be at least 32 characters (HS256 key)`))
        : Effect.succeed(secret)
    )
  )

export const AuthConfig = Config.all({
  jwtSecret: jwtSecretConfig("JWT_SECRET"),
  /** The key before JWT_SECRET, still accepted while a rotation is under way (tokens name their key in `kid`). */
  jwtSecretPrevious: jwtSecretConfig("JWT_SECRET_PREVIOUS"),
  issuer: Config.String("JWT_ISSUER").pipe(Config.withDefault("kassa")),
  audience: Config.String("JWT_AUDIENCE").pipe(Config.withDefault("kassa")),
  accessTokenTtl: Config.Duration("ACCESS_TOKEN_TTL").pipe(
    Config.withDefault(Duration.minutes(15)),
    Config.mapEffect((ttl) =>
      Duration.isGreaterThan(ttl, Duration.minutes(15)) || !Duration.isGreaterThan(ttl, Duration.zero)
        ? Effect.fail(configError("ACCESS_TOKEN_TTL must be more than 0 and at most 15 minutes"))
        : Effect.succeed(ttl)
    )
  )
}).pipe(
  Config.mapEffect((auth) =>
    auth.jwtSecretPrevious._tag === "Some" && auth.jwtSecret._tag === "None"
      ? Effect.fail(configError("JWT_SECRET_PREVIOUS needs JWT_SECRET (the key tokens are signed with)"))
      : Effect.succeed(auth)
  )
)

/** Used when SERVICE_TOKEN is unset (a warning is logged): fine on a laptop, never in a shared environment. */
export const developmentServiceToken = "kassa-dev-service-token"

/** The bearer token every service presents on another's RPC (and operators on the routes meant for services). */
export const ServiceTokenConfig = Config.option(Config.Redacted("SERVICE_TOKEN"))

/** A second token accepted beside SERVICE_TOKEN (never presented), for rotating it without downtime. */
export const ServiceTokenPreviousConfig = Config.option(Config.Redacted("SERVICE_TOKEN_PREVIOUS"))

/** KASSA_TEST_CLOCK=on: the deployment's time can be moved forward through billing's admin route (test deployments). */
export const TestClockConfig = Config.Literals(["on", "off"], "KASSA_TEST_CLOCK").pipe(
  Config.withDefault("off" as const),
  Config.map((value) => value === "on")
)
