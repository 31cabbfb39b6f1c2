// TokenVerifier and AccessTokenIssuer on their own: issue → verify round trip, revocation kinds, the
// in-process store of embedded mode, and failing closed when revocation state cannot be read.
import { randomBytes, randomUUID } from "node:crypto"
import { assert, describe, layer } from "@effect/vitest"
import { UserId } from "@kassa/domain/ids"
import { AccessTokenIssuer, TokenVerifier } from "@kassa/platform/auth"
import { layerMemory, layerRedis } from "@kassa/platform/kv"
import { ConfigProvider, DateTime, Effect, Layer } from "effect"

const config = ConfigProvider.layer(ConfigProvider.fromUnknown({
  JWT_SECRET: randomBytes(32).toString("base64url"),
  ACCESS_TOKEN_TTL: "5 minutes"
}))

const tokens = (cache: Layer.Layer<import("@kassa/platform/kv").Cache>) =>
  Layer.mergeAll(TokenVerifier.layer, AccessTokenIssuer.layer).pipe(Layer.provide(cache), Layer.provide(config))

const user = (role: "user" | "admin" = "user") => ({
  id: UserId.make(`usr_${randomUUID()}`),
  email: "someone@example.com",
  role
})

const issueAndVerify = Effect.gen(function*() {
  const issuer = yield* AccessTokenIssuer
  const verifier = yield* TokenVerifier
  const who = user()
  const sessionId = randomUUID()
  const issued = yield* issuer.issue(who, sessionId)
  return { issued, verifier, who, sessionId }
})

for (
  const [name, cache] of [["in-process store", layerMemory], ["Redis", layerRedis("redis://127.0.0.1:6379")]] as const
) {
  layer(tokens(cache), { excludeTestServices: true })(`tokens over the ${name}`, (it) => {
    it.effect("an issued token verifies to its user, session and expiry", () =>
      Effect.gen(function*() {
        const { issued, verifier, who, sessionId } = yield* issueAndVerify
        assert.strictEqual(issued.expiresIn, 300)
        const verified = yield* verifier.verify(issued.token)
        assert.deepStrictEqual(verified.user, { ...who, tokenId: issued.tokenId })
        assert.strictEqual(verified.sessionId, sessionId)
        assert.strictEqual(verified.expiresAt - verified.issuedAt, 300_000)
        // the second verification is served from the cache and says the same
        assert.deepStrictEqual(yield* verifier.verify(issued.token), verified)
      }))

    it.effect("revoking the session, the token or the user rejects it, also from the cache", () =>
      Effect.gen(function*() {
        const issuer = yield* AccessTokenIssuer
        const verifier = yield* TokenVerifier
        const who = user()
        const bySession = yield* issuer.issue(who, randomUUID())
        const byToken = yield* issuer.issue(who, randomUUID())
        const other = yield* issuer.issue(user(), randomUUID())
        for (const t of [bySession, byToken, other]) yield* verifier.verify(t.token)

        yield* verifier.revoke({ kind: "session", id: (yield* verifier.verify(bySession.token)).sessionId })
        yield* verifier.revoke({ kind: "token", id: byToken.tokenId })
        assert.strictEqual((yield* verifier.verify(bySession.token).pipe(Effect.flip))._tag, "Unauthorized")
        assert.strictEqual((yield* verifier.verify(byToken.token).pipe(Effect.flip))._tag, "Unauthorized")
        yield* verifier.verify(other.token)

        const later = DateTime.toEpochMillis(yield* DateTime.now) + 2_000
        const otherUser = (yield* verifier.verify(other.token)).user.id
        yield* verifier.revoke({ kind: "user", id: otherUser, before: later })
        assert.strictEqual((yield* verifier.verify(other.token).pipe(Effect.flip))._tag, "Unauthorized")
      }))

    it.effect("an empty or malformed token is Unauthorized", () =>
      Effect.gen(function*() {
        const verifier = yield* TokenVerifier
        assert.strictEqual((yield* verifier.verify("").pipe(Effect.flip)).message, "missing bearer token")
        assert.strictEqual((yield* verifier.verify("a.b.c").pipe(Effect.flip))._tag, "Unauthorized")
      }))
  })
}

describe("with Redis unreachable", () => {
  // nothing listens on port 1: every cache command fails at once
  layer(tokens(layerRedis("redis://127.0.0.1:1", { commandTimeout: "200 millis" })), { excludeTestServices: true })(
    "the verifier",
    (it) => {
      it.effect("fails closed: a valid token is refused with 503, never accepted unchecked", () =>
        Effect.gen(function*() {
          const { issued, verifier } = yield* issueAndVerify
          const error = yield* verifier.verify(issued.token).pipe(Effect.flip)
          assert.strictEqual(error._tag, "ServiceUnavailable")
          // a bad token is still a plain 401
          assert.strictEqual((yield* verifier.verify("a.b.c").pipe(Effect.flip))._tag, "Unauthorized")
        }))

      it.effect("revocation still takes effect in this process", () =>
        Effect.gen(function*() {
          const { issued, verifier, sessionId } = yield* issueAndVerify
          yield* verifier.revoke({ kind: "session", id: sessionId })
          assert.strictEqual((yield* verifier.verify(issued.token).pipe(Effect.flip))._tag, "Unauthorized")
        }))
    }
  )
})
