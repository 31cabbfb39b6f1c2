import type { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseLive, ddl, layerFromUrl, migrate, migrations, migrationsTable, type Migrations } from "../src/db.ts"
import { makeTestDatabase, TestDatabase } from "../src/testing.ts"

const catalogMigrations: Migrations = {
  "0001_films": ddl(`CREATE TABLE catalog.films (id TEXT PRIMARY KEY, title TEXT NOT NULL)`),
  "0002_products": ddl(`CREATE TABLE catalog.products (id TEXT PRIMARY KEY, film_ids TEXT[] NOT NULL DEFAULT '{}')`)
}

const billingMigrations: Migrations = {
  "0001_outbox": ddl(`CREATE TABLE billing.outbox (id BIGSERIAL PRIMARY KEY, payload JSONB NOT NULL)`)
}

// build the layer in its own scope, as an app start would
const runLayer = <E>(layer: Layer.Layer<never, E, SqlClient.SqlClient | PgClient.PgClient>) =>
  Effect.scoped(Layer.build(layer))

const history = (schema: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly migrationId: number; readonly name: string }>`
      SELECT migration_id, name FROM ${sql(migrationsTable(schema))} ORDER BY migration_id`)

const tablesIn = (schema: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly tableName: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY table_name`).pipe(
    Effect.map((rows) => rows.map((r) => r.tableName))
  )

describe("migrations on real Postgres", () => {
  it.effect("create the tables in their schema; a second run applies nothing", () =>
    Effect.gen(function*() {
      yield* runLayer(migrations("catalog", catalogMigrations))
      assert.deepStrictEqual(yield* tablesIn("catalog"), ["films", "kassa_migrations", "products"])
      assert.deepStrictEqual(yield* tablesIn("public"), [])

      yield* runLayer(migrations("catalog", catalogMigrations))
      assert.deepStrictEqual(yield* migrate("catalog", catalogMigrations), [])
      assert.deepStrictEqual(
        (yield* history("catalog")).map((r) => [r.migrationId, r.name]),
        [[1, "films"], [2, "products"]]
      )
    }).pipe(Effect.provide(TestDatabase)))

  it.effect("two processes starting at once apply each migration exactly once", () =>
    Effect.gen(function*() {
      const url = yield* makeTestDatabase()
      const record: Migrations = {
        "0001_runs": ddl(
          `CREATE TABLE payments.runs (migration TEXT NOT NULL)`,
          `INSERT INTO payments.runs VALUES ('0001')`
        ),
        // a slow step widens the window in which the second starter would race the first
        "0002_slow": ddl(`SELECT pg_sleep(0.3)`, `INSERT INTO payments.runs VALUES ('0002')`),
        "0003_more": ddl(`INSERT INTO payments.runs VALUES ('0003')`)
      }
      const start = runLayer(migrations("payments", record)).pipe(Effect.provide(layerFromUrl(url)))
      yield* Effect.all([start, start], { concurrency: 2 })

      const check = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const runs = yield* sql<{ readonly migration: string }>`SELECT migration FROM payments.runs ORDER BY migration`
        assert.deepStrictEqual(runs.map((r) => r.migration), ["0001", "0002", "0003"])
        assert.strictEqual((yield* history("payments")).length, 3)
      })
      yield* check.pipe(Effect.provide(layerFromUrl(url)))
    }))

  it.effect("each schema keeps its own history", () =>
    Effect.gen(function*() {
      yield* runLayer(
        Layer.mergeAll(migrations("catalog", catalogMigrations), migrations("billing", billingMigrations))
      )
      assert.deepStrictEqual((yield* history("catalog")).map((r) => r.name), ["films", "products"])
      assert.deepStrictEqual((yield* history("billing")).map((r) => r.name), ["outbox"])
      assert.deepStrictEqual(yield* tablesIn("billing"), ["kassa_migrations", "outbox"])

      // a new billing migration does not disturb catalog's history
      const more: Migrations = {
        ...billingMigrations,
        "0002_inbox": ddl(`CREATE TABLE billing.inbox (id TEXT PRIMARY KEY)`)
      }
      assert.deepStrictEqual(yield* migrate("billing", more), [[2, "inbox"]])
      assert.strictEqual((yield* history("catalog")).length, 2)
      assert.strictEqual((yield* history("billing")).length, 2)
    }).pipe(Effect.provide(TestDatabase)))

  it.effect("a failing migration rolls back and leaves the history unchanged", () =>
    Effect.gen(function*() {
      yield* migrate("billing", billingMigrations)
      const broken: Migrations = {
        ...billingMigrations,
        "0002_ledger": ddl(`CREATE TABLE billing.ledger (id BIGSERIAL PRIMARY KEY)`),
        "0003_bad": ddl(`ALTER TABLE billing.no_such_table ADD COLUMN x INT`)
      }
      const error = yield* Effect.flip(runLayer(migrations("billing", broken)))
      assert.strictEqual(error._tag, "MigrationError")
      assert.strictEqual(error._tag === "MigrationError" && error.kind, "Failed")
      assert.include(error.message, `"3_bad"`) // the migrator reports numeric ids
      assert.deepStrictEqual(yield* tablesIn("billing"), ["kassa_migrations", "outbox"])
      assert.deepStrictEqual((yield* history("billing")).map((r) => r.name), ["outbox"])
    }).pipe(Effect.provide(TestDatabase)))
})

describe("DatabaseLive", () => {
  it.effect("connects to DATABASE_URL when it is set, mapping camelCase to snake_case", () =>
    Effect.gen(function*() {
      const url = yield* makeTestDatabase()
      const config = ConfigProvider.layer(ConfigProvider.fromUnknown({ DATABASE_URL: Redacted.value(url) }))
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [db] = yield* sql<{ readonly currentDatabase: string }>`SELECT current_database()`
        assert.strictEqual(`postgres://postgres@127.0.0.1:5432/${db?.currentDatabase}`, Redacted.value(url))
        yield* sql`CREATE TABLE plans (plan_id TEXT PRIMARY KEY, trial_days INT NOT NULL)`
        yield* sql`INSERT INTO plans ${sql.insert({ planId: "p1", trialDays: 14 })}`
        const rows = yield* sql<{ readonly planId: string; readonly trialDays: number }>`SELECT * FROM plans`
        assert.deepStrictEqual(rows.map((r) => ({ ...r })), [{ planId: "p1", trialDays: 14 }])
      }).pipe(Effect.provide(DatabaseLive.pipe(Layer.provide(config))))
    }))
})

describe("embedded PGlite", () => {
  const Embedded = DatabaseLive.pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ PGLITE_DATA_DIR: "memory" })))
  )

  it.effect("runs the same migrations, round-trips rows and rolls back transactions", () =>
    Effect.gen(function*() {
      yield* runLayer(migrations("catalog", catalogMigrations))
      yield* runLayer(migrations("catalog", catalogMigrations))
      assert.deepStrictEqual((yield* history("catalog")).map((r) => r.name), ["films", "products"])

      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO catalog.films ${sql.insert({ id: "f1", title: "Stalker" })}`
      const rows = yield* sql<{ readonly id: string; readonly title: string }>`SELECT id, title FROM catalog.films`
      assert.deepStrictEqual(rows.map((r) => ({ ...r })), [{ id: "f1", title: "Stalker" }])

      const failed = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO catalog.films ${sql.insert({ id: "f2", title: "Solaris" })}`
        return yield* Effect.fail("abort")
      })).pipe(Effect.flip)
      assert.strictEqual(failed, "abort")
      const after = yield* sql<{ readonly id: string }>`SELECT id FROM catalog.films ORDER BY id`
      assert.deepStrictEqual(after.map((r) => r.id), ["f1"])
    }).pipe(Effect.provide(Embedded)), { timeout: 60_000 })
})
