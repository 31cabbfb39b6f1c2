// The catalog → billing ETL end to end, in one process on one test database: catalog and billing run as
// they do in production (billing's ETL fiber with its default sweep, woken by catalog.product.* events over
// the real RabbitMQ), and every change is made through the catalog's HTTP API and read back through
// billing's GET /v1/products, both through clients derived from the contracts.
import { randomBytes, randomUUID } from "node:crypto"
import { BillingLive } from "@kassa/billing/main"
import { CatalogLive } from "@kassa/catalog/main"
import { BillingApi } from "@kassa/domain/apis"
import type { PlanSpec } from "@kassa/domain/catalog"
import type { ProductOffer } from "@kassa/domain/products"
import { AccessTokenIssuer } from "@kassa/platform/auth"
import { serverUrl } from "@kassa/platform/http"
import { apiClient, TestPlatform } from "@kassa/platform/testing"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Option, Schedule } from "effect"
import { HttpServer } from "effect/http"
import { CatalogCopy } from "../src/products/repo.ts"
import { billingState, catalogAdmin, catalogHead, catalogState, watermark } from "./catalog-support.ts"

class CatalogServer extends Context.Service<CatalogServer, HttpServer.HttpServer["Service"]>()("test/CatalogServer") {}
class BillingServer extends Context.Service<BillingServer, HttpServer.HttpServer["Service"]>()("test/BillingServer") {}

const server = Effect.service(HttpServer.HttpServer)

const Apps = Layer.mergeAll(
  Layer.effect(CatalogServer, server).pipe(Layer.provide(CatalogLive)),
  Layer.effect(BillingServer, server).pipe(Layer.provide(BillingLive)),
  AccessTokenIssuer.layer,
  CatalogCopy.layer
).pipe(
  Layer.provide(ConfigProvider.layerAdd(
    ConfigProvider.fromUnknown({ JWT_SECRET: randomBytes(32).toString("base64url") }),
    { asPrimary: true }
  )),
  Layer.provideMerge(TestPlatform)
)

const admin = Effect.flatMap(Effect.service(CatalogServer), catalogAdmin)
const viewer = Effect.flatMap(
  Effect.service(BillingServer),
  (s) => apiClient(BillingApi).pipe(Effect.provideService(HttpServer.HttpServer, s))
)

/** Polls until `done` holds; the catalog promises billing sees a change within 5 s. */
const within5s = <A, E, R>(poll: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  poll.pipe(
    Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: done }),
    Effect.timeoutOrElse({
      duration: "5 seconds",
      orElse: () => Effect.die(new Error("not visible in billing within 5 s"))
    })
  )

const listed = Effect.gen(function*() {
  const client = yield* viewer
  const all: Array<ProductOffer> = []
  let cursor: string | undefined
  do {
    const page = yield* client.products.list({ query: { limit: 100, ...(cursor ? { cursor } : {}) } })
    all.push(...page.items)
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  return all
})
const listedProduct = (id: string) => Effect.map(listed, (all) => all.find((p) => p.id === id))

const monthly: PlanSpec = { interval: "month", amount: 999, currency: "USD", trialDays: 7 }
const yearly: PlanSpec = { interval: "year", amount: 8900, currency: "EUR" }

layer(Apps, { excludeTestServices: true, timeout: 60_000 })("catalog → billing ETL", (it) => {
  it.effect("a product created in the catalog is on sale in billing within 5 s, with its plans and film titles", () =>
    Effect.gen(function*() {
      const catalog = yield* admin
      const a = yield* catalog.films.create({
        payload: { title: "Zerkalo", releaseYear: 1975, durationMinutes: 107, ageRating: "12+" }
      })
      const b = yield* catalog.films.create({
        payload: { title: "Andrei Rublev", releaseYear: 1966, durationMinutes: 205, ageRating: "16+" }
      })
      const created = yield* catalog.products.create({
        payload: { name: "Tarkovsky", description: "two", filmIds: [a.id, b.id], plans: [monthly, yearly] }
      })
      const offer = yield* within5s(listedProduct(created.id), (p) => p !== undefined)
      assert.deepStrictEqual(offer, {
        id: created.id,
        name: "Tarkovsky",
        description: "two",
        status: "active",
        plans: created.plans.map(({ amount, currency, id, interval, trialDays }) => ({
          id,
          interval,
          amount,
          currency,
          trialDays
        }))
          .sort((x, y) => x.interval.localeCompare(y.interval)),
        films: [{ id: b.id, title: "Andrei Rublev" }, { id: a.id, title: "Zerkalo" }]
      })
      assert.deepStrictEqual(yield* (yield* viewer).products.get({ params: { id: created.id } }), offer)
    }))

  it.effect("a price change lists the new plan version, not the old one, which billing still resolves as retired", () =>
    Effect.gen(function*() {
      const catalog = yield* admin
      const created = yield* catalog.products.create({ payload: { name: "Reprice", plans: [monthly] } })
      const oldPlan = created.plans[0]!
      yield* within5s(listedProduct(created.id), (p) => p !== undefined)
      const updated = yield* catalog.products.update({
        params: { id: created.id },
        payload: { plans: [{ ...monthly, amount: 1499 }] }
      })
      const newPlan = updated.plans.find((p) => p.status === "active")!
      const offer = yield* within5s(listedProduct(created.id), (p) => p?.plans[0]?.id === newPlan.id)
      assert.deepStrictEqual(offer?.plans, [{
        id: newPlan.id,
        interval: "month",
        amount: 1499,
        currency: "USD",
        trialDays: 7
      }])
      const copy = yield* CatalogCopy
      const old = yield* copy.findPlan(oldPlan.id)
      assert.deepStrictEqual(
        Option.map(old, (p) => [p.status, p.amount, p.productStatus]),
        Option.some(["retired", 999, "active"])
      )
    }))

  it.effect("a film's new title reaches billing's product listing", () =>
    Effect.gen(function*() {
      const catalog = yield* admin
      const f = yield* catalog.films.create({
        payload: { title: "Working Title", releaseYear: 2001, durationMinutes: 90, ageRating: "0+" }
      })
      const created = yield* catalog.products.create({
        payload: { name: "Renamed", filmIds: [f.id], plans: [monthly] }
      })
      yield* within5s(listedProduct(created.id), (p) => p !== undefined)
      yield* catalog.films.update({ params: { id: f.id }, payload: { title: "Final Title" } })
      yield* within5s(listedProduct(created.id), (p) => p?.films[0]?.title === "Final Title")
    }))

  it.effect("an archived product leaves the listing but stays resolvable: by id (archived, no plans) and its plans", () =>
    Effect.gen(function*() {
      const catalog = yield* admin
      const created = yield* catalog.products.create({ payload: { name: "Sunset", plans: [monthly, yearly] } })
      yield* within5s(listedProduct(created.id), (p) => p !== undefined)
      yield* catalog.products.archive({ params: { id: created.id } })
      yield* within5s(listedProduct(created.id), (p) => p === undefined)
      const byId = yield* (yield* viewer).products.get({ params: { id: created.id } })
      assert.strictEqual(byId.status, "archived")
      assert.deepStrictEqual(byId.plans, [])
      const copy = yield* CatalogCopy
      for (const plan of created.plans) {
        const resolved = yield* copy.findPlan(plan.id)
        assert.deepStrictEqual(
          Option.map(resolved, (p) => [p.status, p.productStatus]),
          Option.some(["active", "archived"])
        )
      }
    }))

  it.effect("GET /v1/products pages by name and validates its query; an unknown id is 404", () =>
    Effect.gen(function*() {
      const catalog = yield* admin
      const tag = randomUUID()
      const made = yield* Effect.forEach(
        ["b", "c", "a"],
        (n) => catalog.products.create({ payload: { name: `${tag} ${n}`, plans: [monthly] } })
      )
      yield* within5s(listed, (all) => made.every((m) => all.some((p) => p.id === m.id)))
      const client = yield* viewer
      const names: Array<string> = []
      let cursor: string | undefined
      do {
        const page = yield* client.products.list({ query: { limit: 1, ...(cursor ? { cursor } : {}) } })
        names.push(...page.items.map((p) => p.name))
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      assert.deepStrictEqual(names.filter((n) => n.startsWith(tag)), [`${tag} a`, `${tag} b`, `${tag} c`])
      const missing = yield* Effect.flip(
        client.products.get({ params: { id: made[0]!.id.replace("prod_", "prod_x") as never } })
      )
      assert.strictEqual(missing._tag, "NotFound")
      const base = serverUrl(yield* BillingServer)
      for (const query of ["limit=0", "limit=1000", "cursor=%27%3B--"]) {
        const response = yield* Effect.promise(() =>
          fetch(`${base}/v1/products?${query}`).then(async (r) => ({
            status: r.status,
            body: await r.json() as { _tag: string; field?: string }
          }))
        )
        assert.strictEqual(response.status, 400, query)
        assert.strictEqual(response.body._tag, "BadRequest")
        assert.include(["limit", "cursor"], response.body.field)
      }
    }))

  it.effect("after all of the above, billing's copy equals the catalog", () =>
    Effect.gen(function*() {
      const head = yield* catalogHead
      yield* within5s(watermark, (w) => w >= head)
      assert.deepStrictEqual(yield* billingState, yield* catalogState)
    }))
})
