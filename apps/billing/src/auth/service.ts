// Accounts and sessions: registration, login, refresh-token rotation with reuse detection, logout, and the
// bootstrap admin. A session is one refresh-token family; its id is the `sid` of every access token it issues,
// so revoking the family also revokes those access tokens (through the TokenVerifier).
import { createHash, randomBytes, randomUUID } from "node:crypto"
import {
  type Account,
  Email,
  type EmailTaken,
  Password,
  type TimeZoneSetting,
  type TokenPair,
  type UserRegistered
} from "@kassa/domain/auth"
import { type RateLimited, type ServiceUnavailable, Unauthorized } from "@kassa/domain/errors"
import { UserId } from "@kassa/domain/ids"
import { AccessTokenIssuer, TokenVerifier } from "@kassa/platform/auth"
import { AccountsConfig, AdminBootstrapConfig } from "../config.ts"
import { Outbox } from "@kassa/platform/outbox"
import { Context, DateTime, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { PasswordHasher } from "./passwords.ts"
import { AuthRepo, type RotatedRefreshToken, type User } from "./repo.ts"
import { LoginThrottle, RegistrationThrottle } from "./throttle.ts"
import { RateLimit } from "@kassa/platform/rate-limit"
import { orUnavailable } from "@kassa/platform/validation"

/** Two refreshes with the same token this close together are a client race (two tabs), not a replay. */
export const refreshGrace = Duration.seconds(5)

const newUserId = () => UserId.make(`usr_${randomUUID()}`)
const newRefreshToken = () => randomBytes(32).toString("base64url")
// the token carries 256 random bits, so a fast digest is enough: there is nothing to brute-force
const digest = (token: string) => createHash("sha256").update(token).digest("hex")

const invalidCredentials = () => new Unauthorized({ message: "invalid email or password" })

/** A valid token whose account does not exist (users are not deleted, so only a forged or foreign token). */
export const noAccount = () => new Unauthorized({ message: "the token's account does not exist" })

type RefreshOutcome =
  | { readonly _tag: "Issued"; readonly token: RotatedRefreshToken; readonly refreshToken: string }
  | { readonly _tag: "Rejected"; readonly message: string }
  | { readonly _tag: "Reused"; readonly familyId: string }

export class Accounts extends Context.Service<Accounts, {
  register(
    input: { readonly email: string; readonly password: string },
    clientAddress: string
  ): Effect.Effect<Account, EmailTaken | RateLimited | ServiceUnavailable>
  login(
    input: { readonly email: string; readonly password: string },
    clientAddress: string
  ): Effect.Effect<TokenPair, Unauthorized | RateLimited | ServiceUnavailable>
  refresh(refreshToken: string): Effect.Effect<TokenPair, Unauthorized | ServiceUnavailable>
  logout(refreshToken: string): Effect.Effect<void, ServiceUnavailable>
  /**
   * Makes sure `email` is an admin with this password: creates it, or promotes it and sets the password (then
   * ending its sessions). Nothing changes, and no session ends, when it already is.
   */
  ensureAdmin(email: string, password: string): Effect.Effect<UserId, ServiceUnavailable | Schema.SchemaError>
  /** The account's time zone (periods and statements are computed in it). */
  timeZone(userId: UserId): Effect.Effect<TimeZoneSetting, Unauthorized | ServiceUnavailable>
  setTimeZone(
    userId: UserId,
    setting: TimeZoneSetting
  ): Effect.Effect<TimeZoneSetting, Unauthorized | ServiceUnavailable>
}>()("billing/Accounts") {
  static readonly layer = Layer.effect(
    Accounts,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = yield* AuthRepo
      const outbox = yield* Outbox
      const issuer = yield* AccessTokenIssuer
      const verifier = yield* TokenVerifier
      const throttle = yield* LoginThrottle
      const registrations = yield* RegistrationThrottle
      const hasher = yield* PasswordHasher
      const { refreshTokenTtl } = yield* AccountsConfig
      // compared against when the email is unknown, so a login for a missing account takes as long as one with
      // a wrong password and does not tell which accounts exist
      const dummyHash = yield* Effect.cached(Effect.orDie(hasher.hash(randomBytes(16).toString("hex"))))

      const now = Effect.map(DateTime.now, DateTime.toDate)

      const createUser = (user: User) =>
        Effect.gen(function*() {
          const at = yield* now
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* repo.insertUser(user, at)
            const data: UserRegistered = { userId: user.id, email: user.email, role: user.role }
            yield* outbox.appendEvent({ type: "user.registered", aggregateId: user.id, data })
          }))
        })

      // A taken email answers 409 (the contract says so; see docs/architecture.md): the password is hashed first either
      // way, so the answer takes as long, and the per-address limit keeps probing slow.
      const register = (input: { readonly email: string; readonly password: string }, clientAddress: string) =>
        Effect.gen(function*() {
          yield* registrations.admit(clientAddress)
          const user: User = {
            id: newUserId(),
            email: input.email,
            passwordHash: yield* hasher.hash(input.password),
            role: "user"
          }
          yield* createUser(user)
          return { id: user.id, email: user.email }
        }).pipe(
          orUnavailable,
          Effect.withSpan("Accounts.register")
        )

      const pair = (
        user: { readonly id: UserId; readonly email: string; readonly role: User["role"] },
        familyId: string,
        refreshToken: string
      ) =>
        Effect.map(issuer.issue(user, familyId), (access): TokenPair => ({
          accessToken: access.token,
          refreshToken,
          tokenType: "Bearer",
          expiresIn: access.expiresIn
        }))

      const refreshExpiry = (at: Date) => new Date(at.getTime() + Duration.toMillis(refreshTokenTtl))

      // a login starts a family
      const startFamily = (userId: UserId, familyId: string, at: Date) =>
        Effect.gen(function*() {
          const token = newRefreshToken()
          yield* repo.insertRefreshToken({
            id: randomUUID(),
            tokenHash: digest(token),
            familyId,
            userId,
            issuedAt: at,
            expiresAt: refreshExpiry(at)
          })
          return token
        })

      const login = (input: { readonly email: string; readonly password: string }, clientAddress: string) =>
        Effect.gen(function*() {
          yield* throttle.admit(input.email, clientAddress)
          const user = yield* repo.findUserByEmail(input.email)
          const valid = Option.isSome(user)
            ? yield* hasher.verify(input.password, user.value.passwordHash)
            : yield* Effect.as(Effect.flatMap(dummyHash, (hash) => hasher.verify(input.password, hash)), false)
          if (Option.isNone(user) || !valid) {
            yield* throttle.failed(input.email, clientAddress)
            return yield* invalidCredentials()
          }
          yield* throttle.succeeded(input.email, clientAddress)
          const familyId = randomUUID()
          const refreshToken = yield* startFamily(user.value.id, familyId, yield* now)
          return yield* pair(user.value, familyId, refreshToken)
        }).pipe(orUnavailable, Effect.withSpan("Accounts.login"))

      const rotate = (presented: string) =>
        Effect.gen(function*(): Effect.fn.Return<RefreshOutcome, SqlError.SqlError | Schema.SchemaError> {
          const at = yield* now
          const refreshToken = newRefreshToken()
          const found = yield* repo.rotateRefreshToken({
            tokenHash: digest(presented),
            now: at,
            // a token rotated within the grace period is a racing client (two tabs), which gets a sibling
            graceStart: new Date(at.getTime() - Duration.toMillis(refreshGrace)),
            child: { id: randomUUID(), tokenHash: digest(refreshToken), expiresAt: refreshExpiry(at) }
          })
          if (Option.isNone(found)) return { _tag: "Rejected", message: "refresh token is invalid" }
          const token = found.value
          if (token.issued) return { _tag: "Issued", token, refreshToken }
          if (token.revokedAt !== null) return { _tag: "Rejected", message: "refresh token has been revoked" }
          if (token.expiresAt.getTime() <= at.getTime()) return { _tag: "Rejected", message: "refresh token expired" }
          // rotated before the grace period and presented again: it leaked, so the whole family (every
          // descendant) dies
          yield* repo.revokeFamily(token.familyId, at)
          return { _tag: "Reused", familyId: token.familyId }
        })

      const refresh = (presented: string) =>
        rotate(presented).pipe(
          Effect.flatMap((outcome): Effect.Effect<TokenPair, Unauthorized> => {
            switch (outcome._tag) {
              case "Issued":
                return pair(
                  { id: outcome.token.userId, email: outcome.token.email, role: outcome.token.role },
                  outcome.token.familyId,
                  outcome.refreshToken
                )
              case "Rejected":
                return Effect.fail(new Unauthorized({ message: outcome.message }))
              case "Reused":
                return Effect.andThen(
                  verifier.revoke({ kind: "session", id: outcome.familyId }),
                  Effect.fail(
                    new Unauthorized({ message: "refresh token was already used; the session has been revoked" })
                  )
                )
            }
          }),
          orUnavailable,
          Effect.withSpan("Accounts.refresh")
        )

      const logout = (presented: string) =>
        Effect.gen(function*() {
          const found = yield* repo.findRefreshToken(digest(presented))
          // unknown tokens are ignored: logout answers the same whatever it is given
          if (Option.isNone(found)) return
          yield* repo.revokeFamily(found.value.familyId, yield* now)
          yield* verifier.revoke({ kind: "session", id: found.value.familyId })
        }).pipe(orUnavailable, Effect.withSpan("Accounts.logout"))

      // at start nothing else is hashing, so the hasher never refuses the bootstrap admin
      const hash = (password: string) => Effect.orDie(hasher.hash(password))

      const ensureAdminOnce = (email: string, password: string) =>
        Effect.gen(function*() {
          const existing = yield* repo.findUserByEmail(email)
          if (Option.isNone(existing)) {
            const user: User = { id: newUserId(), email, passwordHash: yield* hash(password), role: "admin" }
            yield* createUser(user)
            yield* Effect.logInfo("bootstrap admin created").pipe(Effect.annotateLogs({ email }))
            return user.id
          }
          const user = existing.value
          if (user.role === "admin" && (yield* Effect.orDie(hasher.verify(password, user.passwordHash)))) return user.id
          const at = yield* now
          yield* repo.upsertAdmin({ ...user, passwordHash: yield* hash(password) }, at)
          // the credentials changed: sessions opened with the old ones end
          const families = yield* repo.revokeUserTokens(user.id, at)
          yield* Effect.forEach(families, (id) => verifier.revoke({ kind: "session", id }), { discard: true })
          yield* verifier.revoke({ kind: "user", id: user.id, before: at.getTime() })
          yield* Effect.logInfo("bootstrap admin updated").pipe(Effect.annotateLogs({ email }))
          return user.id
        })

      const ensureAdmin = (rawEmail: string, rawPassword: string) =>
        Effect.gen(function*() {
          const email = yield* Schema.decodeUnknownEffect(Email)(rawEmail)
          const password = yield* Schema.decodeUnknownEffect(Password)(rawPassword)
          // another replica starting at the same moment may create it first: then update it
          return yield* ensureAdminOnce(email, password).pipe(
            Effect.catchTag("EmailTaken", () => ensureAdminOnce(email, password))
          )
        }).pipe(Effect.catchTag("EmailTaken", Effect.die), orUnavailable)

      const timeZone = (userId: UserId) =>
        orUnavailable(repo.timeZoneOf(userId)).pipe(
          Effect.flatMap(
            Option.match({ onNone: () => Effect.fail(noAccount()), onSome: (timeZone) => Effect.succeed({ timeZone }) })
          )
        )
      const setTimeZone = (userId: UserId, setting: TimeZoneSetting) =>
        Effect.flatMap(now, (at) => orUnavailable(repo.setTimeZone(userId, setting.timeZone, at))).pipe(
          Effect.flatMap((found) => found ? Effect.succeed(setting) : Effect.fail(noAccount()))
        )

      return Accounts.of({ register, login, refresh, logout, ensureAdmin, timeZone, setTimeZone })
    })
  )
}

/** Bootstrap admin from ADMIN_EMAIL / ADMIN_PASSWORD at start, when both are set. */
export const AdminBootstrap = Layer.effectDiscard(Effect.gen(function*() {
  const admin = yield* AdminBootstrapConfig
  if (Option.isNone(admin)) return
  const accounts = yield* Accounts
  yield* accounts.ensureAdmin(admin.value.email, Redacted.value(admin.value.password))
}))

/** Accounts with its orUnavailable, throttle and token signing; needs the TokenVerifier, SqlClient, Cache. */
export const AccountsLive = Accounts.layer.pipe(
  Layer.provide([
    AuthRepo.layer,
    Layer.mergeAll(LoginThrottle.layer, RegistrationThrottle.layer).pipe(Layer.provide(RateLimit.layer)),
    PasswordHasher.layer,
    AccessTokenIssuer.layer,
    Outbox.layer("billing")
  ])
)
