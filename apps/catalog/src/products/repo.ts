// Products, their plans and film membership in the catalog schema. A product changes as one unit: the
// product row is stamped with the catalog version of every change to it, its plans or its films, so the
// ETL copies the whole unit whenever that version moves. Plans are never edited: a new price or trial is a
// new plan row, and the old one is retired (kept, so existing subscriptions still resolve it).
import {
  type NewProduct,
  Plan,
  type PlanSpec,
  type Product,
  ProductArchived,
  type ProductEventData,
  type ProductPatch,
  ProductStatus,
  UnknownFilms
} from "@kassa/domain/catalog"
import { NotFound } from "@kassa/domain/errors"
import type { EventType } from "@kassa/domain/events"
import { FilmId, ProductId } from "@kassa/domain/ids"
import { type Page, type PageRequest, toPage } from "@kassa/domain/pagination"
import { Outbox } from "@kassa/platform/outbox"
import { Array as Arr, Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type Change, catalogChange, newId } from "../changes.ts"

const ProductRow = Schema.Struct({
  id: ProductId,
  name: Schema.String,
  description: Schema.String,
  status: ProductStatus,
  createdAt: Schema.DateTimeUtcFromDate,
  updatedAt: Schema.DateTimeUtcFromDate,
  archivedAt: Schema.NullOr(Schema.DateTimeUtcFromDate)
})
// a plan row is the Plan and its product, its instants as the driver returns them (Date)
const PlanRow = Schema.Struct({
  ...Plan.fields,
  productId: ProductId,
  createdAt: Schema.DateTimeUtcFromDate,
  retiredAt: Schema.NullOr(Schema.DateTimeUtcFromDate)
})
const MemberRow = Schema.Struct({ productId: ProductId, filmId: FilmId })

const decodeProducts = Schema.decodeUnknownEffect(Schema.Array(ProductRow))
const decodePlans = Schema.decodeUnknownEffect(Schema.Array(PlanRow))
const decodeMembers = Schema.decodeUnknownEffect(Schema.Array(MemberRow))

export type RepoError = SqlError.SqlError | Schema.SchemaError

const notFound = (id: ProductId) => new NotFound({ message: `product ${id} not found`, resource: "product" })
const archived = (id: ProductId) =>
  new ProductArchived({ message: `product ${id} is archived and can no longer change`, productId: id })

const planKey = (plan: { readonly interval: string; readonly currency: string }) => `${plan.interval}/${plan.currency}`

/** The plans to retire and the specs to create so that `specs` is exactly the set of active plans. */
const diffPlans = (active: ReadonlyArray<Plan>, specs: ReadonlyArray<PlanSpec>) => {
  const wanted = new Map(specs.map((spec) => [planKey(spec), spec]))
  const retire = active.filter((plan) => {
    const spec = wanted.get(planKey(plan))
    return spec === undefined || spec.amount !== plan.amount || (spec.trialDays ?? 0) !== plan.trialDays
  })
  const kept = new Set(active.filter((plan) => !retire.includes(plan)).map(planKey))
  return { retire, create: specs.filter((spec) => !kept.has(planKey(spec))) }
}

const eventData = (product: Product, catalogVersion: number): ProductEventData => ({
  id: product.id,
  name: product.name,
  status: product.status,
  filmIds: product.filmIds,
  plans: product.plans.filter((plan) => plan.status === "active").map((plan) => ({
    id: plan.id,
    interval: plan.interval,
    amount: plan.amount,
    currency: plan.currency,
    trialDays: plan.trialDays
  })),
  catalogVersion
})

export class Products extends Context.Service<Products, {
  list(query: PageRequest & { readonly status?: ProductStatus | undefined }): Effect.Effect<Page<Product>, RepoError>
  get(id: ProductId): Effect.Effect<Product, NotFound | RepoError>
  create(input: NewProduct): Effect.Effect<Product, UnknownFilms | RepoError>
  update(
    id: ProductId,
    patch: ProductPatch
  ): Effect.Effect<Product, NotFound | ProductArchived | UnknownFilms | RepoError>
  archive(id: ProductId): Effect.Effect<Product, NotFound | ProductArchived | RepoError>
}>()("catalog/Products") {
  static readonly layer = Layer.effect(
    Products,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const outbox = yield* Outbox
      const productColumns = sql`id, name, description, status, created_at, updated_at, archived_at`

      // rows → products, with their plans (active first, then newest) and film ids
      const assemble = (rows: ReadonlyArray<typeof ProductRow.Type>) =>
        Effect.gen(function*() {
          if (rows.length === 0) return []
          const ids = rows.map((row) => row.id)
          const plans = yield* sql`SELECT id, product_id, interval, amount, currency, trial_days, status, created_at,
            retired_at
          FROM catalog.plans WHERE product_id IN ${sql.in(ids)}
          ORDER BY (status = 'active') DESC, created_at DESC, id`.pipe(Effect.flatMap(decodePlans))
          const members = yield* sql`SELECT product_id, film_id FROM catalog.product_films
          WHERE product_id IN ${sql.in(ids)} ORDER BY film_id`.pipe(Effect.flatMap(decodeMembers))
          return rows.map((row): Product => ({
            ...row,
            filmIds: members.filter((m) => m.productId === row.id).map((m) => m.filmId),
            plans: plans.filter((p) => p.productId === row.id).map(({ productId: _, ...plan }) => plan)
          }))
        })

      const find = (id: ProductId, lock = false) =>
        sql`SELECT ${productColumns} FROM catalog.products WHERE id = ${id} ${lock ? sql`FOR UPDATE` : sql``}`.pipe(
          Effect.flatMap(decodeProducts),
          Effect.flatMap(assemble),
          Effect.flatMap((products) => {
            const product = products[0]
            return product === undefined ? Effect.fail(notFound(id)) : Effect.succeed(product)
          })
        )

      const list = Effect.fn("Products.list")(
        function*(query: PageRequest & { readonly status?: ProductStatus | undefined }) {
          const { cursor, limit, status } = query
          const conditions = [
            ...(status === undefined ? [] : [sql`status = ${status}`]),
            ...(cursor === undefined ? [] : [sql`(name, id) > (${String(cursor.key)}, ${cursor.id})`])
          ]
          const rows = yield* sql`SELECT ${productColumns} FROM catalog.products WHERE ${sql.and(conditions)}
          ORDER BY name, id LIMIT ${limit + 1}`.pipe(Effect.flatMap(decodeProducts))
          const page = toPage(rows, limit, (row) => ({ key: row.name, id: row.id }))
          return { items: yield* assemble(page.items), nextCursor: page.nextCursor }
        }
      )

      // every id must name a film that exists and is not deleted; writers are serialised by the change
      // counter, so a film cannot be deleted between this check and the commit
      const requireFilms = (filmIds: ReadonlyArray<FilmId>) =>
        Effect.gen(function*() {
          if (filmIds.length === 0) return
          const found = yield* sql<{ readonly id: string }>`
          SELECT id FROM catalog.films WHERE id IN ${sql.in(filmIds)} AND deleted_at IS NULL`
          const existing = new Set(found.map((row) => row.id))
          const missing = filmIds.filter((id) => !existing.has(id))
          if (missing.length > 0) {
            return yield* new UnknownFilms({ message: `unknown film ids: ${missing.join(", ")}`, filmIds: missing })
          }
        })

      const insertPlans = (productId: ProductId, specs: ReadonlyArray<PlanSpec>, change: Change) =>
        !Arr.isReadonlyArrayNonEmpty(specs) ?
          Effect.void :
          sql`INSERT INTO catalog.plans ${
            sql.insert(Arr.map(specs, (spec) => ({
              id: newId("plan"),
              productId,
              interval: spec.interval,
              amount: spec.amount,
              currency: spec.currency,
              trialDays: spec.trialDays ?? 0,
              status: "active",
              createdAt: change.now
            })))
          }`.pipe(Effect.asVoid)

      const insertMembers = (productId: ProductId, filmIds: ReadonlyArray<FilmId>) =>
        !Arr.isReadonlyArrayNonEmpty(filmIds) ?
          Effect.void :
          sql`INSERT INTO catalog.product_films ${sql.insert(Arr.map(filmIds, (filmId) => ({ productId, filmId })))}`
            .pipe(Effect.asVoid)

      const publish = (type: EventType, product: Product, change: Change) =>
        outbox.appendEvent({ type, aggregateId: product.id, data: eventData(product, change.version) })

      const create = Effect.fn("Products.create")(function*(input: NewProduct) {
        const id = ProductId.make(newId("prod"))
        return yield* catalogChange(sql, (change) =>
          Effect.gen(function*() {
            const filmIds = input.filmIds ?? []
            yield* requireFilms(filmIds)
            yield* sql`INSERT INTO catalog.products ${
              sql.insert({
                id,
                name: input.name,
                description: input.description ?? "",
                status: "active",
                createdAt: change.now,
                updatedAt: change.now,
                version: change.version
              })
            }`
            yield* insertPlans(id, input.plans, change)
            yield* insertMembers(id, filmIds)
            const product = yield* find(id)
            yield* publish("catalog.product.created", product, change)
            return product
          })).pipe(Effect.catchTag("NotFound", Effect.die))
      })

      const update = Effect.fn("Products.update")(function*(id: ProductId, patch: ProductPatch) {
        return yield* catalogChange(sql, (change) =>
          Effect.gen(function*() {
            const current = yield* find(id, true)
            if (current.status === "archived") return yield* archived(id)
            let changed = (patch.name !== undefined && patch.name !== current.name) ||
              (patch.description !== undefined && patch.description !== current.description)

            if (patch.filmIds !== undefined) {
              yield* requireFilms(patch.filmIds)
              const wanted = new Set(patch.filmIds)
              const removed = current.filmIds.filter((filmId) => !wanted.has(filmId))
              const added = patch.filmIds.filter((filmId) => !current.filmIds.includes(filmId))
              if (removed.length > 0) {
                yield* sql`DELETE FROM catalog.product_films WHERE product_id = ${id} AND film_id IN ${sql.in(removed)}`
              }
              yield* insertMembers(id, added)
              changed ||= removed.length > 0 || added.length > 0
            }

            if (patch.plans !== undefined) {
              const { create, retire } = diffPlans(
                current.plans.filter((plan) => plan.status === "active"),
                patch.plans
              )
              if (retire.length > 0) {
                yield* sql`UPDATE catalog.plans SET status = 'retired', retired_at = ${change.now}
                WHERE id IN ${sql.in(retire.map((plan) => plan.id))}`
              }
              yield* insertPlans(id, create, change)
              changed ||= retire.length > 0 || create.length > 0
            }

            // an update that changes nothing leaves the version (and billing's copy) alone and emits no event
            if (!changed) return current
            yield* sql`UPDATE catalog.products SET ${
              sql.update({
                name: patch.name ?? current.name,
                description: patch.description ?? current.description,
                updatedAt: change.now,
                version: change.version
              })
            } WHERE id = ${id}`
            const product = yield* find(id)
            yield* publish("catalog.product.updated", product, change)
            return product
          }))
      })

      const archive = Effect.fn("Products.archive")(function*(id: ProductId) {
        return yield* catalogChange(sql, (change) =>
          Effect.gen(function*() {
            const current = yield* find(id, true)
            if (current.status === "archived") return yield* archived(id)
            yield* sql`UPDATE catalog.products SET status = 'archived', archived_at = ${change.now},
            updated_at = ${change.now}, version = ${change.version} WHERE id = ${id}`
            const product = yield* find(id)
            yield* publish("catalog.product.archived", product, change)
            return product
          }))
      })

      return Products.of({ list, get: (id) => find(id), create, update, archive })
    })
  )
}
