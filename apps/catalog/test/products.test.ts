// Products through a client derived from CatalogApi: create, update, archive, versioned plans, and the
// catalog.product.* events written to the outbox in the same transaction as each change.
import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import type { Plan, PlanSpec, Product } from "@kassa/domain/catalog"
import { FilmId, ProductId } from "@kassa/domain/ids"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { catalogClient, CatalogUnderTest, film } from "./support.ts"

const monthlyUsd: PlanSpec = { interval: "month", amount: 999, currency: "USD", trialDays: 7 }
const yearlyUsd: PlanSpec = { interval: "year", amount: 9900, currency: "USD", trialDays: 0 }
const monthlyEur: PlanSpec = { interval: "month", amount: 899, currency: "EUR", trialDays: 7 }

const active = (product: Product) => product.plans.filter((plan) => plan.status === "active")
const terms = (plans: ReadonlyArray<Plan | PlanSpec>) =>
  plans.map(({ amount, currency, interval, trialDays }) => ({ interval, amount, currency, trialDays }))
    .sort((a, b) => `${a.interval}${a.currency}`.localeCompare(`${b.interval}${b.currency}`))

const events = (productId: string) =>
  SqlClient.SqlClient.use((sql) => sql<{ readonly type: string; readonly data: string }>`
      SELECT type, data::text AS "data" FROM catalog.outbox WHERE aggregate_id = ${productId} ORDER BY sequence`).pipe(
    Effect.map((rows) => rows.map((row) => ({ type: row.type, data: JSON.parse(row.data) as Record<string, unknown> })))
  )

layer(CatalogUnderTest, { excludeTestServices: true, timeout: 30_000 })("products", (it) => {
  it.effect("create answers 201 with active plans, the films, and writes catalog.product.created", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const a = yield* client.films.create({ payload: film("A") })
      const b = yield* client.films.create({ payload: film("B") })
      const [created, response] = yield* client.products.create({
        payload: { name: "Bundle", description: "two films", filmIds: [a.id, b.id], plans: [monthlyUsd, yearlyUsd] },
        responseMode: "decoded-and-response"
      })
      assert.strictEqual(response.status, 201)
      assert.deepStrictEqual(yield* client.products.get({ params: { id: created.id } }), created)
      assert.match(created.id, /^prod_/)
      assert.strictEqual(created.status, "active")
      assert.isNull(created.archivedAt)
      assert.sameMembers([...created.filmIds], [a.id, b.id])
      assert.deepStrictEqual(terms(created.plans), terms([monthlyUsd, yearlyUsd]))
      for (const plan of created.plans) {
        assert.match(plan.id, /^plan_/)
        assert.strictEqual(plan.status, "active")
      }

      const written = yield* events(created.id)
      assert.deepStrictEqual(written.map((e) => e.type), ["catalog.product.created"])
      assert.strictEqual(written[0]?.data.id, created.id)
      assert.sameMembers(written[0]?.data.filmIds as Array<string>, [a.id, b.id])
    }))

  it.effect("a price or trial change retires that plan for a new version; unchanged plans keep their ids", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const created = yield* client.products.create({ payload: { name: "Versioned", plans: [monthlyUsd, yearlyUsd] } })
      const idOf = (product: Product, interval: string, currency: string) =>
        active(product).find((p) => p.interval === interval && p.currency === currency)?.id

      const repriced = yield* client.products.update({
        params: { id: created.id },
        payload: { plans: [{ ...monthlyUsd, amount: 1299 }, yearlyUsd, monthlyEur] }
      })
      assert.strictEqual(idOf(repriced, "year", "USD"), idOf(created, "year", "USD"))
      assert.notStrictEqual(idOf(repriced, "month", "USD"), idOf(created, "month", "USD"))
      assert.deepStrictEqual(terms(active(repriced)), terms([{ ...monthlyUsd, amount: 1299 }, yearlyUsd, monthlyEur]))
      const old = repriced.plans.find((p) => p.id === idOf(created, "month", "USD"))
      assert.strictEqual(old?.status, "retired")
      assert.strictEqual(old?.amount, 999)
      assert.isNotNull(old?.retiredAt)

      // leaving a plan out retires it; a trial change is a new version too
      const trimmed = yield* client.products.update({
        params: { id: created.id },
        payload: { plans: [{ ...monthlyUsd, amount: 1299, trialDays: 14 }] }
      })
      assert.strictEqual(active(trimmed).length, 1)
      assert.strictEqual(active(trimmed)[0]?.trialDays, 14)
      assert.strictEqual(trimmed.plans.length, 5)
      assert.strictEqual(trimmed.plans.filter((p) => p.status === "retired").length, 4)

      const written = yield* events(created.id)
      assert.deepStrictEqual(written.map((e) => e.type), [
        "catalog.product.created",
        "catalog.product.updated",
        "catalog.product.updated"
      ])
      assert.deepStrictEqual(
        (written[2]?.data.plans as Array<{ id: string }>).map((p) => p.id),
        active(trimmed).map((p) => p.id)
      )
    }))

  it.effect("an update that changes nothing keeps the product as is and writes no event", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const f = yield* client.films.create({ payload: film("Same") })
      const created = yield* client.products.create({ payload: { name: "Same", filmIds: [f.id], plans: [monthlyUsd] } })
      const again = yield* client.products.update({
        params: { id: created.id },
        payload: { name: "Same", filmIds: [f.id], plans: [monthlyUsd] }
      })
      assert.deepStrictEqual(again, created)
      assert.strictEqual((yield* events(created.id)).length, 1)
    }))

  it.effect("archive flags the product, keeps its plans, writes catalog.product.archived; then it is read-only (409)", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const created = yield* client.products.create({ payload: { name: "Old", plans: [monthlyUsd] } })
      const archived = yield* client.products.archive({ params: { id: created.id } })
      assert.strictEqual(archived.status, "archived")
      assert.isNotNull(archived.archivedAt)
      assert.deepStrictEqual(archived.plans, created.plans)
      assert.strictEqual(
        (yield* Effect.flip(client.products.archive({ params: { id: created.id } })))._tag,
        "ProductArchived"
      )
      const update = yield* Effect.flip(
        client.products.update({ params: { id: created.id }, payload: { name: "New" } })
      )
      assert.strictEqual(update._tag, "ProductArchived")
      assert.deepStrictEqual((yield* events(created.id)).map((e) => e.type), [
        "catalog.product.created",
        "catalog.product.archived"
      ])
    }))

  it.effect("unknown or deleted film ids answer 422 UnknownFilms naming them, and nothing is created", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const real = yield* client.films.create({ payload: film("Real") })
      const gone = yield* client.films.create({ payload: film("Gone") })
      yield* client.films.delete({ params: { id: gone.id } })
      const name = `Broken ${randomUUID()}`
      const error = yield* Effect.flip(client.products.create({
        payload: { name, filmIds: [real.id, gone.id, FilmId.make("film_nope")], plans: [monthlyUsd] }
      }))
      assert.strictEqual(error._tag, "UnknownFilms")
      if (error._tag === "UnknownFilms") assert.sameMembers([...error.filmIds], [gone.id, "film_nope"])
      const all = yield* client.products.list({ query: { limit: 100 } })
      assert.isFalse(all.items.some((p) => p.name === name))
    }))

  it.effect("unknown ids answer 404 on get, update and archive", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const id = ProductId.make("prod_missing")
      for (const call of [
        client.products.get({ params: { id } }),
        client.products.update({ params: { id }, payload: { name: "x" } }),
        client.products.archive({ params: { id } })
      ]) {
        assert.strictEqual((yield* Effect.flip(call))._tag, "NotFound")
      }
    }))

  it.effect("list filters by status and pages by name", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const tag = randomUUID()
      const made = yield* Effect.forEach(
        ["c", "a", "b"],
        (n) => client.products.create({ payload: { name: `${tag} ${n}`, plans: [monthlyUsd] } })
      )
      yield* client.products.archive({ params: { id: made[0]!.id } })
      const collect = (status: "active" | "archived") =>
        Effect.gen(function*() {
          const names: Array<string> = []
          let cursor: string | undefined
          do {
            const page = yield* client.products.list({ query: { status, limit: 1, ...(cursor ? { cursor } : {}) } })
            names.push(...page.items.map((p) => p.name))
            cursor = page.nextCursor ?? undefined
          } while (cursor !== undefined)
          return names.filter((n) => n.startsWith(tag))
        })
      assert.deepStrictEqual(yield* collect("active"), [`${tag} a`, `${tag} b`])
      assert.deepStrictEqual(yield* collect("archived"), [`${tag} c`])
    }))

  it.effect("concurrent price changes leave exactly one active plan and one version per change", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const created = yield* client.products.create({ payload: { name: "Race", plans: [monthlyUsd] } })
      const amounts = [1001, 1002, 1003, 1004, 1005]
      yield* Effect.forEach(
        amounts,
        (amount) =>
          client.products.update({ params: { id: created.id }, payload: { plans: [{ ...monthlyUsd, amount }] } }),
        {
          concurrency: "unbounded"
        }
      )
      const final = yield* client.products.get({ params: { id: created.id } })
      assert.strictEqual(active(final).length, 1)
      assert.strictEqual(final.plans.length, 1 + amounts.length)
      assert.sameMembers(final.plans.map((p) => p.amount), [999, ...amounts])
      assert.strictEqual((yield* events(created.id)).length, 1 + amounts.length)
    }))
})
