// Accounts and tokens end to end through clients derived from BillingApi: registration, login, /v1/me,
// refresh rotation and reuse detection, the racing-refresh grace and logout (limits: auth-limits.test.ts).
import { assert, layer } from "@effect/vitest"
import { TokenVerifier } from "@kassa/platform/auth"
import { serverUrl } from "@kassa/platform/http"
import { testRedis } from "@kassa/platform/testing"
import { Context, Effect, Exit, Layer, Schedule } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { authTestConfig, billingClient, BillingUnderTest, signUp, uniqueAddress, uniqueEmail } from "./support.ts"

const password = "correct horse battery staple"

/** Moves a refresh token's rotation this far into the past, as if that much time had gone by since. */
const ageRotations = (seconds: number) =>
  SqlClient.SqlClient.use((
    sql
  ) => sql`UPDATE billing.refresh_tokens SET rotated_at = rotated_at - make_interval(secs => ${seconds})
      WHERE rotated_at IS NOT NULL`)

/** A raw JSON POST, for input the derived client refuses to encode. */
const postJson = (path: string, body: unknown, address = uniqueAddress()) =>
  Effect.gen(function*() {
    const url = serverUrl(yield* HttpServer.HttpServer) + path
    return yield* Effect.promise(async () => {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": address },
        body: JSON.stringify(body)
      })
      return { status: response.status, body: await response.json() as unknown }
    })
  })

const me = (accessToken: string) => Effect.flatMap(billingClient({ bearer: accessToken }), (client) => client.me.get())

layer(BillingUnderTest(), { excludeTestServices: true, timeout: 60_000 })("auth", (it) => {
  it.effect("register answers 201 {id,email} with the email trimmed and lower-cased", () =>
    Effect.gen(function*() {
      const email = uniqueEmail("Mixed")
      // the derived client validates before sending, so the unnormalised address goes out raw
      const response = yield* postJson("/v1/auth/register", { email: `  ${email.toUpperCase()} `, password })
      assert.strictEqual(response.status, 201)
      const account = response.body as { id: string; email: string }
      assert.strictEqual(account.email, email.toLowerCase())
      assert.match(account.id, /^usr_/)
      // the normalised address is the account
      const client = yield* billingClient()
      const tokens = yield* client.auth.token({ payload: { email: email.toLowerCase(), password } })
      assert.deepStrictEqual(yield* me(tokens.accessToken), {
        id: account.id,
        email: email.toLowerCase(),
        role: "user"
      })
      const spelled = yield* postJson("/v1/auth/token", { email: ` ${email.toUpperCase()}`, password }, uniqueAddress())
      assert.strictEqual(spelled.status, 200)
    }))

  it.effect("register with a taken email answers 409 EmailTaken, in any spelling", () =>
    Effect.gen(function*() {
      const client = yield* billingClient()
      const email = uniqueEmail()
      yield* client.auth.register({ payload: { email, password } })
      const again = yield* client.auth.register({
        payload: { email: email.toUpperCase(), password: "another password" }
      })
        .pipe(Effect.flip)
      assert.strictEqual(again._tag, "EmailTaken")
    }))

  it.effect("login answers 200 with a Bearer pair; a wrong password or unknown email answers 401", () =>
    Effect.gen(function*() {
      const { tokens, email } = yield* signUp()
      assert.strictEqual(tokens.tokenType, "Bearer")
      assert.strictEqual(tokens.expiresIn, 900)
      assert.isAbove(tokens.refreshToken.length, 30)
      assert.strictEqual(tokens.accessToken.split(".").length, 3)
      const client = yield* billingClient()
      const wrong = yield* client.auth.token({ payload: { email, password: "not the password" } }).pipe(Effect.flip)
      assert.strictEqual(wrong._tag, "Unauthorized")
      const unknown = yield* client.auth.token({ payload: { email: uniqueEmail(), password } }).pipe(Effect.flip)
      assert.strictEqual(unknown._tag, "Unauthorized")
      // the same answer either way: the response does not tell which accounts exist
      assert.strictEqual(wrong.message, unknown.message)
    }))

  it.effect("GET /v1/me answers {id,email,role} with a token and 401 without one", () =>
    Effect.gen(function*() {
      const { account, email, tokens } = yield* signUp()
      assert.deepStrictEqual(yield* me(tokens.accessToken), { id: account.id, email, role: "user" })
      const anonymous = yield* billingClient()
      const response = yield* anonymous.me.get({ responseMode: "response-only" })
      assert.strictEqual(response.status, 401)
      const error = yield* anonymous.me.get().pipe(Effect.flip)
      assert.strictEqual(error._tag, "Unauthorized")
      const garbage = yield* me("not-a-jwt").pipe(Effect.flip)
      assert.strictEqual(garbage._tag, "Unauthorized")
    }))

  it.effect("GET /v1/me answers alike on its hot route and on the HttpApi route (any other URL, e.g. a query)", () =>
    Effect.gen(function*() {
      const { tokens } = yield* signUp()
      const base = serverUrl(yield* HttpServer.HttpServer)
      const get = (url: string, authorization?: string) =>
        Effect.promise(async () => {
          const response = await fetch(url, authorization === undefined ? {} : { headers: { authorization } })
          return { status: response.status, body: await response.json() as unknown }
        })
      for (const authorization of [
        `Bearer ${tokens.accessToken}`,
        `bearer   ${tokens.accessToken}`,
        undefined,
        "Bearer x.y.z",
        "Basic abc"
      ]) {
        // the first use of a token is verified by the HttpApi; the second is answered from the verifier's memory
        const first = yield* get(`${base}/v1/me`, authorization)
        const hot = yield* get(`${base}/v1/me`, authorization)
        const api = yield* get(`${base}/v1/me?via=httpapi`, authorization)
        assert.deepStrictEqual(first, api)
        assert.deepStrictEqual(hot, api)
      }
    }))

  it.effect("refresh rotates: each use returns a new pair and the new refresh token works", () =>
    Effect.gen(function*() {
      const { account, tokens } = yield* signUp()
      const client = yield* billingClient()
      const first = yield* client.auth.refresh({ payload: { refreshToken: tokens.refreshToken } })
      assert.notStrictEqual(first.refreshToken, tokens.refreshToken)
      assert.notStrictEqual(first.accessToken, tokens.accessToken)
      const second = yield* client.auth.refresh({ payload: { refreshToken: first.refreshToken } })
      assert.notStrictEqual(second.refreshToken, first.refreshToken)
      assert.strictEqual((yield* me(second.accessToken)).id, account.id)
      const unknown = yield* client.auth.refresh({ payload: { refreshToken: "never-issued" } }).pipe(Effect.flip)
      assert.strictEqual(unknown._tag, "Unauthorized")
    }))

  it.effect("reusing a rotated refresh token revokes the whole family: 401, and the newest descendant is dead", () =>
    Effect.gen(function*() {
      const { tokens } = yield* signUp()
      const client = yield* billingClient()
      const child = yield* client.auth.refresh({ payload: { refreshToken: tokens.refreshToken } })
      const grandchild = yield* client.auth.refresh({ payload: { refreshToken: child.refreshToken } })
      yield* me(grandchild.accessToken) // verified and cached before the revocation
      yield* ageRotations(6) // past the 5 s grace for racing refreshes
      const reuse = yield* client.auth.refresh({ payload: { refreshToken: tokens.refreshToken } }).pipe(Effect.flip)
      assert.strictEqual(reuse._tag, "Unauthorized")
      assert.match(reuse.message, /already used/)
      const newest = yield* client.auth.refresh({ payload: { refreshToken: grandchild.refreshToken } }).pipe(
        Effect.flip
      )
      assert.strictEqual(newest._tag, "Unauthorized")
      // and so is every access token the family issued
      assert.strictEqual((yield* me(grandchild.accessToken).pipe(Effect.flip))._tag, "Unauthorized")
      assert.strictEqual((yield* me(child.accessToken).pipe(Effect.flip))._tag, "Unauthorized")
    }))

  it.effect("two refreshes racing with the same token both succeed and the user stays logged in", () =>
    Effect.gen(function*() {
      const { account, tokens } = yield* signUp()
      const client = yield* billingClient()
      const [a, b] = yield* Effect.all([
        client.auth.refresh({ payload: { refreshToken: tokens.refreshToken } }),
        client.auth.refresh({ payload: { refreshToken: tokens.refreshToken } })
      ], { concurrency: 2 })
      for (const pair of [a, b]) {
        assert.strictEqual((yield* me(pair.accessToken)).id, account.id)
        const next = yield* client.auth.refresh({ payload: { refreshToken: pair.refreshToken } })
        assert.strictEqual((yield* me(next.accessToken)).id, account.id)
      }
      // a third use inside the grace period is still the same race, not a replay
      const late = yield* client.auth.refresh({ payload: { refreshToken: tokens.refreshToken } })
      assert.strictEqual((yield* me(late.accessToken)).id, account.id)
    }))

  it.effect("logout answers 204; the refresh token then answers 401 and the access token is rejected", () =>
    Effect.gen(function*() {
      const { tokens } = yield* signUp()
      const client = yield* billingClient()
      yield* me(tokens.accessToken) // cached as verified
      const response = yield* client.auth.logout({
        payload: { refreshToken: tokens.refreshToken },
        responseMode: "response-only"
      })
      assert.strictEqual(response.status, 204)
      const refresh = yield* client.auth.refresh({ payload: { refreshToken: tokens.refreshToken } }).pipe(Effect.flip)
      assert.strictEqual(refresh._tag, "Unauthorized")
      const after = yield* me(tokens.accessToken).pipe(Effect.flip)
      assert.strictEqual(after._tag, "Unauthorized")
      assert.match(after.message, /revoked/)
      // logging out twice, or with a token never issued, answers the same
      yield* client.auth.logout({ payload: { refreshToken: tokens.refreshToken } })
      yield* client.auth.logout({ payload: { refreshToken: "never-issued" } })
    }))

  it.effect("a logout reaches other verifiers: one that cached the token and one started afterwards", () =>
    Effect.gen(function*() {
      const { tokens } = yield* signUp()
      // a second replica's verifier: same secret and Redis, its own in-process cache
      // fresh: the app's verifier is memoised in the test's context
      const replica = () =>
        Layer.fresh(TokenVerifier.layer).pipe(
          Layer.provide(testRedis()),
          Layer.provide(authTestConfig())
        )
      const other = yield* Layer.build(replica()).pipe(Effect.map(Context.get(TokenVerifier)))
      // wait until its revocation feed is live, so the verification below is cached
      yield* other.verify(tokens.accessToken).pipe(Effect.repeat({ times: 3, schedule: Schedule.spaced("500 millis") }))
      const client = yield* billingClient()
      yield* client.auth.logout({ payload: { refreshToken: tokens.refreshToken } })
      const rejected = yield* other.verify(tokens.accessToken).pipe(
        Effect.flip,
        Effect.retry({ times: 20, schedule: Schedule.spaced("50 millis") })
      )
      assert.strictEqual(rejected._tag, "Unauthorized")
      // a verifier that never saw the announcement finds the marker in Redis
      const late = yield* Layer.build(replica()).pipe(Effect.map(Context.get(TokenVerifier)))
      const exit = yield* Effect.exit(late.verify(tokens.accessToken))
      assert.isTrue(Exit.isFailure(exit))
    }))
})
