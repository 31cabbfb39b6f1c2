// Access tokens for every app: HS256 JWTs signed with JWT_SECRET and verified with the key their `kid` names
// (JWT_SECRET or JWT_SECRET_PREVIOUS, jwt.ts), a bounded in-process cache of
// verified tokens, and revocation (logout, family reuse, account changes) that the cache always honours.
//
// Revocation: a revoked session (refresh family), token (jti) or user is written as a marker in the Cache (Redis
// when configured) that lives as long as an access token can, and announced on a Cache pub/sub channel. Every
// verifier keeps the announced revocations in memory and checks them on every request, so a cached token costs
// no I/O. A token not yet in the cache is verified with jose and checked against the markers in the Cache.
// The feed is proven alive by the verifier's own heartbeats: while they do not come back (Redis down, subscriber
// reconnecting), cached verifications are not trusted, and when the feed recovers the cache is emptied, since
// announcements may have been lost. When revocation state cannot be confirmed the request fails closed (503).
import { randomUUID } from "node:crypto"
import { LRUCache } from "lru-cache"
import { AdminAuthentication, Authentication, CurrentUser, type Role } from "@kassa/domain/auth"
import { Forbidden, ServiceUnavailable, Unauthorized } from "@kassa/domain/errors"
import type { UserId } from "@kassa/domain/ids"
import { Clock, type Config, Context, DateTime, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import type { HttpServerResponse } from "effect/http/HttpServerResponse"
import type { unhandled } from "effect/Types"
import { AuthConfig } from "./config.ts"
import { makeInvalidationFeed } from "./feed.ts"
import { jwtKeys, signAccessToken, type VerifiedToken, verifyAccessToken } from "./jwt.ts"
import { Cache } from "./kv.ts"

export type { VerifiedToken } from "./jwt.ts"

export type Revocation =
  /** every access token issued from this refresh family (logout, reuse of a rotated refresh token) */
  | { readonly kind: "session"; readonly id: string }
  /** one access token */
  | { readonly kind: "token"; readonly id: string }
  /** every access token of this user issued before `before` (epoch ms): password or role changes */
  | { readonly kind: "user"; readonly id: string; readonly before: number }

export interface IssuedToken {
  readonly token: string
  readonly tokenId: string
  /** seconds */
  readonly expiresIn: number
}

// ---- revocation markers -----------------------------------------------------------------------------------------

const markerPrefix = "kassa:auth:revoked:"
const revocationChannel = "kassa:auth:revocations"
const markerKey = (kind: Revocation["kind"], id: string) => `${markerPrefix}${kind}:${id}`

const heartbeatEvery = Duration.millis(500)
// a feed that has not echoed a heartbeat for this long may have lost announcements
const feedStaleAfter = 1_500
const maxCachedTokens = 50_000

const FeedMessage = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("session"), id: Schema.String, until: Schema.Number }),
  Schema.Struct({ kind: Schema.Literal("token"), id: Schema.String, until: Schema.Number }),
  Schema.Struct({ kind: Schema.Literal("user"), id: Schema.String, before: Schema.Number, until: Schema.Number })
])
type FeedMessage = typeof FeedMessage.Type

const unauthorized = (message: string) => new Unauthorized({ message })

// `iat` has whole seconds: a token from the second of a user revocation counts as issued after it, so a login
// right after a password change works (the change's session revocations cover tokens from before it)
const issuedBefore = (token: VerifiedToken, before: number) => token.issuedAt < Math.floor(before / 1000) * 1000

/**
 * The credential of an `Authorization: Bearer <token>` header, read as the HttpApi's bearer security does
 * (RFC 9110: case-insensitive scheme, one or more spaces); "" when there is none.
 */
export const bearerCredential = (authorization: string | undefined): string => {
  if (authorization === undefined || authorization.length <= 6 || authorization.charCodeAt(6) !== 32) return ""
  if (authorization.slice(0, 6).toLowerCase() !== "bearer") return ""
  let start = 7
  while (authorization.charCodeAt(start) === 32) start++
  return authorization.slice(start)
}

/**
 * Whether a token's subject is an account. The app that owns the accounts provides one backed by its users
 * table, so a token signed with the real key for an account that does not exist is a 401 on every one of its routes
 * (HttpApi, hot routes and RPCs alike). Apps without accounts accept every subject (the default).
 * Asked once per token, when it is first verified; a failure is a 503.
 */
export const TokenSubjects = Context.Reference<{
  readonly exists: (userId: UserId) => Effect.Effect<boolean, ServiceUnavailable>
}>("kassa/TokenSubjects", { defaultValue: () => ({ exists: () => Effect.succeed(true) }) })

/** Verifies access tokens and records revocations. Every app that serves protected routes needs one. */
export class TokenVerifier extends Context.Service<TokenVerifier, {
  verify(token: string): Effect.Effect<VerifiedToken, Unauthorized | ServiceUnavailable>
  /**
   * Synchronously, for hot routes: the token when `verify` would succeed from the in-process cache alone (verified
   * before, unexpired, not revoked, feed alive); undefined for anything `verify` has to decide.
   */
  peek(token: string, now: number): VerifiedToken | undefined
  /**
   * Takes effect in this process at once and in others when the announcement arrives. The marker write is
   * retried in the background until it lands or no token it could cover is still alive.
   */
  revoke(revocation: Revocation): Effect.Effect<void>
}>()("kassa/TokenVerifier") {
  static readonly layer: Layer.Layer<TokenVerifier, Config.ConfigError, Cache> = Layer.effect(
    TokenVerifier,
    Effect.gen(function*() {
      const config = yield* AuthConfig
      const keys = yield* jwtKeys
      const cache = yield* Cache
      const subjects = yield* TokenSubjects
      const markerTtl = Duration.toMillis(config.accessTokenTtl) + 60_000 // + clock skew between replicas

      // verified tokens by token string, least recently used dropped first
      const verified = new LRUCache<string, VerifiedToken>({ max: maxCachedTokens })
      // accounts seen to exist: none is ever deleted, so this needs no feed, and a token verified again while the
      // feed is stale (its cache dropped) passes on the revocation markers alone when the database is away
      const knownSubjects = new LRUCache<string, true>({ max: maxCachedTokens })
      const subjectExists = (userId: UserId) =>
        knownSubjects.has(userId) ?
          Effect.succeed(true) :
          Effect.tap(subjects.exists(userId), (exists) =>
            Effect.sync(() => {
              if (exists) knownSubjects.set(userId, true)
            }))
      // revoked sessions and tokens: id -> until (epoch ms); users: id -> { before, until }
      const revokedSessions = new Map<string, number>()
      const revokedTokens = new Map<string, number>()
      const revokedUsers = new Map<string, { before: number; until: number }>()

      const isRevoked = (token: VerifiedToken, now: number): boolean => {
        const session = revokedSessions.get(token.sessionId)
        if (session !== undefined && session > now) return true
        const single = revokedTokens.get(token.user.tokenId)
        if (single !== undefined && single > now) return true
        const user = revokedUsers.get(token.user.id)
        return user !== undefined && user.until > now && issuedBefore(token, user.before)
      }

      const applyLocally = (message: FeedMessage) => {
        if (message.kind === "session") revokedSessions.set(message.id, message.until)
        else if (message.kind === "token") revokedTokens.set(message.id, message.until)
        else {
          const current = revokedUsers.get(message.id)
          revokedUsers.set(message.id, {
            before: Math.max(current?.before ?? 0, message.before),
            until: Math.max(current?.until ?? 0, message.until)
          })
        }
      }

      const prune = (now: number) => {
        for (const [id, until] of revokedSessions) if (until <= now) revokedSessions.delete(id)
        for (const [id, until] of revokedTokens) if (until <= now) revokedTokens.delete(id)
        for (const [id, entry] of revokedUsers) if (entry.until <= now) revokedUsers.delete(id)
        const expired = [...verified.entries()].flatMap(([token, entry]) => entry.expiresAt <= now ? [token] : [])
        for (const token of expired) verified.delete(token)
      }

      // the revocations every verifier must hear of; a gap in it empties the verified-token cache
      const feed = yield* makeInvalidationFeed({
        name: "revocation",
        channel: revocationChannel,
        message: FeedMessage,
        heartbeatEvery,
        staleAfter: feedStaleAfter,
        onMessage: applyLocally,
        onGap: () => verified.clear(),
        onHeartbeat: prune
      })

      const checkMarkers = (token: VerifiedToken) =>
        Effect.all([
          cache.get(markerKey("session", token.sessionId)),
          cache.get(markerKey("token", token.user.tokenId)),
          cache.get(markerKey("user", token.user.id))
        ], { concurrency: "unbounded" }).pipe(
          Effect.mapError(() =>
            new ServiceUnavailable({ message: "token revocation state is unavailable; try again shortly" })
          ),
          Effect.flatMap(([session, single, user]) => {
            const userBefore = Option.getOrElse(Option.map(user, Number), () => 0)
            return Option.isSome(session) || Option.isSome(single) || issuedBefore(token, userBefore)
              ? Effect.fail(unauthorized("access token has been revoked"))
              : Effect.void
          })
        )

      const verifySignature = (token: string, now: number) =>
        verifyAccessToken(token, { keys, issuer: config.issuer, audience: config.audience, now })

      const verify = (token: string): Effect.Effect<VerifiedToken, Unauthorized | ServiceUnavailable> =>
        token.length === 0 ?
          Effect.fail(unauthorized("missing bearer token")) :
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const hit = verified.get(token)
            if (hit !== undefined && hit.expiresAt > now && feed.isFresh(now)) {
              return isRevoked(hit, now)
                ? Effect.fail(unauthorized("access token has been revoked"))
                : Effect.succeed(hit)
            }
            if (hit !== undefined) verified.delete(token)
            return verifySignature(token, now).pipe(
              Effect.tap((entry) =>
                isRevoked(entry, now) ? Effect.fail(unauthorized("access token has been revoked")) : checkMarkers(entry)
              ),
              Effect.tap((entry) =>
                Effect.flatMap(
                  subjectExists(entry.user.id),
                  (exists) => exists ? Effect.void : Effect.fail(unauthorized("the token's account does not exist"))
                )
              ),
              // cached only while the feed is alive: otherwise a lost announcement could not be noticed
              Effect.tap((entry) => Effect.sync(() => feed.isFresh(now) && verified.set(token, entry)))
            )
          })

      const peek = (token: string, now: number): VerifiedToken | undefined => {
        const hit = verified.get(token)
        return hit !== undefined && hit.expiresAt > now && feed.isFresh(now) && !isRevoked(hit, now) ? hit : undefined
      }

      const revoke = (revocation: Revocation): Effect.Effect<void> =>
        Effect.gen(function*() {
          const until = (yield* Clock.currentTimeMillis) + markerTtl
          const message: FeedMessage = revocation.kind === "user"
            ? { kind: "user", id: revocation.id, before: revocation.before, until }
            : { kind: revocation.kind, id: revocation.id, until }
          // a verifier never serves a token from its cache after its own revocation of it
          applyLocally(message)
          yield* feed.announce(message, {
            key: markerKey(message.kind, message.id),
            value: message.kind === "user" ? String(message.before) : "1",
            ttl: markerTtl
          })
        })

      return TokenVerifier.of({ verify, peek, revoke })
    })
  )
}

/** Signs access tokens; only the app that issues tokens needs it. */
export class AccessTokenIssuer extends Context.Service<AccessTokenIssuer, {
  issue(
    user: { readonly id: UserId; readonly email: string; readonly role: Role },
    sessionId: string
  ): Effect.Effect<IssuedToken>
}>()("kassa/AccessTokenIssuer") {
  static readonly layer: Layer.Layer<AccessTokenIssuer, Config.ConfigError> = Layer.effect(
    AccessTokenIssuer,
    Effect.gen(function*() {
      const config = yield* AuthConfig
      const { signing } = yield* jwtKeys
      const ttlSeconds = Math.floor(Duration.toSeconds(config.accessTokenTtl))
      return AccessTokenIssuer.of({
        issue: (user, sessionId) =>
          Effect.gen(function*() {
            const iat = Math.floor(DateTime.toEpochMillis(yield* DateTime.now) / 1000)
            const tokenId = randomUUID()
            const token = yield* signAccessToken(signing, {
              user,
              sessionId,
              tokenId,
              issuer: config.issuer,
              audience: config.audience,
              iat,
              exp: iat + ttlSeconds
            })
            return { token, tokenId, expiresIn: ttlSeconds }
          })
      })
    })
  )
}

// ---- HttpApi middleware --------------------------------------------------------------------------------------------

/** `Authentication`: any valid access token. */
export const AuthenticationLive: Layer.Layer<Authentication, never, TokenVerifier> = Layer.effect(
  Authentication,
  Effect.map(TokenVerifier, (verifier: TokenVerifier["Service"]) =>
    Authentication.of({
      bearer: (httpEffect, { credential }) =>
        Effect.flatMap(
          verifier.verify(Redacted.value(credential)),
          (token) => Effect.provideService(httpEffect, CurrentUser, token.user)
        )
    }))
)

/** `AdminAuthentication`: a valid access token with role admin. */
export const AdminAuthenticationLive: Layer.Layer<AdminAuthentication, never, TokenVerifier> = Layer.effect(
  AdminAuthentication,
  Effect.map(TokenVerifier, (verifier: TokenVerifier["Service"]) =>
    AdminAuthentication.of({
      bearer: (httpEffect, { credential }) =>
        Effect.flatMap(verifier.verify(Redacted.value(credential)), (token): Effect.Effect<
          HttpServerResponse,
          unhandled | Forbidden
        > =>
          token.user.role === "admin"
            ? Effect.provideService(httpEffect, CurrentUser, token.user)
            : Effect.fail(new Forbidden({ message: "this route requires the admin role" })))
    }))
)

/** Both middlewares: provide this to every group layer whose group uses either. */
export const AuthMiddlewareLive: Layer.Layer<Authentication | AdminAuthentication, never, TokenVerifier> = Layer
  .mergeAll(AuthenticationLive, AdminAuthenticationLive)
