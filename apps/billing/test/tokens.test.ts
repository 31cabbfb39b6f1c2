// Access-token verification through GET /v1/me: only HS256 tokens signed with JWT_SECRET, from our issuer for
// our audience, inside their validity window and carrying every claim are accepted.
import { assert, layer } from "@effect/vitest"
import { serverUrl } from "@kassa/platform/http"
import { randomUUID } from "node:crypto"
import { Clock, Effect } from "effect"
import { HttpServer } from "effect/http"
import { billingClient, BillingUnderTest, forgeToken, signUp, unsignedToken } from "./support.ts"

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

const me = (accessToken: string) => Effect.flatMap(billingClient({ bearer: accessToken }), (client) => client.me.get())

/** Asserts a 401 whose message matches. */
const rejected = (accessToken: string, message: RegExp) =>
  Effect.gen(function*() {
    const error = yield* me(accessToken).pipe(Effect.flip)
    assert.strictEqual(error._tag, "Unauthorized")
    assert.match(error.message, message)
  })

layer(BillingUnderTest(), { excludeTestServices: true, timeout: 30_000 })("access tokens", (it) => {
  it.effect("a well-formed token forged with the test secret for a real account is accepted (the forging is right)", () =>
    Effect.gen(function*() {
      const { account, email } = yield* signUp("forged")
      const token = yield* forgeToken({ sub: account.id, email, role: "admin" }, { nowSeconds: yield* nowSeconds })
      assert.deepStrictEqual(yield* me(token), { id: account.id, email, role: "admin" })
    }))

  it.effect("a token for an account that does not exist is a 401 on every route, cached or not, HTTP or RPC", () =>
    Effect.gen(function*() {
      const token = yield* forgeToken({ sub: `usr_${randomUUID()}`, role: "admin" }, { nowSeconds: yield* nowSeconds })
      const base = serverUrl(yield* HttpServer.HttpServer)
      const call = (method: string, path: string, body?: unknown) =>
        Effect.promise(async () => {
          const response = await fetch(`${base}${path}`, {
            method,
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": "k1" },
            ...(body === undefined ? {} : { body: JSON.stringify(body) })
          })
          return [response.status, (await response.json() as { message?: string }).message]
        })
      const routes = [
        ["GET", "/v1/me"],
        ["GET", "/v1/me"], // the hot route, had the first one been accepted
        ["GET", "/v1/me?via=httpapi"],
        ["GET", "/v1/me/time-zone"],
        ["POST", "/v1/payment-methods", { paymentMethod: "pm_card_visa" }],
        ["POST", "/v1/subscriptions", { planId: "plan_any" }],
        ["GET", "/v1/subscriptions"],
        ["GET", "/v1/statement?from=2026-01-01&to=2026-01-31"],
        ["GET", "/v1/entitlements/films/film_any"],
        ["GET", "/admin/v1/invoices"]
      ] as const
      for (const [method, path, body] of routes) {
        assert.deepStrictEqual(
          yield* call(method, path, body),
          [401, "the token's account does not exist"],
          `${method} ${path}`
        )
      }
    }))

  it.effect("alg none is rejected", () =>
    Effect.gen(function*() {
      const now = yield* nowSeconds
      yield* rejected(
        unsignedToken({
          sub: "usr_x",
          email: "x@example.com",
          role: "admin",
          sid: "s",
          jti: "j",
          iss: "kassa-test",
          aud: "kassa-test-clients",
          iat: now,
          exp: now + 600
        }),
        /malformed|algorithm/
      )
    }))

  it.effect("another algorithm (HS512 with the right secret) is rejected", () =>
    Effect.gen(function*() {
      yield* rejected(yield* forgeToken({}, { alg: "HS512", nowSeconds: yield* nowSeconds }), /algorithm not allowed/)
    }))

  it.effect("a token signed with another key is rejected", () =>
    Effect.gen(function*() {
      const token = yield* forgeToken(
        {},
        { key: "some-other-secret-that-is-long-enough!!", nowSeconds: yield* nowSeconds }
      )
      yield* rejected(token, /signature/)
    }))

  it.effect("a wrong issuer is rejected", () =>
    Effect.gen(function*() {
      yield* rejected(yield* forgeToken({ iss: "someone-else" }, { nowSeconds: yield* nowSeconds }), /iss/)
    }))

  it.effect("a wrong audience is rejected", () =>
    Effect.gen(function*() {
      yield* rejected(yield* forgeToken({ aud: "another-service" }, { nowSeconds: yield* nowSeconds }), /aud/)
    }))

  it.effect("an expired token is rejected", () =>
    Effect.gen(function*() {
      const now = yield* nowSeconds
      yield* rejected(
        yield* forgeToken({ iat: now - 1200, nbf: now - 1200, exp: now - 300 }, { nowSeconds: now }),
        /expired/
      )
    }))

  it.effect("a token that is not yet valid (nbf in the future) is rejected", () =>
    Effect.gen(function*() {
      const now = yield* nowSeconds
      yield* rejected(yield* forgeToken({ nbf: now + 300 }, { nowSeconds: now }), /not yet valid/)
    }))

  it.effect("a token without jti, sub, sid or a known role is rejected", () =>
    Effect.gen(function*() {
      const now = yield* nowSeconds
      yield* rejected(yield* forgeToken({ jti: undefined }, { nowSeconds: now }), /jti/)
      yield* rejected(yield* forgeToken({ sub: undefined }, { nowSeconds: now }), /sub/)
      yield* rejected(yield* forgeToken({ sid: undefined }, { nowSeconds: now }), /claims are invalid/)
      yield* rejected(yield* forgeToken({ role: "superuser" }, { nowSeconds: now }), /claims are invalid/)
    }))

  it.effect("an empty or non-bearer Authorization header answers 401", () =>
    Effect.gen(function*() {
      const client = yield* billingClient({ bearer: "" })
      const response = yield* client.me.get({ responseMode: "response-only" })
      assert.strictEqual(response.status, 401)
    }))
})
