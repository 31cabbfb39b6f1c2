// The leased work queue on its own, against the real Postgres: claims never overlap, a lease hides a row until it runs
// out, a retry comes back after the backoff, done rows never come back, a released row comes back at once.
import { assert, layer } from "@effect/vitest"
import { DateTime, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { ddl, migrations } from "../src/db.ts"
import { TestDatabase } from "../src/testing.ts"
import { makeWorkQueue, type WorkQueueTable } from "../src/work-queue.ts"

const Env = migrations("wq_test", {
  "0001_jobs": ddl(
    `CREATE TABLE wq_test.jobs (id text PRIMARY KEY, kind text NOT NULL, due_at timestamptz NOT NULL,
      lease_until timestamptz, done_at timestamptz, attempts integer NOT NULL DEFAULT 0, last_error text)`
  )
}).pipe(Layer.provideMerge(TestDatabase))

const t0 = DateTime.makeUnsafe("2030-01-01T00:00:00Z")
const at = (seconds: number) => DateTime.toDate(DateTime.add(t0, { seconds }))

const seed = (kind: string, n: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO wq_test.jobs (id, kind, due_at)
      SELECT ${kind} || '-' || i, ${kind}, ${at(0)} FROM generate_series(0, ${n - 1}) AS i`)

/** The jobs table as a queue with `lease` as its lease column. */
const jobs = (sql: SqlClient.SqlClient, lease: Partial<WorkQueueTable> & Pick<WorkQueueTable, "lease">) =>
  makeWorkQueue(sql, { table: "wq_test.jobs", key: "id", keyType: "text", doneAt: "done_at", ...lease })

layer(Env, { timeout: 30_000 })("work queue", (it) => {
  it.effect("due-time leases: disjoint claims, hidden while leased, retried after the backoff, done for good", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* seed("a", 10)
      const queue = jobs(sql, { lease: "due_at", retry: { base: "10 seconds", cap: "1 minute" } })
      const claim = (seconds: number, limit: number) =>
        sql<{ readonly id: string; readonly attempts: number }>`${
          queue.claim({
            where: sql`kind = 'a' AND done_at IS NULL`,
            orderBy: sql`id`,
            limit,
            now: at(seconds),
            lease: "30 seconds",
            returning: sql`id, attempts`
          })
        }`
      const [first, second] = yield* Effect.all([claim(0, 6), claim(0, 6)], { concurrency: 2 })
      const ids = [...first!, ...second!].map((row) => row.id)
      assert.strictEqual(ids.length, 10)
      assert.strictEqual(new Set(ids).size, 10, "no row claimed twice")
      assert.deepStrictEqual(yield* claim(29, 10), [], "leased rows are hidden")

      yield* queue.done(ids.slice(0, 5), DateTime.add(t0, { seconds: 1 }))
      yield* queue.retry(ids.slice(5), "boom", 0, DateTime.add(t0, { seconds: 1 }))
      // backoff for attempt 0: 10 s × 0.8..1.2 from t = 1 s, so due between 9 and 13 s
      assert.deepStrictEqual(yield* claim(8, 10), [])
      const again = yield* claim(14, 10)
      assert.deepStrictEqual(again.map((row) => row.id).sort(), ids.slice(5).sort())
      assert.isTrue(again.every((row) => row.attempts === 1))
      const [failed] = yield* sql<
        { readonly lastError: string }
      >`SELECT last_error FROM wq_test.jobs WHERE id = ${ids[5]!}`
      assert.strictEqual(failed?.lastError, "boom")
      assert.deepStrictEqual(yield* claim(3600, 10).pipe(Effect.map((rows) => rows.length)), 5, "done rows never again")
    }))

  it.effect("separate leases: a release gives rows back at once, done clears the lease", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* seed("b", 4)
      const queue = jobs(sql, { lease: "lease_until", separateLease: true })
      const claim = sql<{ readonly id: string }>`${
        queue.claim({
          where: sql`kind = 'b' AND done_at IS NULL`,
          orderBy: sql`id`,
          limit: 10,
          now: "database",
          lease: "1 minute",
          returning: sql`id`
        })
      }`
      const ids = (yield* claim).map((row) => row.id)
      assert.strictEqual(ids.length, 4)
      assert.deepStrictEqual(yield* claim, [])
      yield* queue.release(ids.slice(0, 2))
      assert.deepStrictEqual((yield* claim).map((row) => row.id).sort(), ids.slice(0, 2).sort())
      yield* queue.retry(ids.slice(0, 1), "broker down", 0, "database")
      yield* queue.done(ids.slice(1), "database")
      const rows = yield* sql<{ readonly id: string; readonly leaseUntil: Date | null; readonly attempts: number }>`
        SELECT id, lease_until, attempts FROM wq_test.jobs WHERE kind = 'b' ORDER BY id`
      assert.isTrue(rows.every((row) => row.leaseUntil === null && row.attempts === 1))
      assert.deepStrictEqual((yield* claim).map((row) => row.id), ids.slice(0, 1), "only the retried row is due")
    }))
})
