// Billing under test: the real app on an ephemeral port over TestPlatform (own Postgres database, real Redis
// and RabbitMQ), with a known JWT secret so tests can forge tokens, and client addresses taken from
// X-Forwarded-For so each test's failed logins are counted apart from other tests'.
import { randomBytes, randomUUID } from "node:crypto"
import { BillingLive } from "@kassa/billing/main"
import { CatalogMigrations } from "@kassa/catalog/migrations"
import { BillingApi } from "@kassa/domain/apis"
import { apiClient, TestPlatform } from "@kassa/platform/testing"
import { ConfigProvider, Effect, Layer } from "effect"
import { SignJWT } from "jose"

export const jwtSecret = randomBytes(32).toString("base64url")
export const issuer = "kassa-test"
export const audience = "kassa-test-clients"

export const authTestConfig = (extra: Record<string, string> = {}) =>
  ConfigProvider.layerAdd(
    ConfigProvider.fromUnknown({
      JWT_SECRET: jwtSecret,
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: audience,
      TRUST_PROXY: "true",
      ...extra
    }),
    { asPrimary: true }
  )

/** The catalog's (empty) schema beside billing's, as in one database under `npm start`: the ETL finds nothing to copy. */
export const CatalogSchema = CatalogMigrations

export const BillingUnderTest = (extra: Record<string, string> = {}) =>
  BillingLive.pipe(Layer.provide(authTestConfig(extra)), Layer.provide(CatalogSchema), Layer.provideMerge(TestPlatform))

export const uniqueEmail = (label = "user") => `${label}-${randomUUID()}@example.com`
export const uniqueAddress = () => `10.${[...randomBytes(3)].join(".")}`

/** A client derived from BillingApi, from its own client address (X-Forwarded-For), optionally with a token. */
export const billingClient = (options: { readonly bearer?: string; readonly address?: string } = {}) =>
  apiClient(BillingApi, {
    headers: { "x-forwarded-for": options.address ?? uniqueAddress() },
    ...(options.bearer === undefined ? {} : { bearer: options.bearer })
  })

/** Registers a fresh user and logs in. */
export const signUp = (label = "user") =>
  Effect.gen(function*() {
    const client = yield* billingClient()
    const email = uniqueEmail(label)
    const password = "correct horse battery staple"
    const account = yield* client.auth.register({ payload: { email, password } })
    const tokens = yield* client.auth.token({ payload: { email, password } })
    return { account, email, password, tokens }
  })

/** An HS256 token signed with the test secret; `claims` override or (undefined) remove the defaults. */
export const forgeToken = (
  claims: Record<string, unknown>,
  options: { readonly alg?: string; readonly key?: string; readonly nowSeconds: number }
) =>
  Effect.promise(() => {
    const now = options.nowSeconds
    const payload: Record<string, unknown> = {
      sub: "usr_forged",
      email: "forged@example.com",
      role: "user",
      sid: randomUUID(),
      jti: randomUUID(),
      iss: issuer,
      aud: audience,
      iat: now,
      nbf: now,
      exp: now + 600,
      ...claims
    }
    for (const key of Object.keys(payload)) if (payload[key] === undefined) delete payload[key]
    return new SignJWT(payload)
      .setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT" })
      .sign(Buffer.from(options.key ?? jwtSecret, "utf8"))
  })

/** `alg: none`: header and payload, no signature. */
export const unsignedToken = (claims: Record<string, unknown>) => {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`
}
