// Access-token verification through GET /v1/me: only HS256 tokens signed with JWT_SECRET, from our issuer for
// our audience, inside their validity window and carrying every claim are accepted.
import { assert, layer } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { billingClient, BillingUnderTest, forgeToken, unsignedToken } from "./support.ts"

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
  it.effect("a well-formed token forged with the test secret is accepted (the forging is right)", () =>
    Effect.gen(function*() {
      const token = yield* forgeToken({ sub: "usr_ok", email: "ok@example.com", role: "admin" }, { nowSeconds: yield* nowSeconds })
      assert.deepStrictEqual(yield* me(token), { id: "usr_ok", email: "ok@example.com", role: "admin" })
    }))

  it.effect("alg none is rejected", () =>
    Effect.gen(function*() {
      const now = yield* nowSeconds
      yield* rejected(
        unsignedToken({ sub: "usr_x", email: "x@example.com", role: "admin", sid: "s", jti: "j", iss: "kassa-test", aud: "kassa-test-clients", iat: now, exp: now + 600 }),
        /malformed|algorithm/
      )
    }))

  it.effect("another algorithm (HS512 with the right secret) is rejected", () =>
    Effect.gen(function*() {
      yield* rejected(yield* forgeToken({}, { alg: "HS512", nowSeconds: yield* nowSeconds }), /algorithm not allowed/)
    }))

  it.effect("a token signed with another key is rejected", () =>
    Effect.gen(function*() {
      const token = yield* forgeToken({}, { key: "some-other-secret-that-is-long-enough!!", nowSeconds: yield* nowSeconds })
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
      yield* rejected(yield* forgeToken({ iat: now - 1200, nbf: now - 1200, exp: now - 300 }, { nowSeconds: now }), /expired/)
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
