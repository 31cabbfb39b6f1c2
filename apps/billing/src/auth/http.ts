// The auth and me groups of BillingApi.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser, Me } from "@kassa/domain/auth"
import { ServiceUnavailable, Unauthorized } from "@kassa/domain/errors"
import { TokenVerifier, type VerifiedToken } from "@kassa/platform/auth"
import { AuthConfig } from "@kassa/platform/config"
import type { FastRoutes } from "@kassa/platform/http"
import { Effect, Layer, Option, Schema } from "effect"
import { HttpEffect, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Accounts } from "./service.ts"

/**
 * The address failed logins are counted against: the socket's peer, or with TRUST_PROXY the last
 * X-Forwarded-For entry, which is the one the trusted proxy appended (earlier entries are client-supplied).
 */
export const clientAddress = (request: HttpServerRequest.HttpServerRequest, trustProxy: boolean): string => {
  if (trustProxy) {
    const forwarded = request.headers["x-forwarded-for"]?.split(",").map((s) => s.trim()).filter((s) => s !== "")
    const last = forwarded?.[forwarded.length - 1]
    if (last !== undefined) return last
  }
  return Option.getOrElse(request.remoteAddress, () => "unknown")
}

export const AuthHttpLive = HttpApiBuilder.group(BillingApi, "auth", (handlers) =>
  Effect.gen(function*() {
    const accounts = yield* Accounts
    const { trustProxy } = yield* AuthConfig
    return handlers
      .handle("register", ({ payload }) => accounts.register(payload))
      .handle("token", ({ payload, request }) =>
        accounts.login(payload, clientAddress(request, trustProxy)).pipe(
          // the error body carries retryAfterSeconds; the header is for clients and proxies that honour it
          Effect.tapError((error) =>
            error._tag === "RateLimited"
              ? HttpEffect.appendPreResponseHandler((_request, response) =>
                Effect.succeed(
                  response.status === 429
                    ? HttpServerResponse.setHeader(response, "retry-after", String(error.retryAfterSeconds))
                    : response
                ))
              : Effect.void
          )
        ))
      .handle("refresh", ({ payload }) => accounts.refresh(payload.refreshToken))
      .handle("logout", ({ payload }) => accounts.logout(payload.refreshToken))
  }))

const meOf = ({ id, email, role }: CurrentUser["Service"]): Me => ({ id, email, role })

export const MeHttpLive = HttpApiBuilder.group(BillingApi, "me", (handlers) =>
  handlers.handle("get", () => Effect.map(CurrentUser, meOf)))

/**
 * The credential of an `Authorization: Bearer <token>` header, read as the HttpApi's bearer security does
 * (RFC 9110: case-insensitive scheme, one or more spaces); "" when there is none.
 */
const bearerCredential = (authorization: string | undefined): string => {
  if (authorization === undefined || authorization.length <= 6 || authorization.charCodeAt(6) !== 32) return ""
  if (authorization.slice(0, 6).toLowerCase() !== "bearer") return ""
  let start = 7
  while (authorization.charCodeAt(start) === 32) start++
  return authorization.slice(start)
}

/**
 * GET /v1/me answered before routing (serveApi's fastRoutes): the HttpApi with its security middleware serves
 * about a third of bare node:http, this about as much as /health. Same contract: the bearer credential is read
 * as the HttpApi reads it, bodies are encoded with the contract's schemas, and the statuses are theirs
 * (test: "GET /v1/me answers alike on its lean route and on the HttpApi route").
 */
export const MeFastRoutes: Effect.Effect<FastRoutes, never, TokenVerifier> = Effect.gen(function*() {
  const verifier = yield* TokenVerifier
  const encodeMe = Schema.encodeSync(Me)
  const encodeUnauthorized = Schema.encodeSync(Unauthorized)
  const encodeUnavailable = Schema.encodeSync(ServiceUnavailable)
  // the verifier hands out the same object for a cached token, so its answer is built once
  const answers = new WeakMap<VerifiedToken, HttpServerResponse.HttpServerResponse>()
  const answer = (token: VerifiedToken) => {
    const known = answers.get(token)
    if (known !== undefined) return known
    const response = HttpServerResponse.jsonUnsafe(encodeMe(meOf(token.user)))
    answers.set(token, response)
    return response
  }
  const me = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.match(verifier.verify(bearerCredential(request.headers.authorization)), {
      onSuccess: answer,
      onFailure: (error) =>
        error._tag === "Unauthorized"
          ? HttpServerResponse.jsonUnsafe(encodeUnauthorized(error), { status: 401 })
          : HttpServerResponse.jsonUnsafe(encodeUnavailable(error), { status: 503 })
    })
  return new Map([["GET /v1/me", me]])
})

export const AuthGroupsLive = Layer.mergeAll(AuthHttpLive, MeHttpLive)
