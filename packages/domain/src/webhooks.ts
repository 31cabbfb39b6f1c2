// Stripe's calls to payments: the webhook route, its answer and its signature error.
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { BadRequest, ServiceUnavailable } from "./errors.ts"
import { RequestValidation } from "./validation.ts"

export const WebhookAck = Schema.Struct({ received: Schema.Boolean }).annotate({ identifier: "WebhookAck" })

/** 400: the Stripe-Signature header does not verify (tampered, stale, or signed with another secret). */
export class InvalidWebhookSignature extends Schema.TaggedError<InvalidWebhookSignature>()(
  "InvalidWebhookSignature",
  { message: Schema.String },
  { httpApiStatus: 400 }
) {}

/**
 * Stripe's calls: the raw body is signature-checked, stored, and answered before it is processed. The route is
 * public, so RequestValidation bounds the body (413 past 1 MiB, before it is read); a signed event that can never
 * be stored (no id, not an object, NUL) is a 400 (`BadRequest`), never a 503 that Stripe would retry forever.
 */
export class StripeWebhooksGroup extends HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.post("stripe", "/webhooks/stripe", {
      headers: { "stripe-signature": Schema.optionalKey(Schema.String) },
      success: WebhookAck,
      error: [InvalidWebhookSignature, BadRequest, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Receive a signed Stripe event")
  )
  .middleware(RequestValidation)
  .annotateMerge(OpenApi.annotations({
    title: "Webhooks",
    description: "Signed Stripe events (`Stripe-Signature: t=…,v1=…`, 300 s tolerance)"
  }))
{}
