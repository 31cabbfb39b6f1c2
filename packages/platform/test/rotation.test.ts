// Rotating the shared secrets without downtime. JWT_SECRET: tokens name their key in `kid`; a verifier accepts
// JWT_SECRET and JWT_SECRET_PREVIOUS, an issuer signs with JWT_SECRET only, so tokens issued before the switch keep
// working until they expire. SERVICE_TOKEN: SERVICE_TOKEN_PREVIOUS is accepted too, never presented.
import { randomBytes, randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { UserId } from "@kassa/domain/ids"
import { AccessTokenIssuer, TokenVerifier } from "@kassa/platform/auth"
import { AuthConfig } from "@kassa/platform/config"
import { layerMemory } from "@kassa/platform/kv"
import { ServiceToken } from "@kassa/platform/service-token"
import { ConfigProvider, Effect, Exit, Layer, Redacted } from "effect"
import { decodeProtectedHeader, SignJWT } from "jose"

const secret = () => randomBytes(32).toString("base64url")
const oldSecret = secret()
const newSecret = secret()

/** An issuer and a verifier configured with `env`, in a scope of their own (one app at one point of the rotation). */
const withTokens = <A, E>(
  env: Record<string, string>,
  f: (tokens: {
    readonly issuer: AccessTokenIssuer["Service"]
    readonly verifier: TokenVerifier["Service"]
  }) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const issuer = yield* AccessTokenIssuer
    const verifier = yield* TokenVerifier
    return yield* f({ issuer, verifier })
  }).pipe(
    Effect.provide(
      Layer.mergeAll(TokenVerifier.layer, AccessTokenIssuer.layer).pipe(
        Layer.provide(layerMemory),
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
      )
    )
  )

const issue = (env: Record<string, string>) =>
  withTokens(env, ({ issuer }) =>
    Effect.map(
      issuer.issue(
        { id: UserId.make(`usr_${randomUUID()}`), email: "someone@example.com", role: "user" },
        randomUUID()
      ),
      (issued) => issued.token
    ))

const verify = (env: Record<string, string>, token: string) =>
  withTokens(env, ({ verifier }) => Effect.exit(verifier.verify(token)))

const failureMessage = <A>(exit: Exit.Exit<A, { readonly message: string }>) =>
  Exit.isFailure(exit) ? exit.cause.toString() : "verified"

describe("JWT_SECRET rotation", () => {
  it.effect("tokens name their key in `kid`, a digest that does not reveal the secret", () =>
    Effect.gen(function*() {
      const a = decodeProtectedHeader(yield* issue({ JWT_SECRET: oldSecret }))
      const b = decodeProtectedHeader(yield* issue({ JWT_SECRET: newSecret }))
      assert.strictEqual(a.alg, "HS256")
      assert.isString(a.kid)
      assert.notStrictEqual(a.kid, b.kid)
      assert.notInclude(oldSecret, a.kid!)
      // the same secret, the same kid (replicas agree)
      assert.strictEqual(decodeProtectedHeader(yield* issue({ JWT_SECRET: oldSecret })).kid, a.kid)
    }))

  it.effect("after the switch, a token signed with the old key verifies while it is JWT_SECRET_PREVIOUS, and not after", () =>
    Effect.gen(function*() {
      const before = yield* issue({ JWT_SECRET: oldSecret })
      const overlap = { JWT_SECRET: newSecret, JWT_SECRET_PREVIOUS: oldSecret }
      const after = yield* issue(overlap)
      assert.notStrictEqual(
        decodeProtectedHeader(after).kid,
        decodeProtectedHeader(before).kid,
        "signed with the new key"
      )
      assert.isTrue(Exit.isSuccess(yield* verify(overlap, before)), "old token during the overlap")
      assert.isTrue(Exit.isSuccess(yield* verify(overlap, after)), "new token during the overlap")
      // the first step of a rollout: verifiers learn the new key before the issuer signs with it
      assert.isTrue(Exit.isSuccess(yield* verify({ JWT_SECRET: oldSecret, JWT_SECRET_PREVIOUS: newSecret }, after)))
      const done = yield* verify({ JWT_SECRET: newSecret }, before)
      assert.include(failureMessage(done), "signed with an unknown key")
      assert.isTrue(Exit.isSuccess(yield* verify({ JWT_SECRET: newSecret }, after)))
    }))

  it.effect("a kid naming one key with another key's signature is refused, whatever keys are configured", () =>
    Effect.gen(function*() {
      const token = yield* issue({ JWT_SECRET: oldSecret })
      const [, payload, signature] = token.split(".")
      const forgedHeader = Buffer.from(JSON.stringify({
        ...decodeProtectedHeader(yield* issue({ JWT_SECRET: newSecret })),
        alg: "HS256"
      })).toString("base64url")
      const forged = `${forgedHeader}.${payload}.${signature}`
      const exit = yield* verify({ JWT_SECRET: newSecret, JWT_SECRET_PREVIOUS: oldSecret }, forged)
      assert.include(failureMessage(exit), "signature is invalid")
    }))

  it.effect("a token without a kid (signed before tokens carried one) verifies against either configured key", () =>
    Effect.gen(function*() {
      const legacy = yield* Effect.promise(() =>
        new SignJWT({ email: "someone@example.com", role: "user", sid: randomUUID() })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" })
          .setSubject(`usr_${randomUUID()}`)
          .setJti(randomUUID())
          .setIssuer("kassa")
          .setAudience("kassa")
          .setIssuedAt()
          .setExpirationTime("5 minutes")
          .sign(Buffer.from(oldSecret, "utf8"))
      )
      assert.isTrue(Exit.isSuccess(yield* verify({ JWT_SECRET: newSecret, JWT_SECRET_PREVIOUS: oldSecret }, legacy)))
      assert.include(failureMessage(yield* verify({ JWT_SECRET: newSecret }, legacy)), "signature is invalid")
    }))

  it.effect("JWT_SECRET_PREVIOUS must be a 32-character key, and needs JWT_SECRET", () =>
    Effect.gen(function*() {
      const parse = (env: Record<string, string>) => Effect.exit(AuthConfig.parse(ConfigProvider.fromUnknown(env)))
      assert.isTrue(Exit.isSuccess(yield* parse({ JWT_SECRET: newSecret, JWT_SECRET_PREVIOUS: oldSecret })))
      assert.isTrue(Exit.isFailure(yield* parse({ JWT_SECRET: newSecret, JWT_SECRET_PREVIOUS: "short" })))
      assert.isTrue(Exit.isFailure(yield* parse({ JWT_SECRET_PREVIOUS: oldSecret })))
    }))
})

describe("SERVICE_TOKEN rotation", () => {
  const serviceToken = (env: Record<string, string>) =>
    Effect.provide(
      Effect.service(ServiceToken),
      ServiceToken.layer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
    )

  it.effect("SERVICE_TOKEN_PREVIOUS is accepted beside SERVICE_TOKEN; only SERVICE_TOKEN is presented", () =>
    Effect.gen(function*() {
      const token = yield* serviceToken({
        SERVICE_TOKEN: "token-new-0123456789",
        SERVICE_TOKEN_PREVIOUS: "token-old-0123456789"
      })
      assert.strictEqual(Redacted.value(token.token), "token-new-0123456789")
      assert.isTrue(token.matches("token-new-0123456789"))
      assert.isTrue(token.matches("token-old-0123456789"))
      assert.isFalse(token.matches("token-other-01234567"))
      assert.isFalse(token.matches(""))
      const alone = yield* serviceToken({ SERVICE_TOKEN: "token-new-0123456789" })
      assert.isFalse(alone.matches("token-old-0123456789"))
    }))
})
