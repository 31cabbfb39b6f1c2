import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Queue, Schedule, Schema, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { layerAmqp } from "../src/bus-amqp.ts"
import { EventBus } from "../src/bus.ts"
import { migrations } from "../src/db.ts"
import { EventEnvelope, type EventEnvelopeEncoded, type EventType } from "@kassa/domain"
import {
  Outbox,
  outboxLeaseMigration,
  outboxMigration,
  outboxPositionIndexMigration,
  type RelayOptions
} from "../src/outbox.ts"
import { TestDatabase } from "../src/testing.ts"

const amqpUrl = "amqp://guest:guest@127.0.0.1:5672"
const exchange = "kassa.events" // shared: this run's events carry its id in their type and aggregate ids
const run = randomUUID()
const schema = "outbox_test" // TestDatabase is a fresh database for this file

const Env = Layer.mergeAll(Outbox.layer(schema), layerAmqp(amqpUrl, exchange)).pipe(
  Layer.provideMerge(migrations(schema, {
    "0001_outbox": outboxMigration(schema),
    "0002_outbox_position": outboxPositionIndexMigration(schema),
    "0003_outbox_lease": outboxLeaseMigration(schema)
  })),
  Layer.provideMerge(TestDatabase)
)

// The domain envelope, but with this file's private routing keys as types (see testType).
const TestEnvelope = EventEnvelope.mapFields((fields) => ({ ...fields, type: Schema.String }))
const decodeEnvelope = (json: string) =>
  Schema.decodeUnknownEffect(Schema.fromJsonString(TestEnvelope))(json).pipe(
    Effect.andThen(Schema.encodeEffect(TestEnvelope)),
    Effect.map((wire) => wire as EventEnvelopeEncoded)
  )
// Per-run types keep concurrent test runs on the shared broker apart; the outbox treats them as opaque keys.
const testType = (name: string) => `test.${run}.${name}` as EventType

/** Decoded envelopes of every event whose type starts with `prefix`, in arrival order. */
const consume = (prefix: string) =>
  Effect.gen(function*() {
    const bus = yield* EventBus
    const inbox = yield* Queue.unbounded<EventEnvelopeEncoded>()
    yield* bus.subscribe([`${prefix}.#`], (d) => Effect.flatMap(decodeEnvelope(d.body), (e) => Queue.offer(inbox, e)))
    return inbox
  })

/** Takes arrivals until every id in `ids` has arrived at least once; returns all arrivals. */
const receiveAll = (inbox: Queue.Queue<EventEnvelopeEncoded>, ids: ReadonlySet<string>) =>
  Effect.gen(function*() {
    const arrived: Array<EventEnvelopeEncoded> = []
    const seen = new Set<string>()
    while (seen.size < ids.size) {
      const envelope = yield* Queue.take(inbox)
      arrived.push(envelope)
      if (ids.has(envelope.id)) seen.add(envelope.id)
    }
    return arrived
  })

/** Per aggregate, the sequences in order of first arrival (a redelivered duplicate does not count twice). */
const firstArrivalSequences = (arrived: ReadonlyArray<EventEnvelopeEncoded>) => {
  const seen = new Set<string>()
  const byAggregate = new Map<string, Array<number>>()
  for (const e of arrived) {
    if (seen.has(e.id)) continue
    seen.add(e.id)
    byAggregate.set(e.aggregateId, [...(byAggregate.get(e.aggregateId) ?? []), e.sequence])
  }
  return byAggregate
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

/** `rounds` events for each of `aggregates` aggregates, one transaction per round, `concurrency` rounds at once. */
const appendRounds = (type: EventType, aggregates: number, rounds: number, concurrency = 4) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const outbox = yield* Outbox
    const ids = yield* Effect.forEach(
      range(rounds),
      (round) =>
        sql.withTransaction(
          Effect.forEach(
            range(aggregates),
            (a) => outbox.appendEvent({ type, aggregateId: `${type}:agg-${a}`, data: { round, note: "ünïcode ✓" } })
          )
        ),
      { concurrency }
    )
    return ids.flat()
  })

/** Runs the relay in its own scope, so the test can stop it; it stops with the test at the latest. */
const startRelay = (options?: RelayOptions, bus?: Layer.Layer<EventBus, never, EventBus>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const relay = Outbox.relay(schema, options)
    yield* Layer.buildWithScope(bus === undefined ? relay : relay.pipe(Layer.provide(bus)), scope)
    return scope
  })

const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean) =>
  effect.pipe(
    Effect.flatMap((a) =>
      check(a) ? Effect.succeed(a) : Effect.fail(`condition not met; last value: ${JSON.stringify(a)}`)
    ),
    Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 200 })
  )

const pendingIs = (n: number) => Outbox.use((outbox) => eventually(outbox.pending, (p) => p === n))

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("transactional outbox", (it) => {
  it.effect(
    "1,000 events over 50 aggregates are all delivered, each aggregate in sequence order",
    () =>
      Effect.gen(function*() {
        const type = testType("bulk")
        const inbox = yield* consume(type)
        yield* startRelay()
        const appended = yield* appendRounds(type, 50, 20)
        const arrived = yield* receiveAll(inbox, new Set(appended.map((e) => e.id)))

        assert.strictEqual(arrived.length, 1000) // nothing failed, so nothing was sent twice
        const byId = new Map(appended.map((e) => [e.id, e]))
        for (const e of arrived) assert.deepStrictEqual(e, byId.get(e.id)) // the body is the envelope appendEvent returned
        const sequences = firstArrivalSequences(arrived)
        assert.strictEqual(sequences.size, 50)
        for (const [aggregate, seqs] of sequences) assert.deepStrictEqual(seqs, range(20), aggregate)
        yield* pendingIs(0)
      }),
    60_000
  )

  it.effect(
    "three relays on one outbox (replicas): each event sent once, each aggregate still in order",
    () =>
      Effect.gen(function*() {
        const type = testType("replicas")
        const inbox = yield* consume(type)
        const appended = yield* appendRounds(type, 50, 20)
        for (let i = 0; i < 3; i++) yield* startRelay({ batchSize: 20 })
        const arrived = yield* receiveAll(inbox, new Set(appended.map((e) => e.id)))
        assert.strictEqual(arrived.length, 1000)
        for (const [aggregate, seqs] of firstArrivalSequences(arrived)) {
          assert.deepStrictEqual(seqs, range(20), aggregate)
        }
        yield* pendingIs(0)
      }),
    60_000
  )

  it.effect(
    "a relay stopped in the middle of a batch loses nothing; a new relay sends the rest",
    () =>
      Effect.gen(function*() {
        const type = testType("interrupted")
        const inbox = yield* consume(type)
        const appended = yield* appendRounds(type, 50, 20)
        yield* pendingIs(1000)

        // a bus that confirms three batches, then sends half of the fourth and hangs before the confirm
        const stalled = yield* Deferred.make<void>()
        const stallingBus = Layer.effect(
          EventBus,
          Effect.gen(function*() {
            const real = yield* EventBus
            let batches = 0
            return EventBus.of({
              ...real,
              publish: (messages) =>
                Effect.suspend(() =>
                  ++batches <= 3 ? real.publish(messages) : real.publish(messages.slice(0, messages.length / 2)).pipe(
                    Effect.andThen(Deferred.succeed(stalled, undefined)),
                    Effect.andThen(Effect.never)
                  )
                )
            })
          })
        )
        const first = yield* startRelay({ batchSize: 50 }, stallingBus)
        yield* Deferred.await(stalled)
        yield* Scope.close(first, Exit.void)
        // the hung batch was handed back: half of it reached the broker, none of it counts as sent
        assert.strictEqual(yield* (yield* Outbox).pending, 1000 - 3 * 50)

        yield* startRelay({ batchSize: 50 })
        const arrived = yield* receiveAll(inbox, new Set(appended.map((e) => e.id)))
        assert.isAtLeast(arrived.length, 1000 + 25) // at least once: the half batch went out twice
        for (const [aggregate, seqs] of firstArrivalSequences(arrived)) {
          assert.deepStrictEqual(seqs, range(20), aggregate)
        }
        yield* pendingIs(0)
      }),
    60_000
  )

  it.effect(
    "while RabbitMQ is unreachable the relay records failed attempts; a relay on the broker sends them all",
    () =>
      Effect.gen(function*() {
        const type = testType("outage")
        const inbox = yield* consume(type)
        const sql = yield* SqlClient.SqlClient
        const dead = yield* startRelay(
          { pollInterval: "50 millis" },
          layerAmqp("amqp://guest:guest@127.0.0.1:1", exchange)
        )
        const appended = yield* appendRounds(type, 10, 10)
        const failedRows = sql<{ readonly count: number }>`
        SELECT count(*)::int AS count FROM outbox_test.outbox
        WHERE type = ${type} AND published_at IS NULL AND attempts > 0 AND last_error IS NOT NULL`
        yield* eventually(failedRows, (rows) => rows[0]?.count === 100)
        yield* Scope.close(dead, Exit.void)

        yield* startRelay()
        const arrived = yield* receiveAll(inbox, new Set(appended.map((e) => e.id)))
        for (const [aggregate, seqs] of firstArrivalSequences(arrived)) {
          assert.deepStrictEqual(seqs, range(10), aggregate)
        }
        yield* pendingIs(0)
      }),
    60_000
  )

  it.effect(
    "a rolled-back transaction that appended an event leaves no row and publishes nothing",
    () =>
      Effect.gen(function*() {
        const type = testType("rollback")
        const inbox = yield* consume(type)
        const sql = yield* SqlClient.SqlClient
        const outbox = yield* Outbox
        yield* startRelay()
        const rolledBack = `${type}:rolled-back`

        const exit = yield* sql.withTransaction(
          outbox.appendEvent({ type, aggregateId: rolledBack, data: {} }).pipe(Effect.andThen(Effect.fail("boom")))
        ).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        const rows = yield* sql<{ readonly count: number }>`
        SELECT count(*)::int AS count FROM outbox_test.outbox WHERE aggregate_id = ${rolledBack}`
        assert.strictEqual(rows[0]?.count, 0)

        // the relay sends in position order: had the first event been written, it would arrive before this marker
        const marker = yield* sql.withTransaction(outbox.appendEvent({ type, aggregateId: `${type}:marker`, data: {} }))
        const arrived = yield* receiveAll(inbox, new Set([marker.id]))
        assert.deepStrictEqual(arrived.map((e) => e.aggregateId), [`${type}:marker`])
        // the sequence counter rolled back too
        assert.strictEqual((yield* outbox.appendEvent({ type, aggregateId: rolledBack, data: {} })).sequence, 1)
      }),
    60_000
  )

  it.effect(
    "sequences per aggregate are 1..n without gaps, also with concurrent writers",
    () =>
      Effect.gen(function*() {
        const type = testType("sequence")
        const sql = yield* SqlClient.SqlClient
        const outbox = yield* Outbox
        const aggregateId = `${type}:sequential`
        const one = yield* Effect.forEach(
          range(10),
          (i) => sql.withTransaction(outbox.appendEvent({ type, aggregateId, data: { i } }))
        )
        const inOneTransaction = yield* sql.withTransaction(
          Effect.forEach(range(5), (i) => outbox.appendEvent({ type, aggregateId, data: { i } }))
        )
        assert.deepStrictEqual([...one, ...inOneTransaction].map((e) => e.sequence), range(15))
        const first = one[0]!
        assert.match(first.id, /^[0-9a-f-]{36}$/)
        assert.match(first.occurredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
        assert.deepStrictEqual(first.data, { i: 1 })

        const concurrent = yield* Effect.forEach(
          range(10),
          (i) => sql.withTransaction(outbox.appendEvent({ type, aggregateId: `${type}:concurrent`, data: { i } })),
          {
            concurrency: "unbounded"
          }
        )
        assert.deepStrictEqual(concurrent.map((e) => e.sequence).sort((a, b) => a - b), range(10))
      }),
    60_000
  )

  it.effect(
    "appendEvents: one statement for several aggregates continues each one's sequence, in the given order",
    () =>
      Effect.gen(function*() {
        const type = testType("batch")
        const sql = yield* SqlClient.SqlClient
        const outbox = yield* Outbox
        const [a, b] = [`${type}:a`, `${type}:b`]
        yield* sql.withTransaction(outbox.appendEvent({ type, aggregateId: a, data: { n: 0 } }))
        const batch = yield* sql.withTransaction(outbox.appendEvents([
          { type, aggregateId: a, data: { n: 1 } },
          { type, aggregateId: b, data: { n: 1 } },
          { type, aggregateId: a, data: { n: 2 } }
        ]))
        assert.deepStrictEqual(batch.map((e) => [e.aggregateId, e.sequence, e.data]), [
          [a, 2, { n: 1 }],
          [b, 1, { n: 1 }],
          [a, 3, { n: 2 }]
        ])
        const stored = yield* sql<{ readonly id: string; readonly sequence: number; readonly data: unknown }>`
        SELECT id::text AS id, sequence::int AS sequence, data FROM outbox_test.outbox WHERE aggregate_id IN (${a}, ${b})
        ORDER BY position`
        assert.deepStrictEqual(
          stored.slice(1).map((row) => [row.id, row.sequence]),
          batch.map((e) => [e.id, e.sequence])
        )
        // concurrent batches over the same aggregates neither deadlock nor leave gaps
        yield* Effect.forEach(range(8), (i) =>
          sql.withTransaction(outbox.appendEvents([
            { type, aggregateId: i % 2 === 0 ? a : b, data: { i } },
            { type, aggregateId: i % 2 === 0 ? b : a, data: { i } }
          ])), { concurrency: "unbounded" })
        const sequences = yield* sql<{ readonly aggregateId: string; readonly sequences: ReadonlyArray<number> }>`
        SELECT aggregate_id, array_agg(sequence::int ORDER BY sequence) AS sequences FROM outbox_test.outbox
        WHERE aggregate_id IN (${a}, ${b}) GROUP BY aggregate_id ORDER BY aggregate_id`
        assert.deepStrictEqual(sequences.map((row) => row.sequences), [range(11), range(9)])
      }),
    60_000
  )

  it.effect(
    "withEvents: a change and its events in one statement, the events written only when the change was",
    () =>
      Effect.gen(function*() {
        const type = testType("with")
        const sql = yield* SqlClient.SqlClient
        const outbox = yield* Outbox
        const aggregateId = `${type}:a`
        yield* sql`CREATE TABLE IF NOT EXISTS outbox_test.things (id text PRIMARY KEY)`
        const put = (id: string) =>
          outbox.withEvents(
            [{ type, aggregateId, data: { id } }, { type, aggregateId, data: { id, second: true } }],
            sql`EXISTS (SELECT 1 FROM changed)`,
            (events) => sql<{ readonly id: string }>`WITH changed AS (
                INSERT INTO outbox_test.things (id) VALUES (${id}) ON CONFLICT DO NOTHING RETURNING id
              ), ${events}
              SELECT id FROM changed`
          )
        assert.deepStrictEqual(yield* put("x"), [{ id: "x" }])
        assert.deepStrictEqual(yield* put("x"), []) // the conflict changed nothing, so no events either
        assert.deepStrictEqual(yield* put("y"), [{ id: "y" }])
        const stored = yield* sql<{ readonly sequence: number; readonly data: unknown }>`
        SELECT sequence::int AS sequence, data FROM outbox_test.outbox WHERE aggregate_id = ${aggregateId} ORDER BY position`
        assert.deepStrictEqual(stored.map((row) => [row.sequence, row.data]), [
          [1, { id: "x" }],
          [2, { id: "x", second: true }],
          [3, { id: "y" }],
          [4, { id: "y", second: true }]
        ])
      }),
    60_000
  )

  it.effect(
    "prune deletes events published before the cutoff, never unpublished ones; sequences go on",
    () =>
      Effect.gen(function*() {
        const type = testType("prune")
        const sql = yield* SqlClient.SqlClient
        const outbox = yield* Outbox
        const aggregateId = `${type}:aggregate`
        const events = yield* Effect.forEach(
          range(5),
          (i) => sql.withTransaction(outbox.appendEvent({ type, aggregateId, data: { i } }))
        )
        const ids = events.map((e) => e.id)
        // as the relay leaves them: 1-3 published long ago, 4 published just now, 5 not published
        yield* sql`UPDATE outbox_test.outbox SET published_at = now() - interval '8 days' WHERE id::text IN ${
          sql.in(ids.slice(0, 3))
        }`
        yield* sql`UPDATE outbox_test.outbox SET published_at = now() WHERE id::text = ${ids[3]!}`
        yield* sql`UPDATE outbox_test.outbox SET published_at = NULL, created_at = now() - interval '30 days' WHERE id::text = ${ids[
          4
        ]!}`
        const cutoff = new Date(Date.parse(events[0]!.occurredAt) - 7 * 24 * 3_600_000 + 60_000)
        assert.strictEqual(yield* outbox.prune(cutoff), 3)
        const left = yield* sql<{ readonly id: string }>`
        SELECT id::text AS id FROM outbox_test.outbox WHERE aggregate_id = ${aggregateId} ORDER BY position`
        assert.deepStrictEqual(left.map((row) => row.id), ids.slice(3))
        assert.strictEqual(yield* outbox.prune(cutoff), 0)
        assert.strictEqual(
          (yield* sql.withTransaction(outbox.appendEvent({ type, aggregateId, data: {} }))).sequence,
          6
        )
      }),
    60_000
  )
})
