// Transactional outbox: an event is a row written in the caller's transaction, and a relay publishes committed
// rows with publisher confirms before marking them sent, so a committed change always gets its event, at least
// once, and the events of one aggregate leave in `sequence` order.
import { randomUUID } from "node:crypto"
import type { EventEnvelopeEncoded, EventType } from "@kassa/domain"
import { Context, DateTime, Effect, Layer } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"
import { ddl, type Migration } from "./db.ts"
import { prunePublished, relayLayer, validSchema, wakeRelays } from "./outbox-relay.ts"

export type { RelayOptions } from "./outbox-relay.ts"

/** The message body as stored and sent; routing key = `type`, AMQP message id = `id`. */
export type EventEnvelope<A = unknown> = Omit<EventEnvelopeEncoded, "data"> & { readonly data: A }

export interface NewEvent<A> {
  readonly type: EventType
  readonly aggregateId: string
  /** Stored as jsonb: encode it with its Schema first. */
  readonly data: A
  /** The event's id when the caller needs it up front (to refer to it beside the event); else a new UUID. */
  readonly id?: string
}

/**
 * The migration that creates `<schema>.outbox` and its per-aggregate sequence counters; add it to the app's
 * migrations. `position` orders relaying; the partial index keeps finding unpublished rows cheap.
 */
export const outboxMigration = (schema: string): Migration =>
  Effect.andThen(
    validSchema(schema),
    ddl(
      `CREATE TABLE ${schema}.outbox (
        position bigint GENERATED ALWAYS AS IDENTITY,
        id uuid PRIMARY KEY,
        aggregate_id text NOT NULL,
        sequence bigint NOT NULL,
        type text NOT NULL,
        occurred_at timestamptz NOT NULL,
        data jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        UNIQUE (aggregate_id, sequence)
      )`,
      `CREATE INDEX outbox_unpublished ON ${schema}.outbox (position) WHERE published_at IS NULL`,
      `CREATE TABLE ${schema}.outbox_sequence (aggregate_id text PRIMARY KEY, last_sequence bigint NOT NULL)`
    )
  )

/**
 * The second outbox migration: an index on `position`, which marking a batch published and pruning (both by
 * position) otherwise pay for with a scan of the whole table. Add it after `outboxMigration`.
 */
export const outboxPositionIndexMigration = (schema: string): Migration =>
  Effect.andThen(validSchema(schema), ddl(`CREATE INDEX outbox_by_position ON ${schema}.outbox (position)`))

/**
 * The third: a relay's claim on a batch is a lease on the rows (not a lock held in a transaction while the broker
 * confirms). Add it after `outboxPositionIndexMigration`.
 */
export const outboxLeaseMigration = (schema: string): Migration =>
  Effect.andThen(validSchema(schema), ddl(`ALTER TABLE ${schema}.outbox ADD COLUMN claimed_until timestamptz`))

export class Outbox extends Context.Service<Outbox, {
  readonly schema: string
  /**
   * Writes the event in the caller's transaction (`sql.withTransaction` around the change and this call): it
   * is published only if that transaction commits. `sequence` is the aggregate's next number; concurrent
   * writers of one aggregate queue on its counter row until the earlier one commits.
   */
  appendEvent<A>(event: NewEvent<A>): Effect.Effect<EventEnvelope<A>, SqlError.SqlError>
  /** Several events in one statement, each aggregate's in the given order; same rules as `appendEvent`. */
  appendEvents(events: ReadonlyArray<NewEvent<unknown>>): Effect.Effect<ReadonlyArray<EventEnvelope>, SqlError.SqlError>
  /**
   * A change and its events in one statement, so no transaction is needed around them: `statement` gets the
   * events' CTEs to put after the change's own (`WITH changed AS (...), ${events} SELECT ...`), and they are
   * written iff `when` holds, a condition over the change's CTEs (e.g. `EXISTS (SELECT 1 FROM changed)`). For
   * changes whose events can be built before they run, such as inserts. Returns the statement's rows.
   */
  withEvents<A>(
    events: ReadonlyArray<NewEvent<unknown>>,
    when: Statement.Fragment,
    statement: (events: Statement.Fragment) => Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
  ): Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
  /**
   * As `withEvents`, for events the statement itself makes, e.g. one per row a bulk insert inserted: `source` is a
   * SELECT over the statement's CTEs returning `(index int, id uuid, aggregate_id text, type text, data jsonb)`.
   */
  withEventsFrom<A>(
    source: Statement.Fragment,
    statement: (events: Statement.Fragment) => Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
  ): Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
  /** Events not yet confirmed by the broker; 0 means the outbox is drained. */
  readonly pending: Effect.Effect<number, SqlError.SqlError>
  /**
   * Deletes events published before `before`, in batches; returns how many. Unpublished events are never
   * touched, and sequences go on from the per-aggregate counters, which are kept.
   */
  prune(before: Date): Effect.Effect<number, SqlError.SqlError>
}>()("kassa/Outbox") {
  static readonly layer = (schema: string): Layer.Layer<Outbox, never, SqlClient.SqlClient> =>
    Layer.effect(
      Outbox,
      Effect.gen(function*() {
        yield* validSchema(schema)
        const sql = yield* SqlClient.SqlClient
        const outbox = sql.literal(`${schema}.outbox`)
        const sequences = sql.literal(`${schema}.outbox_sequence`)

        const appendEvent = <A>(event: NewEvent<A>) =>
          Effect.gen(function*() {
            const id = event.id ?? randomUUID()
            const occurredAt = DateTime.formatIso(yield* DateTime.now)
            const data = JSON.stringify(event.data) ?? "null"
            // the counter upsert and the insert in one statement: the upsert's row lock serialises writers of
            // one aggregate, so sequences have no gaps and no duplicates
            const rows = yield* sql<{ readonly sequence: string }>`
              WITH next AS (
                INSERT INTO ${sequences} AS s (aggregate_id, last_sequence) VALUES (${event.aggregateId}, 1)
                ON CONFLICT (aggregate_id) DO UPDATE SET last_sequence = s.last_sequence + 1
                RETURNING last_sequence
              )
              INSERT INTO ${outbox} (id, aggregate_id, sequence, type, occurred_at, data)
              SELECT ${id}::uuid, ${event.aggregateId}::text, last_sequence, ${event.type}::text,
                ${occurredAt}::timestamptz, ${data}::jsonb
              FROM next
              RETURNING sequence::text AS "sequence"`
            yield* sql.afterCommit(wakeRelays(schema))
            const envelope: EventEnvelope<A> = {
              id,
              type: event.type,
              occurredAt,
              aggregateId: event.aggregateId,
              sequence: Number(rows[0]?.sequence),
              data: event.data
            }
            return envelope
            // hot-path spans skip the call-site stack trace: capturing it costs an Error per call
          }).pipe(
            Effect.withSpan("Outbox.appendEvent", { attributes: { type: event.type } }, { captureStackTrace: false })
          )

        // The events as CTEs of a larger statement (`outbox_appended` returns id and sequence), written iff `when`
        // holds. One counter upsert per aggregate (a statement may not update a row twice), in aggregate order so two
        // such statements lock counters in the same order; each event takes its place in its aggregate's run.
        const eventCtes = (events: ReadonlyArray<NewEvent<unknown>>, when: Statement.Fragment) =>
          Effect.map(DateTime.now, (now) => {
            const occurredAt = DateTime.formatIso(now)
            const rows = events.map((event, index) => ({
              index,
              id: event.id ?? randomUUID(),
              aggregate_id: event.aggregateId,
              type: event.type,
              data: event.data ?? null
            }))
            const ctes = ctesOf(
              sql`SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
              AS e(index int, id uuid, aggregate_id text, type text, data jsonb)
              WHERE ${when}`,
              occurredAt
            )
            return { ctes, occurredAt, rows }
          })

        /** The CTEs that append `source`'s rows (index int, id uuid, aggregate_id text, type text, data jsonb). */
        const ctesOf = (source: Statement.Fragment, occurredAt: string) => sql`outbox_events AS (${source}),
              outbox_counts AS (
                SELECT aggregate_id, count(*) AS n FROM outbox_events GROUP BY aggregate_id ORDER BY aggregate_id
              ),
              outbox_next AS (
                INSERT INTO ${sequences} AS s (aggregate_id, last_sequence) SELECT aggregate_id, n FROM outbox_counts
                ON CONFLICT (aggregate_id) DO UPDATE SET last_sequence = s.last_sequence + excluded.last_sequence
                RETURNING aggregate_id, last_sequence
              ),
              outbox_appended AS (
                INSERT INTO ${outbox} (id, aggregate_id, sequence, type, occurred_at, data)
                SELECT e.id, e.aggregate_id,
                  n.last_sequence - c.n + row_number() OVER (PARTITION BY e.aggregate_id ORDER BY e.index),
                  e.type, ${occurredAt}::timestamptz, e.data
                FROM outbox_events e JOIN outbox_counts c USING (aggregate_id) JOIN outbox_next n USING (aggregate_id)
                ORDER BY e.index
                RETURNING id, sequence
              )`

        const withEvents: Outbox["Service"]["withEvents"] = (events, when, statement) =>
          Effect.gen(function*() {
            const { ctes } = yield* eventCtes(events, when)
            const rows = yield* statement(ctes)
            yield* sql.afterCommit(wakeRelays(schema))
            return rows
          }).pipe(
            Effect.withSpan("Outbox.withEvents", { attributes: { count: events.length } }, { captureStackTrace: false })
          )

        const withEventsFrom: Outbox["Service"]["withEventsFrom"] = (source, statement) =>
          Effect.gen(function*() {
            const rows = yield* statement(ctesOf(source, DateTime.formatIso(yield* DateTime.now)))
            yield* sql.afterCommit(wakeRelays(schema))
            return rows
          })

        const appendEvents = (events: ReadonlyArray<NewEvent<unknown>>) =>
          Effect.gen(function*() {
            if (events.length === 0) return []
            if (events.length === 1) return [yield* appendEvent(events[0]!)]
            const { ctes, occurredAt, rows } = yield* eventCtes(events, sql`true`)
            const inserted = yield* sql<{ readonly id: string; readonly sequence: string }>`
              WITH ${ctes} SELECT id::text AS "id", sequence::text AS "sequence" FROM outbox_appended`
            yield* sql.afterCommit(wakeRelays(schema))
            const sequenceOf = new Map(inserted.map((row) => [row.id, Number(row.sequence)]))
            return rows.map((row, index): EventEnvelope => ({
              id: row.id,
              type: row.type,
              occurredAt,
              aggregateId: row.aggregate_id,
              sequence: sequenceOf.get(row.id) ?? NaN,
              data: events[index]!.data
            }))
          }).pipe(
            Effect.withSpan(
              "Outbox.appendEvents",
              { attributes: { count: events.length } },
              { captureStackTrace: false }
            )
          )

        const pending = sql<{ readonly count: number }>`
          SELECT count(*)::int AS "count" FROM ${outbox} WHERE published_at IS NULL`.pipe(
          Effect.map((rows) => rows[0]?.count ?? 0)
        )
        return Outbox.of({
          schema,
          appendEvent,
          appendEvents,
          withEvents,
          withEventsFrom,
          pending,
          prune: (before) => prunePublished(sql, schema, before)
        })
      })
    )

  /** The relay of `<schema>.outbox` as a background fiber of the layer; see outbox-relay.ts. */
  static readonly relay = relayLayer
}
