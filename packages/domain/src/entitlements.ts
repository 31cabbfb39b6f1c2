// Entitlements: "may this user watch this film?". The viewer's HttpApi group, and the RPC group
// other services call with the service token (the player's backend checks a viewer's token and access with it).
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { Rpc, RpcGroup } from "effect/rpc"
import { Authentication, Me, ServiceAuth } from "./auth.ts"
import { ServiceUnavailable, Unauthorized } from "./errors.ts"
import { FilmId, ProductId, UserId } from "./ids.ts"
import { RequestValidation } from "./validation.ts"
import { UtcDateTime } from "./time.ts"

/** The answer for one (user, film): 200 either way; `productId`/`until` name the grant when allowed. */
export const EntitlementCheck = Schema.Struct({
  allowed: Schema.Boolean,
  filmId: FilmId,
  productId: Schema.optionalKey(ProductId),
  /** access lasts until then unless renewed (period end, or period end + grace while past due) */
  until: Schema.optionalKey(UtcDateTime)
}).annotate({ identifier: "EntitlementCheck" })
export type EntitlementCheck = typeof EntitlementCheck.Type

/** `data` of `entitlement.granted` (access to the product's films until `until`) and `entitlement.revoked` (`until` null). */
export const EntitlementEventData = Schema.Struct({
  userId: UserId,
  productId: ProductId,
  until: Schema.NullOr(UtcDateTime).annotate({
    description: "`entitlement.granted`: access to the product's films lasts until then; `entitlement.revoked`: null"
  })
}).annotate({ identifier: "EntitlementEventData" })
export type EntitlementEventData = typeof EntitlementEventData.Type

export const EntitledProduct = Schema.Struct({
  productId: ProductId,
  until: UtcDateTime,
  filmIds: Schema.Array(FilmId)
}).annotate({ identifier: "EntitledProduct" })
export type EntitledProduct = typeof EntitledProduct.Type

export const Entitlements = Schema.Struct({
  products: Schema.Array(EntitledProduct),
  /** every film the user may watch now, each with the grant that lasts longest */
  films: Schema.Array(Schema.Struct({ filmId: FilmId, productId: ProductId, until: UtcDateTime }))
}).annotate({ identifier: "Entitlements" })
export type Entitlements = typeof Entitlements.Type

export class EntitlementsGroup extends HttpApiGroup.make("entitlements")
  .add(
    HttpApiEndpoint.get("list", "/", { success: Entitlements, error: ServiceUnavailable })
      .annotate(OpenApi.Summary, "What you may watch, by product"),
    HttpApiEndpoint.get("film", "/films/:filmId", {
      params: { filmId: FilmId },
      success: EntitlementCheck,
      error: ServiceUnavailable
    }).annotate(OpenApi.Summary, "May you watch this film?")
  )
  .middleware(RequestValidation)
  .middleware(Authentication)
  .prefix("/v1/entitlements")
  .annotateMerge(OpenApi.annotations({
    title: "Entitlements",
    description: "What the viewer may watch now. A film the viewer may not watch (or that does not exist) " +
      "answers 200 with allowed false."
  }))
{}

export const MAX_ENTITLEMENT_BATCH = 1_000

export const EntitlementQuery = Schema.Struct({ userId: UserId, filmId: FilmId }).annotate({
  identifier: "EntitlementQuery"
})
export type EntitlementQuery = typeof EntitlementQuery.Type

export const EntitlementAnswer = Schema.Struct({ userId: UserId, ...EntitlementCheck.fields }).annotate({
  identifier: "EntitlementAnswer"
})
export type EntitlementAnswer = typeof EntitlementAnswer.Type

export const VerifiedViewer = Schema.Struct({ user: Me, expiresAt: UtcDateTime }).annotate({
  identifier: "VerifiedViewer"
})

/** Served by billing at POST /rpc behind the service token. */
export class EntitlementRpcs extends RpcGroup.make(
  Rpc.make("CheckEntitlement", { payload: EntitlementQuery, success: EntitlementAnswer, error: ServiceUnavailable }),
  /** Answers in the order asked; at most MAX_ENTITLEMENT_BATCH pairs. */
  Rpc.make("CheckEntitlements", {
    payload: {
      checks: Schema.Array(EntitlementQuery).check(
        Schema.isMaxLength(MAX_ENTITLEMENT_BATCH, { message: `at most ${MAX_ENTITLEMENT_BATCH} checks per call` })
      )
    },
    success: Schema.Array(EntitlementAnswer),
    error: ServiceUnavailable
  }),
  /** A viewer's access token, checked as billing's own routes check it (revocations included). */
  Rpc.make("VerifyToken", {
    payload: { accessToken: Schema.String },
    success: VerifiedViewer,
    error: Schema.Union([Unauthorized, ServiceUnavailable])
  })
).middleware(ServiceAuth) {}
