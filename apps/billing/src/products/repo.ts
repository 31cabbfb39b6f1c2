// Billing's copy of the catalog (products, plans, films and membership, under the catalog's ids), written
// only by the catalog → billing ETL (../etl) and read by GET /v1/products and by whatever needs to resolve a
// plan or a product, including retired plans and archived products that existing subscriptions still use.
import { PlanInterval, PlanStatus, ProductStatus } from "@kassa/domain/catalog"
import { NotFound } from "@kassa/domain/errors"
import { PlanId, ProductId, type UserId } from "@kassa/domain/ids"
import { Currency } from "@kassa/domain/money"
import { type Page, type PageRequest, toPage } from "@kassa/domain/pagination"
import { ProductOffer } from "@kassa/domain/products"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { LRUCache } from "lru-cache"
import { SqlClient, type SqlError, type Statement } from "effect/sql"

/** A plan as billing resolves it: any plan the catalog ever had, with its product's status. */
export const ResolvedPlan = Schema.Struct({
  id: PlanId,
  productId: ProductId,
  interval: PlanInterval,
  amount: Schema.Int,
  currency: Currency,
  trialDays: Schema.Int,
  status: PlanStatus,
  productStatus: ProductStatus
})
export type ResolvedPlan = typeof ResolvedPlan.Type

export type RepoError = SqlError.SqlError | Schema.SchemaError

// one row per product, its offered plans and films aggregated as JSON, each with the ETL watermark of the snapshot
// it was read in (a row of nulls when no product matched)
const OfferRow = Schema.Struct({
  watermark: Schema.NumberFromString,
  id: Schema.NullOr(ProductId),
  name: Schema.NullOr(Schema.String),
  description: Schema.NullOr(Schema.String),
  status: Schema.NullOr(ProductStatus),
  plans: Schema.NullOr(Schema.Array(Schema.Unknown)),
  films: Schema.NullOr(Schema.Array(Schema.Unknown))
})
const decodeOfferRows = Schema.decodeUnknownEffect(Schema.Array(OfferRow))
const decodeOffer = Schema.decodeUnknownEffect(ProductOffer)

// Answers are memoised per ETL watermark: billing's copy changes only when the ETL commits, and the ETL moves
// the watermark in that same transaction, so an answer read at watermark w is right until it moves. A request
// then costs one primary-key read instead of the aggregate query (see scripts/bench/products.ts).
const maxMemoEntries = 1_000

export class CatalogCopy extends Context.Service<CatalogCopy, {
  /** Products on sale (active), ordered by name, with their active plans and their films. */
  list(page: PageRequest): Effect.Effect<Page<ProductOffer>, RepoError>
  /** Any product, archived ones too (with no plans on offer). */
  get(id: ProductId): Effect.Effect<ProductOffer, NotFound | RepoError>
  /** Any plan, retired ones and those of archived products too. */
  findPlan(id: PlanId): Effect.Effect<Option.Option<ResolvedPlan>, RepoError>
  /** `findPlan` and the account's time zone ("UTC" if unknown) in one statement: a subscribe needs both. */
  findPlanWithTimeZone(id: PlanId, userId: UserId): Effect.Effect<
    Option.Option<{ readonly plan: ResolvedPlan; readonly timeZone: string }>,
    RepoError
  >
}>()("billing/CatalogCopy") {
  static readonly layer = Layer.effect(
    CatalogCopy,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const offers = (where: ReturnType<typeof sql.and>, limit: number) =>
        sql`SELECT s.watermark::text AS watermark, o.* FROM billing.etl_state s
        LEFT JOIN LATERAL (
          SELECT p.id, p.name, p.description, p.status,
            COALESCE((SELECT json_agg(json_build_object('id', pl.id, 'interval', pl.interval, 'amount', pl.amount,
                'currency', pl.currency, 'trialDays', pl.trial_days) ORDER BY pl.interval, pl.currency, pl.id)
              FROM billing.plans pl WHERE pl.product_id = p.id AND pl.status = 'active' AND p.status = 'active'),
              '[]') AS plans,
            COALESCE((SELECT json_agg(json_build_object('id', f.id, 'title', f.title) ORDER BY f.title, f.id)
              FROM billing.product_films pf JOIN billing.films f ON f.id = pf.film_id WHERE pf.product_id = p.id),
              '[]') AS films
          FROM billing.products p WHERE ${where} ORDER BY p.name, p.id LIMIT ${limit}
        ) o ON true
        WHERE s.source = 'catalog' ORDER BY o.name, o.id`.pipe(
          Effect.flatMap(decodeOfferRows),
          Effect.flatMap((rows) =>
            Effect.map(
              Effect.forEach(
                rows.filter((row) => row.id !== null),
                (row) => decodeOffer({ ...row, plans: row.plans ?? [], films: row.films ?? [] })
              ),
              (value) => ({ value, watermark: rows[0]?.watermark ?? 0 })
            )
          )
        )

      const currentWatermark = sql<{ readonly watermark: string }>`
      SELECT watermark::text AS "watermark" FROM billing.etl_state WHERE source = 'catalog'`.pipe(
        Effect.map((rows) => Number(rows[0]?.watermark ?? 0))
      )
      const memo = { watermark: -1, entries: new LRUCache<string, object>({ max: maxMemoEntries }) }
      const memoized = <A extends object, E, R>(
        key: string,
        read: Effect.Effect<{ readonly value: A; readonly watermark: number }, E, R>
      ) =>
        Effect.gen(function*() {
          const hit = memo.entries.get(key)
          if (hit !== undefined && (yield* currentWatermark) === memo.watermark) return hit as A
          const { value, watermark } = yield* read
          if (watermark > memo.watermark) {
            memo.watermark = watermark
            memo.entries.clear()
          }
          if (watermark === memo.watermark) memo.entries.set(key, value)
          return value
        })

      const list = Effect.fn("CatalogCopy.list")(function*({ cursor, limit }: PageRequest) {
        const rows = yield* memoized(
          `list:${limit}:${cursor === undefined ? "" : JSON.stringify([cursor.key, cursor.id])}`,
          offers(
            sql.and([
              sql`p.status = 'active'`,
              ...(cursor === undefined ? [] : [sql`(p.name, p.id) > (${String(cursor.key)}, ${cursor.id})`])
            ]),
            limit + 1
          )
        )
        return toPage(rows, limit, (offer) => ({ key: offer.name, id: offer.id }))
      })

      const get = Effect.fn("CatalogCopy.get")(function*(id: ProductId) {
        const rows = yield* memoized(`get:${id}`, offers(sql.and([sql`p.id = ${id}`]), 1))
        const offer = rows[0]
        if (offer === undefined) return yield* new NotFound({ message: `product ${id} not found`, resource: "product" })
        return offer
      })

      const WithTimeZone = Schema.Struct({ ...ResolvedPlan.fields, timeZone: Schema.String })
      const planRows = <S extends Schema.Top>(schema: S, id: PlanId, extra: Statement.Fragment = sql``) =>
        sql`SELECT pl.id, pl.product_id, pl.interval, pl.amount, pl.currency, pl.trial_days,
          pl.status, p.status AS product_status ${extra}
        FROM billing.plans pl JOIN billing.products p ON p.id = pl.product_id WHERE pl.id = ${id}`.pipe(
          Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(schema))),
          Effect.map((rows) => Option.fromNullishOr(rows[0]))
        )

      const findPlan = (id: PlanId) => planRows(ResolvedPlan, id)
      const findPlanWithTimeZone = (id: PlanId, userId: UserId) =>
        planRows(
          WithTimeZone,
          id,
          sql`, COALESCE((SELECT time_zone FROM billing.users WHERE id = ${userId}), 'UTC') AS time_zone`
        ).pipe(
          Effect.map(Option.map(({ timeZone, ...plan }) => ({ plan, timeZone })))
        )

      return CatalogCopy.of({ list, get, findPlan, findPlanWithTimeZone })
    })
  )
}
