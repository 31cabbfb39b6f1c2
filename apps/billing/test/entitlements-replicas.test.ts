// A second billing replica's entitlement tier (its own in-process cache and pub/sub feed) beside the app under
// test, on the same database and Redis: it sees a revocation made through the app within 1 s, stays correct with
// Redis stopped, and keeps serving cached answers when Postgres is down too, failing fast (503) otherwise.
import { assert, layer } from "@effect/vitest"
import { UserId } from "@kassa/domain/ids"
import { layerFromUrl } from "@kassa/platform/db"
import { Outbox } from "@kassa/platform/outbox"
import { tcpProxy, testRedis } from "@kassa/platform/testing"
import { Clock, Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { EntitlementCache } from "../src/entitlements/cache.ts"
import { EntitlementsRepo } from "../src/entitlements/repo.ts"
import { Entitlements } from "../src/entitlements/service.ts"
import { BillingWithPayments, seedPlan, subscribeWithCard, viewer } from "./billing-harness.ts"
import { seedFilm } from "./entitlements-support.ts"

/** Another replica's entitlement services, reaching Redis and Postgres at the given ports (proxies or not). */
const replica = (ports: { readonly redis: number; readonly postgres: number }, onDatabaseRead = () => {}) =>
  Effect.gen(function*() {
    const [row] = yield* SqlClient.SqlClient.use((sql) =>
      sql<{ readonly name: string }>`SELECT current_database() AS name`
    )
      .pipe(Effect.orDie)
    const url = Redacted.make(`postgres://postgres@127.0.0.1:${ports.postgres}/${row!.name}`)
    // a memo map of its own: the app's layers are not shared with it, as across processes
    const context = yield* Layer.buildWithMemoMap(
      Entitlements.layer.pipe(
        Layer.provideMerge(EntitlementCache.layer),
        Layer.provideMerge(
          Layer.effect(
            EntitlementsRepo,
            Effect.map(
              Effect.service(EntitlementsRepo),
              (repo) =>
                EntitlementsRepo.of({
                  ...repo,
                  grants: (userId, filmId) => Effect.andThen(Effect.sync(onDatabaseRead), repo.grants(userId, filmId))
                })
            )
          ).pipe(Layer.provide(EntitlementsRepo.layer))
        ),
        Layer.provide(Outbox.layer("billing")),
        Layer.provide(testRedis(`redis://127.0.0.1:${ports.redis}`, { commandTimeout: "200 millis" })),
        Layer.provide(layerFromUrl(url, { maxConnections: 2 }))
      ),
      yield* Layer.makeMemoMap,
      yield* Effect.scope
    ).pipe(Effect.orDie)
    return Context.get(context, Entitlements)
  })

/** Polls until `check` answers `expected`; fails after `within` ms. */
const eventually = <E>(check: Effect.Effect<boolean, E>, expected: boolean, within: number) =>
  Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + within
    while (true) {
      const answer = yield* check
      if (answer === expected) return
      if ((yield* Clock.currentTimeMillis) > deadline) {
        return yield* Effect.die(new Error(`still ${answer} after ${within} ms`))
      }
      yield* Effect.sleep("20 millis")
    }
  })

const subscribed = Effect.gen(function*() {
  const { productId, planId } = yield* seedPlan()
  const filmId = yield* seedFilm(productId)
  const { account, client } = yield* viewer()
  const { subscription } = yield* subscribeWithCard(client, planId)
  return { filmId, client, subscription, userId: UserId.make(account.id) }
})

layer(BillingWithPayments(), { excludeTestServices: true, timeout: 60_000 })("entitlement replicas", (it) => {
  it.effect("a second replica sees a revocation within 1 s", () =>
    Effect.gen(function*() {
      const other = yield* replica({ redis: 6379, postgres: 5432 })
      const { filmId, client, subscription, userId } = yield* subscribed
      const allowed = other.check(userId, filmId).pipe(Effect.map((answer) => answer.allowed))
      assert.isTrue(yield* allowed)
      assert.isTrue(yield* allowed) // now from its in-process tier
      yield* client.subscriptions.cancel({ params: { id: subscription.id }, payload: { atPeriodEnd: false } })
      yield* eventually(allowed, false, 1_000)
    }).pipe(Effect.scoped))

  it.effect("concurrent misses on one key cause one database read (single-flight)", () =>
    Effect.gen(function*() {
      let reads = 0
      const other = yield* replica({ redis: 6379, postgres: 5432 }, () => reads++)
      const { filmId, userId } = yield* subscribed
      const answers = yield* Effect.forEach(Array.from({ length: 50 }), () => other.check(userId, filmId), {
        concurrency: "unbounded"
      })
      assert.isTrue(answers.every((answer) => answer.allowed))
      assert.strictEqual(reads, 1)
    }).pipe(Effect.scoped))

  it.effect("Redis stopped mid-test: answers come from Postgres and stay correct", () =>
    Effect.gen(function*() {
      const redis = yield* tcpProxy(6379)
      const other = yield* replica({ redis: yield* redis.start(0), postgres: 5432 })
      const first = yield* subscribed
      const allowed = (s: typeof first) => other.check(s.userId, s.filmId).pipe(Effect.map((answer) => answer.allowed))
      assert.isTrue(yield* allowed(first))
      yield* redis.cut
      yield* first.client.subscriptions.cancel({
        params: { id: first.subscription.id },
        payload: { atPeriodEnd: false }
      })
      // its feed is gone: within its staleness bound it stops trusting what it cached and asks Postgres
      yield* eventually(allowed(first), false, 2_000)
      const second = yield* subscribed
      assert.isTrue(yield* allowed(second))
      yield* second.client.subscriptions.cancel({
        params: { id: second.subscription.id },
        payload: { atPeriodEnd: false }
      })
      // another replica's change reaches this one within 1 s, Redis or not
      yield* eventually(allowed(second), false, 1_000)
      assert.isFalse(yield* allowed(first))
    }).pipe(Effect.scoped))

  it.effect("Postgres down too: cached answers keep working, others fail fast with ServiceUnavailable", () =>
    Effect.gen(function*() {
      const redis = yield* tcpProxy(6379)
      const postgres = yield* tcpProxy(5432)
      const other = yield* replica({ redis: yield* redis.start(0), postgres: yield* postgres.start(0) })
      const cached = yield* subscribed
      const uncached = yield* subscribed
      assert.isTrue((yield* other.check(cached.userId, cached.filmId)).allowed)
      yield* postgres.cut
      assert.isTrue((yield* other.check(cached.userId, cached.filmId)).allowed)
      yield* redis.cut
      assert.isTrue((yield* other.check(cached.userId, cached.filmId)).allowed)
      const failure = yield* Effect.flip(
        other.check(uncached.userId, uncached.filmId).pipe(Effect.timeout("10 seconds"))
      )
      assert.strictEqual(failure._tag, "ServiceUnavailable")
    }).pipe(Effect.scoped))
})
