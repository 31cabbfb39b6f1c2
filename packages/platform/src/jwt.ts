// Access tokens as JWTs: HS256, signed with JWT_SECRET and naming it in their `kid` header (a digest of the secret,
// which does not reveal it). Verification picks the key the `kid` names among JWT_SECRET and JWT_SECRET_PREVIOUS,
// so a rotation overlaps: tokens signed with the old key keep working until they expire (docs/operations.md).
import { createHash, createSecretKey, type KeyObject, randomBytes } from "node:crypto"
import { type CurrentUser, Role } from "@kassa/domain/auth"
import { Unauthorized } from "@kassa/domain/errors"
import { UserId } from "@kassa/domain/ids"
import { type Config, DateTime, Effect, Option, Redacted, Schema } from "effect"
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from "jose"
import { AuthConfig } from "./config.ts"

/** What a valid access token says; `sessionId` is the refresh-token family it was issued from. */
export interface VerifiedToken {
  readonly user: CurrentUser["Service"]
  readonly sessionId: string
  /** epoch milliseconds */
  readonly issuedAt: number
  readonly expiresAt: number
}

// ---- keys -----------------------------------------------------------------------------------------------------

export interface JwtKey {
  readonly kid: string
  readonly key: KeyObject
}

export interface JwtKeys {
  /** what new tokens are signed with (JWT_SECRET) */
  readonly signing: JwtKey
  /** what tokens are accepted from: the signing key, then JWT_SECRET_PREVIOUS when set */
  readonly verifying: ReadonlyArray<JwtKey>
}

const keyOf = (secret: Buffer): JwtKey => ({
  kid: createHash("sha256").update("kassa-jwt-kid:").update(secret).digest("base64url").slice(0, 16),
  key: createSecretKey(secret)
})

// One generated secret per process, shared by every app run in it (`npm start`), so one app's tokens open the
// others' routes; created on first use, not at import.
let generated: JwtKey | undefined
const processKey = Effect.suspend(() => {
  if (generated !== undefined) return Effect.succeed(generated)
  const key = keyOf(randomBytes(32))
  generated = key
  return Effect.as(
    Effect.logWarning(
      "JWT_SECRET not set: signing tokens with a random per-process key; tokens do not survive a restart"
    ),
    key
  )
})

const fromSecret = (secret: Redacted.Redacted<string>) => keyOf(Buffer.from(Redacted.value(secret), "utf8"))

export const jwtKeys: Effect.Effect<JwtKeys, Config.ConfigError> = Effect.gen(function*() {
  const { jwtSecret, jwtSecretPrevious } = yield* AuthConfig
  const signing = Option.isSome(jwtSecret) ? fromSecret(jwtSecret.value) : yield* processKey
  return { signing, verifying: [signing, ...Option.toArray(Option.map(jwtSecretPrevious, fromSecret))] }
})

// ---- signing and verifying --------------------------------------------------------------------------------------

const algorithm = "HS256"

const Claims = Schema.Struct({
  sub: UserId,
  email: Schema.String,
  role: Role,
  jti: Schema.NonEmptyString,
  sid: Schema.NonEmptyString,
  iat: Schema.Int,
  exp: Schema.Int
})
const decodeClaims = Schema.decodeUnknownOption(Claims)

const unauthorized = (message: string) => new Unauthorized({ message })

const joseMessage = (error: unknown): string => {
  if (error instanceof joseErrors.JWTExpired) return "access token expired"
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return error.reason === "check_failed" && error.claim === "nbf"
      ? "access token not yet valid"
      : `access token ${error.claim} claim is invalid`
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "access token algorithm not allowed"
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "access token signature is invalid"
  return "access token is malformed"
}

export const signAccessToken = (key: JwtKey, claims: {
  readonly user: { readonly id: UserId; readonly email: string; readonly role: Role }
  readonly sessionId: string
  readonly tokenId: string
  readonly issuer: string
  readonly audience: string
  /** epoch seconds */
  readonly iat: number
  readonly exp: number
}): Effect.Effect<string> =>
  Effect.promise(() =>
    new SignJWT({ email: claims.user.email, role: claims.user.role, sid: claims.sessionId })
      .setProtectedHeader({ alg: algorithm, typ: "JWT", kid: key.kid })
      .setSubject(claims.user.id)
      .setJti(claims.tokenId)
      .setIssuer(claims.issuer)
      .setAudience(claims.audience)
      .setIssuedAt(claims.iat)
      .setNotBefore(claims.iat)
      .setExpirationTime(claims.exp)
      .sign(key.key)
  )

/**
 * The keys to try for a token whose header names `kid`: the one it names (none when it names an unknown key), or,
 * for a token without a `kid` (signed before tokens carried one), every key in order.
 */
const candidateKeys = (keys: JwtKeys, kid: string | undefined): ReadonlyArray<JwtKey> =>
  kid === undefined ? keys.verifying : keys.verifying.filter((key) => key.kid === kid)

/** What jose threw while verifying: a signature that does not match moves on to the next key, the rest is a 401. */
class JoseRejected extends Schema.TaggedError<JoseRejected>()("JoseRejected", { cause: Schema.Defect() }) {}

/** Signature, algorithm, issuer, audience, time and claims; revocation is the caller's (auth.ts). */
export const verifyAccessToken = (token: string, options: {
  readonly keys: JwtKeys
  readonly issuer: string
  readonly audience: string
  /** epoch milliseconds */
  readonly now: number
}): Effect.Effect<VerifiedToken, Unauthorized> => {
  const withKey = (key: JwtKey) =>
    Effect.tryPromise({
      try: () =>
        jwtVerify(token, key.key, {
          algorithms: [algorithm],
          issuer: options.issuer,
          audience: options.audience,
          requiredClaims: ["sub", "jti", "exp", "iat"],
          currentDate: DateTime.toDate(DateTime.makeUnsafe(options.now))
        }),
      catch: (cause) => new JoseRejected({ cause })
    })
  return Effect.try({
    try: () => decodeProtectedHeader(token).kid,
    catch: () => unauthorized("access token is malformed")
  }).pipe(
    Effect.flatMap((kid) => {
      const [first, ...rest] = candidateKeys(options.keys, kid)
      if (first === undefined) return Effect.fail(unauthorized("access token is signed with an unknown key"))
      // only a signature that does not match moves on to the next key
      return rest.reduce(
        (attempt, key) =>
          Effect.catchIf(
            attempt,
            (error) =>
              error._tag === "JoseRejected" && error.cause instanceof joseErrors.JWSSignatureVerificationFailed,
            () => withKey(key)
          ),
        withKey(first)
      ).pipe(Effect.mapError((error) => unauthorized(joseMessage(error.cause))))
    }),
    Effect.flatMap(({ payload }) =>
      Option.match(decodeClaims(payload), {
        onNone: () => Effect.fail(unauthorized("access token claims are invalid")),
        onSome: (claims) =>
          Effect.succeed({
            user: { id: claims.sub, email: claims.email, role: claims.role, tokenId: claims.jti },
            sessionId: claims.sid,
            issuedAt: claims.iat * 1000,
            expiresAt: claims.exp * 1000
          })
      })
    )
  )
}
