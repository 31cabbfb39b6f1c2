// Films in the catalog schema. A deleted film stays as a tombstone (deleted_at, stamped with the catalog
// version) so the ETL can carry the deletion to billing; every read here skips tombstones.
import { Film, FilmInUse, type FilmPatch, type NewFilm } from "@kassa/domain/catalog"
import { NotFound } from "@kassa/domain/errors"
import { FilmId, ProductId } from "@kassa/domain/ids"
import { type Page, type PageRequest, toPage } from "@kassa/domain/pagination"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { catalogChange, newId } from "../changes.ts"

// a row is the Film itself, its instants as the driver returns them (Date)
const FilmRow = Schema.Struct({
  ...Film.fields,
  createdAt: Schema.DateTimeUtcFromDate,
  updatedAt: Schema.DateTimeUtcFromDate
})

const notFound = (id: FilmId) => new NotFound({ message: `film ${id} not found`, resource: "film" })

export type RepoError = SqlError.SqlError | Schema.SchemaError

/** `%`, `_` and `\` in a search are literal characters, not LIKE wildcards. */
const likePattern = (search: string) => `%${search.replace(/[\\%_]/g, "\\$&")}%`

export class Films extends Context.Service<Films, {
  list(query: PageRequest & { readonly search?: string | undefined }): Effect.Effect<Page<Film>, RepoError>
  get(id: FilmId): Effect.Effect<Film, NotFound | RepoError>
  create(input: NewFilm): Effect.Effect<Film, RepoError>
  update(id: FilmId, patch: FilmPatch): Effect.Effect<Film, NotFound | RepoError>
  /** 409 FilmInUse while any product (active or archived) lists the film. */
  delete(id: FilmId): Effect.Effect<void, NotFound | FilmInUse | RepoError>
}>()("catalog/Films") {
  static readonly layer = Layer.effect(
    Films,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const columns = sql`id, title, description, release_year, duration_minutes, age_rating, created_at, updated_at`

      const findOne = SqlSchema.findOneOption({
        Request: Schema.Struct({ id: FilmId, lock: Schema.Boolean }),
        Result: FilmRow,
        execute: ({ id, lock }) =>
          sql`SELECT ${columns} FROM catalog.films WHERE id = ${id} AND deleted_at IS NULL ${
            lock ? sql`FOR UPDATE` : sql``
          }`
      })
      const find = (id: FilmId, lock = false) =>
        findOne({ id, lock }).pipe(Effect.flatMap(Option.match({
          onNone: () => Effect.fail(notFound(id)),
          onSome: Effect.succeed
        })))

      const list = Effect.fn("Films.list")(function*(query: PageRequest & { readonly search?: string | undefined }) {
        const { cursor, limit, search } = query
        const conditions = [
          sql`deleted_at IS NULL`,
          ...(search === undefined ? [] : [sql`title ILIKE ${likePattern(search)}`]),
          ...(cursor === undefined ? [] : [sql`(title, id) > (${String(cursor.key)}, ${cursor.id})`])
        ]
        const rows = yield* sql`SELECT ${columns} FROM catalog.films WHERE ${sql.and(conditions)}
        ORDER BY title, id LIMIT ${limit + 1}`.pipe(Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(FilmRow))))
        return toPage(rows, limit, (film) => ({ key: film.title, id: film.id }))
      })

      const create = Effect.fn("Films.create")(function*(input: NewFilm) {
        const id = FilmId.make(newId("film"))
        yield* catalogChange(sql, ({ now, version }) =>
          sql`INSERT INTO catalog.films ${
            sql.insert({
              id,
              title: input.title,
              description: input.description ?? "",
              releaseYear: input.releaseYear,
              durationMinutes: input.durationMinutes,
              ageRating: input.ageRating,
              createdAt: now,
              updatedAt: now,
              version
            })
          }`)
        return yield* find(id).pipe(Effect.catchTag("NotFound", Effect.die))
      })

      const update = Effect.fn("Films.update")(function*(id: FilmId, patch: FilmPatch) {
        yield* catalogChange(sql, ({ now, version }) =>
          Effect.gen(function*() {
            const current = yield* find(id, true)
            const next = { ...current, ...patch }
            const unchanged = next.title === current.title && next.description === current.description &&
              next.releaseYear === current.releaseYear && next.durationMinutes === current.durationMinutes &&
              next.ageRating === current.ageRating
            if (unchanged) return
            yield* sql`UPDATE catalog.films SET ${
              sql.update({
                title: next.title,
                description: next.description,
                releaseYear: next.releaseYear,
                durationMinutes: next.durationMinutes,
                ageRating: next.ageRating,
                updatedAt: now,
                version
              })
            } WHERE id = ${id}`
          }))
        return yield* find(id)
      })

      const delete_ = Effect.fn("Films.delete")(function*(id: FilmId) {
        yield* catalogChange(sql, ({ now, version }) =>
          Effect.gen(function*() {
            yield* find(id, true)
            const products = yield* sql<{ readonly productId: string }>`
            SELECT product_id FROM catalog.product_films WHERE film_id = ${id} ORDER BY product_id`
            if (products.length > 0) {
              const productIds = products.map((p) => ProductId.make(p.productId))
              return yield* new FilmInUse({
                message: `film ${id} is in ${productIds.length} product(s): remove it from them first`,
                filmId: id,
                productIds
              })
            }
            yield* sql`UPDATE catalog.films SET deleted_at = ${now}, updated_at = ${now}, version = ${version}
            WHERE id = ${id}`
          }))
      })

      return Films.of({ list, get: (id) => find(id), create, update, delete: delete_ })
    })
  )
}
