// Billing's viewer-facing products: billing's copy of the catalog, kept by the catalog → billing
// ETL under the catalog's ids. Public: a storefront is browsed before signing up.
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { PlanAmount, PlanInterval, ProductStatus, TrialDays } from "./catalog.ts"
import { NotFound, ServiceUnavailable } from "./errors.ts"
import { FilmId, PlanId, ProductId } from "./ids.ts"
import { Currency } from "./money.ts"
import { NamePageQuery, Page } from "./pagination.ts"
import { RequestValidation } from "./validation.ts"

export const OfferedPlan = Schema.Struct({
  id: PlanId,
  interval: PlanInterval,
  amount: PlanAmount,
  currency: Currency,
  trialDays: TrialDays
}).annotate({ identifier: "OfferedPlan" })
export type OfferedPlan = typeof OfferedPlan.Type

export const ProductFilm = Schema.Struct({ id: FilmId, title: Schema.String }).annotate({ identifier: "ProductFilm" })
export type ProductFilm = typeof ProductFilm.Type

export const ProductOffer = Schema.Struct({
  id: ProductId,
  name: Schema.String,
  description: Schema.String,
  /** archived: no longer sold (`plans` is empty); its existing subscriptions go on */
  status: ProductStatus,
  /** the plans a new buyer can choose; retired plan versions are not listed */
  plans: Schema.Array(OfferedPlan),
  /** ordered by title */
  films: Schema.Array(ProductFilm)
}).annotate({ identifier: "ProductOffer" })
export type ProductOffer = typeof ProductOffer.Type

export class ProductsGroup extends HttpApiGroup.make("products")
  .add(
    HttpApiEndpoint.get("list", "/", { query: NamePageQuery, success: Page(ProductOffer), error: ServiceUnavailable })
      .annotate(OpenApi.Summary, "Products on sale"),
    HttpApiEndpoint.get("get", "/:id", {
      params: { id: ProductId },
      success: ProductOffer,
      error: [NotFound, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "A product with its plans and films")
  )
  .middleware(RequestValidation)
  .prefix("/v1/products")
  .annotateMerge(OpenApi.annotations({
    title: "Products",
    description: "Products on sale, ordered by name, with their active plans and films. GET by id also " +
      "answers for an archived product (status archived, no plans)."
  }))
{}
