// The entitlements group of BillingApi, and its hot route: GET /v1/entitlements/films/:filmId answered before
// Effect (the player asks on every play), with the same contract as the HttpApi endpoint.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { EntitlementCheck } from "@kassa/domain/entitlements"
import { FilmId } from "@kassa/domain/ids"
import { bearerCredential, TokenVerifier } from "@kassa/platform/auth"
import { type HotResponse, type HotRoute, type HotRoutes, rawHeader } from "@kassa/platform/http"
import { Effect, Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Entitlements } from "./service.ts"

export const EntitlementsHttpLive = HttpApiBuilder.group(
  BillingApi,
  "entitlements",
  (handlers) =>
    Effect.gen(function*() {
      const entitlements = yield* Entitlements
      return handlers
        .handle("list", () => Effect.flatMap(CurrentUser, (user) => entitlements.list(user.id)))
        .handle(
          "film",
          ({ params }) => Effect.flatMap(CurrentUser, (user) => entitlements.check(user.id, params.filmId))
        )
    })
)

/**
 * GET /v1/entitlements/films/:filmId answered in node:http (serveApi's hotRoutes) when both the token and the answer
 * are in this process's memory (the player asks on every play and seek); anything else goes to the HttpApi endpoint
 * above (test: "the film check answers alike on its hot route and on the HttpApi route").
 */
export const EntitlementHotRoutes: Effect.Effect<HotRoutes, never, TokenVerifier | Entitlements> = Effect.gen(
  function*() {
    const verifier = yield* TokenVerifier
    const entitlements = yield* Entitlements
    const encodeCheck = Schema.encodeSync(EntitlementCheck)
    const isFilmId = Schema.is(FilmId)
    // peek hands out one answer object per cached entry, so its bytes are encoded once
    const answers = new WeakMap<EntitlementCheck, HotResponse>()
    const film: HotRoute = (request, param, now) => {
      // a percent-encoded id is left to the endpoint, which decodes path parameters, and so is one that is not an id
      // (the endpoint answers it 400)
      if (param.indexOf("%") !== -1 || !isFilmId(param)) return undefined
      const token = verifier.peek(bearerCredential(rawHeader(request, "authorization")), now)
      if (token === undefined) return undefined
      const check = entitlements.peek(token.user.id, param, now)
      if (check === undefined) return undefined
      let answer = answers.get(check)
      if (answer === undefined) {
        answer = { status: 200, body: Buffer.from(JSON.stringify(encodeCheck(check))) }
        answers.set(check, answer)
      }
      return answer
    }
    return new Map([["GET /v1/entitlements/films/:filmId", film]])
  }
)
