// Every /admin/v1 endpoint of every app requires the admin role. The inventory walks the whole API
// definitions, so an admin group added without AdminAuthentication fails here before it ships; the HTTP
// check runs a real admin route: 401 without a token, 403 with a user's, 200 with an admin's.
import { randomBytes } from "node:crypto"
import { CatalogLive } from "@kassa/catalog/main"
import { BillingApi, CatalogApi, PaymentsApi } from "@kassa/domain/apis"
import { ADMIN_PREFIX, AdminAuthentication, adminGroup } from "@kassa/domain/auth"
import { serverUrl } from "@kassa/platform/http"
import { apiClient, signedToken, TestPlatform } from "@kassa/platform/testing"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Schema } from "effect"
import { HttpServer } from "effect/http"
import { HttpApi, HttpApiEndpoint, type HttpApiGroup } from "effect/http-api"

/** `METHOD path` of every endpoint under /admin/v1 that lacks the admin middleware. */
const unguardedAdminEndpoints = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>
): { readonly admin: number; readonly unguarded: ReadonlyArray<string> } => {
  let admin = 0
  const unguarded: Array<string> = []
  HttpApi.reflect(api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, middleware }) => {
      if (endpoint.path !== ADMIN_PREFIX && !endpoint.path.startsWith(`${ADMIN_PREFIX}/`)) return
      admin++
      if (![...middleware].some((m) => m.key === AdminAuthentication.key)) {
        unguarded.push(`${endpoint.method} ${endpoint.path}`)
      }
    }
  })
  return { admin, unguarded }
}

describe("admin guard inventory", () => {
  const apis = {
    billing: () => unguardedAdminEndpoints(BillingApi),
    catalog: () => unguardedAdminEndpoints(CatalogApi),
    payments: () => unguardedAdminEndpoints(PaymentsApi)
  }
  for (const [name, inventory] of Object.entries(apis)) {
    it(`every ${ADMIN_PREFIX} endpoint of the ${name} API requires the admin role`, () => {
      assert.deepStrictEqual(inventory().unguarded, [])
    })
  }

  it("the inventory covers the catalog's admin routes (it is not vacuous)", () => {
    assert.isAtLeast(unguardedAdminEndpoints(CatalogApi).admin, 10)
  })

  it("the inventory catches a group that forgot the guard, and adminGroup never forgets it", () => {
    const forgot = HttpApi.make("forgot").add(
      adminGroup("guarded", HttpApiEndpoint.get("list", "/things", { success: Schema.String })),
      // the middleware only applies to endpoints added before it: this one slips through
      adminGroup("late", HttpApiEndpoint.get("a", "/a", { success: Schema.String }))
        .add(HttpApiEndpoint.get("b", `${ADMIN_PREFIX}/b`, { success: Schema.String }))
    )
    assert.deepStrictEqual(unguardedAdminEndpoints(forgot), { admin: 3, unguarded: [`GET ${ADMIN_PREFIX}/b`] })
  })
})

const jwtSecret = randomBytes(32).toString("base64url")

const token = (role: "user" | "admin") =>
  signedToken(jwtSecret, { sub: `usr_${role}`, email: `${role}@example.com`, role })

const Catalog = CatalogLive.pipe(
  Layer.provide(ConfigProvider.layerAdd(ConfigProvider.fromUnknown({ JWT_SECRET: jwtSecret }), { asPrimary: true })),
  Layer.provideMerge(TestPlatform)
)

layer(Catalog, { excludeTestServices: true, timeout: 30_000 })(
  "an admin route over HTTP (catalog /admin/v1/films)",
  (it) => {
    it.effect("answers 401 without a token, 403 with a user token and 200 with an admin token", () =>
      Effect.gen(function*() {
        const anonymous = yield* apiClient(CatalogApi)
        const none = yield* anonymous.films.list({ query: {}, responseMode: "response-only" })
        assert.strictEqual(none.status, 401)
        assert.strictEqual((yield* anonymous.films.list({ query: {} }).pipe(Effect.flip))._tag, "Unauthorized")

        const user = yield* apiClient(CatalogApi, { bearer: yield* token("user") })
        const forbidden = yield* user.films.list({ query: {}, responseMode: "response-only" })
        assert.strictEqual(forbidden.status, 403)
        assert.strictEqual((yield* user.films.list({ query: {} }).pipe(Effect.flip))._tag, "Forbidden")

        const admin = yield* apiClient(CatalogApi, { bearer: yield* token("admin") })
        const page = yield* admin.films.list({ query: {} })
        assert.isArray(page.items)
      }))

    it.effect("a missing token is reported before bad input (401, not 400)", () =>
      Effect.gen(function*() {
        const base = serverUrl(yield* HttpServer.HttpServer)
        const status = (init?: RequestInit) =>
          Effect.promise(() => fetch(`${base}${ADMIN_PREFIX}/films?limit=lots`, init).then((r) => r.status))
        assert.strictEqual(yield* status(), 401)
        assert.strictEqual(yield* status({ headers: { authorization: `Bearer ${yield* token("admin")}` } }), 400)
      }))
  }
)
