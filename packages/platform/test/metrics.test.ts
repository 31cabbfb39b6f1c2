// Scrape-time business metrics: the outbox collector reads the backlog and the age of its oldest row, and a
// collector that fails is reported down without failing the others; each registry holds only what was set in it.
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { SqlClient } from "effect/sql"
import { PrometheusMetrics } from "effect/observability"
import { migrations } from "../src/db.ts"
import { collectAll, outboxCollector } from "../src/metrics.ts"
import { Outbox, outboxMigration } from "../src/outbox.ts"
import { metricValue, TestDatabase } from "../src/testing.ts"

const schema = "metrics_test" // TestDatabase is a fresh database for this file

const Env = Outbox.layer(schema).pipe(
  Layer.provideMerge(migrations(schema, { "0001_outbox": outboxMigration(schema) })),
  Layer.provideMerge(TestDatabase)
)

/** Runs the collectors into a fresh registry and formats it, as an app's /metrics does. */
const scrape = (collectors: Parameters<typeof collectAll>[0]) =>
  Effect.andThen(collectAll(collectors), PrometheusMetrics.format()).pipe(
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

layer(Env, { excludeTestServices: true })("scrape-time metrics", (it) => {
  it.effect("the outbox backlog and the age of its oldest unpublished event (no relay runs here)", () =>
    Effect.gen(function*() {
      const outbox = yield* outboxCollector(schema)
      const empty = yield* scrape([outbox])
      assert.strictEqual(metricValue(empty, "kassa_outbox_unpublished", { schema }), 0)
      assert.strictEqual(metricValue(empty, "kassa_outbox_oldest_unpublished_seconds", { schema }), 0)

      const events = yield* Outbox
      for (const id of ["a", "b"]) {
        yield* events.appendEvent({ type: "user.registered", aggregateId: `user_${id}`, data: {} })
      }
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE ${sql.literal(`${schema}.outbox`)} SET created_at = now() - interval '10 minutes'
        WHERE aggregate_id = 'user_a'`
      const text = yield* scrape([outbox])
      assert.strictEqual(metricValue(text, "kassa_outbox_unpublished", { schema }), 2)
      const age = metricValue(text, "kassa_outbox_oldest_unpublished_seconds", { schema }) ?? 0
      // (Postgres's now() and the scrape's clock may differ by a little)
      assert.isTrue(age >= 599 && age < 660, `oldest: ${age} s`)
      assert.strictEqual(metricValue(text, "kassa_metrics_collector_up", { collector: "outbox" }), 1)
    }))

  it.effect("a failing collector is reported down and the others are still served", () =>
    Effect.gen(function*() {
      const missing = yield* outboxCollector("no_such_schema")
      const text = yield* scrape([["broken", missing[1]], yield* outboxCollector(schema)])
      assert.strictEqual(metricValue(text, "kassa_metrics_collector_up", { collector: "broken" }), 0)
      assert.strictEqual(metricValue(text, "kassa_metrics_collector_up", { collector: "outbox" }), 1)
      assert.isUndefined(metricValue(text, "kassa_outbox_unpublished", { schema: "no_such_schema" }))
      assert.isDefined(metricValue(text, "kassa_outbox_unpublished", { schema }))
    }))
})
