// The console's only way to the APIs: clients derived from the contracts in packages/domain, over the browser's
// fetch, on the page's own origin (the console's server passes /v1 and /admin/v1 on to billing and catalog).
import { Cause, Effect, Exit, Option } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { BillingApi, CatalogApi } from "@kassa/domain/apis"

const options = (token: string | undefined) => ({
  baseUrl: window.location.origin,
  transformClient: HttpClient.mapRequest((request: HttpClientRequest.HttpClientRequest) =>
    token === undefined ? request : HttpClientRequest.bearerToken(request, token)
  )
})

export const billingClient = (token?: string) => HttpApiClient.make(BillingApi, options(token))
export const catalogClient = (token?: string) => HttpApiClient.make(CatalogApi, options(token))
export type BillingClient = Effect.Success<ReturnType<typeof billingClient>>
export type CatalogClient = Effect.Success<ReturnType<typeof catalogClient>>
export interface Clients {
  readonly billing: BillingClient
  readonly catalog: CatalogClient
}

/** What the user sees of a failure: the API's own message (or the form check's), never a stack. */
export class ApiError extends Error {
  readonly tag: string | undefined
  readonly details: Record<string, unknown>
  constructor(message: string, tag: string | undefined, details: Record<string, unknown> = {}) {
    super(message)
    this.tag = tag
    this.details = details
  }
}

const describe = (error: unknown): ApiError => {
  if (typeof error === "object" && error !== null) {
    const record = error as Record<string, unknown>
    const tag = typeof record["_tag"] === "string" ? record["_tag"] : undefined
    if (tag === "HttpClientError") {
      return new ApiError("The server could not be reached. Check your connection and try again.", tag)
    }
    if (typeof record["message"] === "string" && record["message"] !== "") {
      // a form value the contract refuses: the schema names the field as a path
      const message = record["message"].replace(/\s+at \["?([^"\]]+)"?\]/g, " (field $1)")
      return new ApiError(message, tag, record)
    }
    if (tag !== undefined) return new ApiError(tag.replace(/([a-z])([A-Z])/g, "$1 $2"), tag, record)
  }
  return new ApiError("Something went wrong. Try again.", undefined)
}

export const toApiError = (cause: Cause.Cause<unknown>): ApiError =>
  Option.match(Cause.findErrorOption(cause), { onNone: () => describe(Cause.squash(cause)), onSome: describe })

/** Runs a client call; rejects with an ApiError. */
export const run = <A, E>(effect: Effect.Effect<A, E, HttpClient.HttpClient>): Promise<A> =>
  Effect.runPromiseExit(effect.pipe(Effect.provide(FetchHttpClient.layer))).then((exit) =>
    Exit.isSuccess(exit) ? exit.value : Promise.reject(toApiError(exit.cause))
  )

/** Both clients with the given access token. */
export const clients = (token: string | undefined) =>
  Effect.all({ billing: billingClient(token), catalog: catalogClient(token) })

/** A fresh Idempotency-Key: one per user action, reused when the same action is retried. */
export const newKey = (): string => crypto.randomUUID()
