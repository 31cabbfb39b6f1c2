// What an app's /metrics serves. Every app gets a metric registry of its own (serveApi provides it), so under
// `npm start`, where three apps share one process, each port serves its own series. Business metrics (backlogs,
// oldest ages, lag) are gauges read by SQL when /metrics is scraped: nothing to keep up to date between scrapes,
// and never stale. Every age is measured against the app's Clock.
import { Cause, DateTime, Effect, Layer, Metric } from "effect"
import { SqlClient } from "effect/sql"

/**
 * A fresh metric registry for the layers built under it: each app's whole layer gets one (its server, and its
 * background fibers such as billing's scheduler, whose counters /metrics must see); a new layer per call, since a
 * layer used twice in one graph is built once (and the apps of `npm start` would share it).
 */
export const ownMetricRegistry = () => Layer.sync(Metric.MetricRegistry, () => new Map())

/** Sets one gauge series (a business metric is a gauge set at scrape time). */
export const setGauge = (
  name: string,
  description: string,
  value: number,
  attributes: Record<string, string> = {}
) => Metric.update(Metric.gauge(name, { description, attributes }), value)

/** A gauge's name and description. */
export type Gauge = readonly [name: string, description: string]

/** A backlog's two gauges: how many items wait, and how long the oldest has waited (seconds). */
export interface BacklogGauges {
  readonly count: Gauge
  readonly oldest: Gauge
}

/** The row of a backlog query: `count(*) AS "count"` and `ageSeconds(…) AS "oldest"`. */
export interface BacklogRow {
  readonly count: number
  readonly oldest: number
}

/** Sets a backlog's gauges from its query's row (both 0 when the query returned none). */
export const setBacklog = (
  row: BacklogRow | undefined,
  gauges: BacklogGauges,
  attributes: Record<string, string> = {}
) =>
  Effect.andThen(
    setGauge(...gauges.count, row?.count ?? 0, attributes),
    setGauge(...gauges.oldest, row?.oldest ?? 0, attributes)
  )

/**
 * Sets a backlog's gauges once per value of `label`, from the rows of a query grouped by it: a value without a row
 * reads 0, so each of its series exists from the first scrape.
 */
export const setBacklogBy = <L extends string>(
  label: L,
  values: ReadonlyArray<string>,
  rows: ReadonlyArray<BacklogRow & { readonly [K in L]: string }>,
  gauges: BacklogGauges
) =>
  Effect.forEach(values, (value) => setBacklog(rows.find((row) => row[label] === value), gauges, { [label]: value }), {
    discard: true
  })

/** A named scrape-time collector: reads its values (by SQL) and sets its gauges. */
export type Collector = readonly [name: string, collect: Effect.Effect<void, unknown>]

/**
 * Runs every collector; one that fails (its database down, say) sets `kassa_metrics_collector_up{collector}` to 0 and
 * leaves its gauges as they were, so the HTTP series and the other collectors' are still served.
 */
export const collectAll = (collectors: ReadonlyArray<Collector>) =>
  Effect.forEach(collectors, ([name, collect]) =>
    collect.pipe(
      Effect.as(1),
      Effect.timeout("2 seconds"),
      Effect.catchCause((cause) =>
        Effect.as(Effect.logWarning(`metrics collector ${name} failed`, Cause.pretty(cause).split("\n")[0]), 0)
      ),
      Effect.flatMap((up) =>
        setGauge("kassa_metrics_collector_up", "1 when the collector's last scrape read its values, else 0", up, {
          collector: name
        })
      )
    ), { discard: true, concurrency: "unbounded" })

/** The current time as a Date parameter, from the Clock. */
export const clockNow = Effect.map(DateTime.now, DateTime.toDateUtc)

/** SQL for "seconds from `column`'s oldest value to `now`", 0 when there are none. */
export const ageSeconds = (sql: SqlClient.SqlClient, now: Date, column: string) =>
  sql`COALESCE(GREATEST(0, EXTRACT(EPOCH FROM (${now}::timestamptz - min(${sql.literal(column)})))), 0)::float8`

// same rule as db.ts and outbox.ts: schema names are interpolated into SQL
const schemaName = /^[a-z_][a-z0-9_]*$/

/** The outbox of `schema`: events not yet published and the age of the oldest. */
export const outboxCollector = (schema: string): Effect.Effect<Collector, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    if (!schemaName.test(schema)) return yield* Effect.die(new Error(`invalid schema name: ${schema}`))
    const sql = yield* SqlClient.SqlClient
    const collect = Effect.gen(function*() {
      const now = yield* clockNow
      const [row] = yield* sql<{ readonly count: number; readonly oldest: number }>`
        SELECT count(*)::int AS "count", ${ageSeconds(sql, now, "created_at")} AS "oldest"
        FROM ${sql.literal(`${schema}.outbox`)} WHERE published_at IS NULL`
      yield* setBacklog(
        row,
        {
          count: ["kassa_outbox_unpublished", "events written to the outbox and not yet published"],
          oldest: [
            "kassa_outbox_oldest_unpublished_seconds",
            "age of the oldest unpublished outbox event (0 when none)"
          ]
        },
        { schema }
      )
    })
    return ["outbox", collect] as const
  })
