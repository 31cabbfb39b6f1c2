// The catalog → billing ETL, the one sanctioned read of another service's schema. Catalog
// writers stamp every changed product (with its plans and films, as one unit) and film with the next value
// of a single-row counter, so versions commit in order (apps/catalog/src/changes.ts). Each batch here is
// one billing transaction: lock billing.etl_state, read up to `batchSize` changes with version > watermark
// from the catalog in ONE statement (one snapshot), upsert them, advance the watermark, commit. Interrupted
// or failed, the transaction rolls back: nothing is lost and, as every write is an idempotent upsert or a
// set replacement, nothing is duplicated. Replicas may all run it; the row lock takes turns.
//
// This needs the catalog and billing schemas in one database (true for docker compose and npm start).
import { PlanInterval, PlanStatus, ProductStatus } from "@kassa/domain/catalog"
import { FilmId, PlanId, ProductId } from "@kassa/domain/ids"
import { Currency } from "@kassa/domain/money"
import { EventBus } from "@kassa/platform/bus"
import { EtlConfig } from "../config.ts"
import { Array as Arr, type Config, DateTime, Duration, Effect, Layer, Option, Queue, Schema } from "effect"
import { SqlClient, SqlError } from "effect/sql"
import { EntitlementCache } from "../entitlements/cache.ts"
import { backoff } from "@kassa/platform/backoff"

const Version = Schema.NumberFromString.check(Schema.isInt())

const ProductUnit = Schema.Struct({
  id: ProductId,
  name: Schema.String,
  description: Schema.String,
  status: ProductStatus,
  plans: Schema.Array(Schema.Struct({
    id: PlanId,
    interval: PlanInterval,
    amount: Schema.Int,
    currency: Currency,
    trialDays: Schema.Int,
    status: PlanStatus
  })),
  films: Schema.Array(Schema.Struct({ id: FilmId, title: Schema.String, version: Schema.Int }))
})
type ProductUnit = typeof ProductUnit.Type

const FilmState = Schema.Struct({ id: FilmId, title: Schema.String, deleted: Schema.Boolean })

const ChangeRow = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("product"), version: Version, data: ProductUnit }),
  Schema.Struct({ kind: Schema.Literal("film"), version: Version, data: FilmState })
])
const decodeChanges = Schema.decodeUnknownEffect(Schema.Array(ChangeRow))

export interface BatchOutcome {
  /** changes (products and films) copied by this batch */
  readonly copied: number
  /** the catalog version billing's copy is now complete up to */
  readonly watermark: number
}

const readWatermark = (sql: SqlClient.SqlClient) =>
  sql<{ readonly watermark: string }>`
    SELECT watermark::text AS "watermark" FROM billing.etl_state WHERE source = 'catalog' FOR UPDATE`.pipe(
    Effect.map((rows) => Number(rows[0]?.watermark ?? 0))
  )

// One statement, so one snapshot: every unit is read as of the same moment, and since catalog versions
// commit in order, a snapshot that holds version v holds every version below it.
const readChanges = (sql: SqlClient.SqlClient, watermark: number, limit: number) =>
  sql`WITH changes AS (
      (SELECT 'product' AS kind, id, version FROM catalog.products
        WHERE version > ${watermark}::bigint ORDER BY version LIMIT ${limit})
      UNION ALL
      (SELECT 'film' AS kind, id, version FROM catalog.films
        WHERE version > ${watermark}::bigint ORDER BY version LIMIT ${limit})
      ORDER BY version LIMIT ${limit}
    )
    SELECT c.kind, c.version::text AS version, (CASE c.kind
      WHEN 'product' THEN (SELECT json_build_object(
        'id', p.id, 'name', p.name, 'description', p.description, 'status', p.status,
        'plans', COALESCE((SELECT json_agg(json_build_object('id', pl.id, 'interval', pl.interval,
            'amount', pl.amount, 'currency', pl.currency, 'trialDays', pl.trial_days, 'status', pl.status))
          FROM catalog.plans pl WHERE pl.product_id = p.id), '[]'),
        'films', COALESCE((SELECT json_agg(json_build_object('id', f.id, 'title', f.title, 'version', f.version))
          FROM catalog.product_films pf JOIN catalog.films f ON f.id = pf.film_id WHERE pf.product_id = p.id), '[]'))
        FROM catalog.products p WHERE p.id = c.id)
      ELSE (SELECT json_build_object('id', f.id, 'title', f.title, 'deleted', f.deleted_at IS NOT NULL)
        FROM catalog.films f WHERE f.id = c.id)
    END) AS data
    FROM changes c ORDER BY c.version`.pipe(Effect.flatMap(decodeChanges))

const json = (rows: ReadonlyArray<Record<string, unknown>>) => JSON.stringify(rows)

// The snapshot is self-consistent (a member film exists and is not deleted), so the units can be written
// set-wise: films, then products, plans and membership, then deletions.
const apply = (
  sql: SqlClient.SqlClient,
  products: ReadonlyArray<{ readonly unit: ProductUnit; readonly version: number }>,
  films: ReadonlyArray<{ readonly id: string; readonly title: string; readonly version: number }>,
  deletedFilms: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    if (films.length > 0) {
      yield* sql`INSERT INTO billing.films (id, title, catalog_version)
        SELECT id, title, version FROM jsonb_to_recordset(${
          json(films)
        }::jsonb) AS x(id text, title text, version bigint)
        ON CONFLICT (id) DO UPDATE SET title = excluded.title, catalog_version = excluded.catalog_version`
    }
    if (products.length > 0) {
      const rows = products.map(({ unit, version }) => ({
        id: unit.id,
        name: unit.name,
        description: unit.description,
        status: unit.status,
        version
      }))
      yield* sql`INSERT INTO billing.products (id, name, description, status, catalog_version)
        SELECT id, name, description, status, version
        FROM jsonb_to_recordset(${
          json(rows)
        }::jsonb) AS x(id text, name text, description text, status text, version bigint)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
          status = excluded.status, catalog_version = excluded.catalog_version`
      const plans = products.flatMap(({ unit }) =>
        unit.plans.map((plan) => ({
          id: plan.id,
          product_id: unit.id,
          interval: plan.interval,
          amount: plan.amount,
          currency: plan.currency,
          trial_days: plan.trialDays,
          status: plan.status
        }))
      )
      if (plans.length > 0) {
        // a plan's terms never change in the catalog (a new price is a new plan); only its status does
        yield* sql`INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
          SELECT id, product_id, interval, amount, currency, trial_days, status
          FROM jsonb_to_recordset(${json(plans)}::jsonb)
            AS x(id text, product_id text, interval text, amount integer, currency text, trial_days integer, status text)
          ON CONFLICT (id) DO UPDATE SET status = excluded.status`
      }
      const members = json(
        products.flatMap(({ unit }) => unit.films.map((film) => ({ product_id: unit.id, film_id: film.id })))
      )
      const ids = products.map(({ unit }) => unit.id)
      yield* sql`DELETE FROM billing.product_films pf WHERE pf.product_id IN ${sql.in(ids)}
        AND NOT EXISTS (SELECT 1 FROM jsonb_to_recordset(${members}::jsonb) AS m(product_id text, film_id text)
          WHERE m.product_id = pf.product_id AND m.film_id = pf.film_id)`
      yield* sql`INSERT INTO billing.product_films (product_id, film_id)
        SELECT product_id, film_id FROM jsonb_to_recordset(${members}::jsonb) AS m(product_id text, film_id text)
        ON CONFLICT DO NOTHING`
    }
    if (deletedFilms.length > 0) {
      // the catalog deletes a film only once no product lists it; membership rows still here belong to
      // products whose newer state is further along the change log
      yield* sql`DELETE FROM billing.product_films WHERE film_id IN ${sql.in(deletedFilms)}`
      yield* sql`DELETE FROM billing.films WHERE id IN ${sql.in(deletedFilms)}`
    }
  })

/** Copies the next batch of catalog changes in one billing transaction. */
export const syncCatalogBatch = (
  batchSize: number
): Effect.Effect<BatchOutcome, SqlError.SqlError | Schema.SchemaError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(Effect.gen(function*() {
      const watermark = yield* readWatermark(sql)
      const changes = yield* readChanges(sql, watermark, batchSize)
      const last = Arr.last(changes)
      if (last._tag === "None") return { copied: 0, watermark }

      const products: Array<{ unit: ProductUnit; version: number }> = []
      const films = new Map<string, { id: string; title: string; version: number }>()
      const deletedFilms: Array<string> = []
      for (const change of changes) {
        if (change.kind === "product") {
          products.push({ unit: change.data, version: change.version })
          for (const film of change.data.films) films.set(film.id, film)
        } else if (change.data.deleted) {
          deletedFilms.push(change.data.id)
        } else {
          films.set(change.data.id, { id: change.data.id, title: change.data.title, version: change.version })
        }
      }
      yield* apply(sql, products, [...films.values()], deletedFilms)
      if (products.length > 0 || deletedFilms.length > 0) {
        // product↔film membership may have changed: every cached entitlement answer goes once this commits
        const entitlements = yield* Effect.serviceOption(EntitlementCache)
        if (Option.isSome(entitlements)) yield* sql.afterCommit(entitlements.value.invalidateMembership)
      }

      const now = DateTime.toDateUtc(yield* DateTime.now)
      yield* sql`UPDATE billing.etl_state SET watermark = ${last.value.version}::bigint, updated_at = ${now}
        WHERE source = 'catalog'`
      return { copied: changes.length, watermark: last.value.version }
    }))
  }).pipe(Effect.withSpan("CatalogEtl.batch", { attributes: { batchSize } }))

export interface CatalogEtlOptions {
  /** Default: ETL_BATCH_SIZE. */
  readonly batchSize?: number
  /** Default: ETL_SWEEP_INTERVAL. */
  readonly sweepInterval?: Duration.Input
}

// the database's own words ("relation \"catalog.products\" does not exist"), not the driver's summary
const describe = (error: unknown): string => {
  const cause = SqlError.isSqlError(error) ? error.reason.cause : error
  return cause instanceof Error ? cause.message : String(cause)
}

// a catalog schema that is missing (not migrated yet) or a database that is down only delays the copy
const retrySchedule = backoff({ base: "200 millis", cap: "5 seconds" })

/**
 * The ETL as a background fiber of the layer: runs a batch whenever a `catalog.product.*` event arrives
 * and at every sweep, and goes on at once while batches come back full.
 */
export const CatalogEtl = (
  options?: CatalogEtlOptions
): Layer.Layer<never, Config.ConfigError, SqlClient.SqlClient | EventBus> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const config = yield* EtlConfig
    const batchSize = options?.batchSize ?? config.batchSize
    const sweepInterval = Duration.fromInputUnsafe(options?.sweepInterval ?? config.sweepInterval)
    const sql = yield* SqlClient.SqlClient
    const bus = yield* EventBus
    const wake = yield* Queue.dropping<void>(1)
    yield* bus.subscribe(["catalog.product.*"], () => Queue.offer(wake, undefined))

    const idle = Effect.raceFirst(Queue.take(wake), Effect.sleep(sweepInterval))
    const step = syncCatalogBatch(batchSize).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.mapError(describe),
      // a defect must not end the ETL either: billing's copy would silently stop following the catalog
      Effect.catchDefect((defect) => Effect.fail(describe(defect))),
      Effect.tapError((error) =>
        Effect.logWarning("catalog ETL batch failed; retrying").pipe(Effect.annotateLogs({ error }))
      ),
      Effect.retry(retrySchedule),
      Effect.tap((outcome) =>
        outcome.copied > 0
          ? Effect.logDebug("catalog ETL copied changes").pipe(Effect.annotateLogs({ ...outcome }))
          : Effect.void
      ),
      Effect.flatMap((outcome) => outcome.copied === batchSize ? Effect.void : idle)
    )
    yield* Effect.forkScoped(Effect.forever(step))
  }))
