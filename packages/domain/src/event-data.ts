// The `data` of every event type, and the typed events (the envelope with its type's data) a consumer can decode.
// docs/events.md documents them and carries their JSON Schema, both generated from here (scripts/gen-events-doc.ts).
import { Schema } from "effect"
import { UserRegistered } from "./auth.ts"
import { InvoiceEventData, Subscription } from "./billing.ts"
import { ProductEventData } from "./catalog.ts"
import { EntitlementEventData } from "./entitlements.ts"
import { EventEnvelope, type EventType, eventTypes } from "./events.ts"
import { Payment } from "./payments.ts"

export const eventDataSchemas = {
  "user.registered": UserRegistered,
  "subscription.created": Subscription,
  "subscription.activated": Subscription,
  "subscription.parked": Subscription,
  "subscription.renewed": Subscription,
  "subscription.past_due": Subscription,
  "subscription.canceled": Subscription,
  "subscription.expired": Subscription,
  "invoice.created": InvoiceEventData,
  "invoice.paid": InvoiceEventData,
  "invoice.payment_failed": InvoiceEventData,
  "invoice.voided": InvoiceEventData,
  "invoice.uncollectible": InvoiceEventData,
  "payment.succeeded": Payment,
  "payment.failed": Payment,
  "payment.refunded": Payment,
  "payment.canceled": Payment,
  "entitlement.granted": EntitlementEventData,
  "entitlement.revoked": EntitlementEventData,
  "catalog.product.created": ProductEventData,
  "catalog.product.updated": ProductEventData,
  "catalog.product.archived": ProductEventData
} as const satisfies Record<EventType, Schema.Top>

/** `subscription.past_due` → `SubscriptionPastDueEvent` */
export const eventIdentifier = (type: EventType) =>
  type.split(/[._]/).map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join("") + "Event"

const typedEvent = <T extends EventType>(type: T) =>
  EventEnvelope.mapFields((fields) => ({ ...fields, type: Schema.Literal(type), data: eventDataSchemas[type] }))
    .annotate({
      identifier: eventIdentifier(type),
      description: `\`${type}\``
    })

/** Any event Kassa publishes, with its `data` typed by its `type`. */
export const KassaEvent = Schema.Union(eventTypes.map(typedEvent)).annotate({ identifier: "KassaEvent" })
export type KassaEvent = typeof KassaEvent.Type
