// The outbox relay: a fiber per schema that claims committed, unpublished rows of `<schema>.outbox` (a leased work
// queue), publishes them with confirms and marks them sent; and the hourly pruning of what was sent. See outbox.ts.
import { Clock, type Config, Duration, Effect, Layer, Queue, Result, Schedule } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { backoff } from "./backoff.ts"
import { type BusError, EventBus, type OutgoingMessage } from "./bus.ts"
import { OutboxConfig } from "./config.ts"
import { makeWorkQueue } from "./work-queue.ts"

export interface RelayOptions {
  /** Default: OUTBOX_BATCH_SIZE. */
  readonly batchSize?: number
  /** Idle poll period, for rows committed by other processes. Default: OUTBOX_POLL_INTERVAL. */
  readonly pollInterval?: Duration.Input
}

// same rule as db.ts: table names are interpolated into SQL, so only plain lower-case identifiers
const schemaName = /^[a-z_][a-z0-9_]*$/
export const validSchema = (schema: string) =>
  schemaName.test(schema) ? Effect.void : Effect.die(new Error(`invalid schema name: ${schema}`))

// A commit that appended events wakes this process's relay of the same schema at once; other processes' relays
// find the rows on their next poll. Kept per process so that appenders and the relay need not share a layer.
const wakers = new Map<string, Set<() => void>>()
export const wakeRelays = (schema: string) => Effect.sync(() => wakers.get(schema)?.forEach((wake) => wake()))
const registerWaker = (schema: string, wake: () => void) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const set = wakers.get(schema) ?? new Set()
      wakers.set(schema, set.add(wake))
    }),
    () => Effect.sync(() => wakers.get(schema)?.delete(wake))
  )

interface OutboxRow {
  readonly position: string
  readonly id: string
  readonly aggregateId: string
  readonly sequence: string
  readonly type: string
  readonly occurredAt: string
  readonly data: string
}

// `data` is spliced in as stored (jsonb text), so no row-name transform of the client can touch its keys
const toMessage = (row: OutboxRow): OutgoingMessage => {
  const head = JSON.stringify({
    id: row.id,
    type: row.type,
    occurredAt: row.occurredAt,
    aggregateId: row.aggregateId,
    sequence: Number(row.sequence)
  })
  return { routingKey: row.type, messageId: row.id, body: `${head.slice(0, -1)},"data":${row.data}}` }
}

interface BatchOutcome {
  readonly claimed: number
  readonly published: number
  readonly failure?: BusError
}

/** How long a relay's claim on a batch holds: far beyond one publish (bounded well below it). */
const claimLease = "30 seconds"

/**
 * One relay step, with no transaction open while the broker is waited on: claim the oldest unpublished rows no other
 * relay holds (a lease, in one statement), keep those of aggregates this relay may send now and hand the others
 * back, publish them with confirms, mark them sent. A relay that dies after publishing leaves its claim to run out:
 * the rows go out again (at least once).
 */
const relayBatch = (sql: SqlClient.SqlClient, bus: EventBus["Service"], schema: string, batchSize: number) => {
  const outbox = sql.literal(`${schema}.outbox`)
  const queue = makeWorkQueue(sql, {
    table: `${schema}.outbox`,
    key: "position",
    keyType: "bigint",
    lease: "claimed_until",
    separateLease: true,
    doneAt: "published_at"
  })
  const claim = queue.claim({
    where: sql`published_at IS NULL`,
    orderBy: sql`position`,
    limit: batchSize,
    now: "database",
    lease: claimLease,
    returning: sql`position, id, aggregate_id, sequence, type, occurred_at, data`
  })
  return Effect.gen(function*(): Effect.fn.Return<BatchOutcome, SqlError.SqlError> {
    // With several relays, another one may hold older rows of an aggregate in this batch: that aggregate waits.
    // Writers of one aggregate commit in position order (its counter row serialises them), so a claimed row with
    // no older unpublished row outside the batch is one no other relay can be sending.
    const rows = yield* sql<OutboxRow & { readonly blocked: boolean }>`
      WITH claimed AS (${claim})
      SELECT c.position::text AS "position", c.id::text AS "id", c.aggregate_id AS "aggregateId",
        c.sequence::text AS "sequence", c.type AS "type",
        to_char(c.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt", c.data::text AS "data",
        EXISTS (SELECT 1 FROM ${outbox} o
          WHERE o.aggregate_id = c.aggregate_id AND o.published_at IS NULL AND o.position < c.position
            AND o.position NOT IN (SELECT position FROM claimed)) AS "blocked"
      FROM claimed c
      ORDER BY c.position`
    if (rows.length === 0) return { claimed: 0, published: 0 }
    // an aggregate waits from its first blocked row on; its rows go back at once for whoever sends the older ones
    const skip = new Set(rows.filter((row) => row.blocked).map((row) => row.aggregateId))
    const ready = rows.filter((row) => !skip.has(row.aggregateId))
    yield* queue.release(rows.filter((row) => skip.has(row.aggregateId)).map((row) => row.position))
    if (ready.length === 0) return { claimed: rows.length, published: 0 }

    const positions = ready.map((row) => row.position)
    // stopped while publishing (a shutdown): the claim goes back now rather than when it runs out
    const sent = yield* Effect.result(bus.publish(ready.map(toMessage))).pipe(
      Effect.onInterrupt(() => Effect.ignore(queue.release(positions)))
    )
    if (Result.isFailure(sent)) {
      yield* queue.retry(positions, sent.failure.message, 0, "database")
      return { claimed: rows.length, published: 0, failure: sent.failure }
    }
    yield* queue.done(positions, "database")
    return { claimed: rows.length, published: ready.length }
  })
}

const lingerAfterWake = Duration.millis(50)

/** Deletes events published before `before`, 1,000 per statement so no statement holds many locks long. */
export const prunePublished = (sql: SqlClient.SqlClient, schema: string, before: Date) =>
  Effect.gen(function*() {
    const outbox = sql.literal(`${schema}.outbox`)
    const batch = 1_000
    let total = 0
    while (true) {
      const deleted = yield* sql<{ readonly n: number }>`
        WITH gone AS (
          DELETE FROM ${outbox} WHERE position IN (
            SELECT position FROM ${outbox} WHERE published_at < ${before} ORDER BY position LIMIT ${batch}
          ) RETURNING 1
        )
        SELECT count(*)::int AS n FROM gone`
      const n = deleted[0]?.n ?? 0
      total += n
      if (n < batch) return total
    }
  })

// forever: an outage of the broker or the database only delays
const relayBackoff = backoff({ base: "100 millis", cap: "3 seconds" })

/**
 * The relay of `<schema>.outbox` as a background fiber of the layer: publishes committed events through the
 * EventBus and retries forever with backoff while the broker (or the database) is unreachable. Safe to run
 * in every replica. Stopped mid-batch, its claim runs out and another relay sends the batch; nothing is lost.
 */
export const relayLayer = (
  schema: string,
  options?: RelayOptions
): Layer.Layer<never, Config.ConfigError, SqlClient.SqlClient | EventBus> =>
  Layer.effectDiscard(Effect.gen(function*() {
    yield* validSchema(schema)
    const config = yield* OutboxConfig
    const batchSize = options?.batchSize ?? config.batchSize
    const pollInterval = options?.pollInterval ?? config.pollInterval
    const sql = yield* SqlClient.SqlClient
    const bus = yield* EventBus
    const wake = yield* Queue.dropping<void>(1)
    yield* registerWaker(schema, () => Queue.offerUnsafe(wake, undefined))

    // a wake lingers a moment so that the commits of that moment go out in one batch (one claim, one publish,
    // one update) rather than one batch each: at 50 changes/s that is 4 statements per change saved, for 50 ms
    // more latency on events, which are asynchronous anyway
    const idle = Effect.raceFirst(
      Effect.andThen(Queue.take(wake), Effect.sleep(lingerAfterWake)),
      Effect.sleep(pollInterval)
    )
    const step = relayBatch(sql, bus, schema, batchSize).pipe(
      Effect.flatMap((outcome) =>
        outcome.failure === undefined ? Effect.succeed(outcome) : Effect.fail(outcome.failure.message)
      ),
      Effect.mapError((error) => typeof error === "string" ? error : error.message),
      // a defect must not end the relay either: nothing would publish this schema's events any more
      Effect.catchDefect((defect) => Effect.fail(String(defect))),
      Effect.tapError((error) =>
        Effect.logWarning("outbox relay step failed; retrying").pipe(Effect.annotateLogs({ schema, error }))
      ),
      Effect.retry(relayBackoff),
      // a full batch means more may be waiting: go on at once
      Effect.flatMap((outcome) => outcome.claimed === batchSize && outcome.published > 0 ? Effect.void : idle)
    )
    yield* Effect.forkScoped(Effect.forever(step))

    // retention: hourly (jittered, so replicas spread out), failures only logged; the next hour tries again
    const pruneOld = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const deleted = yield* prunePublished(sql, schema, new Date(now - Duration.toMillis(config.retention)))
      if (deleted > 0) {
        yield* Effect.logInfo("pruned published outbox events").pipe(Effect.annotateLogs({ schema, deleted }))
      }
    }).pipe(
      Effect.catch((error) =>
        Effect.logWarning("outbox pruning failed; next attempt in an hour").pipe(
          Effect.annotateLogs({ schema, error: error.message })
        )
      )
    )
    yield* pruneOld.pipe(Effect.repeat(Schedule.spaced("1 hour").pipe(Schedule.jittered)), Effect.forkScoped)
  }))
