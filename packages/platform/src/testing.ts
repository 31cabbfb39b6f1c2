// Test support shared by every package's tests: real services, isolated per test file.
import { randomBytes } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, type Scope } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { layerFromUrl } from "./db.ts"

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
