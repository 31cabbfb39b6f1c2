// Users and refresh tokens in the billing schema. Refresh tokens are stored as SHA-256 digests only: a copy of
// the table does not let anyone refresh. Every token belongs to a family (one login); rotation adds a child.
import { orUnavailable } from "@kassa/platform/validation"
import { EmailTaken, Role } from "@kassa/domain/auth"
import { UserId } from "@kassa/domain/ids"
import { TokenSubjects } from "@kassa/platform/auth"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"

export const User = Schema.Struct({
  id: UserId,
  email: Schema.String,
  passwordHash: Schema.String,
  role: Role
})
export type User = typeof User.Type

/** A refresh token joined with its owner, as the refresh path needs both. */
export const StoredRefreshToken = Schema.Struct({
  id: Schema.String,
  familyId: Schema.String,
  userId: UserId,
  expiresAt: Schema.Date,
  rotatedAt: Schema.NullOr(Schema.Date),
  revokedAt: Schema.NullOr(Schema.Date),
  email: Schema.String,
  role: Role
})
export type StoredRefreshToken = typeof StoredRefreshToken.Type

export const RotatedRefreshToken = Schema.Struct({ ...StoredRefreshToken.fields, issued: Schema.Boolean })
export type RotatedRefreshToken = typeof RotatedRefreshToken.Type

type Failure = SqlError.SqlError | Schema.SchemaError

export class AuthRepo extends Context.Service<AuthRepo, {
  insertUser(user: User, now: Date): Effect.Effect<void, EmailTaken | Failure>
  findUserByEmail(email: string): Effect.Effect<Option.Option<User>, Failure>
  /** Creates the user as admin, or makes the existing one admin with this password; returns its id. */
  upsertAdmin(user: User, now: Date): Effect.Effect<UserId, Failure>
  /** The first token of a family (a login); successors come from `rotateRefreshToken`. */
  insertRefreshToken(token: {
    readonly id: string
    readonly tokenHash: string
    readonly familyId: string
    readonly userId: UserId
    readonly issuedAt: Date
    readonly expiresAt: Date
  }): Effect.Effect<void, SqlError.SqlError>
  /**
   * One statement (one round trip): locks the token with this digest and, if it is live and not rotated before
   * `graceStart`, marks it rotated (first use only) and stores `child` as its successor. Returns the token as it
   * was before this call, and whether the child was stored; none when no token has this digest.
   */
  rotateRefreshToken(input: {
    readonly tokenHash: string
    readonly now: Date
    readonly graceStart: Date
    readonly child: { readonly id: string; readonly tokenHash: string; readonly expiresAt: Date }
  }): Effect.Effect<Option.Option<RotatedRefreshToken>, Failure>
  findRefreshToken(tokenHash: string): Effect.Effect<Option.Option<StoredRefreshToken>, Failure>
  /** Revokes every live token of the family (the whole chain of rotations); returns how many. */
  revokeFamily(familyId: string, now: Date): Effect.Effect<number, SqlError.SqlError>
  /** Revokes every live refresh token of the user; returns the families touched. */
  revokeUserTokens(userId: UserId, now: Date): Effect.Effect<ReadonlyArray<string>, SqlError.SqlError>
  /** The account's time zone; none when the account does not exist. */
  timeZoneOf(userId: UserId): Effect.Effect<Option.Option<string>, SqlError.SqlError>
  /** Sets the account's time zone (validated by the caller); false when the account does not exist. */
  setTimeZone(userId: UserId, timeZone: string, now: Date): Effect.Effect<boolean, SqlError.SqlError>
}>()("billing/AuthRepo") {
  static readonly layer = Layer.effect(
    AuthRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const insertUser = (user: User, now: Date) =>
        sql`INSERT INTO billing.users ${
          sql.insert({
            id: user.id,
            email: user.email,
            passwordHash: user.passwordHash,
            role: user.role,
            createdAt: now,
            updatedAt: now
          })
        }`.pipe(
          Effect.asVoid,
          Effect.catchReason(
            "SqlError",
            "UniqueViolation",
            () => Effect.fail(new EmailTaken({ message: "this email is already registered", email: user.email }))
          )
        )

      const findUserByEmail = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: User,
        execute: (email) => sql`SELECT id, email, password_hash, role FROM billing.users WHERE email = ${email}`
      })

      const upsertAdmin = (user: User, now: Date) =>
        SqlSchema.findOne({
          Request: User,
          Result: Schema.Struct({ id: UserId }),
          execute: (
            u
          ) => sql`INSERT INTO billing.users ${
            sql.insert({
              id: u.id,
              email: u.email,
              passwordHash: u.passwordHash,
              role: "admin",
              createdAt: now,
              updatedAt: now
            })
          }
            ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin', updated_at = EXCLUDED.updated_at
            RETURNING id`
        })(user).pipe(
          Effect.map((row) => row.id),
          Effect.catchTag("NoSuchElementError", Effect.die)
        )

      const insertRefreshToken: AuthRepo["Service"]["insertRefreshToken"] = (token) =>
        sql`INSERT INTO billing.refresh_tokens ${sql.insert(token)}`.pipe(Effect.asVoid)

      const findRefreshToken = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: StoredRefreshToken,
        execute: (
          hash
        ) => sql`SELECT t.id, t.family_id, t.user_id, t.expires_at, t.rotated_at, t.revoked_at, u.email, u.role
            FROM billing.refresh_tokens t JOIN billing.users u ON u.id = t.user_id
            WHERE t.token_hash = ${hash}`
      })

      // A racing refresh of the same token waits on the row lock; when the first commits, Postgres re-reads the
      // row (READ COMMITTED), so the second sees it rotated and falls under the grace rule.
      const rotateRefreshToken = (input: {
        readonly tokenHash: string
        readonly now: Date
        readonly graceStart: Date
        readonly child: { readonly id: string; readonly tokenHash: string; readonly expiresAt: Date }
      }) =>
        SqlSchema.findOneOption({
          Request: Schema.Void,
          Result: RotatedRefreshToken,
          execute: () => sql`WITH t AS (
                SELECT id, family_id, user_id, expires_at, rotated_at, revoked_at
                FROM billing.refresh_tokens WHERE token_hash = ${input.tokenHash} FOR UPDATE
              ),
              live AS (
                SELECT * FROM t WHERE revoked_at IS NULL AND expires_at > ${input.now}
                  AND (rotated_at IS NULL OR rotated_at >= ${input.graceStart})
              ),
              rotated AS (
                UPDATE billing.refresh_tokens r SET rotated_at = ${input.now} FROM live
                WHERE r.id = live.id AND live.rotated_at IS NULL
              ),
              child AS (
                INSERT INTO billing.refresh_tokens (id, token_hash, family_id, parent_id, user_id, issued_at, expires_at)
                SELECT ${input.child.id}, ${input.child.tokenHash}, live.family_id, live.id, live.user_id, ${input.now},
                  ${input.child.expiresAt}
                FROM live
                RETURNING id
              )
              SELECT t.id, t.family_id, t.user_id, t.expires_at, t.rotated_at, t.revoked_at, u.email, u.role,
                EXISTS (SELECT 1 FROM child) AS issued
              FROM t JOIN billing.users u ON u.id = t.user_id`
        })(undefined)

      const revokeFamily = (familyId: string, now: Date) =>
        sql`UPDATE billing.refresh_tokens SET revoked_at = ${now}
          WHERE family_id = ${familyId} AND revoked_at IS NULL RETURNING id`.pipe(Effect.map((rows) => rows.length))

      const revokeUserTokens = (userId: UserId, now: Date) =>
        sql<{ readonly familyId: string }>`UPDATE billing.refresh_tokens SET revoked_at = ${now}
          WHERE user_id = ${userId} AND revoked_at IS NULL RETURNING family_id`.pipe(
          Effect.map((rows) => [...new Set(rows.map((row) => row.familyId))])
        )

      const timeZoneOf = (userId: UserId) =>
        sql<{ readonly timeZone: string }>`SELECT time_zone FROM billing.users WHERE id = ${userId}`.pipe(
          Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), (row) => row.timeZone))
        )

      const setTimeZone = (userId: UserId, timeZone: string, now: Date) =>
        sql`UPDATE billing.users SET time_zone = ${timeZone}, updated_at = ${now} WHERE id = ${userId} RETURNING id`
          .pipe(
            Effect.map((rows) => rows.length === 1)
          )

      return AuthRepo.of({
        timeZoneOf,
        setTimeZone,
        insertUser,
        findUserByEmail,
        upsertAdmin,
        insertRefreshToken,
        rotateRefreshToken,
        findRefreshToken,
        revokeFamily,
        revokeUserTokens
      })
    })
  )
}

/** TokenSubjects backed by billing.users: a valid token whose account does not exist is a 401 on every billing route. */
export const AccountSubjects = Layer.effect(
  TokenSubjects,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    exists: (userId: UserId) =>
      sql`SELECT 1 FROM billing.users WHERE id = ${userId}`.pipe(
        Effect.map((rows) => rows.length > 0),
        orUnavailable
      )
  }))
)
