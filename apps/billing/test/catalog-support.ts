// Shared by the catalog ETL tests: the catalog's and billing's copies read side by side, so a test can
// demand that they are equal, and the catalog version billing's copy must reach to be complete.
import { CatalogApi } from "@kassa/domain/apis"
import { UserId } from "@kassa/domain/ids"
import { AccessTokenIssuer } from "@kassa/platform/auth"
import { apiClient } from "@kassa/platform/testing"
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"

/** A client of the catalog app at `server`, as an admin holding a token from the shared AccessTokenIssuer. */
export const catalogAdmin = (server: HttpServer.HttpServer["Service"]) =>
  Effect.gen(function*() {
    const issued = yield* AccessTokenIssuer.use((issuer) =>
      issuer.issue({ id: UserId.make(`usr_${randomUUID()}`), email: "admin@example.com", role: "admin" }, randomUUID())
    )
    return yield* apiClient(CatalogApi, { bearer: issued.token }).pipe(
      Effect.provideService(HttpServer.HttpServer, server)
    )
  })

const rows = (query: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
  SqlClient.SqlClient.use((sql) => query(sql).pipe(Effect.orDie))

/** The catalog's products (all, archived too), plans (all versions), membership and live films. */
export const catalogState = Effect.all({
  products: rows((sql) => sql`SELECT id, name, description, status FROM catalog.products ORDER BY id`),
  plans: rows((sql) =>
    sql`SELECT id, product_id, interval, amount, currency, trial_days, status FROM catalog.plans ORDER BY id`
  ),
  members: rows((sql) => sql`SELECT product_id, film_id FROM catalog.product_films ORDER BY product_id, film_id`),
  films: rows((sql) => sql`SELECT id, title FROM catalog.films WHERE deleted_at IS NULL ORDER BY id`)
})

/** The same, read from billing's copy. */
export const billingState = Effect.all({
  products: rows((sql) => sql`SELECT id, name, description, status FROM billing.products ORDER BY id`),
  plans: rows((sql) =>
    sql`SELECT id, product_id, interval, amount, currency, trial_days, status FROM billing.plans ORDER BY id`
  ),
  members: rows((sql) => sql`SELECT product_id, film_id FROM billing.product_films ORDER BY product_id, film_id`),
  films: rows((sql) => sql`SELECT id, title FROM billing.films ORDER BY id`)
})

/** The newest catalog version stamped on any row: billing's copy is complete once its watermark is here. */
export const catalogHead = SqlClient.SqlClient.use((sql) => sql<{ readonly head: string }>`SELECT GREATEST(
      (SELECT COALESCE(max(version), 0) FROM catalog.products),
      (SELECT COALESCE(max(version), 0) FROM catalog.films))::text AS "head"`).pipe(
  Effect.map((r) => Number(r[0]?.head ?? 0)),
  Effect.orDie
)

export const watermark = SqlClient.SqlClient.use((sql) =>
  sql<
    { readonly watermark: string }
  >`SELECT watermark::text AS "watermark" FROM billing.etl_state WHERE source = 'catalog'`
).pipe(Effect.map((r) => Number(r[0]?.watermark ?? 0)), Effect.orDie)
