// The service token (SERVICE_TOKEN): a bearer token services calling each other and operators present. One value for the
// whole deployment; unset, a fixed development token is used and a warning logged. SERVICE_TOKEN_PREVIOUS is accepted
// beside it, never presented, so the token can be rotated without downtime (docs/operations.md).
import { Unauthorized } from "@kassa/domain"
import { ServiceAuth, ServiceTokenAuth } from "@kassa/domain/auth"
import { bearerCredential } from "./auth.ts"
import { developmentServiceToken, ServiceTokenConfig, ServiceTokenPreviousConfig } from "./config.ts"
import { timingSafeEqual } from "node:crypto"
import { type Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"

const constantTimeMatcher = (token: Redacted.Redacted<string>) => {
  const expected = Buffer.from(Redacted.value(token))
  return (given: Buffer) => given.length === expected.length && timingSafeEqual(given, expected)
}

export class ServiceToken extends Context.Service<ServiceToken, {
  /** The token this service presents. */
  readonly token: Redacted.Redacted<string>
  /** Constant-time comparison of a presented bearer token against the token and the previous one. */
  matches(presented: string): boolean
}>()("kassa/ServiceToken") {
  static readonly make = (
    token: Redacted.Redacted<string>,
    previous: Option.Option<Redacted.Redacted<string>> = Option.none()
  ) => {
    const accepted = [token, ...Option.toArray(previous)].map(constantTimeMatcher)
    return ServiceToken.of({
      token,
      matches: (presented) => {
        const given = Buffer.from(presented)
        // every candidate is compared, so the time taken does not tell which one matched
        return accepted.reduce((found, matches) => matches(given) || found, false)
      }
    })
  }

  static readonly layer: Layer.Layer<ServiceToken, Config.ConfigError> = Layer.effect(
    ServiceToken,
    Effect.gen(function*() {
      const configured = yield* ServiceTokenConfig
      if (Option.isNone(configured)) {
        yield* Effect.logWarning(
          "SERVICE_TOKEN not set: using the fixed development token; set it in any shared environment"
        )
      }
      const token = Option.getOrElse(configured, () => Redacted.make(developmentServiceToken))
      return ServiceToken.make(token, yield* ServiceTokenPreviousConfig)
    })
  )
}

const refused = new Unauthorized({ message: "missing or invalid service token" })

/** Server side of the RPC middleware: checks `Authorization: Bearer <token>`. */
export const ServiceAuthLive: Layer.Layer<ServiceAuth, never, ServiceToken> = Layer.effect(
  ServiceAuth,
  Effect.map(
    ServiceToken,
    (token) =>
      ServiceAuth.of((effect, { headers }) =>
        token.matches(bearerCredential(headers["authorization"])) ? effect : Effect.fail(refused)
      )
  )
)

/** Server side of the HTTP middleware on the operator routes. */
export const ServiceTokenAuthLive: Layer.Layer<ServiceTokenAuth, never, ServiceToken> = Layer.effect(
  ServiceTokenAuth,
  Effect.map(ServiceToken, (token) =>
    ServiceTokenAuth.of({
      bearer: (httpEffect, { credential }) =>
        token.matches(Redacted.value(credential)) ? httpEffect : Effect.fail(refused)
    }))
)

/**
 * Route middleware for an RPC endpoint (`RpcServer.layerHttp(...).pipe(Layer.provide(ServiceTokenGuard))`): a
 * request without the service token is refused with HTTP 401 before the RPC layer reads it, so gateways and
 * monitors see the refusal (an RPC exit inside a 200 they would not). The RPC middleware still checks each call.
 */
export const ServiceTokenGuard = HttpRouter.middleware(Effect.map(Effect.service(ServiceToken), (token) => {
  const answer = HttpServerResponse.jsonUnsafe(
    { _tag: refused._tag, message: refused.message },
    { status: 401, headers: { "www-authenticate": "Bearer" } }
  )
  return (httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown>) =>
    Effect.flatMap(
      Effect.service(HttpServerRequest.HttpServerRequest),
      (request) =>
        token.matches(bearerCredential(request.headers["authorization"])) ? httpEffect : Effect.succeed(answer)
    )
})).layer
