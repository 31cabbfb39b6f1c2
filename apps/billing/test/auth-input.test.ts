// Bad input to the auth routes: raw HTTP, since the derived client refuses to send most of it. Every case is a
// 4xx whose body names the problem; none is a 500.
import { assert, layer } from "@effect/vitest"
import { serverUrl } from "@kassa/platform/http"
import { Effect } from "effect"
import { HttpServer } from "effect/http"
import { billingClient, BillingUnderTest, uniqueAddress, uniqueEmail } from "./support.ts"

interface Answer {
  readonly status: number
  readonly body: { readonly _tag?: string; readonly message?: string; readonly field?: string } | null
}

const send = (path: string, body: string | Uint8Array, contentType = "application/json") =>
  Effect.gen(function*() {
    const url = serverUrl(yield* HttpServer.HttpServer) + path
    return yield* Effect.promise(async (): Promise<Answer> => {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": contentType, "x-forwarded-for": uniqueAddress() },
        body
      })
      const text = await response.text()
      return { status: response.status, body: text === "" ? null : JSON.parse(text) }
    })
  })

const post = (path: string, body: unknown) => send(path, JSON.stringify(body))

/** A 400 BadRequest naming `field`. */
const badField = (answer: Answer, field: string) => {
  assert.strictEqual(answer.status, 400)
  assert.strictEqual(answer.body?._tag, "BadRequest")
  assert.strictEqual(answer.body?.field, field)
  assert.include(answer.body?.message ?? "", field)
}

const password = "a perfectly fine password"

layer(BillingUnderTest(), { excludeTestServices: true, timeout: 30_000 })("auth input", (it) => {
  it.effect("a malformed email answers 400 naming the field and the rule", () =>
    Effect.gen(function*() {
      for (const email of ["not-an-email", "two@@example.com", "spaces in@example.com", "nodot@localhost", ""]) {
        const answer = yield* post("/v1/auth/register", { email, password })
        badField(answer, "email")
      }
      const answer = yield* post("/v1/auth/register", { email: "nope", password })
      assert.include(answer.body?.message ?? "", "name@example.com")
      badField(yield* post("/v1/auth/register", { email: `${"a".repeat(250)}@example.com`, password }), "email")
    }))

  it.effect("a password shorter than 8 or longer than 256 characters answers 400 naming the field", () =>
    Effect.gen(function*() {
      const short = yield* post("/v1/auth/register", { email: uniqueEmail(), password: "1234567" })
      badField(short, "password")
      assert.include(short.body?.message ?? "", "at least 8")
      const long = yield* post("/v1/auth/register", { email: uniqueEmail(), password: "x".repeat(257) })
      badField(long, "password")
      assert.include(long.body?.message ?? "", "at most 256")
      // the bounds themselves are accepted
      assert.strictEqual((yield* post("/v1/auth/register", { email: uniqueEmail(), password: "12345678" })).status, 201)
      assert.strictEqual(
        (yield* post("/v1/auth/register", { email: uniqueEmail(), password: "y".repeat(256) })).status,
        201
      )
    }))

  it.effect("wrong types and missing fields answer 400 naming the field", () =>
    Effect.gen(function*() {
      badField(yield* post("/v1/auth/register", { email: 42, password }), "email")
      badField(yield* post("/v1/auth/register", { email: uniqueEmail(), password: ["x"] }), "password")
      badField(yield* post("/v1/auth/register", { email: uniqueEmail() }), "password")
      badField(yield* post("/v1/auth/token", { password }), "email")
      badField(yield* post("/v1/auth/refresh", { refreshToken: 42 }), "refreshToken")
      badField(yield* post("/v1/auth/refresh", { refreshToken: "" }), "refreshToken")
      badField(yield* post("/v1/auth/logout", {}), "refreshToken")
      for (const body of [null, [], "a string", 7]) {
        const answer = yield* post("/v1/auth/token", body)
        assert.strictEqual(answer.status, 400)
        assert.strictEqual(answer.body?._tag, "BadRequest")
      }
    }))

  it.effect("a body that is not JSON answers 400", () =>
    Effect.gen(function*() {
      const answer = yield* send("/v1/auth/token", "{\"email\": ")
      assert.strictEqual(answer.status, 400)
      assert.strictEqual(answer.body?._tag, "BadRequest")
    }))

  it.effect("a 10 MB body answers 413 before it is read", () =>
    Effect.gen(function*() {
      const huge = JSON.stringify({ email: uniqueEmail(), password: "p".repeat(10 * 1024 * 1024) })
      for (const path of ["/v1/auth/register", "/v1/auth/token", "/v1/auth/refresh", "/v1/auth/logout"]) {
        const answer = yield* send(path, huge)
        assert.strictEqual(answer.status, 413)
        assert.strictEqual(answer.body?._tag, "PayloadTooLarge")
      }
    }))

  it.effect("unicode emails and passwords work end to end", () =>
    Effect.gen(function*() {
      const email = `пользователь-${uniqueEmail().split("@")[0]}@пример.рф`
      const secret = "пароль 密码 🔑 café"
      const created = yield* post("/v1/auth/register", { email: email.toUpperCase(), password: secret })
      assert.strictEqual(created.status, 201)
      const client = yield* billingClient()
      const tokens = yield* client.auth.token({ payload: { email, password: secret } })
      // the same password typed with a decomposed "é" (NFD) is the same password
      const again = yield* client.auth.token({ payload: { email, password: secret.normalize("NFD") } })
      assert.strictEqual(tokens.tokenType, again.tokenType)
    }))

  it.effect("SQL-looking input is data: rejected by the schema or stored and compared verbatim", () =>
    Effect.gen(function*() {
      badField(
        yield* post("/v1/auth/register", { email: "x'; DROP TABLE billing.users; --@example.com", password }),
        "email"
      )
      const email = `o'brien+${uniqueEmail()}`
      const sqlish = "' OR '1'='1' --"
      assert.strictEqual((yield* post("/v1/auth/register", { email, password: sqlish })).status, 201)
      const client = yield* billingClient()
      const wrong = yield* client.auth.token({ payload: { email, password: "' OR 1=1 --" } }).pipe(Effect.flip)
      assert.strictEqual(wrong._tag, "Unauthorized")
      assert.strictEqual((yield* client.auth.token({ payload: { email, password: sqlish } })).tokenType, "Bearer")
      const refresh = yield* client.auth.refresh({ payload: { refreshToken: "' OR 1=1; --" } }).pipe(Effect.flip)
      assert.strictEqual(refresh._tag, "Unauthorized")
    }))
})
