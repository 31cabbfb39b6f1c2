// The demo catalog `npm start` seeds: a handful of films and three products with monthly and
// yearly plans in USD and EUR. Written through the repositories, so the ETL copies it to billing and the
// outbox announces it like any admin change. Runs once: a catalog that has any product is left alone.
import type { NewFilm, NewProduct, PlanSpec } from "@kassa/domain/catalog"
import type { FilmId } from "@kassa/domain/ids"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { Films } from "./films/repo.ts"
import { CatalogReposLive } from "./main.ts"
import { CatalogMigrations } from "./migrations.ts"
import { Products } from "./products/repo.ts"

const demoFilms: ReadonlyArray<NewFilm> = [
  {
    title: "Metropolis",
    description: "A futuristic city divided by class.",
    releaseYear: 1927,
    durationMinutes: 153,
    ageRating: "12+"
  },
  {
    title: "The General",
    description: "A Confederate engineer chases his stolen locomotive.",
    releaseYear: 1926,
    durationMinutes: 78,
    ageRating: "6+"
  },
  {
    title: "Nosferatu",
    description: "A vampire comes to Wisborg.",
    releaseYear: 1922,
    durationMinutes: 94,
    ageRating: "16+"
  },
  {
    title: "The Kid",
    description: "A tramp raises an abandoned child.",
    releaseYear: 1921,
    durationMinutes: 68,
    ageRating: "0+"
  },
  {
    title: "Battleship Potemkin",
    description: "Sailors mutiny in 1905 Odessa.",
    releaseYear: 1925,
    durationMinutes: 75,
    ageRating: "12+"
  },
  {
    title: "Sherlock Jr.",
    description: "A projectionist dreams himself into the film.",
    releaseYear: 1924,
    durationMinutes: 45,
    ageRating: "6+"
  }
]

const plans = (monthly: number, trialDays: number): ReadonlyArray<PlanSpec> => [
  { interval: "month", amount: monthly, currency: "USD", trialDays },
  { interval: "month", amount: monthly - 100, currency: "EUR", trialDays },
  { interval: "year", amount: monthly * 10, currency: "USD", trialDays },
  { interval: "year", amount: (monthly - 100) * 10, currency: "EUR", trialDays }
]

const demoProducts = (films: ReadonlyArray<FilmId>): ReadonlyArray<NewProduct> => {
  const pick = (...indexes: ReadonlyArray<number>) => indexes.flatMap((i) => films[i] ?? [])
  return [
    {
      name: "Silent Classics",
      description: "Every film in the demo catalog.",
      filmIds: pick(0, 1, 2, 3, 4, 5),
      plans: plans(999, 7)
    },
    { name: "Comedy Shorts", description: "Keaton and Chaplin.", filmIds: pick(1, 3, 5), plans: plans(499, 0) },
    { name: "Night Frights", description: "For the brave.", filmIds: pick(2), plans: plans(299, 3) }
  ]
}

const seedDemoCatalog = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const films = yield* Films
  const products = yield* Products
  yield* sql.withTransaction(Effect.gen(function*() {
    // the change counter's row lock serialises this with every catalog writer, so two starts cannot both seed
    yield* sql`SELECT version FROM catalog.change_counter FOR UPDATE`
    const existing = yield* sql<{ readonly count: number }>`SELECT count(*)::int AS "count" FROM catalog.products`
    if ((existing[0]?.count ?? 0) > 0) return yield* Effect.logInfo("catalog has products: demo catalog not seeded")
    const filmIds = yield* Effect.forEach(demoFilms, (film) => Effect.map(films.create(film), (f) => f.id))
    const created = yield* Effect.forEach(demoProducts(filmIds), (product) => products.create(product))
    yield* Effect.logInfo(
      `seeded the demo catalog: ${filmIds.length} films; products ${created.map((p) => p.name).join(", ")}`
    )
  }))
})

/** For scripts/start.ts: seeds once the catalog schema is migrated. */
export const DemoCatalogLive = Layer.effectDiscard(seedDemoCatalog).pipe(
  Layer.provide(CatalogReposLive),
  Layer.provide(CatalogMigrations)
)
