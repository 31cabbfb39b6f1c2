import { Schema } from "effect"

// Catalog and billing ids are opaque strings whose format the owning service picks;
// only event ids have a fixed format (consumers dedupe on them).
const Id = Schema.NonEmptyString

export const UserId = Id.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const FilmId = Id.pipe(Schema.brand("FilmId"))
export type FilmId = typeof FilmId.Type

export const ProductId = Id.pipe(Schema.brand("ProductId"))
export type ProductId = typeof ProductId.Type

export const PlanId = Id.pipe(Schema.brand("PlanId"))
export type PlanId = typeof PlanId.Type

export const SubscriptionId = Id.pipe(Schema.brand("SubscriptionId"))
export type SubscriptionId = typeof SubscriptionId.Type

export const InvoiceId = Id.pipe(Schema.brand("InvoiceId"))
export type InvoiceId = typeof InvoiceId.Type

export const PaymentId = Id.pipe(Schema.brand("PaymentId"))
export type PaymentId = typeof PaymentId.Type

export const RefundId = Id.pipe(Schema.brand("RefundId"))
export type RefundId = typeof RefundId.Type

export const EventId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("EventId"))
export type EventId = typeof EventId.Type
