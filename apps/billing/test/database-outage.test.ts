// Billing with its Postgres connection cut (a TCP proxy between the app and the real server, closed mid-test):
// writes answer 503 ServiceUnavailable promptly instead of hanging or failing with 500, an entitlement
// answered before the cut is still answered (200, same answer), one that was never asked is a prompt 503, and the
// app writes again once the connection is back. A database that accepts connections but never answers does not
// hold requests either: they answer 503 at the request deadline (REQUEST_TIMEOUT).
import { assert, layer } from "@effect/vitest"
import { BillingLive } from "@kassa/billing/main"
import type { BillingApi } from "@kassa/domain/apis"
import type { PlanId } from "@kassa/domain/ids"
import { layerFromUrl } from "@kassa/platform/db"
import { serverUrl } from "@kassa/platform/http"
import { makeTestDatabase, tcpProxy, testPlatform } from "@kassa/platform/testing"
import { Context, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { HttpServer } from "effect/http"
import type { HttpApiClient } from "effect/http-api"
import { newKey, seedPlan, viewer } from "./billing-harness.ts"
import { seedFilm } from "./entitlements-support.ts"
import { authTestConfig, billingClient, uniqueEmail } from "./support.ts"

class PostgresLink extends Context.Service<PostgresLink, {
  readonly cut: Effect.Effect<void>
  readonly stall: Effect.Effect<void>
  readonly restore: Effect.Effect<void>
}>()("test/PostgresLink") {}

/** A test database reached through a proxy the test can cut and restore. */
const ProxiedDatabase = Layer.unwrap(Effect.gen(function*() {
  const direct = yield* makeTestDatabase()
  const proxy = yield* tcpProxy(5432)
  const port = yield* proxy.start(0)
  const url = new URL(Redacted.value(direct))
  url.port = String(port)
  return Layer.merge(
    layerFromUrl(Redacted.make(url.toString())),
    Layer.succeed(
      PostgresLink,
      PostgresLink.of({ cut: proxy.cut, stall: proxy.stall, restore: Effect.asVoid(proxy.start(port)) })
    )
  )
}))

// as TestPlatform, with the database behind the proxy; payments is not running (trial plans never charge)
const Platform = testPlatform(ProxiedDatabase, {
  logLevel: "Error",
  config: { PAYMENTS_RPC_URL: "http://127.0.0.1:1/rpc", REQUEST_TIMEOUT: "1 second" }
})

const BillingOverProxy = BillingLive.pipe(Layer.provide(authTestConfig()), Layer.provideMerge(Platform))

/** Asks again, 100 ms apart for up to 5 s, while `request` answers 503 ServiceUnavailable. */
const untilAvailable = <A, E extends { readonly _tag: string }, R>(request: Effect.Effect<A, E, R>) =>
  request.pipe(
    Effect.retry({ schedule: Schedule.spaced("100 millis"), while: (e) => e._tag === "ServiceUnavailable", times: 50 })
  )

/**
 * A read served from memory during the outage. Memory is trusted only while the revocation and entitlement feeds'
 * heartbeats come back (1.5 s); on a loaded machine one can be late, and then the read rightly goes to the database
 * (a 503) until the next heartbeat: ask again for a few seconds.
 */
const fromMemory = untilAvailable

/** Subscribes to a trial plan (no card: payments is not running), under a new Idempotency-Key. */
const subscribe = (client: HttpApiClient.ForApi<typeof BillingApi>, planId: PlanId) =>
  client.subscriptions.create({ headers: { "idempotency-key": newKey() }, payload: { planId } })

/** How long a request may take to fail while the database is away. */
const bound = Duration.seconds(3)

/** The request's failure and how long it took; dies if it succeeded. */
const failsPromptly = <A, E extends { readonly _tag: string }, R>(request: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const [took, error] = yield* Effect.timed(Effect.flip(request.pipe(Effect.timeout("10 seconds"))))
    assert.isTrue(Duration.isLessThan(took, bound), `answered after ${Duration.format(took)}`)
    return error
  })

/**
 * Before the outage: a viewer subscribed to a trial plan, whose entitlement to `cachedFilm` has been answered (and
 * so cached); `askedLater`, a film of the same product never asked about; `later`, another trial plan.
 */
const beforeOutage = (label: string) =>
  Effect.gen(function*() {
    const plan = yield* seedPlan({ trialDays: 7 })
    const later = yield* seedPlan({ trialDays: 7 })
    const cachedFilm = yield* seedFilm(plan.productId)
    const askedLater = yield* seedFilm(plan.productId)
    const { client, token } = yield* viewer(label)
    const { subscription } = yield* subscribe(client, plan.planId)
    const before = yield* client.entitlements.film({ params: { filmId: cachedFilm } })
    return { plan, later, cachedFilm, askedLater, client, token, subscription, before }
  })

const rawStatus = (
  path: string,
  init: {
    readonly method: string
    readonly token: string
    readonly body?: unknown
    readonly headers?: Record<string, string>
  }
) =>
  Effect.gen(function*() {
    const url = serverUrl(yield* HttpServer.HttpServer)
    return yield* Effect.promise(async () => {
      const response = await fetch(`${url}${path}`, {
        method: init.method,
        headers: { authorization: `Bearer ${init.token}`, "content-type": "application/json", ...init.headers },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) })
      })
      return {
        status: response.status,
        retryAfter: response.headers.get("retry-after"),
        body: await response.json() as { readonly _tag?: string }
      }
    })
  })

layer(BillingOverProxy, { excludeTestServices: true, timeout: 60_000 })("billing with its database cut", (it) => {
  it.effect("writes answer 503 promptly; a cached entitlement still answers 200; writes work again once it is back", () =>
    Effect.gen(function*() {
      const link = yield* PostgresLink
      const { later, cachedFilm, askedLater, client, token, subscription, before } = yield* beforeOutage("outage")
      assert.isTrue(before.allowed)
      const routed = yield* rawStatus(`/v1/entitlements/films/${cachedFilm}?via=router`, { method: "GET", token })
      assert.strictEqual(routed.status, 200)

      yield* link.cut

      // writes: subscribe, cancel, register
      const subscribed = yield* failsPromptly(subscribe(client, later.planId))
      assert.strictEqual(subscribed._tag, "ServiceUnavailable")
      const cancel = yield* failsPromptly(
        client.subscriptions.cancel({ params: { id: subscription.id }, payload: { atPeriodEnd: false } })
      )
      assert.strictEqual(cancel._tag, "ServiceUnavailable")
      const anonymous = yield* billingClient()
      const register = yield* failsPromptly(
        anonymous.auth.register({ payload: { email: uniqueEmail("outage"), password: "correct horse battery staple" } })
      )
      assert.strictEqual(register._tag, "ServiceUnavailable")
      const raw = yield* rawStatus("/v1/subscriptions", {
        method: "POST",
        token,
        headers: { "idempotency-key": newKey() },
        body: { planId: later.planId }
      })
      // an outage tells the client when to come back
      assert.deepStrictEqual([raw.status, raw.body._tag, raw.retryAfter], [503, "ServiceUnavailable", "1"])

      // reads of entitlements: the one answered before the cut, on the fast route and through the router
      assert.deepStrictEqual(yield* fromMemory(client.entitlements.film({ params: { filmId: cachedFilm } })), before)
      const routedAfter = yield* rawStatus(`/v1/entitlements/films/${cachedFilm}?via=router`, { method: "GET", token })
        .pipe(Effect.repeat({ schedule: Schedule.spaced("100 millis"), while: (r) => r.status === 503, times: 50 }))
      assert.deepStrictEqual(routedAfter, routed)
      // never asked before: nothing to fall back on
      const unknown = yield* failsPromptly(client.entitlements.film({ params: { filmId: askedLater } }))
      assert.strictEqual(unknown._tag, "ServiceUnavailable")

      // back: the pool reconnects and the write goes through
      yield* link.restore
      const created = yield* untilAvailable(subscribe(client, later.planId))
      assert.strictEqual(created.subscription.status, "trialing")
    }).pipe(Effect.onError(() => PostgresLink.use((link) => link.restore))))

  it.effect("a database that never answers: requests get 503 at the deadline, cached entitlements still 200", () =>
    Effect.gen(function*() {
      const link = yield* PostgresLink
      const { plan, later, cachedFilm, askedLater, client, before } = yield* beforeOutage("stall")

      yield* link.stall

      const subscribed = yield* failsPromptly(subscribe(client, plan.planId))
      assert.strictEqual(subscribed._tag, "ServiceUnavailable")
      const list = yield* failsPromptly(client.invoices.list({ query: {} }))
      assert.strictEqual(list._tag, "ServiceUnavailable")
      assert.deepStrictEqual(yield* fromMemory(client.entitlements.film({ params: { filmId: cachedFilm } })), before)
      const unknown = yield* failsPromptly(client.entitlements.film({ params: { filmId: askedLater } }))
      assert.strictEqual(unknown._tag, "ServiceUnavailable")

      // the silent connections are dropped; the pool opens new ones
      yield* link.cut
      yield* link.restore
      const created = yield* untilAvailable(subscribe(client, later.planId))
      assert.strictEqual(created.subscription.status, "trialing")
    }))
})
