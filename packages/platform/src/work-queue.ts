// The one leased work queue over a Postgres table: workers claim a batch of due rows with FOR UPDATE SKIP LOCKED and a
// lease (a time until which other workers and replicas skip the row), work on them with no transaction open, then
// mark each done or give it back for a later attempt. A worker that dies leaves its lease to run out: the rows come
// back (at least once). Each queue keeps its own table and SQL shape; only the claim/lease/retry mechanics are here.
import { DateTime, Duration, Effect } from "effect"
import type { SqlClient, SqlError, Statement } from "effect/sql"
import { type Backoff, backoffDelay } from "./backoff.ts"

export interface WorkQueueTable {
  /** Schema-qualified table, e.g. `payments.webhook_events`; quoted as an identifier. */
  readonly table: string
  /** The key column the claim selects by; keys travel as text and are cast to `keyType`. */
  readonly key: string
  readonly keyType: "text" | "uuid" | "bigint"
  /**
   * The column a claim sets to the lease's end. Either the row's due time itself (the row is due again once the lease
   * runs out: `lease <= now`), or, with `separateLease`, a nullable column beside the caller's own due condition.
   */
  readonly lease: string
  readonly separateLease?: boolean
  /** The column `done` sets; the table then has `attempts` and `last_error` too. */
  readonly doneAt?: string
  /** With `lease` as the due time, a failed attempt is due again after this backoff (by the row's attempts). */
  readonly retry?: Backoff
}

export interface Claim {
  /** Which rows are work (besides being due and not leased); columns of the alias `q`. */
  readonly where: Statement.Fragment
  readonly orderBy: Statement.Fragment
  readonly limit: number
  /** The clock a queue's times are in: the app's (a Date, so tests can move it) or the database's (`now()`). */
  readonly now: Date | "database"
  readonly lease: Duration.Input
  /** Columns of the claimed rows to return (unqualified). */
  readonly returning: Statement.Fragment
  /** Joined into the selection (`JOIN ... ON ... q.column`), e.g. to skip rows of a parked owner. */
  readonly join?: Statement.Fragment
}

/** Keys as one Postgres array parameter (one plan for any batch size), each element quoted. */
const arrayOf = (keys: ReadonlyArray<string>) => `{${keys.map((k) => `"${k.replace(/["\\]/g, "\\$&")}"`).join(",")}}`

export const makeWorkQueue = (sql: SqlClient.SqlClient, spec: WorkQueueTable) => {
  const table = sql(spec.table)
  const key = sql(spec.key)
  const lease = sql(spec.lease)
  const keyType = sql.literal(spec.keyType)
  const keysIn = (keys: ReadonlyArray<string>) => sql`${key} = ANY(${arrayOf(keys)}::${keyType}[])`
  const doneAt = sql(spec.doneAt ?? spec.lease)
  const none = sql.literal("")
  const clear = spec.separateLease ? sql`, ${lease} = NULL` : none

  /**
   * The claim as one statement (usable as a CTE): sets the lease of up to `limit` due rows nobody holds and returns
   * them. Rows locked by a concurrent claim are skipped, not waited for.
   */
  const claim = (options: Claim): Statement.Fragment => {
    const now = options.now === "database" ? sql`now()` : sql`${options.now}::timestamptz`
    const millis = Duration.toMillis(Duration.fromInputUnsafe(options.lease))
    const until = options.now === "database"
      ? sql`now() + ${`${millis} milliseconds`}::interval`
      : sql`${new Date(options.now.getTime() + millis)}::timestamptz`
    const due = spec.separateLease ? sql`(q.${lease} IS NULL OR q.${lease} < ${now})` : sql`q.${lease} <= ${now}`
    return sql`UPDATE ${table} SET ${lease} = ${until}
      WHERE ${key} IN (
        SELECT q.${key} FROM ${table} q ${options.join ?? none}
        WHERE ${options.where} AND ${due}
        ORDER BY ${options.orderBy}
        LIMIT ${options.limit}
        FOR UPDATE OF q SKIP LOCKED
      )
      RETURNING ${options.returning}`
  }

  const nowOf = (now: DateTime.Utc | "database") =>
    now === "database" ? sql`now()` : sql`${DateTime.toDate(now)}::timestamptz`

  return {
    claim,
    /** Done: another attempt counted, the error cleared (and the lease, when separate). */
    done: (keys: ReadonlyArray<string>, now: DateTime.Utc | "database"): Effect.Effect<void, SqlError.SqlError> =>
      keys.length === 0 ? Effect.void : Effect.asVoid(sql`UPDATE ${table} SET ${doneAt} = ${nowOf(now)},
        attempts = attempts + 1, last_error = NULL${clear} WHERE ${keysIn(keys)}`),
    /**
     * A failed attempt: counted, its error kept. A due-time lease moves to now + backoff(attempts so far); a separate
     * lease is cleared, so the rows come back at once and the caller's loop does the waiting.
     */
    retry: (keys: ReadonlyArray<string>, error: string, attempts: number, now: DateTime.Utc | "database") =>
      Effect.gen(function*() {
        if (keys.length === 0) return
        if (!spec.separateLease && (spec.retry === undefined || now === "database")) {
          return yield* Effect.die(new Error(`${spec.table}: a due-time lease needs a backoff and the app's clock`))
        }
        const next = spec.separateLease || spec.retry === undefined || now === "database"
          ? sql`NULL`
          : sql`${DateTime.toDate(DateTime.addDuration(now, yield* backoffDelay(attempts, spec.retry)))}::timestamptz`
        yield* sql`UPDATE ${table} SET attempts = attempts + 1, last_error = ${error}, ${lease} = ${next}
          WHERE ${keysIn(keys)}`
      }),
    /** Gives claimed rows that are not done back at once (a separate lease only). */
    release: (keys: ReadonlyArray<string>): Effect.Effect<void, SqlError.SqlError> =>
      keys.length === 0 ? Effect.void : Effect.asVoid(sql`UPDATE ${table} SET ${lease} = NULL
        WHERE ${keysIn(keys)}${spec.doneAt === undefined ? none : sql` AND ${doneAt} IS NULL`}`)
  }
}

export type WorkQueue = ReturnType<typeof makeWorkQueue>
