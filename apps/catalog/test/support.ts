// The catalog under test: the real app on an ephemeral port over TestPlatform (own Postgres database, real
// Redis and RabbitMQ), with a known JWT secret, and access tokens minted by the same AccessTokenIssuer billing
// uses, so the catalog verifies exactly what billing would hand out.
import { randomBytes, randomUUID } from "node:crypto"
import { CatalogLive } from "@kassa/catalog/main"
import { CatalogApi } from "@kassa/domain/apis"
import type { Role } from "@kassa/domain/auth"
import { UserId } from "@kassa/domain/ids"
import { AccessTokenIssuer } from "@kassa/platform/auth"
import { serverUrl } from "@kassa/platform/http"
import { apiClient, TestPlatform } from "@kassa/platform/testing"
import { ConfigProvider, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"

export const jwtSecret = randomBytes(32).toString("base64url")

export const TestAuthConfig = ConfigProvider.layerAdd(ConfigProvider.fromUnknown({ JWT_SECRET: jwtSecret }), {
  asPrimary: true
})

/** CatalogLive + an AccessTokenIssuer with the same JWT_SECRET, on TestPlatform. */
export const CatalogUnderTest = Layer.mergeAll(CatalogLive, AccessTokenIssuer.layer).pipe(
  Layer.provide(TestAuthConfig),
  Layer.provideMerge(TestPlatform)
)

export const tokenFor = (role: Role) =>
  Effect.gen(function*() {
    const issuer = yield* AccessTokenIssuer
    const id = UserId.make(`usr_${role}_${randomUUID()}`)
    const issued = yield* issuer.issue({ id, email: `${id}@example.com`, role }, randomUUID())
    return issued.token
  })

/** A CatalogApi client carrying an access token of `role` (admin by default). */
export const catalogClient = (role: Role = "admin") =>
  Effect.flatMap(tokenFor(role), (bearer) => apiClient(CatalogApi, { bearer }))

export interface RawResponse {
  readonly status: number
  readonly body: unknown
}

/** A raw request with an admin token, for input the derived client refuses to encode. */
export const rawRequest = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const url = serverUrl(yield* HttpServer.HttpServer) + path
    const token = yield* tokenFor("admin")
    return yield* Effect.promise(async (): Promise<RawResponse> => {
      const response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
        ...(body === undefined ? {} : { body })
      })
      const text = await response.text()
      return { status: response.status, body: text === "" ? undefined : JSON.parse(text) as unknown }
    })
  })

export const film = (title: string, overrides: Partial<{ releaseYear: number; durationMinutes: number }> = {}) => ({
  title,
  releaseYear: overrides.releaseYear ?? 1999,
  durationMinutes: overrides.durationMinutes ?? 120,
  ageRating: "12+" as const
})
