// The auth and me groups of BillingApi.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser, Me } from "@kassa/domain/auth"
import { bearerCredential, TokenVerifier, type VerifiedToken } from "@kassa/platform/auth"
import { AccountsConfig } from "../config.ts"
import { type HotResponse, type HotRoute, type HotRoutes, rawHeader } from "@kassa/platform/http"
import { Effect, Layer, Option, Schema } from "effect"
import type { HttpServerRequest } from "effect/http"
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
    const { trustProxy } = yield* AccountsConfig
    return handlers
      .handle("register", ({ payload, request }) => accounts.register(payload, clientAddress(request, trustProxy)))
      .handle("token", ({ payload, request }) => accounts.login(payload, clientAddress(request, trustProxy)))
      .handle("refresh", ({ payload }) => accounts.refresh(payload.refreshToken))
      .handle("logout", ({ payload }) => accounts.logout(payload.refreshToken))
  }))

const meOf = ({ id, email, role }: CurrentUser["Service"]): Me => ({ id, email, role })

export const MeHttpLive = HttpApiBuilder.group(
  BillingApi,
  "me",
  (handlers) =>
    Effect.map(Effect.service(Accounts), (accounts) =>
      handlers
        .handle("get", () => Effect.map(CurrentUser, meOf))
        .handle("timeZone", () => Effect.flatMap(CurrentUser, (user) => accounts.timeZone(user.id)))
        .handle(
          "setTimeZone",
          ({ payload }) => Effect.flatMap(CurrentUser, (user) => accounts.setTimeZone(user.id, payload))
        ))
)

/**
 * GET /v1/me answered in node:http (serveApi's hotRoutes) for a token the verifier already holds: the HttpApi with
 * its security middleware serves about a third of bare node:http. Anything else (first use of a token, revoked,
 * feed down) goes to the HttpApi endpoint, which decides 401/503 (test: "GET /v1/me answers alike …").
 */
export const MeHotRoutes: Effect.Effect<HotRoutes, never, TokenVerifier> = Effect.gen(function*() {
  const verifier = yield* TokenVerifier
  const encodeMe = Schema.encodeSync(Me)
  // the verifier hands out the same object for a cached token, so its answer is built once
  const answers = new WeakMap<VerifiedToken, HotResponse>()
  const me: HotRoute = (request, _param, now) => {
    const token = verifier.peek(bearerCredential(rawHeader(request, "authorization")), now)
    if (token === undefined) return undefined
    let answer = answers.get(token)
    if (answer === undefined) {
      answer = { status: 200, body: Buffer.from(JSON.stringify(encodeMe(meOf(token.user)))) }
      answers.set(token, answer)
    }
    return answer
  }
  return new Map([["GET /v1/me", me]])
})

export const AuthGroupsLive = Layer.mergeAll(AuthHttpLive, MeHttpLive)
