// The entitlement read model (billing.entitlements): per user and product, access until `until`. `sync` rewrites a
// user's rows from their subscriptions inside the caller's transaction; reads join the rows with the ETL's copy of
// product↔film membership and return every grant whatever the time, so a cached answer is re-evaluated at read
// time against the Clock (an `until` passing needs no invalidation).
import type { FilmId, ProductId, UserId } from "@kassa/domain/ids"
import { type NewEvent, Outbox } from "@kassa/platform/outbox"
import { Context, Duration, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"

export type RepoError = SqlError.SqlError | Schema.SchemaError

/** One product that grants a film, as [productId, until in epoch milliseconds]. */
export type Grant = readonly [ProductId, number]

export interface EntitlementChange {
  readonly productId: ProductId
  /** null: revoked */
  readonly until: Date | null
}

const GrantRow = Schema.Struct({ productId: Schema.String, until: Schema.Date })
const decodeGrantRows = Schema.decodeUnknownEffect(Schema.Array(GrantRow))
const PairGrantRow = Schema.Struct({
  userId: Schema.String,
  filmId: Schema.String,
  productId: Schema.String,
  until: Schema.Date
})
const decodePairGrantRows = Schema.decodeUnknownEffect(Schema.Array(PairGrantRow))
const ListRow = Schema.Struct({ productId: Schema.String, until: Schema.Date, filmIds: Schema.Array(Schema.String) })
const decodeListRows = Schema.decodeUnknownEffect(Schema.Array(ListRow))
const SyncRow = Schema.Struct({
  source: Schema.Literals(["subscription", "entitlement"]),
  productId: Schema.String,
  status: Schema.NullOr(Schema.String),
  cancelAtPeriodEnd: Schema.NullOr(Schema.Boolean),
  until: Schema.Date
})
const decodeSyncRows = Schema.decodeUnknownEffect(Schema.Array(SyncRow))

/**
 * The per-user lock that serialises entitlement writers, held to the end of the transaction, as an SQL expression
 * over the user id expression `userId`: a statement before `sync` (the change's own) may take it, saving one.
 */
export const lockEntitlements = (sql: SqlClient.SqlClient, userId: Statement.Fragment) =>
  sql`pg_advisory_xact_lock(hashtext('entitlements:' || ${userId}))`

export class EntitlementsRepo extends Context.Service<EntitlementsRepo, {
  /**
   * Rewrites the user's rows from their live subscriptions, writing them and `events(changes)` in one statement;
   * call inside a transaction, `locked` when an earlier statement of it took `lockEntitlements`. Returns what
   * changed.
   */
  sync(
    userId: UserId,
    now: Date,
    pastDueGrace: Duration.Duration,
    events: (changes: ReadonlyArray<EntitlementChange>) => ReadonlyArray<NewEvent<unknown>>,
    locked: boolean
  ): Effect.Effect<ReadonlyArray<EntitlementChange>, RepoError>
  /** Every grant of the (user, film) pair, whatever the time. */
  grants(userId: UserId, filmId: FilmId): Effect.Effect<ReadonlyArray<Grant>, RepoError>
  /** `grants` of every pair, in order, in one statement (a batch's misses). */
  grantsMany(
    pairs: ReadonlyArray<{ readonly userId: UserId; readonly filmId: FilmId }>
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<Grant>>, RepoError>
  /** The user's products with access after `now`, each with its films. */
  list(
    userId: UserId,
    now: Date
  ): Effect.Effect<
    ReadonlyArray<{ readonly productId: ProductId; readonly until: Date; readonly filmIds: ReadonlyArray<FilmId> }>,
    RepoError
  >
}>()("billing/EntitlementsRepo") {
  static readonly layer = Layer.effect(
    EntitlementsRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const outbox = yield* Outbox
      return EntitlementsRepo.of({
        sync: (userId, now, pastDueGrace, events, locked) =>
          Effect.gen(function*() {
            // one writer per user at a time: the second reads the subscriptions the first committed
            if (!locked) yield* sql`SELECT ${lockEntitlements(sql, sql`${userId}::text`)}`
            // the live subscriptions and the rows held now, in one round trip
            const rows = yield* decodeSyncRows(
              yield* sql`SELECT 'subscription' AS source, product_id, status,
              cancel_at_period_end, current_period_end AS until
              FROM billing.subscriptions
              WHERE user_id = ${userId} AND status IN ('trialing', 'active', 'past_due') AND current_period_end IS NOT NULL
            UNION ALL
            SELECT 'entitlement', product_id, NULL, NULL, until FROM billing.entitlements WHERE user_id = ${userId}`
            )
            const desired = new Map<string, number>()
            for (const row of rows) {
              if (row.source !== "subscription") continue
              // a period that renews keeps access through the grace after its end: a late or failed renewal (past due,
              // dunning) never cuts it short; one set to cancel at its end stops there
              const until = row.until.getTime() + (row.cancelAtPeriodEnd === true ? 0 : Duration.toMillis(pastDueGrace))
              desired.set(row.productId, Math.max(until, desired.get(row.productId) ?? 0))
            }
            const existing = rows.filter((row) => row.source === "entitlement")
            const changes: Array<EntitlementChange> = []
            for (const row of existing) {
              if (!desired.has(row.productId)) changes.push({ productId: row.productId as ProductId, until: null })
            }
            const held = new Map(existing.map((row) => [row.productId, row.until.getTime()]))
            for (const [productId, until] of desired) {
              if (held.get(productId) !== until) {
                changes.push({ productId: productId as ProductId, until: new Date(until) })
              }
            }
            const revoked = changes.filter((change) => change.until === null).map((change) => change.productId)
            const granted = changes.filter((change) => change.until !== null)
            const writes = [
              ...(revoked.length === 0 ? [] : [sql`revoked AS (
              DELETE FROM billing.entitlements WHERE user_id = ${userId} AND product_id IN ${sql.in(revoked)}
            )`]),
              ...(granted.length === 0 ? [] : [sql`granted AS (
              INSERT INTO billing.entitlements (user_id, product_id, until, updated_at)
              SELECT ${userId}, g.product_id, g.until, ${now}
              FROM jsonb_to_recordset(${
                JSON.stringify(granted.map((g) => ({ product_id: g.productId, until: g.until })))
              }::jsonb) AS g(product_id text, until timestamptz)
              ON CONFLICT (user_id, product_id) DO UPDATE SET until = excluded.until, updated_at = excluded.updated_at
            )`])
            ]
            const toEmit = events(changes)
            // the rows and the events in one statement
            if (toEmit.length > 0) {
              yield* outbox.withEvents(
                toEmit,
                sql`true`,
                (eventCtes) => sql`WITH ${sql.csv([...writes, eventCtes])} SELECT 1`
              )
            } else if (writes.length > 0) {
              yield* sql`WITH ${sql.csv(writes)} SELECT 1`
            }
            return changes
          }),
        grants: (userId, filmId) =>
          Effect.map(
            Effect.flatMap(
              sql`SELECT e.product_id, e.until FROM billing.entitlements e
              JOIN billing.product_films pf ON pf.product_id = e.product_id AND pf.film_id = ${filmId}
              WHERE e.user_id = ${userId}`,
              decodeGrantRows
            ),
            (rows) => rows.map((row): Grant => [row.productId as ProductId, row.until.getTime()])
          ),
        grantsMany: (pairs) =>
          Effect.gen(function*() {
            if (pairs.length === 0) return []
            // the pairs as two parallel text arrays: one bind each, however many pairs; DISTINCT so a pair asked
            // twice is joined once
            const rows = yield* decodePairGrantRows(
              yield* sql`SELECT q.user_id, q.film_id, e.product_id, e.until
            FROM (SELECT DISTINCT * FROM unnest(${pairs.map((pair) => pair.userId)}::text[],
              ${pairs.map((pair) => pair.filmId)}::text[]) AS u(user_id, film_id)) q
            JOIN billing.entitlements e ON e.user_id = q.user_id
            JOIN billing.product_films pf ON pf.product_id = e.product_id AND pf.film_id = q.film_id`
            )
            const byPair = new Map<string, Array<Grant>>()
            for (const row of rows) {
              const key = `${row.userId}\u0000${row.filmId}`
              const grants = byPair.get(key)
              const grant: Grant = [row.productId as ProductId, row.until.getTime()]
              if (grants === undefined) byPair.set(key, [grant])
              else grants.push(grant)
            }
            return pairs.map((pair) => byPair.get(`${pair.userId}\u0000${pair.filmId}`) ?? [])
          }),
        list: (userId, now) =>
          Effect.map(
            Effect.flatMap(
              sql`SELECT e.product_id, e.until,
                COALESCE((SELECT array_agg(pf.film_id ORDER BY pf.film_id) FROM billing.product_films pf
                  WHERE pf.product_id = e.product_id), '{}') AS film_ids
              FROM billing.entitlements e WHERE e.user_id = ${userId} AND e.until > ${now}
              ORDER BY e.product_id`,
              decodeListRows
            ),
            (rows) => rows.map((row) => ({
              productId: row.productId as ProductId,
              until: row.until,
              filmIds: row.filmIds as ReadonlyArray<FilmId>
            }))
          )
      })
    })
  )
}
