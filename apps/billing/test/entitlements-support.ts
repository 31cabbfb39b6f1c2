// Test data for the entitlement tests: films in billing's catalog copy.
import { FilmId, type ProductId } from "@kassa/domain/ids"
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/** A film in billing's catalog copy, listed in `productId`. */
export const seedFilm = (productId: ProductId) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.gen(function*() {
      const filmId = FilmId.make(`film_${randomUUID()}`)
      yield* sql`INSERT INTO billing.films (id, title, catalog_version) VALUES (${filmId}, ${`Film ${filmId}`}, 0)`
      yield* sql`INSERT INTO billing.product_films (product_id, film_id) VALUES (${productId}, ${filmId})`
      return filmId
    })
  ).pipe(Effect.orDie)
