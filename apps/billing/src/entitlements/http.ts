// The entitlements group of BillingApi, and its hot route: GET /v1/entitlements/films/:filmId answered before
// routing (the player asks on every play), with the same contract as the HttpApi endpoint.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { EntitlementCheck } from "@kassa/domain/entitlements"
import { ServiceUnavailable, Unauthorized } from "@kassa/domain/errors"
import { FilmId } from "@kassa/domain/ids"
import { TokenVerifier } from "@kassa/platform/auth"
import type { FastRoutes } from "@kassa/platform/http"
import { Clock, Effect, Schema } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Entitlements } from "./service.ts"

export const EntitlementsHttpLive = HttpApiBuilder.group(BillingApi, "entitlements", (handlers) =>
  Effect.gen(function*() {
    const entitlements = yield* Entitlements
    return handlers
      .handle("list", () => Effect.flatMap(CurrentUser, (user) => entitlements.list(user.id)))
      .handle("film", ({ params }) => Effect.flatMap(CurrentUser, (user) => entitlements.check(user.id, params.filmId)))
  }))

const filmPrefix = "/v1/entitlements/films/"

const bearerCredential = (authorization: string | undefined): string => {
  if (authorization === undefined || authorization.length <= 6 || authorization.charCodeAt(6) !== 32) return ""
  if (authorization.slice(0, 6).toLowerCase() !== "bearer") return ""
  let start = 7
  while (authorization.charCodeAt(start) === 32) start++
  return authorization.slice(start)
}

const decodeSegment = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

/** (test: "the film check answers alike on its fast route and on the HttpApi route") */
export const EntitlementFastRoutes: Effect.Effect<FastRoutes, never, TokenVerifier | Entitlements> = Effect.gen(function*() {
  const verifier = yield* TokenVerifier
  const entitlements = yield* Entitlements
  const encodeCheck = Schema.encodeSync(EntitlementCheck)
  const encodeUnauthorized = Schema.encodeSync(Unauthorized)
  const encodeUnavailable = Schema.encodeSync(ServiceUnavailable)
  const failure = (error: Unauthorized | ServiceUnavailable) =>
    error._tag === "Unauthorized"
      ? HttpServerResponse.jsonUnsafe(encodeUnauthorized(error), { status: 401 })
      : HttpServerResponse.jsonUnsafe(encodeUnavailable(error), { status: 503 })
  const answer = (check: EntitlementCheck) => HttpServerResponse.jsonUnsafe(encodeCheck(check))
  const film = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.matchEffect(verifier.verify(bearerCredential(request.headers.authorization)), {
      onFailure: (error) => Effect.succeed(failure(error)),
      onSuccess: (token) => {
        const raw = decodeSegment(request.url.slice(filmPrefix.length))
        // a segment that is not valid percent-encoding: the routed endpoint finds no route either
        if (raw === undefined || raw === "") {
          return Effect.succeed(HttpServerResponse.jsonUnsafe({ _tag: "NotFound", message: "not found" }, { status: 404 }))
        }
        const filmId = FilmId.make(raw)
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          // an in-process hit needs no fiber work beyond this one
          const hit = entitlements.peek(token.user.id, filmId, now)
          if (hit !== undefined) return Effect.succeed(answer(hit))
          return Effect.match(entitlements.check(token.user.id, filmId), { onFailure: failure, onSuccess: answer })
        })
      }
    })
  return new Map([[`GET ${filmPrefix}*`, film]])
})
