// Every catalog write runs through `catalogChange`: one transaction that first takes the next value of the
// catalog's change counter and stamps the rows it changes with it. The counter is a single row, so its row
// lock serialises catalog writers until they commit: version order is commit order, which is what lets the
// catalog → billing ETL copy `WHERE version > watermark` without ever skipping a change (a sequence would
// not do: a later value can commit before an earlier one). Taking the counter first also means writers
// never hold a product or film lock while waiting for it, so they cannot deadlock.
import { randomUUID } from "node:crypto"
import { DateTime, Effect } from "effect"
import type { SqlClient, SqlError } from "effect/sql"

export interface Change {
  /** the catalog version this transaction stamps on what it changes */
  readonly version: number
  /** the transaction's time, from the Clock */
  readonly now: Date
}

export const catalogChange = <A, E, R>(
  sql: SqlClient.SqlClient,
  f: (change: Change) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError.SqlError, R> =>
  sql.withTransaction(Effect.gen(function*() {
    const rows = yield* sql<{ readonly version: string }>`
      UPDATE catalog.change_counter SET version = version + 1 RETURNING version::text AS "version"`
    const now = DateTime.toDateUtc(yield* DateTime.now)
    return yield* f({ version: Number(rows[0]?.version), now })
  }))

/** Opaque ids with a readable prefix: `film_…`, `prod_…`, `plan_…`. */
export const newId = (prefix: "film" | "prod" | "plan"): string => `${prefix}_${randomUUID().replaceAll("-", "")}`
