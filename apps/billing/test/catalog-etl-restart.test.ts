// The ETL's guarantees without HTTP in the way: stopped mid-batch it loses and duplicates nothing; a catalog
// schema that is not there yet only delays it; and after any sequence of catalog changes, interleaved with
// partial syncs of any batch size, billing's copy ends equal to the catalog.
import { CatalogReposLive } from "@kassa/catalog/main"
import { CatalogMigrations } from "@kassa/catalog/migrations"
import { Films } from "@kassa/catalog/films/repo"
import { Products } from "@kassa/catalog/products/repo"
import type { PlanSpec } from "@kassa/domain/catalog"
import type { FilmId, ProductId } from "@kassa/domain/ids"
import { TestPlatform } from "@kassa/platform/testing"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, References, Schedule, Scope } from "effect"
import { SqlClient } from "effect/sql"
import fc from "fast-check"
import { CatalogEtl, syncCatalogBatch } from "../src/etl/catalog.ts"
import { BillingMigrations } from "../src/migrations.ts"
import { billingState, catalogHead, catalogState, watermark } from "./catalog-support.ts"

const Both = Layer.mergeAll(CatalogReposLive, CatalogMigrations, BillingMigrations).pipe(
  Layer.provideMerge(TestPlatform)
)

const film = (title: string) => ({ title, releaseYear: 2000, durationMinutes: 100, ageRating: "16+" as const })
const plan = (amount: number, interval: "month" | "year" = "month"): PlanSpec => ({ interval, amount, currency: "USD" })

const eventually = <A, E, R>(poll: Effect.Effect<A, E, R>, done: (a: A) => boolean, what: string) =>
  poll.pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: done }),
    Effect.timeoutOrElse({
      duration: "20 seconds",
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`))
    })
  )

// rule violations (a deleted film, an archived product, a film still in use) are expected outcomes here
const ruleViolations = new Set(["NotFound", "FilmInUse", "ProductArchived", "UnknownFilms"])
const attempt = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  effect.pipe(Effect.asVoid, Effect.catchIf((e) => ruleViolations.has(e._tag), () => Effect.void), Effect.orDie)
const title = (t: string) => t.trim() === "" ? "untitled" : t.trim()

const syncAll = (batchSize: number) =>
  syncCatalogBatch(batchSize).pipe(Effect.repeat({ until: (outcome) => outcome.copied < batchSize }), Effect.orDie)

// a lock that conflicts with every write the ETL makes to billing's copy, so its next batch waits inside its
// transaction until the lock goes
const blockCopyWrites = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const locked = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  const holder = yield* Effect.forkChild(
    sql.withTransaction(Effect.gen(function*() {
      yield* sql`LOCK TABLE billing.films, billing.products, billing.plans, billing.product_films IN EXCLUSIVE MODE`
      yield* Deferred.succeed(locked, undefined)
      yield* Deferred.await(release)
    })).pipe(Effect.orDie)
  )
  yield* Deferred.await(locked)
  return Deferred.succeed(release, undefined).pipe(Effect.andThen(Fiber.join(holder)))
})

const waitersOnCopy = SqlClient.SqlClient.use((
  sql
) => sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_locks
    WHERE NOT granted AND relation = ANY (ARRAY['billing.films', 'billing.products', 'billing.plans',
      'billing.product_films']::regclass[])`).pipe(Effect.map((rows) => rows[0]?.n ?? 0), Effect.orDie)

layer(Both, { excludeTestServices: true, timeout: 120_000 })("catalog ETL restart safety", (it) => {
  it.effect("stopped mid-batch and restarted, the ETL loses nothing and duplicates nothing", () =>
    Effect.gen(function*() {
      const films = yield* Films
      const products = yield* Products
      // ~150 changes: films, products over them, price changes, renames, deletions, archives
      const filmIds: Array<FilmId> = []
      for (let i = 0; i < 60; i++) filmIds.push((yield* films.create(film(`Film ${i}`))).id)
      const productIds: Array<ProductId> = []
      for (let i = 0; i < 30; i++) {
        const members = [filmIds[i]!, filmIds[(i + 7) % 50]!, filmIds[(i + 13) % 50]!]
        productIds.push(
          (yield* products.create({
            name: `Product ${i}`,
            filmIds: members,
            plans: [plan(500 + i), plan(5000 + i, "year")]
          })).id
        )
      }
      for (let i = 0; i < 20; i++) yield* products.update(productIds[i]!, { plans: [plan(900 + i)] })
      for (let i = 0; i < 20; i++) yield* films.update(filmIds[i]!, { title: `Film ${i}, renamed` })
      for (let i = 50; i < 60; i++) yield* films.delete(filmIds[i]!)
      for (let i = 20; i < 25; i++) yield* products.archive(productIds[i]!)

      // one change per batch, so the ETL is somewhere in the middle when it is stopped
      const first = yield* Scope.make()
      yield* Layer.buildWithScope(CatalogEtl({ batchSize: 1, sweepInterval: "20 millis" }), first)
      yield* eventually(watermark, (w) => w >= 20, "the ETL to make progress")

      const unblock = yield* blockCopyWrites
      // more work for the ETL in any case: it starts a batch on it and waits, inside its transaction, for the lock
      yield* films.create(film("Late arrival"))
      yield* eventually(waitersOnCopy, (n) => n > 0, "the ETL to wait inside a batch")
      const stuckAt = yield* watermark
      const copyWhenStuck = yield* billingState
      assert.isBelow(stuckAt, yield* catalogHead)

      // stop it there: the batch's transaction rolls back
      const stopping = yield* Effect.forkChild(Scope.close(first, Exit.void))
      yield* unblock
      yield* Fiber.join(stopping)
      assert.strictEqual(yield* watermark, stuckAt)
      assert.deepStrictEqual(yield* billingState, copyWhenStuck)

      // restarted, it picks up at the watermark and finishes the copy
      yield* Layer.build(CatalogEtl({ batchSize: 1, sweepInterval: "20 millis" }))
      const head = yield* catalogHead
      yield* eventually(watermark, (w) => w >= head, "the ETL to catch up")
      assert.deepStrictEqual(yield* billingState, yield* catalogState)
    }))

  it.effect("several replicas' ETLs at once take turns and leave one exact copy", () =>
    Effect.gen(function*() {
      const films = yield* Films
      const products = yield* Products
      const etls = Effect.forEach(
        [1, 2, 3],
        (batchSize) => Layer.build(CatalogEtl({ batchSize, sweepInterval: "20 millis" })),
        { concurrency: "unbounded" }
      )
      yield* etls
      // changes keep coming while the three copy
      for (let i = 0; i < 30; i++) {
        const f = yield* films.create(film(`Replica film ${i}`))
        const p = yield* products.create({ name: `Replica ${i}`, filmIds: [f.id], plans: [plan(100 + i)] })
        if (i % 3 === 0) yield* products.update(p.id, { plans: [plan(200 + i)] })
        if (i % 5 === 0) yield* products.archive(p.id)
      }
      const head = yield* catalogHead
      yield* eventually(watermark, (w) => w >= head, "the ETLs to catch up")
      assert.deepStrictEqual(yield* billingState, yield* catalogState)
    }))

  it.effect("after any sequence of catalog changes and partial syncs, a full sync makes billing equal the catalog", () =>
    Effect.gen(function*() {
      const films = yield* Films
      const products = yield* Products
      const run = Effect.runPromiseWith(yield* Effect.context<SqlClient.SqlClient>())

      const planSpecs = fc.uniqueArray(
        fc.record({
          interval: fc.constantFrom("month" as const, "year" as const),
          currency: fc.constantFrom("USD" as const, "EUR" as const),
          amount: fc.integer({ min: 1, max: 3 }).map((n) => n * 100),
          trialDays: fc.constantFrom(0, 7)
        }),
        { minLength: 1, maxLength: 4, selector: (p) => `${p.interval}/${p.currency}` }
      )
      const pick = fc.nat({ max: 1000 })
      const operation = fc.oneof(
        fc.record({ op: fc.constant("createFilm" as const), title: fc.string({ minLength: 1, maxLength: 12 }) }),
        fc.record({
          op: fc.constant("renameFilm" as const),
          film: pick,
          title: fc.string({ minLength: 1, maxLength: 12 })
        }),
        fc.record({ op: fc.constant("deleteFilm" as const), film: pick }),
        fc.record({
          op: fc.constant("createProduct" as const),
          films: fc.array(pick, { maxLength: 4 }),
          plans: planSpecs
        }),
        fc.record({
          op: fc.constant("updateProduct" as const),
          product: pick,
          name: fc.option(fc.string({ minLength: 1, maxLength: 12 }), { nil: undefined }),
          films: fc.option(fc.array(pick, { maxLength: 4 }), { nil: undefined }),
          plans: fc.option(planSpecs, { nil: undefined })
        }),
        fc.record({ op: fc.constant("archiveProduct" as const), product: pick }),
        fc.record({
          op: fc.constant("sync" as const),
          batchSize: fc.integer({ min: 1, max: 5 }),
          batches: fc.integer({ min: 1, max: 3 })
        })
      )

      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(operation, { minLength: 1, maxLength: 25 }),
            fc.integer({ min: 1, max: 7 }),
            (operations, finalBatch) =>
              run(
                Effect.gen(function*() {
                  const filmIds: Array<FilmId> = []
                  const productIds: Array<ProductId> = []
                  const at = <A>(xs: ReadonlyArray<A>, i: number) => xs.length === 0 ? undefined : xs[i % xs.length]
                  const distinct = (picks: ReadonlyArray<number>) => [
                    ...new Set(picks.flatMap((i) => at(filmIds, i) ?? []))
                  ]
                  for (const o of operations) {
                    switch (o.op) {
                      case "createFilm":
                        filmIds.push((yield* films.create(film(title(o.title))).pipe(Effect.orDie)).id)
                        break
                      case "renameFilm": {
                        const id = at(filmIds, o.film)
                        if (id !== undefined) yield* attempt(films.update(id, { title: title(o.title) }))
                        break
                      }
                      case "deleteFilm": {
                        const id = at(filmIds, o.film)
                        if (id !== undefined) yield* attempt(films.delete(id))
                        break
                      }
                      case "createProduct":
                        yield* attempt(
                          products.create({ name: "p", filmIds: distinct(o.films), plans: o.plans }).pipe(
                            Effect.map((created) => productIds.push(created.id))
                          )
                        )
                        break
                      case "updateProduct": {
                        const id = at(productIds, o.product)
                        if (id === undefined) {
                          break
                        }
                        yield* attempt(products.update(id, {
                          ...(o.name === undefined ? {} : { name: title(o.name) }),
                          ...(o.films === undefined ? {} : { filmIds: distinct(o.films) }),
                          ...(o.plans === undefined ? {} : { plans: o.plans })
                        }))
                        break
                      }
                      case "archiveProduct": {
                        const id = at(productIds, o.product)
                        if (id !== undefined) {
                          yield* attempt(products.archive(id))
                        }
                        break
                      }
                      case "sync":
                        yield* Effect.repeat(syncCatalogBatch(o.batchSize), { times: o.batches - 1 }).pipe(Effect.orDie)
                        break
                    }
                  }
                  yield* syncAll(finalBatch)
                  assert.strictEqual(yield* watermark, yield* catalogHead)
                  assert.deepStrictEqual(yield* billingState, yield* catalogState)
                }).pipe(Effect.provide(Layer.mergeAll(Layer.succeed(Films, films), Layer.succeed(Products, products))))
              )
          ),
          { numRuns: 100 }
        )
      )
    }))
})

const BillingOnly = BillingMigrations.pipe(Layer.provideMerge(TestPlatform))

layer(BillingOnly, { excludeTestServices: true, timeout: 60_000 })("catalog ETL before the catalog exists", (it) => {
  it.effect("waits out a missing catalog schema with backoff, then copies what appears", () =>
    Effect.gen(function*() {
      // the failed attempts log warnings by design; this test expects them
      yield* Layer.build(
        CatalogEtl({ sweepInterval: "50 millis" }).pipe(
          Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
        )
      )
      const failing = yield* Effect.flip(syncCatalogBatch(10))
      assert.strictEqual(failing._tag, "SqlError")

      const created = yield* Effect.gen(function*() {
        const products = yield* Products
        return yield* products.create({ name: "Late catalog", plans: [plan(700)] })
      }).pipe(Effect.provide(Layer.mergeAll(CatalogMigrations, CatalogReposLive)))
      yield* eventually(
        SqlClient.SqlClient.use((sql) => sql`SELECT id FROM billing.products WHERE id = ${created.id}`),
        (rows) => rows.length === 1,
        "the product to reach billing"
      )
      assert.deepStrictEqual(yield* billingState, yield* catalogState)
    }))
})
