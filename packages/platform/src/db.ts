// Postgres for every service: a PgClient from DATABASE_URL, else an embedded PGlite, plus per-schema migrations.
import { mkdirSync } from "node:fs"
import { resolve } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { type Config, Effect, Layer, Option, Redacted, Schema, String as Str } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { LRUCache } from "lru-cache"
import { DatabaseConfig } from "./config.ts"

export class EmbeddedDatabaseError extends Schema.TaggedError<EmbeddedDatabaseError>()("EmbeddedDatabaseError", {
  message: Schema.String,
  cause: Schema.Defect()
}) {}

// every column of every row is renamed: the names are few, so each is converted once
const memoized = (convert: (name: string) => string) => {
  const known = new LRUCache<string, string>({ max: 10_000 })
  return (name: string): string => {
    let converted = known.get(name)
    if (converted === undefined) {
      converted = convert(name)
      known.set(name, converted)
    }
    return converted
  }
}
// column names only: a json/jsonb value arrives as stored (a Stripe payload, an event's data, audit details keep
// their keys), so SQL that builds JSON for the code names its keys as the code does
const clientOptions = {
  transformQueryNames: memoized(Str.camelToSnake),
  transformResultNames: memoized(Str.snakeToCamel),
  transformJson: false,
  // short statements only: compiling a plan whose row estimate went stale (a queue table that filled and drained)
  // cost up to 0.9 s of CPU per statement, far more than running it
  startupParameters: { jit: "off" }
} as const

export type DatabaseLayer<E> = Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E>

/** A pooled client for a real server: camelCase in code, snake_case in the database. */
export const layerFromUrl = (
  url: Redacted.Redacted<string>,
  options?: { readonly maxConnections?: number }
): DatabaseLayer<SqlError.SqlError> =>
  PgClient.layer({
    url,
    ...clientOptions,
    // statements outside transactions from concurrent fibers share connections, pipelined into one write each:
    // on this kind of machine a socket write costs more than the statement's own work in Node
    multiplex: true,
    ...(options?.maxConnections === undefined ? {} : { maxConnections: options.maxConnections })
  })

const startFailed = (message: string) => (cause: unknown) => new EmbeddedDatabaseError({ message, cause })

/** Starts PGlite and a socket server for it in the current scope; returns the server's connection URL. */
const embeddedServer = (dataDir: string) =>
  Effect.gen(function*() {
    const inMemory = dataDir === "memory"
    if (!inMemory) {
      yield* Effect.try({
        try: () => mkdirSync(dataDir, { recursive: true }),
        catch: startFailed(`cannot create PGlite data directory ${dataDir}`)
      })
    }
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => inMemory ? PGlite.create() : PGlite.create(dataDir),
        catch: startFailed("cannot start embedded PGlite")
      }),
      (db) => Effect.promise(() => db.close()).pipe(Effect.ignore({ log: "Warn", message: "closing PGlite failed" }))
    )
    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          // headroom above the client's single connection so a reconnect is not refused while the old socket drains
          const s = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 4 })
          await s.start()
          return s
        },
        catch: startFailed("cannot start the PGlite socket server")
      }),
      (s) =>
        Effect.promise(() => s.stop()).pipe(Effect.ignore({ log: "Warn", message: "stopping PGlite server failed" }))
    )
    const address = server.getServerConn()
    yield* Effect.logInfo("DATABASE_URL not set: using embedded PGlite").pipe(
      Effect.annotateLogs({ address, data: inMemory ? "in memory (discarded on exit)" : resolve(dataDir) })
    )
    return Redacted.make(`postgres://postgres@${address}/postgres`)
  })

/** Embedded PGlite ("memory" = nothing on disk). PGlite is one session, so the pool holds one connection. */
export const layerEmbedded = (dataDir: string): DatabaseLayer<EmbeddedDatabaseError | SqlError.SqlError> =>
  Layer.unwrap(Effect.map(embeddedServer(dataDir), (url) => layerFromUrl(url, { maxConnections: 1 })))

/** DATABASE_URL → that server; unset → embedded PGlite under PGLITE_DATA_DIR. */
export const DatabaseLive: DatabaseLayer<Config.ConfigError | EmbeddedDatabaseError | SqlError.SqlError> = Layer.unwrap(
  Effect.map(DatabaseConfig, (config) =>
    Option.match(config.url, {
      onSome: (url) => layerFromUrl(url, { maxConnections: config.maxConnections }),
      onNone: () => layerEmbedded(config.pgliteDataDir)
    }))
)

export type Migration = Effect.Effect<void, unknown, SqlClient.SqlClient>
/** Keys are `<id>_<name>`, e.g. `"0001_invoices"`; ids only ever grow. */
export type Migrations = Record<`${number}_${string}`, Migration>

/**
 * Raw SQL statements as a migration, run in order. One statement per argument: the driver speaks only the
 * extended protocol, which rejects several commands in one string. Use schema-qualified names (`<schema>.outbox`).
 */
export const ddl = (...statements: ReadonlyArray<string>): Migration =>
  SqlClient.SqlClient.use((sql) => Effect.forEach(statements, (statement) => sql.unsafe(statement), { discard: true }))

export const migrationsTable = (schema: string) => `${schema}.kassa_migrations`

// lower-case so quoted and unquoted references name the same schema; no dots, as the table name is `schema.table`
const schemaName = /^[a-z_][a-z0-9_]*$/

/**
 * Applies the pending migrations of one schema and returns the ones it applied.
 * One transaction holds an advisory lock keyed on the schema, so concurrent starters queue behind each
 * other, and a failed migration rolls back everything including the history rows.
 */
export const migrate = (
  schema: string,
  record: Migrations
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  PgMigrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient | PgClient.PgClient
> =>
  Effect.gen(function*() {
    if (!schemaName.test(schema)) return yield* Effect.die(new Error(`invalid schema name: ${schema}`))
    const sql = yield* SqlClient.SqlClient
    const applied = yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`kassa.migrations.${schema}`}))`
      yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
      return yield* PgMigrator.run({ loader: PgMigrator.fromRecord(record), table: migrationsTable(schema) })
    }))
    if (applied.length > 0) {
      const names = applied.map(([id, name]) => `${String(id).padStart(4, "0")}_${name}`).join(", ")
      yield* Effect.logInfo("applied migrations").pipe(Effect.annotateLogs({ schema, migrations: names }))
    }
    return applied
  }).pipe(Effect.provide(NodeServices.layer), Effect.withSpan("db.migrate", { attributes: { schema } }))

/** Runs `migrate` when the layer is built; put it before anything that touches the schema's tables. */
export const migrations = (
  schema: string,
  record: Migrations
): Layer.Layer<never, PgMigrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient | PgClient.PgClient> =>
  Layer.effectDiscard(migrate(schema, record))
