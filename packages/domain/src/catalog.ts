// The catalog: films, products and their versioned plans, the admin HttpApi groups that
// manage them, and the data of the `catalog.product.*` events. Served by apps/catalog; billing keeps a copy
// (see products.ts) that the catalog → billing ETL maintains.
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { ADMIN_PREFIX, AdminAuthentication } from "./auth.ts"
import { NotFound } from "./errors.ts"
import { FilmId, PlanId, ProductId } from "./ids.ts"
import { Currency, isAmountWithinCurrencyMax, MAX_AMOUNT_ANY_CURRENCY } from "./money.ts"
import { NamePageQuery, Page } from "./pagination.ts"
import { isStorable } from "./text.ts"
import { RequestValidation } from "./validation.ts"
import { UtcDateTime } from "./time.ts"

// ---- text ----------------------------------------------------------------------------------------

/** Trimmed on decode; length counted in Unicode code points, so "Амели" and "千と千尋" count as people read them. */
const text = (min: number, max: number) => Schema.Trim.check(isStorable(), Schema.isBetweenCodePoints(min, max))

export const FilmTitle = text(1, 300).annotate({ identifier: "FilmTitle", description: "1..300 characters" })
export const Description = text(0, 5000).annotate({ description: "0..5000 characters" })
export const ProductName = text(1, 200).annotate({ identifier: "ProductName", description: "1..200 characters" })

/** Literals whose error message lists the allowed values (the identifier alone would hide them). */
const literals = <const L extends ReadonlyArray<string>>(identifier: string, values: L) =>
  Schema.Literals(values).annotate({ identifier, message: `expected one of ${values.join(", ")}` })

// ---- films ---------------------------------------------------------------------------------------

/** Age classification (RARS): the youngest audience the film is for. */
export const AgeRating = literals("AgeRating", ["0+", "6+", "12+", "16+", "18+"])
export type AgeRating = typeof AgeRating.Type

export const ReleaseYear = Schema.Int.check(Schema.isBetween({ minimum: 1888, maximum: 2100 })).annotate({
  description: "1888..2100"
})
export const DurationMinutes = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1440 })).annotate({
  description: "1..1440 minutes"
})

export const Film = Schema.Struct({
  id: FilmId,
  title: Schema.String,
  description: Schema.String,
  releaseYear: Schema.Int,
  durationMinutes: Schema.Int,
  ageRating: AgeRating,
  createdAt: UtcDateTime,
  updatedAt: UtcDateTime
}).annotate({ identifier: "Film" })
export type Film = typeof Film.Type

export const NewFilm = Schema.Struct({
  title: FilmTitle,
  /** default "" */
  description: Schema.optionalKey(Description),
  releaseYear: ReleaseYear,
  durationMinutes: DurationMinutes,
  ageRating: AgeRating
}).annotate({ identifier: "NewFilm" })
export type NewFilm = typeof NewFilm.Type

/** Only the fields present change. */
export const FilmPatch = Schema.Struct({
  title: Schema.optionalKey(FilmTitle),
  description: Schema.optionalKey(Description),
  releaseYear: Schema.optionalKey(ReleaseYear),
  durationMinutes: Schema.optionalKey(DurationMinutes),
  ageRating: Schema.optionalKey(AgeRating)
}).annotate({ identifier: "FilmPatch" })
export type FilmPatch = typeof FilmPatch.Type

export const FilmSearch = text(1, 200).annotate({ description: "case-insensitive substring of the title" })

// ---- products and plans --------------------------------------------------------------------------

export const PlanInterval = literals("PlanInterval", ["month", "year"])
export type PlanInterval = typeof PlanInterval.Type

/**
 * Minor units of the plan's currency, at most what one charge in it may be (`maxAmount`, checked on PlanSpec).
 * No free plans: free access is a trial (`trialDays`).
 */
export const PlanAmount = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_AMOUNT_ANY_CURRENCY })).annotate(
  {
    description: "integer minor units, 1..99999999 (IDR: 999999999999)"
  }
)
export const TrialDays = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 365 })).annotate({
  description: "0..365"
})

/** A plan as an admin asks for it; the catalog gives it an id. */
export const PlanSpec = Schema.Struct({
  interval: PlanInterval,
  amount: PlanAmount,
  currency: Currency,
  /** default 0 */
  trialDays: Schema.optionalKey(TrialDays)
}).check(isAmountWithinCurrencyMax()).annotate({ identifier: "PlanSpec" })
export type PlanSpec = typeof PlanSpec.Type

/**
 * The plans a product offers to new buyers: at most one per (interval, currency). Sending a changed amount or
 * trial for an (interval, currency) retires that plan and creates a new version; leaving one out retires it.
 */
export const PlanSpecs = Schema.Array(PlanSpec).check(
  Schema.isBetweenLength(1, 20),
  Schema.makeFilter(
    (plans: ReadonlyArray<PlanSpec>) => new Set(plans.map((p) => `${p.interval}/${p.currency}`)).size === plans.length,
    {
      expected: "at most one plan per interval and currency"
    }
  )
)

export const FilmIds = Schema.Array(FilmId).check(Schema.isMaxLength(1000), Schema.isUnique()).annotate({
  description: "distinct ids of existing films, at most 1000"
})

export const PlanStatus = literals("PlanStatus", ["active", "retired"])
export type PlanStatus = typeof PlanStatus.Type

export const Plan = Schema.Struct({
  id: PlanId,
  interval: PlanInterval,
  amount: Schema.Int,
  currency: Currency,
  trialDays: Schema.Int,
  /** retired: kept (existing subscriptions still resolve it) but not offered to new buyers */
  status: PlanStatus,
  createdAt: UtcDateTime,
  retiredAt: Schema.NullOr(UtcDateTime)
}).annotate({ identifier: "Plan" })
export type Plan = typeof Plan.Type

export const ProductStatus = literals("ProductStatus", ["active", "archived"])
export type ProductStatus = typeof ProductStatus.Type

export const Product = Schema.Struct({
  id: ProductId,
  name: Schema.String,
  description: Schema.String,
  status: ProductStatus,
  filmIds: Schema.Array(FilmId),
  /** active plans first, then retired versions, newest first */
  plans: Schema.Array(Plan),
  createdAt: UtcDateTime,
  updatedAt: UtcDateTime,
  archivedAt: Schema.NullOr(UtcDateTime)
}).annotate({ identifier: "Product" })
export type Product = typeof Product.Type

export const NewProduct = Schema.Struct({
  name: ProductName,
  /** default "" */
  description: Schema.optionalKey(Description),
  /** default [] */
  filmIds: Schema.optionalKey(FilmIds),
  plans: PlanSpecs
}).annotate({ identifier: "NewProduct" })
export type NewProduct = typeof NewProduct.Type

/** Only the fields present change; `filmIds` and `plans` replace the whole set. */
export const ProductPatch = Schema.Struct({
  name: Schema.optionalKey(ProductName),
  description: Schema.optionalKey(Description),
  filmIds: Schema.optionalKey(FilmIds),
  plans: Schema.optionalKey(PlanSpecs)
}).annotate({ identifier: "ProductPatch" })
export type ProductPatch = typeof ProductPatch.Type

// ---- errors --------------------------------------------------------------------------------------

/** 409: a film still listed by a product cannot be deleted; remove it from those products first. */
export class FilmInUse extends Schema.TaggedError<FilmInUse>()(
  "FilmInUse",
  { message: Schema.String, filmId: FilmId, productIds: Schema.Array(ProductId) },
  { httpApiStatus: 409 }
) {}

/** 409: an archived product is read-only (its subscribers keep what they bought). */
export class ProductArchived extends Schema.TaggedError<ProductArchived>()(
  "ProductArchived",
  { message: Schema.String, productId: ProductId },
  { httpApiStatus: 409 }
) {}

/** 422: `filmIds` names films that do not exist (or were deleted). */
export class UnknownFilms extends Schema.TaggedError<UnknownFilms>()(
  "UnknownFilms",
  { message: Schema.String, filmIds: Schema.Array(FilmId) },
  { httpApiStatus: 422 }
) {}

// ---- events --------------------------------------------------------------------------------------

/** `data` of `catalog.product.{created,updated,archived}`: the product as of the change. */
export const ProductEventData = Schema.Struct({
  id: ProductId,
  name: Schema.String,
  status: ProductStatus,
  filmIds: Schema.Array(FilmId),
  plans: Schema.Array(Schema.Struct({
    id: PlanId,
    interval: PlanInterval,
    amount: Schema.Int,
    currency: Currency,
    trialDays: Schema.Int
  })).annotate({ description: "the plans offered to new buyers" }),
  catalogVersion: Schema.Int.annotate({
    description: "the catalog's change counter at this change: orders changes across products"
  })
}).annotate({ identifier: "ProductEventData" })
export type ProductEventData = typeof ProductEventData.Type

// ---- HTTP (admin role) ---------------------------------------------------------------------------

const filmParams = { id: FilmId }
const productParams = { id: ProductId }

// auth.ts's adminGroup helper takes endpoints of one type only, so the admin guard is spelled out here:
// prefix, then RequestValidation, then AdminAuthentication (outermost: a missing token is a 401 before a 400).
export class FilmsGroup extends HttpApiGroup.make("films").add(
  HttpApiEndpoint.get("list", "/films", {
    query: { search: Schema.optionalKey(FilmSearch), ...NamePageQuery },
    success: Page(Film)
  }).annotate(OpenApi.Summary, "Films, by title"),
  HttpApiEndpoint.post("create", "/films", { payload: NewFilm, success: Film.pipe(HttpApiSchema.status(201)) })
    .annotate(OpenApi.Summary, "Add a film"),
  HttpApiEndpoint.get("get", "/films/:id", { params: filmParams, success: Film, error: NotFound })
    .annotate(OpenApi.Summary, "A film"),
  HttpApiEndpoint.patch("update", "/films/:id", {
    params: filmParams,
    payload: FilmPatch,
    success: Film,
    error: NotFound
  })
    .annotate(OpenApi.Summary, "Change a film"),
  HttpApiEndpoint.delete("delete", "/films/:id", { params: filmParams, error: [NotFound, FilmInUse] })
    .annotate(OpenApi.Summary, "Delete a film")
).prefix(ADMIN_PREFIX).middleware(RequestValidation).middleware(AdminAuthentication).annotateMerge(OpenApi.annotations({
  title: "Films",
  description: "Films (admin). Ordered by title; `search` matches a case-insensitive substring of the title."
})) {}

export class ProductsAdminGroup extends HttpApiGroup.make("products").add(
  HttpApiEndpoint.get("list", "/products", {
    query: { status: Schema.optionalKey(ProductStatus), ...NamePageQuery },
    success: Page(Product)
  }).annotate(OpenApi.Summary, "Products, by name"),
  HttpApiEndpoint.post("create", "/products", {
    payload: NewProduct,
    success: Product.pipe(HttpApiSchema.status(201)),
    error: UnknownFilms
  }).annotate(OpenApi.Summary, "Create a product with its films and plans"),
  HttpApiEndpoint.get("get", "/products/:id", { params: productParams, success: Product, error: NotFound })
    .annotate(OpenApi.Summary, "A product with its plans, retired ones too"),
  HttpApiEndpoint.patch("update", "/products/:id", {
    params: productParams,
    payload: ProductPatch,
    success: Product,
    error: [NotFound, ProductArchived, UnknownFilms]
  }).annotate(OpenApi.Summary, "Change a product, its films or its plans"),
  HttpApiEndpoint.post("archive", "/products/:id/archive", {
    params: productParams,
    success: Product,
    error: [NotFound, ProductArchived]
  }).annotate(OpenApi.Summary, "Archive a product (no new sales)")
).prefix(ADMIN_PREFIX).middleware(RequestValidation).middleware(AdminAuthentication).annotateMerge(OpenApi.annotations({
  title: "Products",
  description: "Products (admin): bundles of films with versioned plans. A changed price or trial creates a new " +
    "plan version and retires the old one for new buyers; existing subscriptions keep their plan id."
})) {}
