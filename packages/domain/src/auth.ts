// Accounts and tokens: the auth HttpApi group, the bearer middleware every app's
// protected groups use, the CurrentUser they provide, and the service-token middlewares of calls between
// services. The server side lives in
// packages/platform/src/auth.ts (token verification) and apps/billing/src/auth (accounts).
import { Context, Schema, SchemaTransformation } from "effect"
import { RpcMiddleware } from "effect/rpc"
import {
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import { Forbidden, RateLimited, ServiceUnavailable, Unauthorized } from "./errors.ts"
import { UserId } from "./ids.ts"
import { RequestValidation } from "./validation.ts"

export const Role = Schema.Literals(["user", "admin"]).annotate({ identifier: "Role" })
export type Role = typeof Role.Type

const emailPattern = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/

/** An email address: trimmed and lower-cased on decode, then validated (max 254 characters, RFC 5321). */
export const Email = Schema.String.pipe(
  Schema.decodeTo(
    Schema.String.check(
      Schema.isMaxLength(254, { message: "email must be at most 254 characters" }),
      Schema.isPattern(emailPattern, { message: "email must be an address such as name@example.com" })
    ),
    SchemaTransformation.composeTransformation(SchemaTransformation.trim(), SchemaTransformation.toLowerCase())
  )
).annotate({ identifier: "Email", description: "email address; trimmed and lower-cased" })
export type Email = typeof Email.Type

export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 256

// counted in code points, so the documented minLength/maxLength are the bounds checked
export const Password = Schema.String.check(
  Schema.isMinCodePoints(PASSWORD_MIN_LENGTH, {
    message: `password must be at least ${PASSWORD_MIN_LENGTH} characters`
  }),
  Schema.isMaxCodePoints(PASSWORD_MAX_LENGTH, { message: `password must be at most ${PASSWORD_MAX_LENGTH} characters` })
).annotate({ identifier: "Password", description: `${PASSWORD_MIN_LENGTH}..${PASSWORD_MAX_LENGTH} characters` })

/** The opaque refresh token as sent by clients; its shape is checked loosely, its value against the store. */
export const RefreshToken = Schema.String.check(
  Schema.isMinLength(1, { message: "refreshToken must not be empty" }),
  Schema.isMaxLength(512, { message: "refreshToken is too long" })
).annotate({ identifier: "RefreshToken" })

export const Credentials = Schema.Struct({ email: Email, password: Password }).annotate({ identifier: "Credentials" })
export const RefreshRequest = Schema.Struct({ refreshToken: RefreshToken }).annotate({ identifier: "RefreshRequest" })

export const Account = Schema.Struct({ id: UserId, email: Schema.String }).annotate({ identifier: "Account" })
export type Account = typeof Account.Type

export const Me = Schema.Struct({ id: UserId, email: Schema.String, role: Role }).annotate({ identifier: "Me" })
export type Me = typeof Me.Type

// the runtime's own spelling of the zone ("europe/berlin" → "Europe/Berlin"); undefined when it knows no such zone
const canonicalZone = (zone: string): string | undefined => {
  if (zone.trim() === "") return undefined
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: zone.trim() }).resolvedOptions().timeZone
  } catch {
    return undefined
  }
}

/** An IANA time zone name, in its canonical spelling on decode. */
export const TimeZone = Schema.String.pipe(
  Schema.decodeTo(
    Schema.String.check(Schema.makeFilter((zone: string) => canonicalZone(zone) === zone, {
      expected: "an IANA time zone name such as Europe/Berlin"
    })),
    // an unknown name passes through unchanged, for the check to refuse
    SchemaTransformation.transform({ decode: (zone) => canonicalZone(zone) ?? zone, encode: (zone) => zone })
  )
).annotate({ identifier: "TimeZone", examples: ["Europe/Berlin"] })

/** The account's time zone: billing periods and statement days are computed in it. New accounts have UTC. */
export const TimeZoneSetting = Schema.Struct({ timeZone: TimeZone }).annotate({ identifier: "TimeZoneSetting" })
export type TimeZoneSetting = typeof TimeZoneSetting.Type

export const TokenPair = Schema.Struct({
  accessToken: Schema.String,
  refreshToken: Schema.String,
  tokenType: Schema.Literal("Bearer"),
  /** seconds until the access token expires */
  expiresIn: Schema.Int
}).annotate({ identifier: "TokenPair" })
export type TokenPair = typeof TokenPair.Type

/** `data` of the `user.registered` event. */
export const UserRegistered = Schema.Struct({
  userId: UserId,
  email: Schema.String.annotate({ description: "trimmed and lower-cased" }),
  role: Role
}).annotate({
  identifier: "UserRegistered"
})
export type UserRegistered = typeof UserRegistered.Type

/** The authenticated caller, provided to handlers by `Authentication` / `AdminAuthentication`. */
export class CurrentUser extends Context.Service<CurrentUser, {
  readonly id: UserId
  readonly email: string
  readonly role: Role
  /** the access token's `jti` */
  readonly tokenId: string
}>()("kassa/CurrentUser") {}

/**
 * The access token as an OpenAPI security scheme: HTTP `bearer` (lower case, as OpenAPI tools and Scalar expect, so
 * the docs' samples say `Authorization: Bearer …`), a JWT from `POST /v1/auth/token`.
 */
export const accessToken = HttpApiSecurity.http({ scheme: "bearer" }).pipe(
  HttpApiSecurity.annotate(OpenApi.Format, "JWT"),
  HttpApiSecurity.annotate(OpenApi.Description, "access token from POST /v1/auth/token on billing (15 minutes)")
)

/**
 * Bearer access token, any role. 401 when the token is missing, invalid, expired or revoked; 503 when
 * revocation state cannot be confirmed (the cache is down and the revocation feed is stale: fail closed).
 */
export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentUser }>()(
  "kassa/Authentication",
  { security: { bearer: accessToken }, error: [Unauthorized, ServiceUnavailable] }
) {}

/** Bearer access token with role `admin`: 401 as `Authentication`, 403 for any other role. */
export class AdminAuthentication extends HttpApiMiddleware.Service<AdminAuthentication, { provides: CurrentUser }>()(
  "kassa/AdminAuthentication",
  { security: { bearer: accessToken }, error: [Unauthorized, Forbidden, ServiceUnavailable] }
) {}

/** RPC middleware: `Authorization: Bearer <SERVICE_TOKEN>`; clients must provide the side that adds it. */
export class ServiceAuth extends RpcMiddleware.Service<ServiceAuth>()("kassa/ServiceAuth", {
  error: Unauthorized,
  requiredForClient: true
}) {}

/**
 * The same token on HTTP routes meant for other services and operators. Derived clients add it with
 * `HttpApiMiddleware.layerClient(ServiceTokenAuth, …)` (not forced, so clients of the API's other groups need none).
 */
export class ServiceTokenAuth extends HttpApiMiddleware.Service<ServiceTokenAuth>()("kassa/ServiceTokenAuth", {
  security: {
    bearer: HttpApiSecurity.http({ scheme: "bearer" }).pipe(
      HttpApiSecurity.annotate(OpenApi.Description, "the deployment's SERVICE_TOKEN")
    )
  },
  error: Unauthorized
}) {}

export const ADMIN_PREFIX = "/admin/v1"

/**
 * An admin group: its endpoints live under /admin/v1 and carry `RequestValidation` and `AdminAuthentication`.
 * Building admin groups only through this keeps the guard from being forgotten (test/admin-guard.test.ts
 * checks every HttpApi anyway). Declare endpoint paths without the prefix: `HttpApiEndpoint.get("list", "/films")`.
 */
export const adminGroup = <
  const Id extends string,
  const Endpoints extends readonly [HttpApiEndpoint.Constraint, ...Array<HttpApiEndpoint.Constraint>]
>(
  id: Id,
  ...endpoints: Endpoints
) =>
  HttpApiGroup.make(id).add(...endpoints).prefix(ADMIN_PREFIX).middleware(RequestValidation).middleware(
    AdminAuthentication
  )

/** 409: an account with this email exists already. */
export class EmailTaken extends Schema.TaggedError<EmailTaken>()(
  "EmailTaken",
  { message: Schema.String, email: Schema.String },
  { httpApiStatus: 409 }
) {}

export class AuthGroup extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("register", "/v1/auth/register", {
      payload: Credentials,
      success: Account.pipe(HttpApiSchema.status(201)),
      error: [EmailTaken, RateLimited, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Create an account"),
    HttpApiEndpoint.post("token", "/v1/auth/token", {
      payload: Credentials,
      success: TokenPair,
      error: [Unauthorized, RateLimited, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Log in: an access token and a refresh token"),
    HttpApiEndpoint.post("refresh", "/v1/auth/refresh", {
      payload: RefreshRequest,
      success: TokenPair,
      error: [Unauthorized, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Trade a refresh token for a new pair"),
    HttpApiEndpoint.post("logout", "/v1/auth/logout", {
      payload: RefreshRequest,
      success: HttpApiSchema.NoContent,
      error: ServiceUnavailable
    }).annotate(OpenApi.Summary, "End the session of a refresh token")
  )
  .middleware(RequestValidation)
  .annotateMerge(OpenApi.annotations({ title: "Auth", description: "Accounts and tokens" }))
{}

export class MeGroup extends HttpApiGroup.make("me")
  .add(
    HttpApiEndpoint.get("get", "/v1/me", { success: Me }).annotate(OpenApi.Summary, "Your account"),
    HttpApiEndpoint.get("timeZone", "/v1/me/time-zone", { success: TimeZoneSetting, error: ServiceUnavailable })
      .annotate(OpenApi.Summary, "Your time zone"),
    // future periods (renewals) and statements follow the new zone; periods already running keep their ends
    HttpApiEndpoint.put("setTimeZone", "/v1/me/time-zone", {
      payload: TimeZoneSetting,
      success: TimeZoneSetting,
      error: ServiceUnavailable
    }).annotate(OpenApi.Summary, "Set your time zone")
  )
  .middleware(RequestValidation)
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({ title: "Me", description: "The authenticated user" }))
{}
