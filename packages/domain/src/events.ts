// Events published on the `kassa.events` topic exchange (docs/events.md). The routing key is the
// type; consumers dedupe on `id`.
import { DateTime, type Effect, Option, Schema } from "effect"
import { EventId } from "./ids.ts"

export const eventTypes = [
  "user.registered",
  "subscription.created",
  "subscription.activated",
  "subscription.parked",
  "subscription.renewed",
  "subscription.past_due",
  "subscription.canceled",
  "subscription.expired",
  "invoice.created",
  "invoice.paid",
  "invoice.payment_failed",
  "invoice.voided",
  "invoice.uncollectible",
  "payment.succeeded",
  "payment.failed",
  "payment.refunded",
  "payment.canceled",
  "entitlement.granted",
  "entitlement.revoked",
  "catalog.product.created",
  "catalog.product.updated",
  "catalog.product.archived"
] as const

export const EventType = Schema.Literals(eventTypes).annotate({ identifier: "EventType" })
export type EventType = typeof EventType.Type

// Strict on the wire: a UTC ISO-8601 instant ("2025-01-31T12:00:00Z", optional fraction),
// which is what DateTime.formatIso produces.
const IsoUtcString = Schema.String.annotate({ format: "date-time" }).check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/),
  // the date parser would silently roll an impossible date such as Feb 30 over into March
  Schema.makeFilter((s: string) => {
    const parsed = DateTime.make(s)
    return Option.isSome(parsed) && DateTime.formatIso(parsed.value).slice(0, 19) === s.slice(0, 19)
  }, { expected: "an existing calendar date and time" })
)

export const OccurredAt = IsoUtcString.pipe(Schema.decodeTo(Schema.DateTimeUtcFromString))

export const EventEnvelope = Schema.Struct({
  id: EventId,
  type: EventType,
  occurredAt: OccurredAt,
  /** id of the entity the event is about (subscription, invoice, payment, user, product) */
  aggregateId: Schema.NonEmptyString,
  /** per-aggregate order, so consumers can drop stale events */
  sequence: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  data: Schema.JsonObject
}).annotate({ identifier: "EventEnvelope" })
export type EventEnvelope = typeof EventEnvelope.Type
/** The JSON-ready form: what the outbox stores and the broker carries. */
export type EventEnvelopeEncoded = typeof EventEnvelope.Encoded

export const EventEnvelopeJson = Schema.fromJsonString(EventEnvelope)

export const encodeEnvelope: (envelope: EventEnvelope) => Effect.Effect<string, Schema.SchemaError> = Schema
  .encodeEffect(EventEnvelopeJson)

export const decodeEnvelope: (json: string) => Effect.Effect<EventEnvelope, Schema.SchemaError> = Schema
  .decodeEffect(EventEnvelopeJson)
