// Entitlements end to end: the answer across a subscription's lifecycle over HTTP (fast route and routed), the
// read model and its events, and the RPC group through the exported typed client.
import { assert, layer } from "@effect/vitest"
import { EntitlementsRpcClient } from "@kassa/clients"
import { UserId } from "@kassa/domain/ids"
import { serverUrl } from "@kassa/platform/http"
import { randomUUID } from "node:crypto"
import { Duration, Effect, Redacted } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import { EntitlementCache } from "../src/entitlements/cache.ts"
import { Entitlements } from "../src/entitlements/service.ts"
import { SchedulerCycle } from "../src/scheduler/cycle.ts"
import {
  billingEvents,
  BillingWithPayments,
  newKey,
  seedPlan,
  serviceToken,
  subscribeWithCard,
  viewer
} from "./billing-harness.ts"
import { seedFilm } from "./entitlements-support.ts"

const entitlementEvents = (userId: string) =>
  SqlClient.SqlClient.use((sql) => sql<{ readonly type: string }>`SELECT type FROM billing.outbox
      WHERE aggregate_id = ${userId} AND type LIKE 'entitlement.%' ORDER BY sequence`).pipe(
    Effect.map((rows) => rows.map((row) => row.type)),
    Effect.orDie
  )

/** The raw URL (hot route once cached), and the same endpoint through routing (a query string skips the hot route). */
const rawCheck = (token: string, filmId: string, query = "") =>
  Effect.gen(function*() {
    const url = serverUrl(yield* HttpServer.HttpServer)
    return yield* Effect.promise(async () => {
      const response = await fetch(`${url}/v1/entitlements/films/${encodeURIComponent(filmId)}${query}`, {
        headers: { authorization: `Bearer ${token}` }
      })
      return { status: response.status, body: await response.json() as Record<string, unknown> }
    })
  })

layer(BillingWithPayments(), { excludeTestServices: true, timeout: 60_000 })("entitlements", (it) => {
  it.effect("before subscribe no; active yes; film removed from the product no; refund no at once", () =>
    Effect.gen(function*() {
      const { productId, planId } = yield* seedPlan()
      const filmId = yield* seedFilm(productId)
      const other = yield* seedFilm(productId)
      const { account, client } = yield* viewer()
      assert.deepStrictEqual(yield* client.entitlements.film({ params: { filmId } }), { allowed: false, filmId })

      const { subscription, payment } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      const allowed = yield* client.entitlements.film({ params: { filmId } })
      assert.isTrue(allowed.allowed)
      assert.strictEqual(allowed.productId, productId)
      // a renewing period's access runs through the grace after its end, so a late renewal never cuts it short
      assert.strictEqual(
        allowed.until?.epochMilliseconds,
        subscription.currentPeriodEnd!.epochMilliseconds + Duration.toMillis(Duration.days(7))
      )
      const listed = yield* client.entitlements.list()
      assert.deepStrictEqual(listed.products.map((p) => [p.productId, [...p.filmIds].sort()]), [[
        productId,
        [filmId, other].sort()
      ]])
      assert.deepStrictEqual(listed.films.map((f) => f.filmId).sort(), [filmId, other].sort())

      // the catalog ETL drops the film from the product: the ETL invalidates every answer on commit
      yield* SqlClient.SqlClient.use((sql) =>
        sql`DELETE FROM billing.product_films WHERE product_id = ${productId} AND film_id = ${filmId}`
      ).pipe(Effect.orDie)
      yield* EntitlementCache.use((cache) => cache.invalidateMembership)
      assert.isFalse((yield* client.entitlements.film({ params: { filmId } })).allowed)
      assert.isTrue((yield* client.entitlements.film({ params: { filmId: other } })).allowed)

      // "Отменить платеж" inside the refund window: access ends with the response
      assert.isNotNull(payment)
      yield* client.payments.cancel({ params: { id: payment!.id }, headers: { "idempotency-key": newKey() } })
      assert.deepStrictEqual(yield* client.entitlements.film({ params: { filmId: other } }), {
        allowed: false,
        filmId: other
      })
      assert.deepStrictEqual((yield* client.entitlements.list()).products, [])
      assert.deepStrictEqual(yield* entitlementEvents(account.id), ["entitlement.granted", "entitlement.revoked"])
      assert.include(yield* billingEvents(subscription.id), "subscription.canceled")
    }))

  it.effect("cancel at period end: yes until the period ends, no after (TestClock)", () =>
    Effect.gen(function*() {
      const { productId, planId } = yield* seedPlan()
      const filmId = yield* seedFilm(productId)
      const { account, client } = yield* viewer()
      const { subscription } = yield* subscribeWithCard(client, planId)
      yield* client.subscriptions.cancel({ params: { id: subscription.id }, payload: { atPeriodEnd: true } })
      assert.isTrue((yield* client.entitlements.film({ params: { filmId } })).allowed)
      const end = subscription.currentPeriodEnd!.epochMilliseconds
      const entitlements = yield* Entitlements
      const cycle = yield* SchedulerCycle
      const userId = UserId.make(account.id)
      yield* Effect.gen(function*() {
        yield* TestClock.setTime(end - 1)
        // set to cancel at its end: no grace after it
        assert.strictEqual((yield* entitlements.check(userId, filmId)).until?.epochMilliseconds, end)
        yield* TestClock.setTime(end)
        assert.isFalse((yield* entitlements.check(userId, filmId)).allowed)
        // the scheduler expires it: the row goes, revoked
        yield* cycle.run
        assert.isFalse((yield* entitlements.check(userId, filmId)).allowed)
      }).pipe(Effect.provide(TestClock.layer()))
      // granted through the grace, cut back to the period end by the cancel, revoked at the end
      assert.deepStrictEqual(yield* entitlementEvents(account.id), [
        "entitlement.granted",
        "entitlement.granted",
        "entitlement.revoked"
      ])
    }))

  it.effect("past_due keeps access within the grace period, not after (TestClock)", () =>
    Effect.gen(function*() {
      const { productId, planId } = yield* seedPlan({ trialDays: 7 })
      const filmId = yield* seedFilm(productId)
      const { account, client } = yield* viewer()
      const { subscription } = yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId }
      })
      assert.isTrue((yield* client.entitlements.film({ params: { filmId } })).allowed)
      const trialEnd = subscription.currentPeriodEnd!.epochMilliseconds
      const grace = Duration.toMillis(Duration.days(7))
      const entitlements = yield* Entitlements
      const cycle = yield* SchedulerCycle
      const userId = UserId.make(account.id)
      yield* Effect.gen(function*() {
        yield* TestClock.setTime(trialEnd + 1_000)
        // no card on file: the trial's charge fails, the subscription goes past due
        yield* cycle.run
        const [status] = yield* SqlClient.SqlClient.use((sql) =>
          sql<{ readonly status: string }>`SELECT status FROM billing.subscriptions WHERE id = ${subscription.id}`
        ).pipe(Effect.orDie)
        assert.strictEqual(status?.status, "past_due")
        const within = yield* entitlements.check(userId, filmId)
        assert.isTrue(within.allowed)
        assert.strictEqual(within.until?.epochMilliseconds, trialEnd + grace)
        yield* TestClock.setTime(trialEnd + grace)
        assert.isFalse((yield* entitlements.check(userId, filmId)).allowed)
      }).pipe(Effect.provide(TestClock.layer()))
      // the trial's access already ran through the grace: past due changes nothing about it
      assert.deepStrictEqual(yield* entitlementEvents(account.id), ["entitlement.granted"])
    }))

  it.effect("the film check answers alike on its hot route and on the HttpApi route; no token → 401", () =>
    Effect.gen(function*() {
      const { productId, planId } = yield* seedPlan()
      const filmId = yield* seedFilm(productId)
      const { client, token } = yield* viewer()
      yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      for (const id of [filmId, "film_unknown"]) {
        // the first check loads the answer through the HttpApi; the second is served from memory
        const first = yield* rawCheck(token, id)
        const hot = yield* rawCheck(token, id)
        const routed = yield* rawCheck(token, id, "?via=router")
        assert.strictEqual(hot.status, 200)
        assert.deepStrictEqual(first, routed)
        assert.deepStrictEqual(hot, routed)
      }
      const anonymous = yield* rawCheck("", filmId)
      assert.strictEqual(anonymous.status, 401)
      assert.strictEqual(anonymous.body._tag, "Unauthorized")
    }))

  it.effect("RPC through the typed client: CheckEntitlement, a batch in order, VerifyToken; a wrong service token fails", () =>
    Effect.gen(function*() {
      const { productId, planId } = yield* seedPlan()
      const filmId = yield* seedFilm(productId)
      const { account, client, token } = yield* viewer()
      yield* client.subscriptions.create({
        headers: { "idempotency-key": newKey() },
        payload: { planId, paymentMethod: "pm_card_visa" }
      })
      const url = `${serverUrl(yield* HttpServer.HttpServer)}/rpc`
      const userId = UserId.make(account.id)
      yield* Effect.gen(function*() {
        const rpc = yield* EntitlementsRpcClient
        const one = yield* rpc.CheckEntitlement({ userId, filmId })
        assert.deepStrictEqual([one.userId, one.allowed, one.productId], [userId, true, productId])
        const stranger = UserId.make(`usr_${randomUUID()}`)
        const checks = Array.from({ length: 300 }, (_, i) => ({ userId: i % 2 === 0 ? userId : stranger, filmId }))
        const answers = yield* rpc.CheckEntitlements({ checks })
        assert.deepStrictEqual(answers.map((a) => a.allowed), checks.map((c) => c.userId === userId))
        const viewerToken = yield* rpc.VerifyToken({ accessToken: token })
        assert.strictEqual(viewerToken.user.id, userId)
        const bad = yield* Effect.flip(rpc.VerifyToken({ accessToken: "nonsense" }))
        assert.strictEqual(bad._tag, "Unauthorized")
      }).pipe(Effect.provide(EntitlementsRpcClient.layer(url, Redacted.make(serviceToken))))
      const refused = yield* Effect.flip(
        EntitlementsRpcClient.use((rpc) => rpc.CheckEntitlement({ userId, filmId })).pipe(
          Effect.provide(EntitlementsRpcClient.layer(url, Redacted.make("wrong-token")))
        )
      )
      // refused at the HTTP level (401) before the RPC layer, so the call fails as a transport error carrying it
      assert.strictEqual(refused._tag, "RpcClientError")
      assert.include(JSON.stringify(refused), `"status":401`)
    }))
})
