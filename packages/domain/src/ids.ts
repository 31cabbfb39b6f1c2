// Ids are opaque to clients but have one shape: the resource's prefix, an underscore, then 1..60 characters of
// [A-Za-z0-9_-] (UUIDs, hex, base64url). Anything else is refused where it enters (path, query, body) with a 400,
// so no id reaches a query that could never match. Event ids are UUIDs (consumers dedupe on them).
import { Schema } from "effect"

export const ID_MAX_LENGTH = 64

const id = (prefix: string, name: string) =>
  Schema.String.check(
    Schema.isPattern(new RegExp(`^${prefix}_[A-Za-z0-9_-]{1,${ID_MAX_LENGTH - prefix.length - 1}}$`, "u"), {
      message: `expected a ${name} such as ${prefix}_0f9c2e…`
    })
  )

/** Any of the ids below, whatever its resource (e.g. the tie-breaker inside a page cursor). */
export const isAnyId = (value: string): boolean =>
  value.length <= ID_MAX_LENGTH && /^[a-z]{2,5}_[A-Za-z0-9_-]+$/.test(value)

export const UserId = id("usr", "UserId").pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const FilmId = id("film", "FilmId").pipe(Schema.brand("FilmId"))
export type FilmId = typeof FilmId.Type

export const ProductId = id("prod", "ProductId").pipe(Schema.brand("ProductId"))
export type ProductId = typeof ProductId.Type

export const PlanId = id("plan", "PlanId").pipe(Schema.brand("PlanId"))
export type PlanId = typeof PlanId.Type

export const SubscriptionId = id("sub", "SubscriptionId").pipe(Schema.brand("SubscriptionId"))
export type SubscriptionId = typeof SubscriptionId.Type

export const InvoiceId = id("inv", "InvoiceId").pipe(Schema.brand("InvoiceId"))
export type InvoiceId = typeof InvoiceId.Type

export const PaymentId = id("pay", "PaymentId").pipe(Schema.brand("PaymentId"))
export type PaymentId = typeof PaymentId.Type

export const RefundId = id("ref", "RefundId").pipe(Schema.brand("RefundId"))
export type RefundId = typeof RefundId.Type

export const EventId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("EventId"))
export type EventId = typeof EventId.Type
