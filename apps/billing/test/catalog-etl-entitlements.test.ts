// The catalog ETL's own invalidation of entitlement answers: a viewer entitled to a product sees one of its films
// allowed (the answer cached in-process and in Redis), the catalog removes the film from the product through its
// admin API, and billing's ETL (woken by the catalog's event or its sweep) copies the change and, once its
// transaction commits, forgets every cached answer: the film is refused within 5 s. Nothing here calls
// invalidateMembership; a control pair shows that a change of billing's copy *without* that invalidation is not
// seen while the answer is cached.
import { randomBytes, randomUUID } from "node:crypto"
import { BillingLive } from "@kassa/billing/main"
import { CatalogLive } from "@kassa/catalog/main"
import { BillingApi } from "@kassa/domain/apis"
import type { PlanSpec } from "@kassa/domain/catalog"
import { type FilmId, UserId } from "@kassa/domain/ids"
import { AccessTokenIssuer } from "@kassa/platform/auth"
import { Cache } from "@kassa/platform/kv"
import { apiClient, TestPlatform } from "@kassa/platform/testing"
import { assert, layer } from "@effect/vitest"
import { Clock, ConfigProvider, Context, Effect, Layer, Option, Schedule } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { EntitlementCache } from "../src/entitlements/cache.ts"
import { catalogAdmin } from "./catalog-support.ts"

class CatalogServer extends Context.Service<CatalogServer, HttpServer.HttpServer["Service"]>()("test/CatalogServer") {}
class BillingSide extends Context.Service<BillingSide, {
  readonly server: HttpServer.HttpServer["Service"]
  readonly entitlements: EntitlementCache["Service"]
}>()("test/BillingSide") {}

const Apps = Layer.mergeAll(
  Layer.effect(CatalogServer, Effect.service(HttpServer.HttpServer)).pipe(Layer.provide(CatalogLive)),
  Layer.effect(
    BillingSide,
    Effect.all({ server: Effect.service(HttpServer.HttpServer), entitlements: EntitlementCache })
  )
    .pipe(Layer.provide(BillingLive)),
  AccessTokenIssuer.layer
).pipe(
  Layer.provide(ConfigProvider.layerAdd(
    ConfigProvider.fromUnknown({
      JWT_SECRET: randomBytes(32).toString("base64url"),
      // trial plans only: billing never calls payments here
      PAYMENTS_RPC_URL: "http://127.0.0.1:1/rpc",
      // far beyond this test's waits: an answer that flips was invalidated, it did not expire
      ENTITLEMENT_CACHE_TTL: "10 minutes"
    }),
    { asPrimary: true }
  )),
  Layer.provideMerge(TestPlatform)
)

const admin = Effect.flatMap(Effect.service(CatalogServer), catalogAdmin)
const billingClient = (bearer?: string) =>
  Effect.flatMap(
    Effect.service(BillingSide),
    (side) =>
      apiClient(BillingApi, bearer === undefined ? {} : { bearer }).pipe(
        Effect.provideService(HttpServer.HttpServer, side.server)
      )
  )

/** Polls until `done` holds, for at most 5 s (the catalog's promise; the ETL's sweep is 2 s, events are sooner). */
const within5s = <A, E, R>(poll: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  poll.pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: done }),
    Effect.timeoutOrElse({
      duration: "5 seconds",
      orElse: () => Effect.die(new Error("not seen in billing within 5 s"))
    })
  )

// the Redis tier's layout (cache.ts): entries under the membership and user versions current when written
const redisEntry = (userId: string, filmId: string) =>
  Effect.gen(function*() {
    const cache = yield* Cache
    const [membership, user] = yield* cache.getMany([
      "entitlement-version:membership",
      `entitlement-version:user:${userId}`
    ])
    const version = (v: Option.Option<string> | undefined) => Option.getOrElse(v ?? Option.none(), () => "0")
    return yield* cache.get(`entitlement:${version(membership)}:${version(user)}:${userId}\u0000${filmId}`)
  }).pipe(Effect.orDie)

const monthlyTrial: PlanSpec = { interval: "month", amount: 999, currency: "USD", trialDays: 7 }

layer(Apps, { excludeTestServices: true, timeout: 60_000 })("catalog ETL → entitlement answers", (it) => {
  it.effect("a film the catalog removes from a product is refused within 5 s, by the ETL's own invalidation", () =>
    Effect.gen(function*() {
      const catalog = yield* admin
      const sql = yield* SqlClient.SqlClient
      const { entitlements } = yield* BillingSide
      const film = (title: string) =>
        catalog.films.create({ payload: { title, releaseYear: 1966, durationMinutes: 100, ageRating: "12+" } })
      const removed = yield* film("Removed")
      const kept = yield* film("Kept")
      const product = yield* catalog.products.create({
        payload: { name: `ETL invalidation ${randomUUID()}`, filmIds: [removed.id, kept.id], plans: [monthlyTrial] }
      })
      const anonymous = yield* billingClient()
      yield* within5s(
        Effect.option(anonymous.products.get({ params: { id: product.id } })),
        (offer) => Option.isSome(offer) && offer.value.films.length === 2
      )

      // a viewer on a trial of the product
      const email = `etl-${randomUUID()}@example.com`
      const password = "correct horse battery staple"
      const account = yield* anonymous.auth.register({ payload: { email, password } })
      const tokens = yield* anonymous.auth.token({ payload: { email, password } })
      const viewer = yield* billingClient(tokens.accessToken)
      yield* viewer.subscriptions.create({
        headers: { "idempotency-key": randomUUID() },
        payload: { planId: product.plans[0]!.id }
      })
      const allowed = (filmId: FilmId) =>
        Effect.map(viewer.entitlements.film({ params: { filmId } }), (answer) => answer.allowed)
      const userId = UserId.make(account.id)
      assert.isTrue(yield* allowed(removed.id))
      assert.isTrue(yield* allowed(kept.id))

      // both answers cached: in this process's tier and in Redis
      const now = yield* Clock.currentTimeMillis
      assert.isDefined(entitlements.peek(userId, removed.id, now))
      assert.isTrue(Option.isSome(yield* redisEntry(userId, removed.id)))
      const membershipVersion = Effect.flatMap(
        Effect.service(Cache),
        (cache) => cache.get("entitlement-version:membership")
      )
        .pipe(Effect.orDie)
      const versionBefore = yield* membershipVersion

      // control: billing's copy changed behind the cache's back (no invalidation) is not seen while cached
      yield* sql`DELETE FROM billing.product_films WHERE product_id = ${product.id} AND film_id = ${kept.id}`.pipe(
        Effect.orDie
      )
      assert.isTrue(yield* allowed(kept.id))

      // the catalog drops the film; the ETL copies the product (re-adding `kept`, dropping `removed`) and invalidates
      yield* catalog.products.update({ params: { id: product.id }, payload: { filmIds: [kept.id] } })
      yield* within5s(allowed(removed.id), (answer) => !answer)
      assert.isTrue(yield* allowed(kept.id))
      assert.notDeepEqual(yield* membershipVersion, versionBefore, "the ETL recorded a new membership version")
      const members = yield* sql<{ readonly filmId: string }>`SELECT film_id FROM billing.product_films
        WHERE product_id = ${product.id} ORDER BY film_id`.pipe(Effect.orDie)
      assert.deepStrictEqual(members.map((row) => row.filmId), [kept.id])
    }))
})
